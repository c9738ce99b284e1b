import { InvalidArgumentError } from 'commander';
import { GridlinkError } from '../errors/index.js';
import { parseServerAddress } from './server-address.js';

/** Commander parser for a TCP port. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/u.test(value) || port > 65_535) throw new InvalidArgumentError('expected a port number 0..65535');
  return port;
}

/**
 * Commander parser for `--server HOST:PORT`. A bad address is a usage error
 * (exit status 2); its detail only, since main() adds the catalogue message.
 */
export function parseServer(value: string): { host: string; port: number } {
  try {
    return parseServerAddress(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof GridlinkError ? (err.detail ?? err.message) : (err as Error).message);
  }
}

export const DEFAULT_SERVER = { host: '127.0.0.1', port: 8889 };

/** Adds `--server`, `--user` and the TLS options to a command that talks to the server. */
export function withServerOptions<T extends import('commander').Command>(command: T): T {
  command
    .option('--server <host:port>', 'server address', parseServer, DEFAULT_SERVER)
    .option('--user <name>', 'log in as this user (password from GRIDLINK_PASSWORD or a prompt)')
    .option('--tls', 'connect with TLS, trusting the system certificate authorities')
    .option('--ca <file>', 'connect with TLS, trusting this PEM certificate (authority) only');
  return command;
}
