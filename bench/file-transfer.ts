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
 *   npx tsx bench/file-transfer.ts [--quick]
 *
 * --quick: 64 MiB only, one run each (a smoke test of the whole pipeline).
 */
import { cpus } from 'node:os';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { GridlinkClient } from '../dist/client/index.js';
import { makeTempDir, runBenchmark } from './lib/cleanup.js';
import { GiB, MiB, sha256File, writeRandomFile } from './lib/files.js';
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
  { label: '1 GiB', bytes: GiB, runs: 2 },
];
const QUICK_SIZES: readonly SizeSpec[] = [{ label: '64 MiB', bytes: 64 * MiB, runs: 1 }];

const RSS_TARGET_BYTES = 100e6;
const RESULTS_PATH = join(REPO_ROOT, 'bench', 'results', 'file-transfer.json');

type Direction = 'put' | 'get';
const DIRECTIONS: readonly Direction[] = ['put', 'get'];

type TargetId = 'gridlink-durable' | 'gridlink-nofsync' | 'vsftpd' | 'pyftpdlib' | ReferenceId;
type GridlinkId = (typeof GRIDLINK_IDS)[number];
const GRIDLINK_IDS = ['gridlink-durable', 'gridlink-nofsync'] as const;
const PEER_IDS = ['vsftpd', 'pyftpdlib'] as const;
type ReferenceId = (typeof REFERENCE_IDS)[number];
/** Measured like the others but never peers: the runtime's own ceiling, bare and with the SHA-256 check (see the top of this file). */
const REFERENCE_IDS = ['node-pipe', 'node-pipe-sha256'] as const;
const REFERENCE_ID = 'node-pipe';
const SHA256_REFERENCE_ID = 'node-pipe-sha256';
const TARGET_IDS: readonly TargetId[] = [...GRIDLINK_IDS, ...PEER_IDS, ...REFERENCE_IDS];

const TARGET_LABELS: Record<TargetId, string> = {
  'gridlink-durable': 'gridlink (durable)',
  'gridlink-nofsync': 'gridlink (no fsync)',
  vsftpd: 'vsftpd',
  pyftpdlib: 'pyftpdlib',
  'node-pipe': 'Node.js pipe (reference)',
  'node-pipe-sha256': 'Node.js pipe + SHA-256 (reference)',
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

async function startGridlinkTarget(id: GridlinkId, dir: string): Promise<Target> {
  // durable: the shipped default (fsync before rename); no fsync: like vsftpd.
  const server = await startGridlink({ dir, config: id === 'gridlink-nofsync' ? { files: { durable: false } } : {} });
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
  return {
    id,
    server: server.process,
    // Both calls verify the SHA-256 of the whole file end to end.
    put: (local, remote) => withClient((client) => client.put(local, remote)),
    get: (remote, local) => withClient((client) => client.get(remote, local)),
    storedPath: (remote) => join(server.anonymousDir, remote),
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
    for (const id of GRIDLINK_IDS) targets.push(await startGridlinkTarget(id, await subdir(dir, id)));
    targets.push(ftpTarget('vsftpd', await startVsftpd(await subdir(dir, 'vsftpd'))));
    targets.push(ftpTarget('pyftpdlib', await startPyftpdlib(await subdir(dir, 'pyftpdlib'))));
    for (const id of REFERENCE_IDS) targets.push(await startNodePipeTarget(id, await subdir(dir, id)));
  } catch (err) {
    await stopTargets(targets);
    throw err;
  }
  return targets;
}

async function stopTargets(targets: readonly Target[]): Promise<void> {
  for (const target of targets) await target.server.stop();
}

async function subdir(parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

// ---------------------------------------------------------------------------
// Measuring

/**
 * Flushes dirty pages first: an upload that was not fsync'ed leaves its data
 * to the kernel's writeback, which would otherwise slow whichever transfer
 * runs next and charge one server's cost to another.
 */
async function timed(action: () => Promise<void>): Promise<number> {
  await runCommand('sync', []);
  const start = performance.now();
  await action();
  return (performance.now() - start) / 1000;
}

async function expectSize(path: string, bytes: number, what: string): Promise<void> {
  const actual = (await stat(path)).size;
  if (actual !== bytes) throw new Error(`${what}: ${path} has ${actual} bytes, expected ${bytes}`);
}

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

  const putSeconds = await timed(() => target.put(source, remote));
  await expectSize(stored, size.bytes, `${label} put`);
  const getSeconds = await timed(() => target.get(remote, local));
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
  const outDir = await subdir(dir, 'downloads');
  const targets = await startTargets(dir);
  try {
    const measured = targets.filter((target) => isGridlink(target.id) || isReference(target.id));
    const idleRss: Partial<Record<TargetId, number>> = {};
    for (const target of measured) idleRss[target.id] = await rssBytes(target.server.pid);
    const samples: Sample[] = [];
    for (let run = 1; run <= size.runs; run++) {
      for (const target of targets) {
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

function isReference(id: TargetId): id is ReferenceId {
  return (REFERENCE_IDS as readonly TargetId[]).includes(id);
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
  readonly bestPeer: (typeof PEER_IDS)[number];
  /** gridlink MB/s divided by the faster peer's. */
  readonly ratio: Record<GridlinkId, number>;
  /** gridlink MB/s divided by the Node.js pipe's: what gridlink keeps of the runtime's ceiling. */
  readonly ratioToReference: Record<GridlinkId, number>;
  /** The Node.js pipe's MB/s divided by the faster peer's: the runtime's own gap (or lead). */
  readonly referenceToBestPeer: number;
  /** gridlink (no fsync) MB/s divided by the pipe + SHA-256's: what gridlink's protocol keeps of a pipe with the same check. */
  readonly nofsyncToSha256Reference: number;
  /** The pipe + SHA-256's MB/s divided by the bare pipe's: what the end-to-end check leaves of the runtime's ceiling. */
  readonly sha256ReferenceToReference: number;
}

function summarise(sizes: readonly SizeSpec[], samples: readonly Sample[]): Row[] {
  const rows: Row[] = [];
  for (const size of sizes) {
    for (const direction of DIRECTIONS) {
      const medianOf = (id: TargetId): number =>
        median(samples.filter((s) => s.size === size.label && s.target === id).map((s) => mbps(s.bytes, direction === 'put' ? s.putSeconds : s.getSeconds)));
      const rates = {
        'gridlink-durable': medianOf('gridlink-durable'),
        'gridlink-nofsync': medianOf('gridlink-nofsync'),
        vsftpd: medianOf('vsftpd'),
        pyftpdlib: medianOf('pyftpdlib'),
        'node-pipe': medianOf('node-pipe'),
        'node-pipe-sha256': medianOf('node-pipe-sha256'),
      };
      const bestPeer = rates.vsftpd >= rates.pyftpdlib ? 'vsftpd' : 'pyftpdlib';
      const best = rates[bestPeer];
      const reference = rates[REFERENCE_ID];
      const sha256Reference = rates[SHA256_REFERENCE_ID];
      rows.push({
        size: size.label,
        direction,
        mbps: rates,
        bestPeer,
        ratio: { 'gridlink-durable': rates['gridlink-durable'] / best, 'gridlink-nofsync': rates['gridlink-nofsync'] / best },
        ratioToReference: { 'gridlink-durable': rates['gridlink-durable'] / reference, 'gridlink-nofsync': rates['gridlink-nofsync'] / reference },
        referenceToBestPeer: reference / best,
        nofsyncToSha256Reference: rates['gridlink-nofsync'] / sha256Reference,
        sha256ReferenceToReference: sha256Reference / reference,
      });
    }
  }
  return rows;
}

function renderTable(rows: readonly Row[]): string {
  const short = (id: GridlinkId): string => TARGET_LABELS[id].replace(' (', '(');
  const headers = [
    'size',
    'dir',
    ...TARGET_IDS.map((id) => `${TARGET_LABELS[id]} MB/s`),
    ...GRIDLINK_IDS.map((id) => `ratio ${short(id)}/best peer`),
    ...GRIDLINK_IDS.map((id) => `ratio ${short(id)}/Node.js pipe`),
    // The no-fsync variant only (the pipe does not fsync either), to keep the table readable.
    `ratio ${short('gridlink-nofsync')}/pipe+SHA-256`,
  ];
  const cells = rows.map((row) => [
    row.size,
    row.direction,
    ...TARGET_IDS.map((id) => fixed(row.mbps[id])),
    ...GRIDLINK_IDS.map((id) => fixed(row.ratio[id], 2)),
    ...GRIDLINK_IDS.map((id) => fixed(row.ratioToReference[id], 2)),
    fixed(row.nofsyncToSha256Reference, 2),
  ]);
  return markdownTable(headers, cells);
}

interface TargetCheck {
  readonly throughputMet: Record<GridlinkId, boolean>;
  /** null when no 1 GiB run happened (--quick). */
  readonly rssMet: boolean | null;
}

function checkTargets(rows: readonly Row[], peakRss: Partial<Record<TargetId, number>>, rssMeasuredAtGiB: boolean): TargetCheck {
  const throughputMet = {
    'gridlink-durable': rows.every((row) => row.ratio['gridlink-durable'] >= 1),
    'gridlink-nofsync': rows.every((row) => row.ratio['gridlink-nofsync'] >= 1),
  };
  // gridlink's servers only: the references' peaks are reported, never judged.
  const rssValues = GRIDLINK_IDS.map((id) => peakRss[id] ?? Number.NaN);
  return { throughputMet, rssMet: rssMeasuredAtGiB ? rssValues.every((bytes) => bytes < RSS_TARGET_BYTES) : null };
}

function renderSummary(rows: readonly Row[], peakRss: Partial<Record<TargetId, number>>, idleRss: Partial<Record<TargetId, number>>, rssSize: string, check: TargetCheck): string {
  const metText = (met: boolean | null): string => (met === null ? 'not checked (needs the 1 GiB runs; drop --quick)' : met ? 'MET' : 'NOT MET');
  const worst = (id: GridlinkId): string => {
    const row = [...rows].sort((a, b) => a.ratio[id] - b.ratio[id])[0];
    return row === undefined ? '' : ` (lowest ratio ${fixed(row.ratio[id], 2)}: ${row.size} ${row.direction} vs ${row.bestPeer})`;
  };
  // The references' peaks are what a bare Node.js process needs to move the same bytes (and to hash them).
  const rss = [...GRIDLINK_IDS, ...REFERENCE_IDS]
    .map((id) => `${TARGET_LABELS[id]} ${fixed(toMB(peakRss[id] ?? Number.NaN))} MB (idle ${fixed(toMB(idleRss[id] ?? Number.NaN))} MB)`)
    .join(', ');
  return [
    `gridlink server peak RSS (VmHWM of a server started fresh for the ${rssSize} runs): ${rss}`,
    `Target gridlink >= faster peer, both directions: ${GRIDLINK_IDS.map((id) => `${TARGET_LABELS[id]} ${metText(check.throughputMet[id])}${check.throughputMet[id] ? '' : worst(id)}`).join('; ')}`,
    `Target peak RSS < ${fixed(toMB(RSS_TARGET_BYTES), 0)} MB during 1 GiB transfers: ${metText(check.rssMet)}`,
    ...renderRuntimeGap(rows),
    ...renderSha256Cost(rows),
  ].join('\n');
}

/** Per size, the Node.js pipe's MB/s over the faster FTP peer's, both directions: how far the runtime alone gets. */
function renderRuntimeGap(rows: readonly Row[]): string[] {
  const sizes = [...new Set(rows.map((row) => row.size))];
  return sizes.map((size) => {
    const ratioFor = (direction: Direction): string => fixed(rows.find((row) => row.size === size && row.direction === direction)?.referenceToBestPeer, 2);
    return `Node.js pipe vs faster FTP peer, ${size}: put ${ratioFor('put')}, get ${ratioFor('get')} (the runtime's own ceiling on this machine)`;
  });
}

/** Per size, the pipe + SHA-256's MB/s over the bare pipe's, both directions: what the end-to-end check costs. */
function renderSha256Cost(rows: readonly Row[]): string[] {
  const sizes = [...new Set(rows.map((row) => row.size))];
  return sizes.map((size) => {
    const ratioFor = (direction: Direction): string => fixed(rows.find((row) => row.size === size && row.direction === direction)?.sha256ReferenceToReference, 2);
    return `Node.js pipe + SHA-256 vs bare pipe, ${size}: put ${ratioFor('put')}, get ${ratioFor('get')} (the cost of the end-to-end check on this machine)`;
  });
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } }, strict: true });
  const quick = values.quick;
  const sizes = quick ? QUICK_SIZES : FULL_SIZES;
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
  const check = checkTargets(rows, peakRss, sizes.some((size) => size.bytes >= GiB));
  const runs = sizes.map((size) => `${size.runs} × ${size.label}`).join(', ');
  process.stdout.write(
    [
      `### File transfer over loopback (${runs}; ${cpus().length} CPUs, Node ${process.version})`,
      '',
      'MB/s with 1 MB = 1e6 bytes; median over runs (mean of the two for 2 runs). gridlink: its client library in the bench process; FTP peers: curl;',
      'Node.js pipe: a bare socket-to-file pipe (bench/lib/node-pipe.ts, client in the bench process), a reference for the runtime, not a peer;',
      "Node.js pipe + SHA-256: the same pipe plus gridlink's end-to-end SHA-256 check (a hashing worker per process, both ends), a reference for the cost of the check.",
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
    targets: { throughputMet: check.throughputMet, peakRssBelow100MB: check.rssMet },
  });
  log(`results written to ${RESULTS_PATH}`);
}

await runBenchmark(main);
