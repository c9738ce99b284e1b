/**
 * A `gridlink` with only the admin commands, run by the CLI tests as a real
 * process (`node --import tsx`), with main.ts's error handling: one line on
 * stderr and status 1 for a GridlinkError, 2 for usage errors. Once main.ts
 * registers `admin`, the tests can run bin/gridlink.js instead.
 */
import { Command, CommanderError } from 'commander';
import { registerAdmin } from '../../src/cli/commands/admin.js';
import { GridlinkError } from '../../src/errors/index.js';

const program = new Command('gridlink').showHelpAfterError('(run with --help for usage)').exitOverride();
registerAdmin(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? 0 : 2;
  else if (err instanceof GridlinkError) {
    process.stderr.write(`gridlink: ${err.toUserLine()}\n`);
    process.exitCode = 1;
  } else throw err;
}
