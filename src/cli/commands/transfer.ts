import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { GridlinkClient, legacyGet, legacyPut, type TransferResult } from '../../client/index.js';
import { DEFAULT_SERVER, parseServer } from '../options.js';
import { createProgress, formatBytes } from '../progress.js';

interface TransferFlags {
  server: { host: string; port: number };
  legacy?: boolean;
  md5?: boolean;
  progress: boolean;
}

function addTransferOptions(command: Command): Command {
  return command
    .option('--server <host:port>', 'server address', parseServer, DEFAULT_SERVER)
    .option('--legacy', "speak the course's simulated-FTP protocol (SPEC §2.1): no login, no resume, no checksum")
    .option('--md5', 'also verify with MD5')
    .option('--no-progress', 'do not show progress');
}

function summary(verb: string, from: string, to: string, result: TransferResult): string {
  const resumed = result.resumedFrom > 0 ? `, resumed at ${formatBytes(result.resumedFrom)}` : '';
  return `${verb} ${from} -> ${to}: ${formatBytes(result.length)}, sha256 ${result.sha256}${result.md5 === undefined ? '' : `, md5 ${result.md5}`}${resumed}\n`;
}

/** `gridlink put LOCAL [REMOTE]` and `gridlink get REMOTE [LOCAL]` (SPEC §9). */
export function registerTransfers(program: Command): void {
  addTransferOptions(
    program
      .command('put')
      .description('upload a file (resumes an interrupted upload; verifies SHA-256)')
      .argument('<local>', 'local file')
      .argument('[remote]', 'remote path (default: the local file name)'),
  ).action(async (local: string, remote: string | undefined, flags: TransferFlags) => {
    const target = remote ?? basename(local);
    const progress = flags.progress ? createProgress(`put ${basename(local)}`) : null;
    if (flags.legacy === true) {
      const bytes = await legacyPut(flags.server, local, target, progress?.update);
      progress?.stop({ done: bytes, total: bytes, resumedFrom: 0 });
      process.stdout.write(`put ${local} -> ${target}: ${formatBytes(bytes)} (legacy protocol, unverified)\n`);
      return;
    }
    const client = await GridlinkClient.connect(flags.server);
    try {
      const result = await client.put(local, target, { md5: flags.md5, onProgress: progress?.update });
      progress?.stop({ done: result.length, total: result.length, resumedFrom: result.resumedFrom });
      process.stdout.write(summary('put', local, result.path, result));
    } finally {
      progress?.stop();
      await client.close();
    }
  });

  addTransferOptions(
    program
      .command('get')
      .description('download a file (resumes an interrupted download; verifies SHA-256)')
      .argument('<remote>', 'remote path')
      .argument('[local]', 'local file or directory (default: the remote file name here)'),
  ).action(async (remote: string, local: string | undefined, flags: TransferFlags) => {
    let target = local ?? basename(remote);
    if ((await stat(target).catch(() => null))?.isDirectory() === true) target = join(target, basename(remote));
    const progress = flags.progress ? createProgress(`get ${basename(remote)}`) : null;
    if (flags.legacy === true) {
      const bytes = await legacyGet(flags.server, remote, target, progress?.update);
      progress?.stop({ done: bytes, total: bytes, resumedFrom: 0 });
      process.stdout.write(`get ${remote} -> ${target}: ${formatBytes(bytes)} (legacy protocol, unverified)\n`);
      return;
    }
    const client = await GridlinkClient.connect(flags.server);
    try {
      const result = await client.get(remote, target, { md5: flags.md5, onProgress: progress?.update });
      progress?.stop({ done: result.length, total: result.length, resumedFrom: result.resumedFrom });
      process.stdout.write(summary('get', remote, target, result));
    } finally {
      progress?.stop();
      await client.close();
    }
  });
}
