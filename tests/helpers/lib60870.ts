import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { run } from './python.js';

/**
 * IEC 60870-5-104 peers built from lib60870-C (MZ Automation's reference
 * implementation, GPLv3, in ../shared/peers/lib60870-C): a controlling station
 * (`iec104_master`) and a controlled station (`iec104_slave`), both small C
 * programs in tests/peers/iec104/ driven by line commands on stdin and
 * reporting JSON lines on stdout. Their protocol is documented in the head of
 * each C file; the types below mirror it.
 *
 * `ensureLib60870()` builds lib60870 and both programs once into
 * node_modules/.cache/gridlink-lib60870/<hash>/ (the hash covers the shared
 * build script, the lib60870 sources and our C files, so any change rebuilds;
 * concurrent test workers serialize on a lock file and publish by rename).
 * `startSlave()` / `startMaster()` spawn them; every process is killed at the
 * latest when the test process exits, and dies with it (PR_SET_PDEATHSIG).
 * Loopback only.
 *
 * Slave point layout (see iec104_slave.c): single points at IOA 1.., double
 * points at 100001.., floats at 200001.. (`--points N` of each, default 10).
 *
 * lib60870 behaviour worth knowing when a test fails:
 * - Its master sends I frames whether or not STARTDT was confirmed; its slave
 *   closes the connection on an I frame before STARTDT.
 * - Both sides default to k=12, w=8, t0=10, t1=15, t2=10, t3=20 (s). A send
 *   with k frames unconfirmed is refused (the master prints an "error" reply).
 * - Spontaneous data (`set`, `burst`) goes through the slave's event queue,
 *   which its connection thread looks at only after a select() of up to 100 ms
 *   when idle: up to ~100 ms latency for an isolated change (`tickMs`, the
 *   threadless mode, sends it at once). Answers to
 *   commands and GI go through the per-connection high-priority queue, sent
 *   right after the request is handled. The event queue keeps an ASDU until it
 *   is confirmed and overwrites the oldest when full (`burst` waits instead).
 * - STARTDT from a second connection deactivates the first (single redundancy
 *   group); unconfirmed events are sent again on the new one.
 * - lib60870 has no select/execute logic, no select timeout: the slave keeps
 *   the last select per point. Clock sync: lib60870 answers ACTCON itself with
 *   the received time. C_TS_NA_1 (104) is refused with COT 44; `test` sends C_TS_TA_1.
 * - CP56Time2a is read and written as UTC, years 2000-2099, day of week 0.
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PEER_SOURCES = join(REPO_ROOT, 'tests', 'peers', 'iec104');
/** ../shared/peers (read-only; GRIDLINK_SHARED_PEERS overrides). */
export const SHARED_PEERS_DIR = process.env.GRIDLINK_SHARED_PEERS ?? resolve(REPO_ROOT, '..', 'shared', 'peers');
const CACHE_ROOT = join(REPO_ROOT, 'node_modules', '.cache', 'gridlink-lib60870');

/** lib60870 is built optimized (its own Makefile adds only -g): benchmarks measure the library, not -O0. */
const LIB_CFLAGS = '-O2';
const GCC_FLAGS = ['-O2', '-g', '-std=gnu11', '-Wall', '-Wextra'];
const PROGRAMS = ['iec104_master', 'iec104_slave'] as const;
/** Bump to force a rebuild when this file's build steps change. */
const BUILD_RECIPE = 'v1';

const LOOPBACK = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

// ---------------------------------------------------------------- build

export interface Lib60870Build {
  /** Directory holding iec104_master and iec104_slave. */
  readonly binDir: string;
  readonly master: string;
  readonly slave: string;
  /** lib60870's static library and headers, for other C peers. */
  readonly libFile: string;
  readonly includeDir: string;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** sha256 over the build recipe, the shared build script, every lib60870 source file and our C files. */
function buildKey(): string {
  const hash = createHash('sha256');
  hash.update(`${BUILD_RECIPE}\0${LIB_CFLAGS}\0${GCC_FLAGS.join(' ')}\0${process.arch}\0`);
  const script = join(SHARED_PEERS_DIR, 'build-lib60870.sh');
  const inputs = [script, ...listFiles(join(SHARED_PEERS_DIR, 'lib60870-C')), ...listFiles(PEER_SOURCES).filter((f) => f.endsWith('.c'))];
  for (const file of inputs) {
    hash.update(`${relative(REPO_ROOT, file)}\0${statSync(file).size}\0`);
    hash.update(readFileSync(file));
  }
  return hash.digest('hex').slice(0, 24);
}

function describeBuild(dir: string): Lib60870Build {
  const binDir = join(dir, 'bin');
  return {
    binDir,
    master: join(binDir, 'iec104_master'),
    slave: join(binDir, 'iec104_slave'),
    libFile: join(dir, 'lib60870', 'lib', 'liblib60870.a'),
    includeDir: join(dir, 'lib60870', 'include'),
  };
}

function isComplete(dir: string): boolean {
  return existsSync(join(dir, 'stamp.json'));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes `${final}.lock`, or returns false while another live process holds it. Stale locks are broken. */
async function tryLock(lockFile: string): Promise<boolean> {
  try {
    const handle = await open(lockFile, 'wx');
    await handle.writeFile(`${process.pid}\n`);
    await handle.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let stale: boolean;
  try {
    const [text, info] = await Promise.all([readFile(lockFile, 'utf8'), stat(lockFile)]);
    const pid = Number.parseInt(text, 10);
    const ageMs = Date.now() - info.mtimeMs;
    // An empty lock younger than a few seconds is being written by its owner right now.
    stale = Number.isInteger(pid) ? !pidAlive(pid) || ageMs > 10 * 60_000 : ageMs > 5_000;
  } catch {
    return false; // vanished meanwhile: try again on the next round
  }
  if (stale) await unlink(lockFile).catch(() => undefined);
  return false;
}

async function buildInto(dir: string): Promise<void> {
  const script = join(SHARED_PEERS_DIR, 'build-lib60870.sh');
  const libOut = join(dir, 'lib60870');
  const lib = await run('bash', [script, libOut], { timeoutMs: 300_000, env: { ...process.env, CFLAGS: LIB_CFLAGS } });
  if (lib.code !== 0) throw new Error(`build-lib60870.sh failed (${lib.code}):\n${lib.stdout}\n${lib.stderr}`);
  // Only lib/ and include/ are needed; the copied sources and objects are most of the size.
  await rm(join(libOut, 'src'), { recursive: true, force: true });
  const build = describeBuild(dir);
  await mkdir(build.binDir, { recursive: true });
  for (const program of PROGRAMS) {
    const args = [...GCC_FLAGS, '-I', build.includeDir, '-o', join(build.binDir, program), join(PEER_SOURCES, `${program}.c`), build.libFile, '-lpthread', '-lm'];
    const cc = await run('gcc', args, { timeoutMs: 120_000 });
    if (cc.code !== 0) throw new Error(`gcc ${program} failed (${cc.code}):\n${cc.stdout}\n${cc.stderr}`);
  }
  await writeFile(join(dir, 'stamp.json'), JSON.stringify({ builtAt: new Date().toISOString(), pid: process.pid }));
}

/** Removes leftovers: temp dirs of dead builds, and builds of other keys unused for a week. */
async function prune(key: string): Promise<void> {
  for (const name of await readdir(CACHE_ROOT).catch(() => [] as string[])) {
    const p = join(CACHE_ROOT, name);
    const info = await stat(p).catch(() => null);
    if (info === null || name.startsWith(key)) continue;
    const age = Date.now() - info.mtimeMs;
    if ((name.startsWith('tmp-') && age > 3_600_000) || (info.isDirectory() && !name.startsWith('tmp-') && age > 7 * 86_400_000)) {
      await rm(p, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

async function buildOnce(): Promise<Lib60870Build> {
  const key = buildKey();
  const final = join(CACHE_ROOT, key);
  if (isComplete(final)) return describeBuild(final);
  await mkdir(CACHE_ROOT, { recursive: true });
  const lockFile = `${final}.lock`;
  const deadline = Date.now() + 600_000;
  for (;;) {
    if (isComplete(final)) return describeBuild(final);
    if (Date.now() > deadline) throw new Error(`timed out waiting for the lib60870 build in ${final} (lock ${lockFile})`);
    if (await tryLock(lockFile)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  try {
    if (isComplete(final)) return describeBuild(final);
    const tmp = join(CACHE_ROOT, `tmp-${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await buildInto(tmp);
      await rm(final, { recursive: true, force: true }); // an incomplete one (no stamp) from a crashed build
      await rename(tmp, final);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    await prune(key);
    return describeBuild(final);
  } finally {
    await unlink(lockFile).catch(() => undefined);
  }
}

let building: Promise<Lib60870Build> | null = null;

/** Builds lib60870 and the two peers once (cached across runs and workers); resolves to their paths. */
export function ensureLib60870(): Promise<Lib60870Build> {
  building ??= buildOnce().catch((err: unknown) => {
    building = null;
    throw err;
  });
  return building;
}

// ---------------------------------------------------------------- events

export interface Quality {
  iv: boolean;
  nt: boolean;
  sb: boolean;
  bl: boolean;
  ov: boolean;
}

/** One information object as the peers print it. */
export interface InfoObject {
  ioa: number;
  /** boolean for single points and single commands; a number otherwise (double point 0..3); null when none. */
  value: boolean | number | null;
  quality: Quality | null;
  /** CP56Time2a as ms since the epoch (UTC, year 20xx), null for types without one. */
  time: number | null;
  timeInvalid: boolean;
  /** Commands: S/E bit and qualifier (QU, or QL for set-points). */
  select?: boolean;
  qu?: number;
  ql?: number;
  /** Step positions. */
  transient?: boolean;
  /** Integrated totals. */
  counter?: { seq: number; cy: boolean; ca: boolean; iv: boolean };
}

export interface AsduEvent {
  event: 'asdu';
  type: number;
  typeName: string;
  cot: number;
  negative: boolean;
  test: boolean;
  oa: number;
  ca: number;
  sq: boolean;
  objects: InfoObject[];
}

export interface OkEvent {
  event: 'ok';
  cmd: string;
}
/** A refused stdin command (with cmd) or a startup failure (without). */
export interface ErrorEvent {
  event: 'error';
  cmd?: string;
  message: string;
}
/** Synthetic: the process ended. */
export interface ExitEvent {
  event: 'exit';
  code: number | null;
  signal: NodeJS.Signals | null;
}
/** Synthetic: a stdout line that was not JSON. */
export interface UnparsedEvent {
  event: 'unparsed';
  line: string;
}

type Common = OkEvent | ErrorEvent | ExitEvent | UnparsedEvent;

export type MasterEvent =
  | Common
  | AsduEvent
  | { event: 'ready'; host: string; port: number; ca: number; oa: number; k: number; w: number; t0: number; t1: number; t2: number; t3: number; countOnly: boolean }
  | { event: 'connected' }
  | { event: 'connect_failed' }
  | { event: 'closed' }
  | { event: 'startdt_con' }
  | { event: 'stopdt_con' }
  /** ACTTERM of C_IC_NA_1: objects since the last `gi`, all so far, ms since the `gi` command. */
  | { event: 'gi_done'; objects: number; total: number; ms: number }
  /** --count-only: objects in the last interval, all so far, ms since the process started. */
  | { event: 'rate'; objects: number; intervalMs: number; total: number; elapsedMs: number }
  | { event: 'stats'; objects: number; asdus: number };

export interface PointBlock {
  first: number;
  count: number;
}

export interface ListeningEvent {
  event: 'listening';
  host: string;
  port: number;
  ca: number;
  singles: PointBlock;
  doubles: PointBlock;
  floats: PointBlock;
  k: number;
  w: number;
  t1: number;
  t2: number;
  t3: number;
  maxQueue: number;
  sequence: boolean;
  requireSelect: boolean;
}

export interface CommandEvent {
  event: 'command';
  type: number;
  ioa: number;
  value: boolean | number | null;
  select: boolean;
  cot: number;
  qu: number;
  ca: number;
  time: number | null;
  result: 'selected' | 'executed' | 'deactivated' | 'rejected' | 'ignored';
  reason: string | null;
}

export interface BurstDoneEvent {
  event: 'burst_done';
  changes: number;
  asdus: number;
  ms: number;
  stopped: boolean;
}

export type SlaveEvent =
  | Common
  | AsduEvent
  | ListeningEvent
  | CommandEvent
  | BurstDoneEvent
  | { event: 'connection'; open: boolean; peer: string }
  | { event: 'activated'; peer: string }
  | { event: 'deactivated'; peer: string }
  | { event: 'gi'; qoi: number; cot: number; ca: number; objects: number; asdus: number }
  | { event: 'clock'; time: number; ca: number }
  | { event: 'read'; ioa: number }
  | { event: 'status'; connections: number; queued: number; outbox: number };

/** Type IDs and causes of transmission the peers use. */
export const TYPE = {
  M_SP_NA_1: 1,
  M_DP_NA_1: 3,
  M_ME_NC_1: 13,
  M_SP_TB_1: 30,
  M_DP_TB_1: 31,
  M_ME_TF_1: 36,
  M_EI_NA_1: 70,
  C_SC_NA_1: 45,
  C_DC_NA_1: 46,
  C_SE_NC_1: 50,
  C_SC_TA_1: 58,
  C_DC_TA_1: 59,
  C_SE_TC_1: 63,
  C_IC_NA_1: 100,
  C_CI_NA_1: 101,
  C_RD_NA_1: 102,
  C_CS_NA_1: 103,
  C_TS_TA_1: 107,
} as const;

export const COT = {
  SPONTANEOUS: 3,
  INITIALIZED: 4,
  REQUEST: 5,
  ACTIVATION: 6,
  ACTIVATION_CON: 7,
  DEACTIVATION: 8,
  DEACTIVATION_CON: 9,
  ACTIVATION_TERMINATION: 10,
  INTERROGATED_BY_STATION: 20,
  UNKNOWN_TYPE_ID: 44,
  UNKNOWN_COT: 45,
  UNKNOWN_CA: 46,
  UNKNOWN_IOA: 47,
} as const;

/** The slave's layout: first IOA of each block. */
export const SLAVE_LAYOUT = { singleBase: 1, doubleBase: 100_001, floatBase: 200_001, maxPerKind: 99_999 } as const;

export type PointKind = 'single' | 'double' | 'float';

/** A slave point's value before anything changed it (i: 0-based index in its block). */
export function slaveInitialValue(kind: PointKind, i: number): boolean | number {
  if (kind === 'single') return i % 2 === 1;
  if (kind === 'double') return i % 2 === 0 ? 1 : 2;
  return Math.fround(i + 0.5);
}

// ---------------------------------------------------------------- processes

const live = new Set<PeerProcess<{ event: string }>>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) p.child.kill('SIGKILL');
  });
}

/** A predicate that throws does not match. */
function matches<E>(predicate: (e: E) => boolean, event: E): boolean {
  try {
    return predicate(event);
  } catch {
    return false;
  }
}

interface Waiter<E> {
  readonly predicate: (e: E) => boolean;
  readonly resolve: (e: E) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * A spawned peer: JSON lines from stdout become `events` (plus a synthetic
 * {"event":"exit"} at the end). `next` hands out each event at most once, the
 * earliest unconsumed match first, so an event that arrived before the wait
 * began is not lost and never returned twice.
 */
export class PeerProcess<E extends { event: string }> {
  readonly child: ChildProcessWithoutNullStreams;
  /** Every event so far, in arrival order. */
  readonly events: E[] = [];
  stderr = '';
  readonly #consumed = new Set<number>();
  readonly #waiters: Waiter<E>[] = [];
  readonly #exit: Promise<ExitEvent>;
  #exited: ExitEvent | null = null;

  constructor(
    readonly name: string,
    file: string,
    args: readonly string[],
  ) {
    installExitHook();
    this.child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this as unknown as PeerProcess<{ event: string }>);
    this.child.stdin.on('error', () => undefined);
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-20_000);
    });
    const lines = createInterface({ input: this.child.stdout, crlfDelay: Infinity });
    lines.on('line', (line) => {
      let event: E;
      try {
        event = JSON.parse(line) as E;
      } catch {
        event = { event: 'unparsed', line } as unknown as E;
      }
      this.#push(event);
    });
    const stdoutClosed = new Promise<void>((r) => lines.once('close', r));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => {
      this.child.once('error', (err) => {
        this.stderr += `\nspawn error: ${err.message}`;
        r([null, null]);
      });
      this.child.once('exit', (code, signal) => r([code, signal]));
    });
    this.#exit = Promise.all([exited, stdoutClosed]).then(([[code, signal]]) => {
      const ev: ExitEvent = { event: 'exit', code, signal };
      this.#exited = ev;
      live.delete(this as unknown as PeerProcess<{ event: string }>);
      this.#push(ev as unknown as E);
      for (const w of this.#waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`${this.name} exited (code ${code}, signal ${signal}) before the awaited event.${this.#context()}`));
      }
      return ev;
    });
  }

  get exited(): ExitEvent | null {
    return this.#exited;
  }

  #push(event: E): void {
    const index = this.events.length;
    this.events.push(event);
    for (let i = 0; i < this.#waiters.length; i++) {
      const w = this.#waiters[i]!;
      if (matches(w.predicate, event)) {
        this.#waiters.splice(i, 1);
        this.#consumed.add(index);
        clearTimeout(w.timer);
        w.resolve(event);
        return;
      }
    }
  }

  #context(): string {
    const recent = this.events.slice(-8).map((e) => JSON.stringify(e).slice(0, 300));
    return `\nlast events of ${this.name}:\n  ${recent.join('\n  ')}\nstderr: ${this.stderr.slice(-2_000)}`;
  }

  /** Writes one command line to stdin. */
  send(line: string): void {
    if (this.#exited !== null || this.child.stdin.destroyed || !this.child.stdin.writable) {
      throw new Error(`${this.name} is not running; cannot send ${JSON.stringify(line)}.${this.#context()}`);
    }
    this.child.stdin.write(`${line}\n`);
  }

  /**
   * The earliest not yet consumed event matching `predicate` (waiting up to
   * timeoutMs for it), which is then consumed. `since`: only events from that
   * index of `events` on (e.g. `events.length` taken before sending a command).
   */
  next<T extends E>(predicate: (e: E) => e is T, timeoutMs?: number, since?: number): Promise<T>;
  next(predicate: (e: E) => boolean, timeoutMs?: number, since?: number): Promise<E>;
  next(predicate: (e: E) => boolean, timeoutMs = 10_000, since = 0): Promise<E> {
    for (let i = since; i < this.events.length; i++) {
      if (this.#consumed.has(i)) continue;
      if (matches(predicate, this.events[i]!)) {
        this.#consumed.add(i);
        return Promise.resolve(this.events[i]!);
      }
    }
    if (this.#exited !== null) {
      return Promise.reject(new Error(`${this.name} has exited (code ${this.#exited.code}, signal ${this.#exited.signal}); no matching event.${this.#context()}`));
    }
    return new Promise<E>((resolvePromise, rejectPromise) => {
      const waiter: Waiter<E> = {
        predicate,
        resolve: resolvePromise,
        reject: rejectPromise,
        timer: setTimeout(() => {
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
          rejectPromise(new Error(`no matching event from ${this.name} within ${timeoutMs} ms (predicate: ${predicate.toString().slice(0, 200)}).${this.#context()}`));
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** Sends a command line and awaits its {"event":"ok"} reply; an {"event":"error"} reply rejects. */
  async request(line: string, timeoutMs = 10_000): Promise<OkEvent> {
    const cmd = line.trim().split(/\s+/)[0] ?? '';
    const since = this.events.length;
    this.send(line);
    const reply = (await this.next((e) => (e.event === 'ok' || e.event === 'error') && (e as unknown as OkEvent).cmd === cmd, timeoutMs, since)) as unknown as OkEvent | ErrorEvent;
    if (reply.event === 'error') throw new Error(`${this.name} refused ${JSON.stringify(line)}: ${reply.message}`);
    return reply;
  }

  /** Resolves when the process has exited (and its stdout is read), or rejects after timeoutMs. */
  waitExit(timeoutMs = 5_000): Promise<ExitEvent> {
    if (this.#exited !== null) return Promise.resolve(this.#exited);
    return new Promise((resolvePromise, rejectPromise) => {
      const timer = setTimeout(() => rejectPromise(new Error(`${this.name} did not exit within ${timeoutMs} ms`)), timeoutMs);
      void this.#exit.then((ev) => {
        clearTimeout(timer);
        resolvePromise(ev);
      });
    });
  }

  /** Sends a signal (SIGKILL by default) and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 5_000): Promise<ExitEvent> {
    if (this.#exited !== null) return this.#exited;
    this.child.kill(signal);
    return this.waitExit(timeoutMs);
  }

  /** `quit` and end of stdin; SIGKILL if the process has not gone within 3 s. Never throws. */
  async stop(): Promise<void> {
    if (this.#exited !== null) return;
    try {
      this.child.stdin.end('quit\n');
      await this.waitExit(3_000);
    } catch {
      await this.kill('SIGKILL', 3_000).catch(() => undefined);
    }
  }
}

/** Stops every peer still running (for afterEach/afterAll). */
export async function stopAllPeers(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

function checkLoopback(host: string): void {
  if (!LOOPBACK.test(host)) throw new Error(`lib60870 peers are loopback only; refusing host ${host}`);
}

function optional(args: string[], flag: string, value: number | string | undefined): void {
  if (value !== undefined) args.push(flag, String(value));
}

// ---------------------------------------------------------------- master

export interface MasterOptions {
  port: number;
  host?: string;
  ca?: number;
  oa?: number;
  k?: number;
  w?: number;
  /** Seconds, as in the standard. */
  t0?: number;
  t1?: number;
  t2?: number;
  t3?: number;
  /** Only count monitoring objects (print "rate" and "gi_done"), for benchmarks. */
  countOnly?: boolean;
  rateIntervalMs?: number;
  /** Connect (and await "connected") before resolving. */
  connect?: boolean;
  /** Also STARTDT (and await STARTDT con); implies connect. */
  startdt?: boolean;
  startTimeoutMs?: number;
}

export interface CommandOptions {
  select?: boolean;
  /** Send the CP56Time2a variant (C_SC_TA_1, C_DC_TA_1, C_SE_TC_1) with now. */
  time?: boolean;
  /** COT 8 (deactivation) instead of 6. */
  deact?: boolean;
  qu?: number;
}

export type CommandKind = 'sc' | 'dc' | 'sef';

const COMMAND_TYPES: Record<CommandKind, readonly number[]> = {
  sc: [TYPE.C_SC_NA_1, TYPE.C_SC_TA_1],
  dc: [TYPE.C_DC_NA_1, TYPE.C_DC_TA_1],
  sef: [TYPE.C_SE_NC_1, TYPE.C_SE_TC_1],
};

export interface Interrogation {
  actcon: AsduEvent;
  /** ASDUs with COT 20 received between ACTCON and ACTTERM (empty with countOnly). */
  data: AsduEvent[];
  /** All their information objects. */
  objects: InfoObject[];
  actterm: AsduEvent;
  done: Extract<MasterEvent, { event: 'gi_done' }>;
}

export const isAsdu = (e: { event: string }): e is AsduEvent => e.event === 'asdu';

/** lib60870's CS104_Connection (tests/peers/iec104/iec104_master.c). */
export class Lib60870Master extends PeerProcess<MasterEvent> {
  async connect(timeoutMs = 10_000): Promise<void> {
    await this.request('connect', timeoutMs);
    await this.next((e) => e.event === 'connected', timeoutMs);
  }

  async startdt(timeoutMs = 10_000): Promise<void> {
    await this.request('startdt', timeoutMs);
    await this.next((e) => e.event === 'startdt_con', timeoutMs);
  }

  async stopdt(timeoutMs = 10_000): Promise<void> {
    await this.request('stopdt', timeoutMs);
    await this.next((e) => e.event === 'stopdt_con', timeoutMs);
  }

  /** Station interrogation: ACTCON (a negative one throws), the data, ACTTERM. */
  async interrogate(timeoutMs = 30_000, qoi = 20): Promise<Interrogation> {
    const from = this.events.length;
    await this.request(`gi ${qoi}`, timeoutMs);
    const actcon = (await this.next((e) => isAsdu(e) && e.type === TYPE.C_IC_NA_1 && (e.cot === COT.ACTIVATION_CON || e.negative), timeoutMs, from)) as AsduEvent;
    if (actcon.negative) throw new Error(`interrogation refused: ${JSON.stringify(actcon)}`);
    const done = await this.next((e): e is Extract<MasterEvent, { event: 'gi_done' }> => e.event === 'gi_done', timeoutMs, from);
    const actterm = (await this.next((e) => isAsdu(e) && e.type === TYPE.C_IC_NA_1 && e.cot === COT.ACTIVATION_TERMINATION, timeoutMs, from)) as AsduEvent;
    const data = this.events.slice(from).filter((e): e is AsduEvent => isAsdu(e) && e.cot === COT.INTERROGATED_BY_STATION);
    return { actcon, data, objects: data.flatMap((a) => a.objects), actterm, done };
  }

  /** Sends sc/dc/sef and resolves to the slave's confirmation (ACTCON, or DEACTCON with deact; maybe negative). */
  async command(kind: CommandKind, ioa: number, value: boolean | number, options: CommandOptions = {}, timeoutMs = 10_000): Promise<AsduEvent> {
    const v = typeof value === 'boolean' ? (value ? 1 : 0) : value;
    const flags = [options.select ? 'select' : '', options.time ? 'time' : '', options.deact ? 'deact' : '', options.qu !== undefined ? `qu=${options.qu}` : ''].filter(Boolean);
    const since = this.events.length;
    await this.request(`${kind} ${ioa} ${v} ${flags.join(' ')}`.trim(), timeoutMs);
    const types = COMMAND_TYPES[kind];
    // A confirmation (7/9) or any negative answer (e.g. 45, 46, 47) mirroring this command.
    return (await this.next(
      (e) => isAsdu(e) && types.includes(e.type) && e.objects[0]?.ioa === ioa && (e.cot === COT.ACTIVATION_CON || e.cot === COT.DEACTIVATION_CON || e.negative),
      timeoutMs,
      since,
    )) as AsduEvent;
  }

  /** The ACTTERM of a command on `ioa`. */
  async commandTermination(kind: CommandKind, ioa: number, timeoutMs = 10_000): Promise<AsduEvent> {
    const types = COMMAND_TYPES[kind];
    return (await this.next((e) => isAsdu(e) && types.includes(e.type) && e.cot === COT.ACTIVATION_TERMINATION && e.objects[0]?.ioa === ioa, timeoutMs)) as AsduEvent;
  }

  /** The next spontaneous (COT 3) ASDU carrying `ioa`, and that object. */
  async spontaneous(ioa: number, timeoutMs = 10_000): Promise<{ asdu: AsduEvent; object: InfoObject }> {
    const asdu = (await this.next((e) => isAsdu(e) && e.cot === COT.SPONTANEOUS && e.objects.some((o) => o.ioa === ioa), timeoutMs)) as AsduEvent;
    return { asdu, object: asdu.objects.find((o) => o.ioa === ioa)! };
  }

  stats(timeoutMs = 10_000): Promise<Extract<MasterEvent, { event: 'stats' }>> {
    const since = this.events.length;
    this.send('stats');
    return this.next((e): e is Extract<MasterEvent, { event: 'stats' }> => e.event === 'stats', timeoutMs, since);
  }
}

export async function startMaster(options: MasterOptions): Promise<Lib60870Master> {
  const { master } = await ensureLib60870();
  const host = options.host ?? '127.0.0.1';
  checkLoopback(host);
  const args = ['--host', host, '--port', String(options.port)];
  optional(args, '--ca', options.ca);
  optional(args, '--oa', options.oa);
  optional(args, '--k', options.k);
  optional(args, '--w', options.w);
  optional(args, '--t0', options.t0);
  optional(args, '--t1', options.t1);
  optional(args, '--t2', options.t2);
  optional(args, '--t3', options.t3);
  optional(args, '--rate-interval', options.rateIntervalMs);
  if (options.countOnly) args.push('--count-only');
  const peer = new Lib60870Master('iec104_master', master, args);
  try {
    await peer.next((e) => e.event === 'ready' || e.event === 'error', options.startTimeoutMs ?? 10_000).then((e) => {
      if (e.event === 'error') throw new Error(`iec104_master did not start: ${JSON.stringify(e)}`);
    });
    if (options.connect || options.startdt) await peer.connect();
    if (options.startdt) await peer.startdt();
  } catch (err) {
    await peer.stop();
    throw err;
  }
  return peer;
}

// ---------------------------------------------------------------- slave

export interface SlaveOptions {
  /** 0 (default): a free port, reported in `port`. */
  port?: number;
  host?: string;
  ca?: number;
  /** Singles, doubles and floats each (default 10). */
  points?: number;
  singles?: number;
  doubles?: number;
  floats?: number;
  /** GI in SQ=1 ASDUs. */
  sequence?: boolean;
  /** lib60870's event (spontaneous) queue, in ASDUs (default 1000). */
  maxQueue?: number;
  /** Refuse an execute without a preceding select of the same value. */
  requireSelect?: boolean;
  k?: number;
  w?: number;
  t1?: number;
  t2?: number;
  t3?: number;
  /** lib60870's threadless mode, ticked after every change and at least every this many ms (iec104_slave.c --tick-ms); 0: a thread per connection. */
  tickMs?: number;
  startTimeoutMs?: number;
}

export type ResponseMode = 'normal' | 'negative' | 'noterm' | 'silent';
export type QualityFlag = 'iv' | 'nt' | 'sb' | 'bl' | 'ov';

/** lib60870's CS104_Slave (tests/peers/iec104/iec104_slave.c). */
export class Lib60870Slave extends PeerProcess<SlaveEvent> {
  listening!: ListeningEvent;

  get port(): number {
    return this.listening.port;
  }

  /** IOA of the i-th (0-based) point of a block. */
  ioa(kind: PointKind, i: number): number {
    const block = kind === 'single' ? this.listening.singles : kind === 'double' ? this.listening.doubles : this.listening.floats;
    if (i < 0 || i >= block.count) throw new Error(`the slave has ${block.count} ${kind} points; no index ${i}`);
    return block.first + i;
  }

  /** Number of information objects a station interrogation returns. */
  get pointCount(): number {
    return this.listening.singles.count + this.listening.doubles.count + this.listening.floats.count;
  }

  /** Changes a point and sends it spontaneously with a CP56Time2a (through lib60870's event queue). */
  async set(ioa: number, value: boolean | number, quality: readonly QualityFlag[] = []): Promise<void> {
    const v = typeof value === 'boolean' ? (value ? 1 : 0) : value;
    await this.request(`set ${ioa} ${v} ${quality.join(' ')}`.trim());
  }

  /** N spontaneous changes at `rate` per second (0: as fast as the queue takes them); resolves on burst_done. */
  async burst(changes: number, rate: number, timeoutMs = 120_000): Promise<BurstDoneEvent> {
    // A burst still running is ended (its burst_done printed) before the reply to this one.
    const ok = await this.request(`burst ${changes} ${rate}`);
    return this.next((e): e is BurstDoneEvent => e.event === 'burst_done', timeoutMs, this.events.indexOf(ok));
  }

  async respond(mode: ResponseMode): Promise<void> {
    await this.request(`respond ${mode}`);
  }

  async giRespond(mode: ResponseMode): Promise<void> {
    await this.request(`girespond ${mode}`);
  }

  /** Closes all connections from the slave's side. */
  async closeConnections(): Promise<void> {
    await this.request('close');
  }

  status(timeoutMs = 10_000): Promise<Extract<SlaveEvent, { event: 'status' }>> {
    const since = this.events.length;
    this.send('status');
    return this.next((e): e is Extract<SlaveEvent, { event: 'status' }> => e.event === 'status', timeoutMs, since);
  }
}

export async function startSlave(options: SlaveOptions = {}): Promise<Lib60870Slave> {
  const { slave } = await ensureLib60870();
  const host = options.host ?? '127.0.0.1';
  checkLoopback(host);
  // lib60870 binds port 0 like any port (SO_REUSEADDR, then bind); the program finds the real one itself.
  const args = ['--host', host, '--port', String(options.port ?? 0)];
  optional(args, '--ca', options.ca);
  optional(args, '--points', options.points);
  optional(args, '--singles', options.singles);
  optional(args, '--doubles', options.doubles);
  optional(args, '--floats', options.floats);
  optional(args, '--max-queue', options.maxQueue);
  optional(args, '--k', options.k);
  optional(args, '--w', options.w);
  optional(args, '--t1', options.t1);
  optional(args, '--t2', options.t2);
  optional(args, '--t3', options.t3);
  optional(args, '--tick-ms', options.tickMs);
  if (options.sequence) args.push('--sequence');
  if (options.requireSelect) args.push('--require-select');
  const peer = new Lib60870Slave('iec104_slave', slave, args);
  try {
    const first = await peer.next((e) => e.event === 'listening' || e.event === 'error' || e.event === 'exit', options.startTimeoutMs ?? 10_000);
    if (first.event !== 'listening') throw new Error(`iec104_slave did not start: ${JSON.stringify(first)} ${peer.stderr}`);
    peer.listening = first;
  } catch (err) {
    await peer.stop();
    throw err;
  }
  return peer;
}
