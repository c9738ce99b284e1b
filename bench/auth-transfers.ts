/**
 * Authenticated-transfer benchmark, two parts:
 *
 * 1. Many logged-in clients at once: each of 200 clients connects, logs in,
 *    uploads its own 1 MiB file (distinct random content) and downloads it
 *    back. Wall time of the whole batch, median of 3 runs, gridlink (user
 *    `admin`, shipped defaults: durable uploads) side by side with vsftpd
 *    (local Unix user `glbench` through PAM, chrooted).
 * 2. Idle logged-in connections: 10,000 TCP connections to one gridlink
 *    server, each logged in with auth.challenge/auth.proof and then left
 *    idle; the server's RSS once they are held.
 *
 * Prints markdown tables and writes bench/results/auth-transfers.json.
 *
 *   npx tsx bench/auth-transfers.ts [--quick]
 *
 * --quick: 50 clients, 1,000 idle connections, one run (a smoke test).
 * Needs the `glbench` account that bench/run.sh creates.
 */
import { cpus } from 'node:os';
import { mkdir, readdir, readlink, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { computeProof, deriveKeys } from '../dist/accounts/credentials.js';
import { FrameConnection, GridlinkClient } from '../dist/client/index.js';
import { makeTempDir, onCleanup, runBenchmark } from './lib/cleanup.js';
import { MiB, sha256File, writeRandomFile } from './lib/files.js';
import { gridlinkHomeDir, LOOPBACK, readInitialAdminPassword, REPO_ROOT, startGridlink, startVsftpdLocalUser } from './lib/peers.js';
import { peakRssBytes, rssBytes, runCommand, type ServerProcess } from './lib/processes.js';
import { fixed, markdownTable, median, toMB, writeJson, runInfo } from './lib/report.js';

interface Settings {
  /** Clients of one batch (part 1). */
  readonly clients: number;
  /** Batches per target (part 1). */
  readonly runs: number;
  /** Idle logged-in connections held at once (part 2). */
  readonly idleConnections: number;
}

const FULL: Settings = { clients: 200, runs: 3, idleConnections: 10_000 };
const QUICK: Settings = { clients: 50, runs: 1, idleConnections: 1_000 };

const FILE_BYTES = MiB;
/** Every this many clients (from client 0), the downloaded file's SHA-256 is checked against its source. */
const SHA_SAMPLE_EVERY = 20;
/** Idle connections are opened and logged in this many at a time (well under the listen backlog). */
const CONNECT_BATCH = 200;
/** After the last idle login, wait this long before reading the server's RSS. */
const SETTLE_MS = 3_000;
/** Of the held idle connections, ping every this many (after the RSS reading) to show they are live sessions. */
const PING_SAMPLE_EVERY = 100;

const GRIDLINK_USER = 'admin';
const IDLE_TARGET_CONNECTIONS = 10_000;
const IDLE_RSS_TARGET_BYTES = 300e6;

const RESULTS_PATH = join(REPO_ROOT, 'bench', 'results', 'auth-transfers.json');
const FTP_DRIVER = join(REPO_ROOT, 'bench', 'lib', 'ftp-clients.py');
/** The system Python (pyenv shims may shadow `python3`); ftplib is in its standard library. */
const SYSTEM_PYTHON = '/usr/bin/python3';

type TargetId = 'gridlink' | 'vsftpd';
const TARGET_IDS: readonly TargetId[] = ['gridlink', 'vsftpd'];
const TARGET_LABELS: Record<TargetId, string> = {
  gridlink: 'gridlink (admin, durable)',
  vsftpd: 'vsftpd (local user, PAM)',
};

// ---------------------------------------------------------------------------
// Part 1: a batch of authenticated clients, each putting and getting its file

interface BatchTiming {
  readonly seconds: number;
  /** gridlink only: when the last client had logged in, seconds into the batch. */
  readonly allLoggedInSeconds: number | null;
}

interface BatchTarget {
  readonly id: TargetId;
  readonly server: ServerProcess;
  /** Clients 0..count-1 each upload `<sourceDir>/client-<i>.bin` and download it to `<outDir>/client-<i>.bin`. */
  runBatch(count: number, sourceDir: string, outDir: string): Promise<BatchTiming>;
  /** Where the server stores an uploaded name on disk. */
  storedPath(name: string): string;
}

interface BatchSample {
  readonly target: TargetId;
  readonly run: number;
  readonly clients: number;
  readonly seconds: number;
  readonly allLoggedInSeconds: number | null;
}

function clientFile(i: number): string {
  return `client-${i}.bin`;
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}

/** Awaits every promise (so none is left running unobserved), then throws if any failed. */
async function allOrThrow<T>(what: string, promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  const first = failures[0];
  if (first !== undefined) {
    const reason = first.reason instanceof Error ? first.reason.message : String(first.reason);
    throw new Error(`${what}: ${failures.length} of ${promises.length} failed; first: ${reason}`);
  }
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

async function startGridlinkTarget(dir: string): Promise<BatchTarget> {
  // Shipped defaults apart from the port and quiet logs: anonymous area off, durable uploads.
  const server = await startGridlink({ dir, anonymous: false });
  const password = await readInitialAdminPassword(server.dataDir);
  const home = gridlinkHomeDir(server.dataDir, GRIDLINK_USER);

  const oneClient = async (i: number, sourceDir: string, outDir: string, batchStart: number, loggedIn: number[]): Promise<void> => {
    const client = await GridlinkClient.connect({ host: LOOPBACK, port: server.port });
    try {
      const identity = await client.login(GRIDLINK_USER, password);
      if (identity.user !== GRIDLINK_USER) throw new Error(`logged in as ${identity.user}, expected ${GRIDLINK_USER}`);
      loggedIn.push((performance.now() - batchStart) / 1000);
      // Both verify the SHA-256 of the whole file end to end.
      const put = await client.put(join(sourceDir, clientFile(i)), clientFile(i));
      if (put.length !== FILE_BYTES) throw new Error(`put ${clientFile(i)}: server stored ${put.length} bytes`);
      await client.get(clientFile(i), join(outDir, clientFile(i)));
    } catch (err) {
      client.destroy();
      throw err;
    }
    await client.close();
  };

  return {
    id: 'gridlink',
    server: server.process,
    runBatch: async (count, sourceDir, outDir) => {
      const loggedIn: number[] = [];
      const start = performance.now();
      await allOrThrow('gridlink clients', range(count).map((i) => oneClient(i, sourceDir, outDir, start, loggedIn)));
      return { seconds: (performance.now() - start) / 1000, allLoggedInSeconds: Math.max(...loggedIn) };
    },
    storedPath: (name) => join(home, name),
  };
}

async function startVsftpdTarget(dir: string): Promise<BatchTarget> {
  const server = await startVsftpdLocalUser(dir);
  return {
    id: 'vsftpd',
    server: server.process,
    runBatch: async (count, sourceDir, outDir) => {
      // 200 threads of ftplib in one process: see bench/lib/ftp-clients.py for why not 200 curls.
      const args = [FTP_DRIVER, '--host', LOOPBACK, '--port', String(server.port), '--user', server.user, '--src-dir', sourceDir, '--out-dir', outDir, '--clients', String(count)];
      const { stdout } = await runCommand(SYSTEM_PYTHON, args, { env: { ...process.env, FTP_PASSWORD: server.password } });
      const report = parseDriverReport(stdout);
      if (report.errors.length > 0) throw new Error(`vsftpd clients: ${report.errors.length} of ${count} failed; first: ${report.errors[0]}`);
      return { seconds: report.seconds, allLoggedInSeconds: null };
    },
    storedPath: (name) => join(server.filesDir, name),
  };
}

function parseDriverReport(stdout: string): { seconds: number; errors: string[] } {
  const parsed: unknown = JSON.parse(stdout.trim().split('\n').pop() ?? '');
  if (typeof parsed === 'object' && parsed !== null && 'seconds' in parsed && 'errors' in parsed) {
    const { seconds, errors } = parsed;
    if (typeof seconds === 'number' && Array.isArray(errors)) return { seconds, errors: errors.map(String) };
  }
  throw new Error(`ftp-clients.py printed no report: ${stdout.slice(0, 500)}`);
}

/**
 * Checks a finished batch so a broken server cannot look fast: every stored
 * and every downloaded file has the right size, and a sample of downloads has
 * the source's SHA-256 (which also proves what was stored). Then deletes both,
 * so each run starts from the same state.
 */
async function verifyAndClear(target: BatchTarget, count: number, outDir: string, sourceSha256: readonly string[]): Promise<void> {
  const label = TARGET_LABELS[target.id];
  await allOrThrow(
    `${label} check`,
    range(count).map(async (i) => {
      const name = clientFile(i);
      const stored = target.storedPath(name);
      const local = join(outDir, name);
      for (const [path, what] of [
        [stored, 'stored'],
        [local, 'downloaded'],
      ] as const) {
        const size = (await stat(path)).size;
        if (size !== FILE_BYTES) throw new Error(`${label}: ${what} ${path} has ${size} bytes, expected ${FILE_BYTES}`);
      }
      if (i % SHA_SAMPLE_EVERY === 0 && (await sha256File(local)) !== sourceSha256[i]) throw new Error(`${label}: ${local} does not match the SHA-256 of its source`);
    }),
  );
  await Promise.all(range(count).map((i) => Promise.all([rm(target.storedPath(clientFile(i)), { force: true }), rm(join(outDir, clientFile(i)), { force: true })])));
}

interface BatchResult {
  readonly samples: BatchSample[];
  /** VmHWM of the gridlink server over all its batches. */
  readonly gridlinkPeakRssBytes: number;
}

async function benchBatches(settings: Settings, workDir: string): Promise<BatchResult> {
  const sourceDir = await subdir(workDir, 'sources');
  log(`writing ${settings.clients} source files of ${FILE_BYTES / MiB} MiB`);
  const sourceSha256 = await Promise.all(range(settings.clients).map((i) => writeRandomFile(join(sourceDir, clientFile(i)), FILE_BYTES)));

  const targets: BatchTarget[] = [];
  try {
    targets.push(await startGridlinkTarget(await subdir(workDir, 'gridlink')));
    targets.push(await startVsftpdTarget(await subdir(workDir, 'vsftpd')));
    const samples: BatchSample[] = [];
    for (let run = 1; run <= settings.runs; run++) {
      // Alternate the order, so drift on the machine does not always hit the same target.
      const order = run % 2 === 1 ? targets : [...targets].reverse();
      for (const target of order) {
        const outDir = await subdir(workDir, `${target.id}-downloads`);
        // Flush dirty pages first: vsftpd's uploads are not fsync'ed and their
        // writeback would otherwise be charged to whichever batch runs next.
        await runCommand('sync', []);
        const timing = await target.runBatch(settings.clients, sourceDir, outDir);
        await verifyAndClear(target, settings.clients, outDir, sourceSha256);
        samples.push({ target: target.id, run, clients: settings.clients, ...timing });
        const loginNote = timing.allLoggedInSeconds === null ? '' : ` (all logged in after ${fixed(timing.allLoggedInSeconds, 2)} s)`;
        log(`batch run ${run}/${settings.runs} ${TARGET_LABELS[target.id].padEnd(26)} ${settings.clients} clients in ${fixed(timing.seconds, 2)} s${loginNote}`);
      }
    }
    const gridlink = targets.find((target) => target.id === 'gridlink');
    const gridlinkPeakRssBytes = gridlink === undefined ? Number.NaN : await peakRssBytes(gridlink.server.pid);
    return { samples, gridlinkPeakRssBytes };
  } finally {
    for (const target of targets) await target.server.stop();
    await rm(sourceDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Part 2: idle logged-in connections held by one server

interface Keys {
  readonly clientKey: Buffer;
  readonly storedKey: Buffer;
}

interface ChallengeReply {
  readonly nonce: Buffer;
  readonly salt: Buffer;
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

function parseChallenge(header: Record<string, unknown>): ChallengeReply {
  const { nonce, salt, N, r, p } = header;
  if (typeof nonce !== 'string' || typeof salt !== 'string' || typeof N !== 'number' || typeof r !== 'number' || typeof p !== 'number') {
    throw new Error(`malformed auth.challenge reply: ${JSON.stringify(header)}`);
  }
  return { nonce: Buffer.from(nonce, 'base64'), salt: Buffer.from(salt, 'base64'), N, r, p };
}

/** auth.challenge then auth.proof on `conn`, with keys derived once; checks every reply. */
async function logIn(conn: FrameConnection, keys: Keys, expected: ChallengeReply | null): Promise<ChallengeReply> {
  const challenge = parseChallenge(await conn.request('auth.challenge', { user: GRIDLINK_USER }));
  // The keys fit only the salt and cost they were derived with: the same for every challenge of one user.
  if (expected !== null && (!challenge.salt.equals(expected.salt) || challenge.N !== expected.N || challenge.r !== expected.r || challenge.p !== expected.p)) {
    throw new Error('auth.challenge: salt or cost differs from the first challenge');
  }
  if (challenge.nonce.length !== 32) throw new Error(`auth.challenge: nonce of ${challenge.nonce.length} bytes`);
  const proof = computeProof(keys.clientKey, keys.storedKey, challenge.nonce).toString('base64');
  const reply = await conn.request('auth.proof', { proof });
  if (reply['user'] !== GRIDLINK_USER || reply['role'] !== 'admin') throw new Error(`auth.proof: unexpected reply ${JSON.stringify(reply)}`);
  return challenge;
}

interface IdleResult {
  readonly requested: number;
  readonly held: number;
  readonly establishSeconds: number;
  readonly baselineRssBytes: number;
  readonly rssBytes: number;
  readonly peakRssBytes: number;
  /** Socket descriptors the server process has open (the held connections, its listener, a few more). */
  readonly serverSockets: number;
  readonly pingedHeld: number;
  /** connect + login (one scrypt derivation) + ping + close of a new client while the others are held. */
  readonly freshClientMs: number;
}

async function countSockets(pid: number): Promise<number> {
  const fdDir = `/proc/${pid}/fd`;
  const links = await Promise.all((await readdir(fdDir)).map((fd) => readlink(join(fdDir, fd)).catch(() => '')));
  return links.filter((link) => link.startsWith('socket:')).length;
}

async function benchIdle(count: number, workDir: string): Promise<IdleResult> {
  const server = await startGridlink({ dir: await subdir(workDir, 'idle'), anonymous: false });
  const held: FrameConnection[] = [];
  const closeHeld = (): void => {
    for (const conn of held) conn.destroy();
    held.length = 0;
  };
  const unregister = onCleanup(closeHeld);
  try {
    const password = await readInitialAdminPassword(server.dataDir);
    const pid = server.process.pid;
    await sleep(500); // let start-up garbage settle
    const baselineRssBytes = await rssBytes(pid);

    const connect = async (): Promise<FrameConnection> => {
      const conn = await FrameConnection.connect({ host: LOOPBACK, port: server.port });
      held.push(conn);
      return conn;
    };
    const start = performance.now();
    // The first connection's challenge tells the salt and cost; scrypt runs once, here.
    const first = await connect();
    const firstChallenge = parseChallenge(await first.request('auth.challenge', { user: GRIDLINK_USER }));
    const keys = await deriveKeys(password, firstChallenge.salt, firstChallenge);
    const reference = await logIn(first, keys, null);
    for (let opened = 1; opened < count; ) {
      const size = Math.min(CONNECT_BATCH, count - opened);
      await allOrThrow(
        `idle logins ${opened}..${opened + size - 1}`,
        range(size).map(async () => logIn(await connect(), keys, reference)),
      );
      opened += size;
      if (opened % 2_000 < CONNECT_BATCH) log(`idle: ${opened} connections logged in`);
    }
    const establishSeconds = (performance.now() - start) / 1000;

    await sleep(SETTLE_MS);
    const rss = await rssBytes(pid);
    const peak = await peakRssBytes(pid);
    const serverSockets = await countSockets(pid);
    const dead = held.filter((conn) => conn.failure !== null).length;
    if (dead > 0) throw new Error(`${dead} of ${held.length} idle connections were closed while held`);

    // Still live sessions, and the server still serves a newcomer.
    const sample = held.filter((_, i) => i % PING_SAMPLE_EVERY === 0);
    await allOrThrow('pings on held connections', sample.map((conn) => conn.request('ping')));
    const freshStart = performance.now();
    const fresh = await GridlinkClient.connect({ host: LOOPBACK, port: server.port });
    try {
      const identity = await fresh.login(GRIDLINK_USER, password);
      if (identity.user !== GRIDLINK_USER) throw new Error(`fresh client logged in as ${identity.user}`);
      await fresh.ping();
    } catch (err) {
      fresh.destroy();
      throw err;
    }
    await fresh.close();
    const freshClientMs = performance.now() - freshStart;
    const stillHeld = held.filter((conn) => conn.failure === null).length;
    if (stillHeld !== count) throw new Error(`only ${stillHeld} of ${count} idle connections survived the fresh client`);

    return { requested: count, held: stillHeld, establishSeconds, baselineRssBytes, rssBytes: rss, peakRssBytes: peak, serverSockets, pingedHeld: sample.length, freshClientMs };
  } finally {
    closeHeld();
    unregister();
    await server.process.stop();
  }
}

// ---------------------------------------------------------------------------
// Reporting

interface BatchRow {
  readonly target: TargetId;
  readonly medianSeconds: number;
  readonly runSeconds: number[];
  /** Bytes moved (each client up and down) per second of the median batch, MB/s. */
  readonly aggregateMBps: number;
}

function summariseBatches(settings: Settings, samples: readonly BatchSample[]): BatchRow[] {
  return TARGET_IDS.map((id) => {
    const runSeconds = samples.filter((s) => s.target === id).map((s) => s.seconds);
    const medianSeconds = median(runSeconds);
    return { target: id, medianSeconds, runSeconds, aggregateMBps: toMB(2 * settings.clients * FILE_BYTES) / medianSeconds };
  });
}

function rowFor(rows: readonly BatchRow[], id: TargetId): BatchRow {
  const row = rows.find((r) => r.target === id);
  if (row === undefined) throw new Error(`no results for ${id}`);
  return row;
}

function renderBatchTable(settings: Settings, rows: readonly BatchRow[], ratio: number): string {
  const headers = ['target', 'clients', `wall s (median of ${settings.runs})`, 'wall s, each run', 'aggregate MB/s', 'ratio gridlink/vsftpd'];
  const cells = rows.map((row) => [
    TARGET_LABELS[row.target],
    String(settings.clients),
    fixed(row.medianSeconds, 2),
    row.runSeconds.map((s) => fixed(s, 2)).join(' / '),
    fixed(row.aggregateMBps),
    row.target === 'gridlink' ? fixed(ratio, 2) : '–',
  ]);
  return markdownTable(headers, cells);
}

function renderIdleTable(idle: IdleResult): string {
  const perConnectionKB = (idle.rssBytes - idle.baselineRssBytes) / idle.held / 1e3;
  const headers = ['connections held', 'time to establish s', 'logins/s', 'server RSS before MB', 'server RSS held MB', 'KB per connection', 'server sockets', 'fresh login + ping ms'];
  const cells = [
    [
      String(idle.held),
      fixed(idle.establishSeconds, 2),
      fixed(idle.held / idle.establishSeconds, 0),
      fixed(toMB(idle.baselineRssBytes)),
      fixed(toMB(idle.rssBytes)),
      fixed(perConnectionKB, 1),
      String(idle.serverSockets),
      fixed(idle.freshClientMs, 0),
    ],
  ];
  return markdownTable(headers, cells);
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

async function subdir(parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } }, strict: true });
  const quick = values.quick;
  const settings = quick ? QUICK : FULL;
  const workDir = await makeTempDir('gridlink-bench-auth-');

  const batches = await benchBatches(settings, workDir);
  log(`idle: opening ${settings.idleConnections} logged-in connections, ${CONNECT_BATCH} at a time`);
  const idle = await benchIdle(settings.idleConnections, workDir);

  const rows = summariseBatches(settings, batches.samples);
  const ratio = rowFor(rows, 'gridlink').medianSeconds / rowFor(rows, 'vsftpd').medianSeconds;
  const fasterMet = ratio < 1;
  const idleChecked = idle.held >= IDLE_TARGET_CONNECTIONS;
  const idleMet = idleChecked ? idle.rssBytes < IDLE_RSS_TARGET_BYTES : null;
  const loggedIn = batches.samples.filter((s) => s.target === 'gridlink').map((s) => s.allLoggedInSeconds ?? Number.NaN);
  const metText = (met: boolean | null): string => (met === null ? `not checked (needs ${IDLE_TARGET_CONNECTIONS.toLocaleString('en')}; drop --quick)` : met ? 'MET' : 'NOT MET');

  process.stdout.write(
    [
      `### Authenticated transfers (${settings.clients} clients × ${FILE_BYTES / MiB} MiB up and down, ${settings.runs} run${settings.runs === 1 ? '' : 's'}; ${cpus().length} CPUs, Node ${process.version})`,
      '',
      `Wall time for the whole batch: every client connects, logs in, uploads its own file, downloads it back and disconnects, all at once. ` +
        `gridlink: ${settings.clients} GridlinkClients in the bench process as \`admin\` (scrypt challenge–response login; put and get each verify SHA-256). ` +
        `vsftpd: local user \`glbench\` through PAM, chrooted; ${settings.clients} Python ftplib threads in one process, login + STOR + RETR in one session each. ` +
        `Sizes of all files and the SHA-256 of every ${SHA_SAMPLE_EVERY}th download checked after each batch. Lower is better.`,
      '',
      renderBatchTable(settings, rows, ratio),
      '',
      `gridlink: all ${settings.clients} clients logged in after ${loggedIn.map((s) => fixed(s, 2)).join(' / ')} s (scrypt in the client); server peak RSS (VmHWM) over the batches: ${fixed(toMB(batches.gridlinkPeakRssBytes))} MB`,
      `Target gridlink faster than vsftpd (ratio < 1): ${fasterMet ? 'MET' : 'NOT MET'} (${fixed(ratio, 2)})`,
      '',
      `### Idle logged-in connections held by one gridlink server`,
      '',
      `Opened ${CONNECT_BATCH} at a time from the bench process, each logged in with auth.challenge/auth.proof (keys derived once); RSS (VmRSS) read ${SETTLE_MS / 1000} s after the last login. ` +
        `Then every ${PING_SAMPLE_EVERY}th held connection pinged and a new client logged in and pinged.`,
      '',
      renderIdleTable(idle),
      '',
      `Server peak RSS (VmHWM) during the idle part: ${fixed(toMB(idle.peakRssBytes))} MB`,
      `Target ${IDLE_TARGET_CONNECTIONS.toLocaleString('en')} connections under ${fixed(toMB(IDLE_RSS_TARGET_BYTES), 0)} MB RSS: ${metText(idleMet)}`,
      '',
    ].join('\n'),
  );

  await writeJson(RESULTS_PATH, {
    ...runInfo('auth-transfers', quick),
    settings: { ...settings, fileBytes: FILE_BYTES, shaSampleEvery: SHA_SAMPLE_EVERY, connectBatch: CONNECT_BATCH, settleMs: SETTLE_MS },
    drivers: { gridlink: 'GridlinkClient in the bench process', vsftpd: 'bench/lib/ftp-clients.py (Python ftplib threads)' },
    batches: { unit: 'seconds of wall time per batch', samples: batches.samples, rows, ratioGridlinkOverVsftpd: ratio, gridlinkPeakRssBytes: batches.gridlinkPeakRssBytes },
    idle,
    targets: { gridlinkFaster: fasterMet, idleUnder300MB: idleMet },
  });
  log(`results written to ${RESULTS_PATH}`);
}

await runBenchmark(main);
