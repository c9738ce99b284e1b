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
import { withExamples } from './options.js';

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
  withExamples(
    program,
    [
      ['gridlink serve', 'run a server in ./gridlink-data'],
      ['gridlink ls --server 10.1.2.3 --user kim', 'files on another server'],
      ['gridlink put report.pdf reports/ --user kim', 'upload (resumes if cut off)'],
      ["gridlink points 'sub1.>'", 'every point of substation sub1'],
      ["gridlink watch '*.*.breaker' --alarms", 'breakers and alarms, live'],
      ['gridlink operate sub1.f2.breaker open', 'select and operate a breaker'],
    ],
    `Point patterns: * is one part of a dot-separated name, a final > all the rest
(sub1.f1.*, sub1.>, *.*.breaker); "gridlink points --help" says more.
--user NAME logs in; the password comes from GRIDLINK_PASSWORD or a prompt.
Exit status: 0 success, 1 failure, 2 usage error.`,
  );
  return program;
}

/**
 * A usage error found by commander (unknown option or command, missing or
 * invalid argument), as the gridlink error the CLI reports for it: one line,
 * without commander's "error:" and its restatement of the option.
 */
function usageError(err: CommanderError, unknown: string | undefined): GridlinkError {
  const detail =
    err.code === 'commander.help'
      ? unknown === undefined
        ? 'a command is missing (see the list above)'
        : `unknown command '${unknown}'`
      : err.message
          .replace(/^error: /u, '')
          // "option '--since <time>' argument 'x' is invalid. "x" is not a time…": the parser's own words say it.
          .replace(/^option '(--[\w-]+)[^']*' argument '[^']*' is invalid\.\s*(.*)$/su, (_all, flag: string, reason: string) => (reason.includes(flag) ? reason : `${flag}: ${reason}`))
          .replace(/\s*\n\s*/gu, ' ')
          .trim();
  return new GridlinkError('GL_ERR_CLIENT_USAGE', detail);
}

/**
 * The command a usage error belongs to (`gridlink admin user add`), for its
 * --help hint, and the first word after it that is no command of it
 * (`gridlink help nosuch`), if any.
 */
function commandOf(program: Command, args: readonly string[]): { name: string; unknown: string | undefined } {
  let command = program;
  const names = [program.name()];
  for (const arg of args) {
    if (arg.startsWith('-') || arg === 'help') continue;
    const sub = command.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (sub === undefined) return { name: names.join(' '), unknown: command.commands.length > 0 ? arg.slice(0, 40) : undefined };
    command = sub;
    names.push(sub.name());
  }
  return { name: names.join(' '), unknown: undefined };
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
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (caught) {
    // --help and --version end the parse with exit code 0: nothing failed.
    if (caught instanceof CommanderError && caught.exitCode === 0) return;
    const typed = commandOf(program, argv.slice(2));
    const err = caught instanceof CommanderError ? usageError(caught, typed.unknown) : caught;
    if (err instanceof GridlinkError && err.code === 'GL_ERR_CLIENT_USAGE') {
      // The help of the command that was typed, not just "the command".
      // The detail alone ("unknown option '--bogus'") keeps the line short.
      process.stderr.write(`gridlink: ${err.detail ?? err.message} (${err.code}); run "${typed.name} --help"\n`);
      process.exitCode = err.exitCode;
    } else if (err instanceof GridlinkError) {
      process.stderr.write(`gridlink: ${err.toUserLine()}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`gridlink: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      // Not a failure the command foresaw, so nothing says its sockets and
      // timers were closed: end here rather than hang on one of them.
      process.exit(1);
    }
  }
}
