/**
 * File-transfer benchmark: put and get of 64 MiB and 1 GiB files over
 * loopback, gridlink (durable and no-fsync) side by side with vsftpd and
 * pyftpdlib driven by curl. Prints a markdown table (MB/s, 1 MB = 1e6 bytes,
 * median over runs) and writes bench/results/file-transfer.json.
 *
 * Two more targets are references, not peers (bench/lib/node-pipe.ts, both
 * with their client in the bench process, as gridlink's):
 *   - "Node.js pipe": a bare Node.js server and client that only pipe files
 *     through sockets (no protocol, no hashing, no fsync). It is the ceiling
 *     Node.js's own streams reach on this machine in the same run, so a reader
 *     can tell how much of gridlink's gap to the FTP servers is the runtime.
 *   - "Node.js pipe + SHA-256": the same pipe plus the end-to-end SHA-256
 *     check docs/protocol.md §3.3 requires, in gridlink's structure (a worker thread per
 *     process hashing from disk while the bytes move: the sender's whole
 *     source and the receiver's growing file on put; on get the receiver's
 *     growing file against the server's cached digest). Its distance from the
 *     bare pipe is what the check costs on this machine; gridlink's distance
 *     from it is gridlink's own protocol.
 * The targets still compare gridlink with the faster FTP peer only.
 *
 * Issue 17 rows (docs/protocol.md §3.3, "Digests"): gridlink verifies with
 * XXH3-128 by default, and is measured two ways, as its client library in the
 * bench process and as a user runs it, the whole `gridlink put|get` command
 * (process start included) against `curl` and `lftp` on the FTP servers; its
 * `--verify sha256` rows stand beside the pipe + SHA-256 reference; gridlink
 * durable stands beside `dd conv=fdatasync` of the same file on the same
 * disk; each gridlink server's RSS growth over its idle is reported against
 * 40 MB.
 *
 *   npx tsx bench/file-transfer.ts [--quick]
 *
 * --quick: 64 MiB only, one run each (a smoke test of the whole pipeline).
 * --gib: 1 GiB only, one run each.
 */
import { cpus, loadavg } from 'node:os';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GridlinkClient } from '../dist/client/index.js';
import { makeTempDir, runBenchmark } from './lib/cleanup.js';
import { GiB, MiB, expectSize, sha256File, timedTransfer, warmPageCache, writeRandomFile } from './lib/files.js';
import { nodePipeGet, nodePipePut, startNodePipe } from './lib/node-pipe.js';
import { LOOPBACK, REPO_ROOT, startGridlink, startPyftpdlib, startVsftpd, type FtpServer } from './lib/peers.js';
import { peakRssBytes, rssBytes, runCommand, type ServerProcess } from './lib/processes.js';
import { fixed, markdownTable, median, toMB, writeJson, runInfo } from './lib/report.js';

interface SizeSpec {
  readonly label: string;
  readonly bytes: number;
  readonly runs: number;
}

const FULL_SIZES: readonly SizeSpec[] = [
  { label: '64 MiB', bytes: 64 * MiB, runs: 3 },
  { label: '1 GiB', bytes: GiB, runs: 3 },
];
const QUICK_SIZES: readonly SizeSpec[] = [{ label: '64 MiB', bytes: 64 * MiB, runs: 1 }];
/** --gib: the 1 GiB rows only, one run (when the machine leaves no time for the whole set). */
const GIB_SIZES: readonly SizeSpec[] = [{ label: '1 GiB', bytes: GiB, runs: 1 }];

const RSS_TARGET_BYTES = 100e6;
/** Issue 17: a server's RSS growth over its idle during the 1 GiB transfers. */
const RSS_GROWTH_TARGET_BYTES = 40e6;
const GRIDLINK_BIN = join(REPO_ROOT, 'bin', 'gridlink.js');
const RESULTS_PATH = join(REPO_ROOT, 'bench', 'results', 'file-transfer.json');

type Direction = 'put' | 'get';
const DIRECTIONS: readonly Direction[] = ['put', 'get'];

type TargetId = GridlinkId | GridlinkExtraId | PeerId | ReferenceId;
type GridlinkId = (typeof GRIDLINK_IDS)[number];
const GRIDLINK_IDS = ['gridlink-durable', 'gridlink-nofsync'] as const;
/** More gridlink rows on the no-fsync server: the CLI as a user runs it, and SHA-256 asked for. */
type GridlinkExtraId = (typeof GRIDLINK_EXTRA_IDS)[number];
const GRIDLINK_EXTRA_IDS = ['gridlink-cli', 'gridlink-sha256', 'gridlink-cli-sha256'] as const;
type PeerId = (typeof PEER_IDS)[number];
const PEER_IDS = ['vsftpd', 'pyftpdlib', 'vsftpd-lftp', 'pyftpdlib-lftp'] as const;
type ReferenceId = (typeof REFERENCE_IDS)[number];
/** Measured like the others but never peers: the runtime's own ceiling, bare and with the SHA-256 check (see the top of this file), and the disk's. */
const REFERENCE_IDS = ['node-pipe', 'node-pipe-sha256', 'dd-fdatasync'] as const;
const REFERENCE_ID = 'node-pipe';
const SHA256_REFERENCE_ID = 'node-pipe-sha256';
const TARGET_IDS: readonly TargetId[] = [...GRIDLINK_IDS, ...GRIDLINK_EXTRA_IDS, ...PEER_IDS, ...REFERENCE_IDS];

const TARGET_LABELS: Record<TargetId, string> = {
  'gridlink-durable': 'gridlink lib (durable, xxh128)',
  'gridlink-nofsync': 'gridlink lib (no fsync, xxh128)',
  'gridlink-cli': 'gridlink CLI (no fsync, xxh128)',
  'gridlink-sha256': 'gridlink lib (no fsync, sha256)',
  'gridlink-cli-sha256': 'gridlink CLI (no fsync, sha256)',
  vsftpd: 'curl vsftpd',
  pyftpdlib: 'curl pyftpdlib',
  'vsftpd-lftp': 'lftp vsftpd',
  'pyftpdlib-lftp': 'lftp pyftpdlib',
  'node-pipe': 'Node.js pipe (reference)',
  'node-pipe-sha256': 'Node.js pipe + SHA-256 (reference)',
  'dd-fdatasync': 'dd conv=fdatasync (reference)',
};
const LABEL_WIDTH = Math.max(...Object.values(TARGET_LABELS).map((label) => label.length));

/** A server under test plus the client that drives it. */
interface Target {
  readonly id: TargetId;
  readonly server: ServerProcess;
  put(local: string, remote: string): Promise<void>;
  get(remote: string, local: string): Promise<void>;
  /** Where the server keeps an uploaded `remote` on disk (to check its size, then delete it). */
  storedPath(remote: string): string;
}

interface Sample {
  readonly size: string;
  readonly bytes: number;
  readonly target: TargetId;
  readonly run: number;
  readonly putSeconds: number;
  readonly getSeconds: number;
}

// ---------------------------------------------------------------------------
// Targets

async function startGridlinkTargets(id: GridlinkId, dir: string): Promise<Target[]> {
  // durable: the shipped default (fsync before rename); no fsync: like vsftpd.
  // A quota far above what the runs store: the bench deletes stored files
  // behind the server's back, which its quota ledger does not see.
  const anonymous = { enabled: true, writable: true, quota: 256 * GiB };
  const server = await startGridlink({ dir, config: id === 'gridlink-nofsync' ? { anonymous, files: { durable: false } } : { anonymous } });
  const withClient = async (action: (client: GridlinkClient) => Promise<unknown>): Promise<void> => {
    const client = await GridlinkClient.connect({ host: LOOPBACK, port: server.port });
    try {
      await action(client);
    } catch (err) {
      client.destroy();
      throw err;
    }
    await client.close();
  };
  const storedPath = (remote: string): string => join(server.anonymousDir, remote);
  // The library: each call verifies the whole file end to end (XXH3-128 unless told).
  const library = (target: TargetId, verify: 'xxh128' | 'sha256'): Target => ({
    id: target,
    server: server.process,
    put: (local, remote) => withClient((client) => client.put(local, remote, { verify })),
    get: (remote, local) => withClient((client) => client.get(remote, local, { verify })),
    storedPath,
  });
  // As a user runs it: the whole command, process start included.
  const cli = (target: TargetId, verify: 'xxh128' | 'sha256'): Target => {
    const at = ['--server', `${LOOPBACK}:${server.port}`, '--no-progress', '--verify', verify];
    return {
      id: target,
      server: server.process,
      put: async (local, remote) => void (await runCommand(process.execPath, [GRIDLINK_BIN, 'put', local, remote, ...at])),
      get: async (remote, local) => void (await runCommand(process.execPath, [GRIDLINK_BIN, 'get', remote, local, ...at])),
      storedPath,
    };
  };
  if (id === 'gridlink-durable') return [library(id, 'xxh128')];
  return [library(id, 'xxh128'), cli('gridlink-cli', 'xxh128'), library('gridlink-sha256', 'sha256'), cli('gridlink-cli-sha256', 'sha256')];
}

/** lftp on the same server: `open`, then `put -o` / `get -o` of the path behind `baseUrl`. */
function lftpTarget(id: 'vsftpd-lftp' | 'pyftpdlib-lftp', server: FtpServer): Target {
  const url = new URL(server.baseUrl);
  const user = server.loginArgs[0] === '--user' ? server.loginArgs[1] : undefined;
  const open = `open ${user === undefined ? '' : `-u ${user.replace(':', ',')} `}${url.protocol}//${url.host}`;
  const lftp = (command: string): Promise<unknown> => runCommand('lftp', ['-c', `set net:max-retries 1; set xfer:clobber on; ${open}; ${command}`]);
  return {
    id,
    server: server.process,
    put: async (local, remote) => void (await lftp(`put ${local} -o ${url.pathname}${remote}`)),
    get: async (remote, local) => void (await lftp(`get ${url.pathname}${remote} -o ${local}`)),
    storedPath: (remote) => join(server.filesDir, remote),
  };
}

/**
 * The disk's own durable write rate: `dd conv=fdatasync` of the source file
 * to the same file system (put), and a read of it back (get), a reference
 * for gridlink durable, whose commit fsyncs before the rename.
 */
function ddTarget(dir: string, server: ServerProcess): Target {
  return {
    id: 'dd-fdatasync',
    server,
    put: async (local, remote) => void (await runCommand('dd', [`if=${local}`, `of=${join(dir, remote)}`, 'bs=4M', 'conv=fdatasync', 'status=none'])),
    get: async (remote, local) => void (await runCommand('dd', [`if=${join(dir, remote)}`, `of=${local}`, 'bs=4M', 'status=none'])),
    storedPath: (remote) => join(dir, remote),
  };
}

function ftpTarget(id: 'vsftpd' | 'pyftpdlib', server: FtpServer): Target {
  const curl = (args: readonly string[]): Promise<unknown> => runCommand('curl', ['--silent', '--show-error', '--fail', ...server.loginArgs, ...args]);
  return {
    id,
    server: server.process,
    put: async (local, remote) => void (await curl(['--upload-file', local, server.baseUrl + remote])),
    get: async (remote, local) => void (await curl(['--output', local, server.baseUrl + remote])),
    storedPath: (remote) => join(server.filesDir, remote),
  };
}

/**
 * Its client runs in the bench process, like gridlink's; neither side
 * fsyncs. The bare pipe does not hash; the SHA-256 one verifies every
 * transfer end to end, as gridlink does.
 */
async function startNodePipeTarget(id: ReferenceId, dir: string): Promise<Target> {
  const options = { sha256: id === SHA256_REFERENCE_ID };
  const server = await startNodePipe(dir, options);
  return {
    id,
    server: server.process,
    put: (local, remote) => nodePipePut(server.port, local, remote, options),
    get: (remote, local) => nodePipeGet(server.port, remote, local, options),
    storedPath: (remote) => join(server.filesDir, remote),
  };
}

async function startTargets(dir: string): Promise<Target[]> {
  const targets: Target[] = [];
  try {
    for (const id of GRIDLINK_IDS) targets.push(...(await startGridlinkTargets(id, await subdir(dir, id))));
    const vsftpd = await startVsftpd(await subdir(dir, 'vsftpd'));
    targets.push(ftpTarget('vsftpd', vsftpd), lftpTarget('vsftpd-lftp', vsftpd));
    const pyftpdlib = await startPyftpdlib(await subdir(dir, 'pyftpdlib'));
    targets.push(ftpTarget('pyftpdlib', pyftpdlib), lftpTarget('pyftpdlib-lftp', pyftpdlib));
    for (const id of [REFERENCE_ID, SHA256_REFERENCE_ID] as const) targets.push(await startNodePipeTarget(id, await subdir(dir, id)));
    // No server of its own: it borrows the bare pipe's process for the bookkeeping.
    targets.push(ddTarget(await subdir(dir, 'dd'), targets[targets.length - 2]!.server));
  } catch (err) {
    await stopTargets(targets);
    throw err;
  }
  return targets;
}

async function stopTargets(targets: readonly Target[]): Promise<void> {
  // Several targets may share one server.
  for (const server of new Set(targets.map((target) => target.server))) await server.stop();
}

async function subdir(parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

// ---------------------------------------------------------------------------
// Measuring


/**
 * One put and one get of the source file through `target`, each checked so a
 * broken peer cannot look fast: sizes always, and with `sha256` set the
 * downloaded bytes too (which also proves the upload stored the right bytes).
 */
async function measure(target: Target, source: string, size: SizeSpec, run: number, outDir: string, sha256: string | null): Promise<Sample> {
  const remote = `bench-${size.bytes}-run${run}.bin`;
  const stored = target.storedPath(remote);
  const local = join(outDir, `${target.id}-${remote}`);
  const label = TARGET_LABELS[target.id];

  const putSeconds = await timedTransfer(() => target.put(source, remote));
  await expectSize(stored, size.bytes, `${label} put`);
  const getSeconds = await timedTransfer(() => target.get(remote, local));
  await expectSize(local, size.bytes, `${label} get`);
  if (sha256 !== null && (await sha256File(local)) !== sha256) throw new Error(`${label} get: ${local} does not match the source's SHA-256`);

  // Keep disk use to one copy per transfer, however many runs.
  await rm(stored, { force: true });
  await rm(local, { force: true });
  return { size: size.label, bytes: size.bytes, target: target.id, run, putSeconds, getSeconds };
}

interface SizeResult {
  readonly samples: Sample[];
  /** VmHWM of each gridlink server (and the references), started fresh for this size. */
  readonly peakRss: Partial<Record<TargetId, number>>;
  /** Their VmRSS once started, before any transfer: the peak minus this is what transfers cost. */
  readonly idleRss: Partial<Record<TargetId, number>>;
}

/**
 * All runs of one size. Servers start fresh (so gridlink's peak RSS belongs
 * to this size alone) and runs interleave the targets, so drift on the
 * machine (thermal, other load) spreads evenly instead of hitting one column.
 */
async function benchSize(size: SizeSpec, workDir: string): Promise<SizeResult> {
  const dir = await subdir(workDir, `size-${size.bytes}`);
  const source = join(dir, 'source.bin');
  log(`${size.label}: writing the source file`);
  const sha256 = await writeRandomFile(source, size.bytes);
  await warmPageCache(source, dir);
  const outDir = await subdir(dir, 'downloads');
  const targets = await startTargets(dir);
  try {
    const measured = targets.filter((target) => isGridlink(target.id) || target.id === REFERENCE_ID || target.id === SHA256_REFERENCE_ID);
    const idleRss: Partial<Record<TargetId, number>> = {};
    for (const target of measured) idleRss[target.id] = await rssBytes(target.server.pid);
    const samples: Sample[] = [];
    for (let run = 1; run <= size.runs; run++) {
      // Alternate the order, so drift on the machine does not always hit the same targets.
      for (const target of run % 2 === 1 ? targets : [...targets].reverse()) {
        const sample = await measure(target, source, size, run, outDir, run === 1 ? sha256 : null);
        samples.push(sample);
        log(
          `${size.label} run ${run}/${size.runs} ${TARGET_LABELS[target.id].padEnd(LABEL_WIDTH)} put ${fixed(mbps(sample.bytes, sample.putSeconds)).padStart(7)} MB/s, get ${fixed(mbps(sample.bytes, sample.getSeconds)).padStart(7)} MB/s`,
        );
      }
    }
    const peakRss: Partial<Record<TargetId, number>> = {};
    for (const target of measured) peakRss[target.id] = await peakRssBytes(target.server.pid);
    return { samples, peakRss, idleRss };
  } finally {
    await stopTargets(targets);
    await rm(dir, { recursive: true, force: true });
  }
}

function isGridlink(id: TargetId): id is GridlinkId {
  return (GRIDLINK_IDS as readonly TargetId[]).includes(id);
}

function mbps(bytes: number, seconds: number): number {
  return toMB(bytes) / seconds;
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

// ---------------------------------------------------------------------------
// Reporting

interface Row {
  readonly size: string;
  readonly direction: Direction;
  /** Median MB/s per target. */
  readonly mbps: Record<TargetId, number>;
  /** The faster FTP peer (either server, curl or lftp). */
  readonly bestPeer: PeerId;
  /** gridlink (no fsync, XXH3-128) over the faster peer: the library, and the CLI as a user runs it. */
  readonly libToBestPeer: number;
  readonly cliToBestPeer: number;
  /** gridlink durable over `dd conv=fdatasync` (put: the disk's durable write rate; get: dd's read). */
  readonly durableToDd: number;
  /** `--verify sha256` over the pipe + SHA-256 reference: the library, and the CLI. */
  readonly sha256LibToReference: number;
  readonly sha256CliToReference: number;
  /** The Node.js pipe's MB/s divided by the faster peer's: the runtime's own gap (or lead). */
  readonly referenceToBestPeer: number;
}

function summarise(sizes: readonly SizeSpec[], samples: readonly Sample[]): Row[] {
  const rows: Row[] = [];
  for (const size of sizes) {
    for (const direction of DIRECTIONS) {
      const medianOf = (id: TargetId): number =>
        median(samples.filter((s) => s.size === size.label && s.target === id).map((s) => mbps(s.bytes, direction === 'put' ? s.putSeconds : s.getSeconds)));
      const rates = Object.fromEntries(TARGET_IDS.map((id) => [id, medianOf(id)])) as Record<TargetId, number>;
      const bestPeer = [...PEER_IDS].sort((x, y) => rates[y] - rates[x])[0]!;
      const best = rates[bestPeer];
      rows.push({
        size: size.label,
        direction,
        mbps: rates,
        bestPeer,
        libToBestPeer: rates['gridlink-nofsync'] / best,
        cliToBestPeer: rates['gridlink-cli'] / best,
        durableToDd: rates['gridlink-durable'] / rates['dd-fdatasync'],
        sha256LibToReference: rates['gridlink-sha256'] / rates[SHA256_REFERENCE_ID],
        sha256CliToReference: rates['gridlink-cli-sha256'] / rates[SHA256_REFERENCE_ID],
        referenceToBestPeer: rates[REFERENCE_ID] / best,
      });
    }
  }
  return rows;
}

function renderTable(rows: readonly Row[]): string {
  const headers = [
    'size',
    'dir',
    ...TARGET_IDS.map((id) => `${TARGET_LABELS[id]} MB/s`),
    'faster FTP peer',
    'CLI/peer',
    'lib/peer',
    'durable/dd',
    'sha256 CLI/pipe+SHA-256',
    'sha256 lib/pipe+SHA-256',
    'pipe/peer',
  ];
  const cells = rows.map((row) => [
    row.size,
    row.direction,
    ...TARGET_IDS.map((id) => fixed(row.mbps[id])),
    TARGET_LABELS[row.bestPeer],
    fixed(row.cliToBestPeer, 2),
    fixed(row.libToBestPeer, 2),
    fixed(row.durableToDd, 2),
    fixed(row.sha256CliToReference, 2),
    fixed(row.sha256LibToReference, 2),
    fixed(row.referenceToBestPeer, 2),
  ]);
  return markdownTable(headers, cells);
}

interface TargetCheck {
  /** gridlink (no fsync, XXH3-128) >= the faster FTP peer on every row: the CLI, and the library. */
  readonly cliMet: boolean;
  readonly libMet: boolean;
  /** gridlink durable put >= 0.9 x dd conv=fdatasync. */
  readonly durableMet: boolean;
  /** null when no 1 GiB run happened (--quick). */
  readonly rssMet: boolean | null;
  readonly rssGrowthMet: boolean | null;
}

function checkTargets(rows: readonly Row[], peakRss: Partial<Record<TargetId, number>>, idleRss: Partial<Record<TargetId, number>>, rssMeasuredAtGiB: boolean): TargetCheck {
  const rssValues = GRIDLINK_IDS.map((id) => peakRss[id] ?? Number.NaN);
  const growth = GRIDLINK_IDS.map((id) => (peakRss[id] ?? Number.NaN) - (idleRss[id] ?? Number.NaN));
  return {
    cliMet: rows.every((row) => row.cliToBestPeer >= 1),
    libMet: rows.every((row) => row.libToBestPeer >= 1),
    durableMet: rows.filter((row) => row.direction === 'put').every((row) => row.durableToDd >= 0.9),
    rssMet: rssMeasuredAtGiB ? rssValues.every((bytes) => bytes < RSS_TARGET_BYTES) : null,
    rssGrowthMet: rssMeasuredAtGiB ? growth.every((bytes) => bytes <= RSS_GROWTH_TARGET_BYTES) : null,
  };
}

function renderSummary(rows: readonly Row[], peakRss: Partial<Record<TargetId, number>>, idleRss: Partial<Record<TargetId, number>>, rssSize: string, check: TargetCheck): string {
  const metText = (met: boolean | null): string => (met === null ? 'not checked (needs the 1 GiB runs; drop --quick)' : met ? 'MET' : 'NOT MET');
  const lowest = (pick: (row: Row) => number): string => {
    const row = [...rows].sort((a, b) => pick(a) - pick(b))[0];
    return row === undefined ? '' : ` (lowest ${fixed(pick(row), 2)}: ${row.size} ${row.direction} vs ${TARGET_LABELS[row.bestPeer]})`;
  };
  const rss = ([...GRIDLINK_IDS, REFERENCE_ID, SHA256_REFERENCE_ID] as TargetId[])
    .map((id) => `${TARGET_LABELS[id]} ${fixed(toMB(peakRss[id] ?? Number.NaN))} MB (idle ${fixed(toMB(idleRss[id] ?? Number.NaN))} MB, growth ${fixed(toMB((peakRss[id] ?? Number.NaN) - (idleRss[id] ?? Number.NaN)))} MB)`)
    .join(', ');
  return [
    `Server peak RSS (VmHWM of a server started fresh for the ${rssSize} runs): ${rss}`,
    `Target gridlink CLI >= faster FTP peer, every row: ${metText(check.cliMet)}${lowest((row) => row.cliToBestPeer)}`,
    `Target gridlink library >= faster FTP peer, every row: ${metText(check.libMet)}${lowest((row) => row.libToBestPeer)}`,
    `Target gridlink durable put >= 0.9 x dd conv=fdatasync: ${metText(check.durableMet)}`,
    `Target server RSS growth <= ${fixed(toMB(RSS_GROWTH_TARGET_BYTES), 0)} MB during 1 GiB transfers: ${metText(check.rssGrowthMet)}; peak < ${fixed(toMB(RSS_TARGET_BYTES), 0)} MB: ${metText(check.rssMet)}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, gib: { type: 'boolean', default: false } }, strict: true });
  const quick = values.quick;
  const sizes = quick ? QUICK_SIZES : values.gib ? GIB_SIZES : FULL_SIZES;
  const workDir = await makeTempDir('gridlink-bench-ft-');

  const samples: Sample[] = [];
  let peakRss: Partial<Record<TargetId, number>> = {};
  let idleRss: Partial<Record<TargetId, number>> = {};
  for (const size of sizes) {
    const result = await benchSize(size, workDir);
    samples.push(...result.samples);
    peakRss = result.peakRss; // the largest size runs last: its servers' peak is the one that counts
    idleRss = result.idleRss;
  }
  const rssSize = sizes[sizes.length - 1]?.label ?? '';

  const rows = summarise(sizes, samples);
  const check = checkTargets(rows, peakRss, idleRss, sizes.some((size) => size.bytes >= GiB));
  const runs = sizes.map((size) => `${size.runs} × ${size.label}`).join(', ');
  process.stdout.write(
    [
      `### File transfer over loopback (${runs}; ${cpus().length} CPUs, Node ${process.version}; load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')})`,
      '',
      'MB/s with 1 MB = 1e6 bytes; median over runs (mean of the two for 2 runs). gridlink CLI: the whole `gridlink put|get` command, process start included;',
      'gridlink lib: its client library in the bench process; FTP peers: the curl and lftp commands; every gridlink row verifies the whole file end to end (XXH3-128 unless sha256 is named);',
      'Node.js pipe: a bare socket-to-file pipe (bench/lib/node-pipe.ts, client in the bench process), a reference for the runtime, not a peer;',
      "Node.js pipe + SHA-256: the same pipe plus an end-to-end SHA-256 check (a hashing worker per process, both ends); dd conv=fdatasync: the disk's durable write rate (get: dd's read back).",
      '',
      renderTable(rows),
      '',
      renderSummary(rows, peakRss, idleRss, rssSize, check),
      '',
    ].join('\n'),
  );

  await writeJson(RESULTS_PATH, {
    ...runInfo('file-transfer', quick),
    unit: 'MB/s (1 MB = 1e6 bytes), median over runs',
    sizes,
    samples: samples.map((s) => ({ ...s, putMBps: mbps(s.bytes, s.putSeconds), getMBps: mbps(s.bytes, s.getSeconds) })),
    rows,
    reference: { target: REFERENCE_ID, note: 'Node.js streams only (no protocol, hashing or fsync); not a peer: ratios and targets use vsftpd/pyftpdlib' },
    sha256Reference: {
      target: SHA256_REFERENCE_ID,
      note: "the same pipe plus gridlink's end-to-end SHA-256 check (worker threads hashing from disk at both ends; get uses the server's cached digest); not a peer",
    },
    peakRssBytes: { ...peakRss, during: rssSize },
    idleRssBytes: idleRss,
    targets: { cliMet: check.cliMet, libMet: check.libMet, durableMet: check.durableMet, peakRssBelow100MB: check.rssMet, rssGrowthAtMost40MB: check.rssGrowthMet },
  });
  log(`results written to ${RESULTS_PATH}`);
}

await runBenchmark(main);
