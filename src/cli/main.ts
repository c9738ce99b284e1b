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

/** Builds the `gridlink` command tree (SPEC §9). */
export function buildProgram(): Command {
  const program = new Command('gridlink')
    .description('gridlink: files, messages, telemetry and commands for a grid SCADA system')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
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
 * Runs the CLI. Exit status 0 on success; on failure one line on stderr that
 * says what went wrong and what to do, and status 1 (2 for usage errors).
 */
export async function main(argv: string[]): Promise<void> {
  // `gridlink points | head`: a reader that goes away is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed the message (or help/version) already.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof GridlinkError) {
      process.stderr.write(`gridlink: ${err.toUserLine()}\n`);
    } else {
      process.stderr.write(`gridlink: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exitCode = 1;
  }
}
