/**
 * FTP front benchmark (docs/ftp.md): gridlink's FTP front side by side with
 * vsftpd, in the same run, driven by the same client (curl):
 *
 * 1. put and get of a 64 MiB and a 1 GiB file (MB/s, 1 MB = 1e6 bytes,
 *    median over runs), one curl per transfer;
 * 2. 200 concurrent clients each putting and then getting its own 1 MiB
 *    file: 200 curl processes started at once, each logging in once and
 *    doing both transfers on its control connection; wall time of the
 *    batch, median over runs;
 * 3. gridlink's memory for 2,000 idle logged-in FTP sessions: its RSS with
 *    them held, minus its RSS before (target < 60 MB).
 *
 * Both servers log in a user with a password and store in that user's
 * directory: gridlink a user with a large quota, vsftpd the local account
 * `glbench` (through PAM, chrooted; bench/run.sh creates it). gridlink runs
 * with `files.durable: false`, because vsftpd does not fsync either: the
 * comparison is of the FTP servers, not of the disk's flush. Passive data
 * ports are the kernel's choice on both (`ftp.passivePorts: 0`, vsftpd's
 * pasv_min/max_port unset). Targets: gridlink ≥ 1.0× vsftpd on every row.
 *
 * Prints markdown tables and writes bench/results/ftp-front.json.
 *
 *   npx tsx bench/ftp-front.ts [--quick]
 *
 * --quick: 64 MiB only, 50 clients, 200 idle sessions, one run each.
 */
import { mkdir, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { makeTempDir, runBenchmark } from './lib/cleanup.js';
import { GiB, MiB, expectSize, sha256File, timedTransfer, warmPageCache, writeRandomFile } from './lib/files.js';
import { gridlinkHomeDir, LOOPBACK, REPO_ROOT, startGridlink, startVsftpdLocalUser } from './lib/peers.js';
import { freePort, rssBytes, runCommand, type ServerProcess } from './lib/processes.js';
import { fixed, markdownTable, median, runInfo, toMB, writeJson } from './lib/report.js';

interface SizeSpec {
  readonly label: string;
  readonly bytes: number;
  readonly runs: number;
}

interface Settings {
  readonly sizes: readonly SizeSpec[];
  readonly clients: number;
  readonly clientRuns: number;
  readonly idleSessions: number;
}

const FULL: Settings = {
  sizes: [
    { label: '64 MiB', bytes: 64 * MiB, runs: 3 },
    { label: '1 GiB', bytes: GiB, runs: 3 },
  ],
  clients: 200,
  clientRuns: 3,
  idleSessions: 2_000,
};
const QUICK: Settings = { sizes: [{ label: '64 MiB', bytes: 64 * MiB, runs: 1 }], clients: 50, clientRuns: 1, idleSessions: 200 };

const CLIENT_FILE_BYTES = MiB;
const IDLE_TARGET_SESSIONS = 2_000;
const IDLE_RSS_TARGET_BYTES = 60e6;
/** Idle sessions log in this many at a time (each login is one scrypt on the server). */
const LOGIN_BATCH = 50;
/** After the last idle login, wait this long before reading the server's RSS. */
const SETTLE_MS = 3_000;
const GRIDLINK_USER = 'bench';
const RESULTS_PATH = join(REPO_ROOT, 'bench', 'results', 'ftp-front.json');

type TargetId = 'gridlink' | 'vsftpd';
const TARGET_LABELS: Record<TargetId, string> = {
  gridlink: 'gridlink FTP (no fsync)',
  vsftpd: 'vsftpd (local user)',
};

/** An FTP server as curl reaches it. */
interface Target {
  readonly id: TargetId;
  readonly server: ServerProcess;
  readonly port: number;
  /** `user:password` for curl. */
  readonly login: string;
  /** URL of the user's directory, ending in '/'. */
  readonly baseUrl: string;
  /** Where the server keeps an uploaded name on disk. */
  storedPath(name: string): string;
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

async function subdir(parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

function curl(target: Target, args: readonly string[]): Promise<unknown> {
  return runCommand('curl', ['--silent', '--show-error', '--fail', '--user', target.login, ...args]);
}

// ---------------------------------------------------------------------------
// Targets

async function startGridlinkTarget(dir: string): Promise<Target> {
  const ftpPort = await freePort();
  const server = await startGridlink({
    dir,
    anonymous: false,
    // No fsync, like vsftpd; kernel-chosen passive ports, like the vsftpd config of bench/lib/peers.ts.
    config: { files: { durable: false }, ftp: { enabled: true, host: LOOPBACK, port: ftpPort, passivePorts: 0, maxConnections: IDLE_TARGET_SESSIONS + 1_000 } },
  });
  await server.process.waitForPort(LOOPBACK, ftpPort);
  const password = 'bench-password-not-secret';
  await runCommand(process.execPath, [join(REPO_ROOT, 'bin', 'gridlink.js'), 'admin', '--data', server.dataDir, 'user', 'add', GRIDLINK_USER, '--role', 'operator', '--quota', '100G'], {
    env: { ...process.env, GRIDLINK_PASSWORD: password },
  });
  const home = gridlinkHomeDir(server.dataDir, GRIDLINK_USER);
  return { id: 'gridlink', server: server.process, port: ftpPort, login: `${GRIDLINK_USER}:${password}`, baseUrl: `ftp://${LOOPBACK}:${ftpPort}/`, storedPath: (name) => join(home, name) };
}

async function startVsftpdTarget(dir: string): Promise<Target> {
  const server = await startVsftpdLocalUser(dir);
  return { id: 'vsftpd', server: server.process, port: server.port, login: `${server.user}:${server.password}`, baseUrl: server.baseUrl, storedPath: (name) => join(server.filesDir, name) };
}

// ---------------------------------------------------------------------------
// Part 1: one big file, put and get

interface TransferSample {
  readonly size: string;
  readonly bytes: number;
  readonly target: TargetId;
  readonly run: number;
  readonly putSeconds: number;
  readonly getSeconds: number;
}


async function measureTransfer(target: Target, source: string, size: SizeSpec, run: number, outDir: string, sha256: string | null): Promise<TransferSample> {
  const name = `big-${size.bytes}-run${run}.bin`;
  const local = join(outDir, `${target.id}-${name}`);
  const label = TARGET_LABELS[target.id];
  const putSeconds = await timedTransfer(() => curl(target, ['-T', source, target.baseUrl + name]));
  await expectSize(target.storedPath(name), size.bytes, `${label} put`);
  const getSeconds = await timedTransfer(() => curl(target, ['-o', local, target.baseUrl + name]));
  await expectSize(local, size.bytes, `${label} get`);
  if (sha256 !== null && (await sha256File(local)) !== sha256) throw new Error(`${label}: ${local} does not match the source's SHA-256`);
  await rm(target.storedPath(name), { force: true });
  await rm(local, { force: true });
  return { size: size.label, bytes: size.bytes, target: target.id, run, putSeconds, getSeconds };
}

async function benchTransfers(settings: Settings, targets: readonly Target[], workDir: string): Promise<TransferSample[]> {
  const samples: TransferSample[] = [];
  for (const size of settings.sizes) {
    const dir = await subdir(workDir, `size-${size.bytes}`);
    const source = join(dir, 'source.bin');
    log(`${size.label}: writing the source file`);
    const sha256 = await writeRandomFile(source, size.bytes);
    await warmPageCache(source, dir);
    const outDir = await subdir(dir, 'downloads');
    for (let run = 1; run <= size.runs; run++) {
      // Alternate the order, so drift on the machine does not always hit the same target.
      const order = run % 2 === 1 ? targets : [...targets].reverse();
      for (const target of order) {
        const sample = await measureTransfer(target, source, size, run, outDir, run === 1 ? sha256 : null);
        samples.push(sample);
        log(`${size.label} run ${run}/${size.runs} ${TARGET_LABELS[target.id].padEnd(24)} put ${fixed(toMB(size.bytes) / sample.putSeconds).padStart(7)} MB/s, get ${fixed(toMB(size.bytes) / sample.getSeconds).padStart(7)} MB/s`);
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
  return samples;
}

// ---------------------------------------------------------------------------
// Part 2: many clients at once

interface ClientsSample {
  readonly target: TargetId;
  readonly run: number;
  readonly seconds: number;
}

/**
 * One client: a curl process that logs in once, uploads its file and
 * downloads it back on the same control connection (curl reuses it for the
 * second URL). `-o /dev/null` belongs to the upload (the first URL).
 */
function oneClient(target: Target, source: string, out: string, url: string): Promise<unknown> {
  return curl(target, ['-T', source, '-o', '/dev/null', url, '-o', out, url]);
}

async function benchClients(settings: Settings, targets: readonly Target[], workDir: string): Promise<ClientsSample[]> {
  const sourceDir = await subdir(workDir, 'clients-src');
  const count = settings.clients;
  log(`writing ${count} source files of 1 MiB`);
  const sha256 = await Promise.all(Array.from({ length: count }, (_, i) => writeRandomFile(join(sourceDir, `client-${i}.bin`), CLIENT_FILE_BYTES)));
  const names = Array.from({ length: count }, (_, i) => `client-${i}.bin`);
  const samples: ClientsSample[] = [];
  for (let run = 1; run <= settings.clientRuns; run++) {
    const order = run % 2 === 1 ? targets : [...targets].reverse();
    for (const target of order) {
      const outDir = await subdir(workDir, `clients-out-${target.id}`);
      // All clients at once; the batch's wall time, from the first start to the last end.
      const seconds = await timedTransfer(async () => {
        const settled = await Promise.allSettled(names.map((name) => oneClient(target, join(sourceDir, name), join(outDir, name), target.baseUrl + name)));
        const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
        if (failed.length > 0) throw new Error(`${TARGET_LABELS[target.id]}: ${failed.length} of ${count} clients failed; first: ${String(failed[0]!.reason)}`);
      });
      // A broken server must not look fast: every size, and a sample of contents.
      for (const [i, name] of names.entries()) {
        await expectSize(target.storedPath(name), CLIENT_FILE_BYTES, `${TARGET_LABELS[target.id]} put ${name}`);
        await expectSize(join(outDir, name), CLIENT_FILE_BYTES, `${TARGET_LABELS[target.id]} get ${name}`);
        if (i % 20 === 0 && (await sha256File(join(outDir, name))) !== sha256[i]) throw new Error(`${TARGET_LABELS[target.id]}: ${name} differs from its source`);
        await rm(target.storedPath(name), { force: true });
      }
      await rm(outDir, { recursive: true, force: true });
      samples.push({ target: target.id, run, seconds });
      log(`${count} clients run ${run}/${settings.clientRuns} ${TARGET_LABELS[target.id].padEnd(24)} put + get in ${fixed(seconds, 2)} s`);
    }
  }
  await rm(sourceDir, { recursive: true, force: true });
  return samples;
}

// ---------------------------------------------------------------------------
// Part 3: idle logged-in sessions

/** A control connection logged in (USER/PASS), then left idle. */
function idleSession(port: number, user: string, password: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: LOOPBACK, port });
    socket.setEncoding('utf8');
    let buffer = '';
    socket.on('error', reject);
    socket.on('data', (text: string) => {
      buffer += text;
      if (buffer.startsWith('220') && buffer.endsWith('\r\n')) {
        buffer = '';
        socket.write(`USER ${user}\r\n`);
      } else if (buffer.startsWith('331') && buffer.endsWith('\r\n')) {
        buffer = '';
        socket.write(`PASS ${password}\r\n`);
      } else if (buffer.startsWith('230') && buffer.endsWith('\r\n')) {
        socket.removeAllListeners('data');
        resolve(socket);
      } else if (/^[45]\d\d /u.test(buffer)) {
        socket.destroy();
        reject(new Error(`login refused: ${buffer.trim()}`));
      }
    });
  });
}

async function benchIdle(settings: Settings, target: Target): Promise<{ sessions: number; idleRss: number; loadedRss: number }> {
  const [user = '', password = ''] = target.login.split(':');
  // Warm up (code paths, the scrypt pool), then the baseline.
  (await idleSession(target.port, user, password)).destroy();
  await sleep(SETTLE_MS);
  const idleRss = await rssBytes(target.server.pid);
  const sockets: Socket[] = [];
  try {
    for (let done = 0; done < settings.idleSessions; done += LOGIN_BATCH) {
      const batch = Math.min(LOGIN_BATCH, settings.idleSessions - done);
      sockets.push(...(await Promise.all(Array.from({ length: batch }, () => idleSession(target.port, user, password)))));
    }
    log(`${sockets.length} idle FTP sessions logged in`);
    await sleep(SETTLE_MS);
    const loadedRss = await rssBytes(target.server.pid);
    // Still live: one of them answers.
    const probe = sockets[Math.floor(sockets.length / 2)]!;
    const pong = new Promise<string>((resolve) => probe.once('data', (text: string) => resolve(text)));
    probe.write('NOOP\r\n');
    if (!(await pong).startsWith('200')) throw new Error('an idle session did not answer NOOP');
    return { sessions: sockets.length, idleRss, loadedRss };
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}

// ---------------------------------------------------------------------------
// Report

interface Row {
  readonly row: string;
  readonly unit: string;
  readonly gridlink: number;
  readonly vsftpd: number;
  /** gridlink's speed over vsftpd's (> 1: gridlink is faster). */
  readonly ratio: number;
}

function summarise(settings: Settings, transfers: readonly TransferSample[], clients: readonly ClientsSample[]): Row[] {
  const rows: Row[] = [];
  for (const size of settings.sizes) {
    for (const direction of ['put', 'get'] as const) {
      const rate = (id: TargetId): number =>
        median(transfers.filter((s) => s.size === size.label && s.target === id).map((s) => toMB(s.bytes) / (direction === 'put' ? s.putSeconds : s.getSeconds)));
      const gridlink = rate('gridlink');
      const vsftpd = rate('vsftpd');
      rows.push({ row: `${direction} ${size.label}`, unit: 'MB/s', gridlink, vsftpd, ratio: gridlink / vsftpd });
    }
  }
  const seconds = (id: TargetId): number => median(clients.filter((s) => s.target === id).map((s) => s.seconds));
  const gridlink = seconds('gridlink');
  const vsftpd = seconds('vsftpd');
  rows.push({ row: `${settings.clients} clients × 1 MiB, put + get`, unit: 's', gridlink, vsftpd, ratio: vsftpd / gridlink });
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const quick = values.quick === true;
  const settings = quick ? QUICK : FULL;
  const workDir = await makeTempDir('gridlink-bench-ftp-');
  const targets: Target[] = [];
  let rows: Row[];
  let idle: { sessions: number; idleRss: number; loadedRss: number };
  try {
    targets.push(await startGridlinkTarget(await subdir(workDir, 'gridlink')));
    targets.push(await startVsftpdTarget(await subdir(workDir, 'vsftpd')));
    const transfers = await benchTransfers(settings, targets, workDir);
    const clients = await benchClients(settings, targets, workDir);
    rows = summarise(settings, transfers, clients);
    // Last, on the same server: what the transfers left behind is part of its baseline.
    idle = await benchIdle(settings, targets[0]!);
  } finally {
    for (const target of targets) await target.server.stop();
  }
  const idleMB = toMB(idle.loadedRss - idle.idleRss);
  const table = markdownTable(
    ['row', 'unit', TARGET_LABELS.gridlink, TARGET_LABELS.vsftpd, 'ratio (≥ 1: gridlink as fast or faster)'],
    rows.map((r) => [r.row, r.unit, fixed(r.gridlink, r.unit === 's' ? 2 : 1), fixed(r.vsftpd, r.unit === 's' ? 2 : 1), fixed(r.ratio, 2)]),
  );
  const met = rows.every((r) => r.ratio >= 1);
  const idleMet = idle.sessions >= IDLE_TARGET_SESSIONS ? idleMB < toMB(IDLE_RSS_TARGET_BYTES) : null;
  const worst = [...rows].sort((a, b) => a.ratio - b.ratio)[0];
  const summary = [
    `Target gridlink ≥ 1.0× vsftpd on every row: ${met ? 'MET' : `NOT MET (lowest: ${worst?.row} at ${fixed(worst?.ratio, 2)})`}`,
    `gridlink memory for ${idle.sessions} idle logged-in FTP sessions: ${fixed(idleMB)} MB above idle (${fixed(toMB(idle.idleRss))} → ${fixed(toMB(idle.loadedRss))} MB); target < ${fixed(toMB(IDLE_RSS_TARGET_BYTES), 0)} MB for ${IDLE_TARGET_SESSIONS}: ${idleMet === null ? 'not checked (--quick)' : idleMet ? 'MET' : 'NOT MET'}`,
    'gridlink ran with files.durable: false (vsftpd does not fsync); both with kernel-chosen passive ports; client: curl (one process per transfer; one per client, put then get on one login, for the many-clients row).',
  ].join('\n');
  process.stdout.write(`\n## FTP front vs vsftpd (curl)\n\n${table}\n\n${summary}\n`);
  await writeJson(RESULTS_PATH, { ...runInfo('ftp-front', quick), settings, rows, idle: { ...idle, aboveIdleBytes: idle.loadedRss - idle.idleRss }, targets: { throughput: met, idleMemory: idleMet } });
}

await runBenchmark(main);
