import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { isDigestName, type DigestName } from '../../integrity/digests.js';
import { legacyGet, legacyPut, type GridlinkClient, type ProgressListener, type TransferResult } from '../../client/index.js';
import { formatBytes } from '../../units/bytes.js';
import { withClient, type ServerFlags } from '../connect.js';
import { withServerOptions } from '../options.js';
import { createProgress } from '../progress.js';

interface TransferFlags extends ServerFlags {
  legacy?: boolean;
  md5?: boolean;
  verify: DigestName;
  progress: boolean;
}

function parseVerify(value: string): DigestName {
  if (!isDigestName(value)) throw new InvalidArgumentError('one of xxh128, sha256, md5');
  return value;
}

function addTransferOptions(command: Command): Command {
  return withServerOptions(command)
    .option('--legacy', "speak the course's simulated-FTP protocol (docs/protocol.md §2): no login, no resume, no checksum")
    .option('--verify <digest>', 'end-to-end digest: xxh128 (fast), sha256 or md5; a server that predates the choice checks sha256', parseVerify, 'xxh128')
    .option('--md5', 'also verify with MD5')
    .option('--no-progress', 'do not show progress');
}

function summary(verb: string, from: string, to: string, result: TransferResult): string {
  const resumed = result.resumedFrom > 0 ? `, resumed at ${formatBytes(result.resumedFrom)}` : '';
  const digests = Object.entries(result.digests)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name} ${value}`)
    .join(', ');
  return `${verb} ${from} -> ${to}: ${formatBytes(result.length)}, verified ${digests}${resumed}\n`;
}

/**
 * One transfer with a progress display: the legacy protocol (no login, no
 * checksum) or the versioned one (login, resume, end-to-end digest).
 */
async function transfer(
  verb: 'put' | 'get',
  from: string,
  to: string,
  flags: TransferFlags,
  legacy: (onProgress: ProgressListener | undefined) => Promise<number>,
  versioned: (client: GridlinkClient, onProgress: ProgressListener | undefined) => Promise<TransferResult>,
): Promise<void> {
  const progress = flags.progress ? createProgress(`${verb} ${basename(from)}`) : null;
  try {
    if (flags.legacy === true) {
      const bytes = await legacy(progress?.update);
      progress?.stop({ done: bytes, total: bytes, resumedFrom: 0 });
      process.stdout.write(`${verb} ${from} -> ${to}: ${formatBytes(bytes)} (legacy protocol, unverified)\n`);
      return;
    }
    const result = await withClient(flags, (client) => versioned(client, progress?.update));
    progress?.stop({ done: result.length, total: result.length, resumedFrom: result.resumedFrom });
    process.stdout.write(summary(verb, from, verb === 'put' ? result.path : to, result));
  } finally {
    progress?.stop();
  }
}

/** `gridlink put LOCAL [REMOTE]` and `gridlink get REMOTE [LOCAL]` (README.md "Quick tour"). */
export function registerTransfers(program: Command): void {
  addTransferOptions(
    program
      .command('put')
      .description('upload a file (resumes an interrupted upload; verifies end to end, XXH3-128 by default)')
      .argument('<local>', 'local file')
      .argument('[remote]', 'remote path (default: the local file name)'),
  ).action(async (local: string, remote: string | undefined, flags: TransferFlags) => {
    const target = remote ?? basename(local);
    await transfer(
      'put',
      local,
      target,
      flags,
      (onProgress) => legacyPut(flags.server, local, target, onProgress),
      (client, onProgress) => client.put(local, target, { md5: flags.md5, verify: flags.verify, onProgress }),
    );
  });

  addTransferOptions(
    program
      .command('get')
      .description('download a file (resumes an interrupted download; verifies end to end, XXH3-128 by default)')
      .argument('<remote>', 'remote path')
      .argument('[local]', 'local file or directory (default: the remote file name here)'),
  ).action(async (remote: string, local: string | undefined, flags: TransferFlags) => {
    let target = local ?? basename(remote);
    if ((await stat(target).catch(() => null))?.isDirectory() === true) target = join(target, basename(remote));
    await transfer(
      'get',
      remote,
      target,
      flags,
      (onProgress) => legacyGet(flags.server, remote, target, onProgress),
      (client, onProgress) => client.get(remote, target, { md5: flags.md5, verify: flags.verify, onProgress }),
    );
  });
}
