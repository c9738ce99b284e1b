import type { Command } from 'commander';
import type { EntryInfo } from '../../protocol/v1.js';
import { formatBytes } from '../../units/bytes.js';
import { withClient, type ServerFlags } from '../connect.js';
import { withServerOptions } from '../options.js';

/** One `ls -l`-like line per entry. */
export function formatEntry(entry: EntryInfo): string {
  const when = entry.mtimeMs === 0 ? '' : new Date(entry.mtimeMs).toISOString().slice(0, 16).replace('T', ' ');
  const size = entry.type === 'dir' ? '-' : formatBytes(entry.length);
  return `${entry.type.padEnd(5)} ${size.padStart(10)}  ${when}  ${entry.name}${entry.type === 'dir' ? '/' : ''}`;
}

/** `gridlink ls|mkdir|rm|rmdir|mv` (docs/protocol.md §3.3, README.md "Quick tour"). */
export function registerFileCommands(program: Command): void {
  withServerOptions(program.command('ls').description('list a remote directory').argument('[path]', 'remote directory (default: your home)'))
    .option('--json', 'print JSON for scripts')
    .action(async (path: string | undefined, flags: ServerFlags & { json?: boolean }) => {
      const listing = await withClient(flags, (client) => client.ls(path));
      if (flags.json === true) {
        process.stdout.write(`${JSON.stringify({ path: listing.path, entries: listing.entries, truncated: listing.truncated })}\n`);
        return;
      }
      for (const entry of listing.entries) process.stdout.write(`${formatEntry(entry)}\n`);
      if (listing.truncated) process.stdout.write('(listing truncated)\n');
    });

  withServerOptions(program.command('mkdir').description('create a remote directory').argument('<path>', 'remote directory'))
    .option('-p, --parents', 'create missing parents; no error if it exists')
    .action(async (path: string, flags: ServerFlags & { parents?: boolean }) => {
      await withClient(flags, (client) => client.mkdir(path, flags.parents === true));
    });

  withServerOptions(program.command('rm').description('remove a remote file').argument('<path>', 'remote file')).action(async (path: string, flags: ServerFlags) => {
    await withClient(flags, (client) => client.rm(path));
  });

  withServerOptions(program.command('rmdir').description('remove an empty remote directory').argument('<path>', 'remote directory')).action(async (path: string, flags: ServerFlags) => {
    await withClient(flags, (client) => client.rmdir(path));
  });

  withServerOptions(program.command('mv').description('rename or move a remote file or directory').argument('<from>').argument('<to>')).action(
    async (from: string, to: string, flags: ServerFlags) => {
      await withClient(flags, (client) => client.mv(from, to));
    },
  );
}
