import { GridlinkError } from '../errors/index.js';

/** Parses `HOST:PORT`, `[v6]:PORT` or `HOST` (default port) from `--server`. */
export function parseServerAddress(value: string, defaultPort = 8889): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/u.exec(value);
  const plain = /^([^:[\]]+)(?::(\d+))?$/u.exec(value);
  const match = bracketed ?? plain;
  if (match === null) throw new GridlinkError('GL_ERR_CLIENT_USAGE', `--server "${value}": expected HOST:PORT`);
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new GridlinkError('GL_ERR_CLIENT_USAGE', `--server "${value}": port must be 1..65535`);
  }
  return { host: match[1]!, port };
}
