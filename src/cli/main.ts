import { Command, CommanderError } from 'commander';
import { GridlinkError } from '../errors/index.js';
import { VERSION } from '../version.js';
import { registerAdmin } from './commands/admin.js';
import { registerChat } from './commands/chat.js';
import { registerFileCommands } from './commands/files.js';
import { registerScada } from './commands/scada.js';
import { registerServe } from './commands/serve.js';
import { registerShell } from './commands/shell.js';
import { registerTransfers } from './commands/transfer.js';

/** Builds the `gridlink` command tree (README.md, "Quick tour"). */
export function buildProgram(): Command {
  const program = new Command('gridlink')
    .description('gridlink: files, messages, telemetry and commands for a grid SCADA system')
    .version(VERSION)
    // Commander's own usage errors (unknown option, missing argument) are not
    // printed here: main() reports them on one line, as GL_ERR_CLIENT_USAGE.
    // Subcommands inherit both settings (they are registered below).
    .configureOutput({ outputError: () => undefined })
    .exitOverride();
  registerServe(program);
  registerTransfers(program);
  registerFileCommands(program);
  registerShell(program);
  registerAdmin(program);
  registerChat(program);
  registerScada(program);
  return program;
}

/**
 * A usage error found by commander (unknown option or command, missing or
 * invalid argument), as the gridlink error the CLI reports for it.
 */
function usageError(err: CommanderError): GridlinkError {
  const detail =
    err.code === 'commander.help'
      ? 'a command is missing (see the list above)'
      : err.message.replace(/^error: /u, '').replace(/\s*\n\s*/gu, ' ').trim();
  return new GridlinkError('GL_ERR_CLIENT_USAGE', detail);
}

/**
 * Runs the CLI (README.md, "Exit status"). Exit status 0 on success; on
 * failure one line on stderr that says what went wrong and what to do, and
 * the status of the error's catalogue entry (src/errors/catalogue.ts): 2 for
 * a usage error, 1 for every other failure.
 */
export async function main(argv: string[]): Promise<void> {
  // `gridlink points | head`: a reader that goes away is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  try {
    await buildProgram().parseAsync(argv);
  } catch (caught) {
    // --help and --version end the parse with exit code 0: nothing failed.
    if (caught instanceof CommanderError && caught.exitCode === 0) return;
    const err = caught instanceof CommanderError ? usageError(caught) : caught;
    if (err instanceof GridlinkError) {
      process.stderr.write(`gridlink: ${err.toUserLine()}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`gridlink: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  }
}
