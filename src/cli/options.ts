import { InvalidArgumentError, Option, type Command } from 'commander';
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
export function withServerOptions<T extends Command>(command: T): T {
  command
    // The default shown as a person types it, not as the object it parses to.
    .addOption(new Option('--server <host:port>', 'server address').argParser(parseServer).default(DEFAULT_SERVER, `${DEFAULT_SERVER.host}:${DEFAULT_SERVER.port}`))
    .option('--user <name>', 'log in as this user (password from GRIDLINK_PASSWORD or a prompt)')
    .option('--tls', 'connect with TLS, trusting the system certificate authorities')
    .option('--ca <file>', 'connect with TLS, trusting this PEM certificate (authority) only');
  return command;
}

/** How point patterns read (docs/protocol.md §3.6), for the help of the commands that take one. */
export const PATTERN_HELP = `Point names are dot-separated parts: SUBSTATION.FEEDER.QUANTITY (sub1.f1.breaker).
In a pattern, * stands for exactly one part and a final > for one or more parts:
  sub1.f1.*      the points of feeder f1 in sub1
  sub1.>         every point of sub1 (sub1.* matches none: names have 3 parts)
  *.*.breaker    every breaker
Quote patterns so the shell leaves * and > alone.`;

/** Adds an "Examples:" section (and any notes) to a command's --help. */
export function withExamples<T extends Command>(command: T, examples: ReadonlyArray<readonly [string, string]>, notes?: string): T {
  const width = Math.max(...examples.map(([line]) => line.length));
  const lines = examples.map(([line, what]) => `  $ ${line.padEnd(width)}  ${what}`);
  command.addHelpText('after', `\nExamples:\n${lines.join('\n')}${notes === undefined ? '' : `\n\n${notes}`}`);
  return command;
}
