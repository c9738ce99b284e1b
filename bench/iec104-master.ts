/**
 * IEC 104 acquisition benchmark (issue 12, benchmark c): `gridlink serve` as
 * the controlling station of 200 lib60870-C controlled stations (the
 * reference implementation, tests/helpers/lib60870.ts), each holding
 * `--points` single, double and float points (34 each: 102 per station,
 * 20,400 in all), all sending spontaneous changes at 20,000 points/s in
 * total (100/s each through the harness's `burst`, round robin over its
 * points, time-tagged ASDUs with the station's CP56Time2a; see --per-pulse).
 * Measures over a sustained window after a warm-up: the server's CPU (100 %
 * = one core), the rate it takes changes in (its `readings` counter), and
 * the latency from a change at a station to the `point.event` at a watching
 * native client. Targets: server CPU < 50 % of one core, p99
 * change → subscriber ≤ 50 ms. Prints a markdown table and writes
 * bench/results/iec104-master.json.
 *
 *   npx tsx bench/iec104-master.ts [--quick] [--stations 200,20] [--points 34] [--rate 20000]
 *                                  [--per-pulse 10] [--station-nice 19] [--station-tick-ms 100] [--w 8]
 *                                  [--watch sample|all] [--cpu-prof DIR]
 *
 * --quick: 15 s window after 5 s of warm-up (full: 60 s after 10 s).
 * --stations: one run per number, one after the other, each with the whole
 *   --rate. 200 is the issue's load. lib60870's threaded station (--station-tick-ms 0) is a process of
 *   three threads that wake every 10 to 200 ms even when idle (its accept
 *   loop polls every 10 ms): 200 of them take about a core of a two-core
 *   machine before they send anything, and cannot reach 20,000 changes/s
 *   there. The second run, 20 stations of 1,000 changes/s, brings the same
 *   rate in ASDUs of the same shape (the same K changes per ASDU, as many
 *   ASDUs per second), with ten times fewer connections: gridlink's cost at
 *   the full rate.
 * --per-pulse: how the stations are driven. While a rate-limited `burst N
 *   RATE` runs, iec104_slave polls its stdin every millisecond: 1,000
 *   wake-ups a second per process, 200,000 for 200 stations, which on a
 *   two-core machine left no CPU for anything else (load average ~190, the
 *   stations stopped answering their stdin). So each station gets `burst K
 *   0` (K = 10) as often as its share of --rate needs (every 100 ms for 200
 *   stations, every 10 ms for 20), which it sends at once, as one or two
 *   time-tagged ASDUs, and then idles; the pulses of the stations are spread
 *   evenly over the period, so gridlink sees a steady rate. --per-pulse 0:
 *   one long `burst N RATE` per station instead (what the harness offers;
 *   fine for a few stations).
 * --station-nice (default 19): the stations run at this nice value. The
 *   server and the watching clients each run in a session of their own, so
 *   with the kernel's autogroup scheduling (Linux's default) the stations'
 *   600 threads share one group's CPU, and their nice value ranks them
 *   against this process (the pulses) only. Measured on the two-core
 *   machine this was written on, the 200 stations sent 12,000-14,000
 *   changes/s at nice 19 and 2,000-7,000 at nice 0, where their threads
 *   spun against each other (a lib60870 connection thread with ASDUs
 *   waiting and a full window polls its socket with a zero timeout).
 * --station-tick-ms (default 100): the stations run lib60870 threadless
 *   (iec104_slave.c --tick-ms): the program calls CS104_Slave_tick() right
 *   after it queues a pulse's changes, again while a tick moves a message,
 *   and otherwise every N ms for gridlink's frames. A pulse's changes thus
 *   leave the station at once. 0: lib60870's default thread per connection,
 *   which looks at its event queue only when its select() of up to 100 ms
 *   returns, so each change waits 0..100 ms in the station before gridlink
 *   can see it (the end-to-end p99 was ~100 ms whatever the master did). A
 *   real RTU sends a change when it happens; the threadless station does
 *   too, and runs one thread instead of three. A 10 ms tick costs the 200
 *   stations more than a core (20,000 wake-ups a second) and starves the
 *   server; with pulses every 100 ms, 100 ms adds no wake-up.
 * --w: gridlink's acknowledgement window towards the stations (the devices'
 *   `w`, default the standard's 8); see the note on latency below.
 * --watch sample (default): three client connections, each watching one
 *   point of every station (`*.s00`, `*.d00`, `*.f00`: each changes about
 *   once a second per station, ~600 events/s to the clients, every one a
 *   latency sample); all: one connection watches every point (every event
 *   goes to the bench, which then competes for the same two cores).
 * --cpu-prof DIR: run the server under `node --cpu-prof` (profile in DIR;
 *   it costs the server some CPU, so its numbers are not the benchmark's).
 *
 * Latency: a change's time is its CP56Time2a, which the station takes from
 * its wall clock when it queues the change; the event carries it as
 * `sourceTime`, and the client compares it with its own wall clock on
 * arrival (same machine, same clock; millisecond resolution). It therefore
 * includes the station's own queueing (see --station-tick-ms); the table shows the part before gridlink (station change →
 * gridlink received it, `serverTime`) and after (gridlink → subscriber).
 *
 * Process layout: the stations are 200 iec104_slave processes (C, started
 * by this process); the server is the built `gridlink serve` with a
 * generated config (simulator off, http off, log level warn); this process
 * holds the watching clients and the admin-socket client.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { AdminClient } from '../dist/admin/admin-client.js';
import { GridlinkClient } from '../dist/client/index.js';
import type { PointEvent } from '../dist/protocol/scada.js';
import { ensureLib60870, startSlave, type Lib60870Slave, type SlaveEvent } from '../tests/helpers/lib60870.js';
import { makeTempDir, onCleanup, runBenchmark } from './lib/cleanup.js';
import { sendToParent, serveParent } from './lib/forked-child.js';
import { LOOPBACK, readInitialAdminPassword, REPO_ROOT, type GridlinkServer } from './lib/peers.js';
import { cpuSeconds, freePort, machineBusySeconds, peakRssBytes, ServerProcess } from './lib/processes.js';
import { fixed, markdownTable, runInfo, summariseLatency, toMB, writeJson, type LatencySummary } from './lib/report.js';
import { connectAdmin, scadaStatus, type ScadaStatus } from './lib/admin-status.js';

// ---------------------------------------------------------------------------
// Settings

const TARGET_CPU_PERCENT = 50;
const TARGET_P99_MS = 50;
/** Acquiring this share of the offered changes counts as keeping up (the window's edges cut a few). */
const SUSTAINED_SHARE = 0.98;

interface Timing {
  readonly warmupSeconds: number;
  readonly windowSeconds: number;
}
const FULL: Timing = { warmupSeconds: 10, windowSeconds: 60 };
const QUICK: Timing = { warmupSeconds: 5, windowSeconds: 15 };

/** Stations are started this many at a time. */
const START_CONCURRENCY = 20;
const ONLINE_LIMIT_MS = 120_000;
const SERVER_START_MS = 60_000;
const STATUS_EVERY_MS = 250;
/** Flag a window during which processes other than ours used more than this share of a core. */
const OTHER_CPU_WARNING = 0.1;
const RESULTS_PATH = join(REPO_ROOT, 'bench', 'results', 'iec104-master.json');

interface Settings {
  readonly stations: number;
  /** Drive each station with `burst K 0`, K this; 0: one `burst N RATE`. */
  readonly perPulse: number;
  /** Nice value of the stations' processes (0: as started). */
  readonly stationNice: number;
  /** lib60870 threadless, ticked after each pulse and every this many ms; 0: a thread per connection. */
  readonly stationTickMs: number;
  /** Points of each kind per station. */
  readonly points: number;
  /** Spontaneous changes per second, all stations together. */
  readonly rate: number;
  readonly w: number;
  readonly watch: 'sample' | 'all';
}

const stationName = (i: number): string => `st${String(i + 1).padStart(3, '0')}`;
const pointIndex = (i: number): string => String(i).padStart(2, '0');

/** `scada.devices` of the server's config: one iec104 device per station, its points named `stNNN.s00`, `.d00`, `.f00`…. */
function deviceConfigs(slaves: readonly Lib60870Slave[], settings: Settings): unknown[] {
  return slaves.map((slave, s) => {
    const name = stationName(s);
    const points: unknown[] = [];
    for (let i = 0; i < settings.points; i++) points.push({ name: `${name}.s${pointIndex(i)}`, class: 'status', ioa: slave.ioa('single', i), type: 'single' });
    for (let i = 0; i < settings.points; i++) points.push({ name: `${name}.d${pointIndex(i)}`, class: 'status', ioa: slave.ioa('double', i), type: 'double' });
    for (let i = 0; i < settings.points; i++) points.push({ name: `${name}.f${pointIndex(i)}`, class: 'telemetry', ioa: slave.ioa('float', i), unit: 'A' });
    return { name, protocol: 'iec104', host: LOOPBACK, port: slave.port, commonAddress: 1, w: settings.w, giIntervalMs: 3_600_000, points };
  });
}

function watchPatterns(mode: Settings['watch']): Array<string | undefined> {
  return mode === 'all' ? [undefined] : ['*.s00', '*.d00', '*.f00'];
}

// ---------------------------------------------------------------------------
// Measuring helpers

const nowSeconds = (): number => Number(process.hrtime.bigint()) / 1e9;

interface CounterSample {
  readonly t: number;
  readonly readings: number;
  readonly events: number;
}

/** Least-squares slope of a counter over time (per second). */
function slope(samples: readonly CounterSample[], field: 'readings' | 'events'): number {
  if (samples.length < 2) return Number.NaN;
  const n = samples.length;
  const meanT = samples.reduce((sum, s) => sum + s.t, 0) / n;
  const meanY = samples.reduce((sum, s) => sum + s[field], 0) / n;
  let cov = 0;
  let varT = 0;
  for (const s of samples) {
    cov += (s.t - meanT) * (s[field] - meanY);
    varT += (s.t - meanT) ** 2;
  }
  return cov / varT;
}

interface CpuSnapshot {
  readonly t: number;
  readonly server: number;
  readonly stations: number;
  readonly bench: number;
  readonly machine: number;
}

async function cpuSnapshot(serverPid: number, stationPids: readonly number[], watcherPid: number): Promise<CpuSnapshot> {
  const of = (pid: number): Promise<number> => cpuSeconds(pid).catch(() => Number.NaN);
  const [server, stations, watcher, machine] = await Promise.all([of(serverPid), Promise.all(stationPids.map(of)).then((all) => all.reduce((a, b) => a + b, 0)), of(watcherPid), machineBusySeconds()]);
  const own = process.cpuUsage();
  return { t: nowSeconds(), server, stations, machine, bench: (own.user + own.system) / 1e6 + watcher };
}

interface CpuUse {
  readonly windowSeconds: number;
  readonly serverPercent: number;
  readonly stationsPercent: number;
  readonly benchPercent: number;
  readonly otherPercent: number;
}

function cpuUse(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const seconds = after.t - before.t;
  const pct = (a: number, b: number): number => (100 * (b - a)) / seconds;
  const server = pct(before.server, after.server);
  const stations = pct(before.stations, after.stations);
  const bench = pct(before.bench, after.bench);
  return { windowSeconds: seconds, serverPercent: server, stationsPercent: stations, benchPercent: bench, otherPercent: Math.max(0, pct(before.machine, after.machine) - server - stations - bench) };
}

/** Latencies of the watched events, recorded while `on`. */
class Watcher {
  on = false;
  events = 0;
  readonly total: number[] = [];
  readonly acquisition: number[] = [];
  readonly delivery: number[] = [];

  event(event: PointEvent): void {
    if (!this.on || event.kind !== 'change') return;
    const received = Date.now();
    this.events += 1;
    this.total.push(received - event.sourceTime);
    this.acquisition.push(event.serverTime - event.sourceTime);
    this.delivery.push(received - event.serverTime);
  }
}

// The watching clients run in a child process of their own (this script,
// forked with WATCHER_FLAG): in this process, the stations' stdout (two JSON
// lines per pulse, 4,000 a second) and the pulse timers would delay their
// events, and that delay would show as gridlink's latency.

const WATCHER_FLAG = '--watcher-child';

type ToWatcher = { type: 'watch'; port: number; password: string; patterns: Array<string | null> } | { type: 'record'; on: boolean } | { type: 'report' };
interface WatcherReport {
  readonly type: 'report';
  readonly events: number;
  readonly total: number[];
  readonly acquisition: number[];
  readonly delivery: number[];
}
type FromWatcher = { type: 'watching' } | { type: 'recording' } | WatcherReport | { type: 'failed'; message: string };

function runWatcherChild(): void {
  const watcher = new Watcher();
  const clients: GridlinkClient[] = [];
  serveParent(async (message) => {
    const m = message as ToWatcher;
    switch (m.type) {
      case 'watch':
        for (const pattern of m.patterns) {
          const client = await GridlinkClient.connect({ host: LOOPBACK, port: m.port });
          clients.push(client);
          await client.login('admin', m.password);
          await client.watch(pattern ?? undefined, { onEvent: (event: PointEvent) => watcher.event(event) });
        }
        await sendToParent({ type: 'watching' });
        return;
      case 'record':
        watcher.on = m.on;
        await sendToParent({ type: 'recording' });
        return;
      case 'report':
        for (const client of clients) client.destroy();
        await sendToParent({ type: 'report', events: watcher.events, total: watcher.total, acquisition: watcher.acquisition, delivery: watcher.delivery } satisfies WatcherReport);
        return;
    }
  });
}

/** The parent's handle on the watcher child. */
class WatcherProcess {
  readonly #child: ChildProcess;
  readonly pid: number;
  readonly #unregister: () => void;
  #waiter: { type: FromWatcher['type']; resolve: (reply: FromWatcher) => void; reject: (err: Error) => void } | null = null;

  constructor() {
    // detached: a session of its own, so with the kernel's autogroup scheduling the stations (in this
    // process's session) do not take its CPU share; gridlink serve is detached too (ServerProcess).
    this.#child = fork(fileURLToPath(import.meta.url), [WATCHER_FLAG], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'], detached: true });
    if (this.#child.pid === undefined) throw new Error('could not start the watcher process');
    this.pid = this.#child.pid;
    this.#unregister = onCleanup(() => {
      this.#child.kill('SIGKILL');
    });
    this.#child.on('message', (message: unknown) => {
      const reply = message as FromWatcher;
      const waiter = this.#waiter;
      if (reply.type === 'failed') {
        this.#waiter = null;
        waiter?.reject(new Error(`watcher process: ${reply.message}`));
      } else if (waiter?.type === reply.type) {
        this.#waiter = null;
        waiter.resolve(reply);
      }
    });
    this.#child.once('exit', (code, signal) => {
      const waiter = this.#waiter;
      this.#waiter = null;
      waiter?.reject(new Error(`watcher process exited (${String(code ?? signal)})`));
    });
  }

  request<T extends FromWatcher['type']>(command: ToWatcher, type: T, timeoutMs = 60_000): Promise<Extract<FromWatcher, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} from the watcher process within ${timeoutMs} ms`)), timeoutMs);
      this.#waiter = {
        type,
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply as Extract<FromWatcher, { type: T }>);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.#child.send(command);
    });
  }

  close(): void {
    this.#child.kill('SIGKILL');
    this.#unregister();
  }
}

// ---------------------------------------------------------------------------
// The stations

async function startStations(settings: Settings): Promise<Lib60870Slave[]> {
  await ensureLib60870();
  const slaves: Lib60870Slave[] = [];
  onCleanup(async () => {
    await Promise.all(slaves.map((s) => s.kill('SIGKILL').catch(() => undefined)));
  });
  for (let from = 0; from < settings.stations; from += START_CONCURRENCY) {
    const batch = Array.from({ length: Math.min(START_CONCURRENCY, settings.stations - from) }, () => startSlave({ points: settings.points, tickMs: settings.stationTickMs }));
    slaves.push(...(await Promise.all(batch)));
  }
  if (settings.stationNice !== 0) for (const slave of slaves) await renice(slave.child.pid ?? 0, settings.stationNice);
  return slaves;
}

/**
 * Sets the nice value of every thread of a process (Linux keeps it per
 * thread; threads started later inherit it from the thread that starts them).
 */
async function renice(pid: number, nice: number): Promise<void> {
  if (pid === 0) return;
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    try {
      setPriority(Number(tid), nice);
    } catch {
      // the thread ended meanwhile
    }
  }
}

/** Changes the stations reported sent (their `burst_done` events) from each one's event index in `from` on. */
function changesSince(slaves: readonly Lib60870Slave[], from: readonly number[]): number {
  let sum = 0;
  slaves.forEach((slave, i) => {
    for (let e = from[i] ?? 0; e < slave.events.length; e++) {
      const event = slave.events[e] as SlaveEvent;
      if (event.event === 'burst_done') sum += event.changes;
    }
  });
  return sum;
}

/** How often each station gets its `burst K 0` (0: one long burst). */
function pulseMsOf(settings: Settings): number {
  return settings.perPulse === 0 ? 0 : (1000 * settings.perPulse * settings.stations) / settings.rate;
}

/**
 * Keeps the stations sending: `burst K 0` to each as often as its share of
 * the rate needs, their phases spread over the period (or one long `burst N
 * RATE` each when perPulse is 0). Returns the function that stops it.
 */
async function drive(slaves: readonly Lib60870Slave[], settings: Settings, seconds: number): Promise<() => Promise<void>> {
  const perStation = settings.rate / settings.stations;
  const pulseMs = pulseMsOf(settings);
  if (pulseMs === 0) {
    const changes = Math.ceil(perStation * seconds);
    log(`bursts of ${changes} changes at ${fixed(perStation, 1)}/s on every station`);
    await Promise.all(slaves.map((slave) => slave.request(`burst ${changes} ${perStation}`)));
    return async () => {
      await Promise.all(slaves.map((slave) => slave.request('burst stop').catch(() => undefined)));
    };
  }
  const perPulse = settings.perPulse;
  log(`every station sends ${perPulse} changes every ${fixed(pulseMs, 1)} ms (${fixed(perStation, 1)}/s each)`);
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  const pulse = (slave: Lib60870Slave): void => {
    if (!stopped && slave.exited === null) slave.send(`burst ${perPulse} 0`);
  };
  slaves.forEach((slave, i) => {
    timers.push(
      setTimeout(() => {
        pulse(slave);
        timers.push(setInterval(() => pulse(slave), pulseMs));
      }, (i * pulseMs) / slaves.length),
    );
  });
  return async () => {
    stopped = true;
    for (const timer of timers) clearTimeout(timer);
    await sleep(pulseMs);
  };
}

// ---------------------------------------------------------------------------
// gridlink

/**
 * `node bin/gridlink.js serve` as peers.ts's startGridlink starts it (quiet
 * logs, a free loopback port, no anonymous area), with more time to come up
 * (200 stations' configuration on a busy machine), and under `--cpu-prof`
 * into `profileDir` when given (written when the server exits after SIGTERM).
 */
async function startServer(dir: string, config: Record<string, unknown>, profileDir: string | null): Promise<GridlinkServer> {
  const port = await freePort();
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'gridlink.json');
  await writeFile(configPath, JSON.stringify({ dataDir, native: { host: LOOPBACK, port }, log: { level: 'warn' }, ...config }));
  const profile = profileDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir];
  const server = new ServerProcess('gridlink', process.execPath, [...profile, join(REPO_ROOT, 'bin', 'gridlink.js'), 'serve', '--config', configPath], { cwd: REPO_ROOT });
  await server.waitForPort(LOOPBACK, port, SERVER_START_MS);
  return { process: server, port, dataDir, anonymousDir: join(dataDir, 'public') };
}

interface Run {
  readonly offeredPerSecond: number;
  readonly acquiredPerSecond: number;
  readonly eventsPerSecond: number;
  readonly cpu: CpuUse;
  readonly peakRssBytes: number;
  /** The server's own figure for how late its event loop ran (admin status), read at the end of the window. */
  readonly eventLoop: ScadaStatus['eventLoop'];
  readonly latency: LatencySummary | null;
  readonly acquisitionLatency: LatencySummary | null;
  readonly deliveryLatency: LatencySummary | null;
  readonly watchedEventsPerSecond: number;
  readonly watchers: number;
  readonly devicesOnline: number;
  readonly deviceFailures: number;
  readonly deviceLossAlarms: readonly string[];
  readonly unknownObjects: number;
  readonly busDropped: number;
  readonly changesSent: number;
  readonly firstGiMs: number;
}

async function run(settings: Settings, timing: Timing, workDir: string, profileDir: string | null): Promise<Run> {
  log(`starting ${settings.stations} lib60870 stations × ${3 * settings.points} points`);
  const slaves = await startStations(settings);
  let control: GridlinkClient | null = null;
  let watcher: WatcherProcess | null = null;
  let server: GridlinkServer | null = null;
  let admin: AdminClient | null = null;
  try {
    log('starting gridlink serve');
    const startedAt = Date.now();
    server = await startServer(workDir, { http: { enabled: false }, scada: { simulator: { enabled: false }, devices: deviceConfigs(slaves, settings) } }, profileDir);
    admin = await connectAdmin(server.dataDir);
    const total = settings.stations * settings.points * 3;
    const onlineBy = Date.now() + ONLINE_LIMIT_MS;
    for (;;) {
      const status = await scadaStatus(admin);
      if (status.devicesOnline === settings.stations && status.readings >= total) break;
      if (Date.now() > onlineBy) throw new Error(`after ${ONLINE_LIMIT_MS} ms: ${status.devicesOnline} of ${settings.stations} stations online, ${status.readings} of ${total} points read`);
      await sleep(100);
    }
    const firstGiMs = Date.now() - startedAt;
    log(`all stations online and interrogated ${firstGiMs} ms after the server started`);

    const password = await readInitialAdminPassword(server.dataDir);
    control = await GridlinkClient.connect({ host: LOOPBACK, port: server.port });
    await control.login('admin', password);
    watcher = new WatcherProcess();
    const patterns = watchPatterns(settings.watch);
    await watcher.request({ type: 'watch', port: server.port, password, patterns: patterns.map((p) => p ?? null) }, 'watching');

    const stopDriving = await drive(slaves, settings, timing.warmupSeconds + timing.windowSeconds + 30);
    log(`warming up ${timing.warmupSeconds} s`);
    await sleep(timing.warmupSeconds * 1000);

    const samples: CounterSample[] = [];
    const adminClient = admin;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const started = performance.now();
        const status = await scadaStatus(adminClient);
        samples.push({ t: nowSeconds(), readings: status.readings, events: status.events });
        await sleep(Math.max(0, started + STATUS_EVERY_MS - performance.now()));
      }
    })();
    const statusBefore = await scadaStatus(admin);
    const pids = slaves.map((s) => s.child.pid ?? 0);
    const eventsBefore = slaves.map((slave) => slave.events.length);
    const cpuBefore = await cpuSnapshot(server.process.pid, pids, watcher.pid);
    await watcher.request({ type: 'record', on: true }, 'recording');
    log(`measuring for ${timing.windowSeconds} s`);
    await sleep(timing.windowSeconds * 1000);
    const cpuAfter = await cpuSnapshot(server.process.pid, pids, watcher.pid);
    const changesSent = changesSince(slaves, eventsBefore);
    await watcher.request({ type: 'record', on: false }, 'recording');
    const watched = await watcher.request({ type: 'report' }, 'report');
    sampling = false;
    await sampler;
    const statusAfter = await scadaStatus(admin);
    const peak = await peakRssBytes(server.process.pid);
    await stopDriving();
    const devices = await control.devices();
    const lossAlarms = (await control.alarms(true)).filter((a) => a.kind === 'deviceLost');
    const cpu = cpuUse(cpuBefore, cpuAfter);
    return {
      offeredPerSecond: pulseMsOf(settings) === 0 ? settings.rate : changesSent / cpu.windowSeconds,
      acquiredPerSecond: slope(samples, 'readings'),
      eventsPerSecond: slope(samples, 'events'),
      cpu,
      peakRssBytes: peak,
      eventLoop: statusAfter.eventLoop,
      latency: summariseLatency(watched.total),
      acquisitionLatency: summariseLatency(watched.acquisition),
      deliveryLatency: summariseLatency(watched.delivery),
      watchedEventsPerSecond: watched.events / cpu.windowSeconds,
      watchers: patterns.length,
      devicesOnline: statusAfter.devicesOnline,
      deviceFailures: devices.reduce((sum, d) => sum + d.failures, 0),
      deviceLossAlarms: lossAlarms.map((a) => `${new Date(a.raisedAt).toISOString()} ${a.message}`),
      unknownObjects: statusAfter.unknownObjects ?? 0,
      busDropped: statusAfter.bus.dropped - statusBefore.bus.dropped,
      changesSent,
      firstGiMs,
    };
  } finally {
    watcher?.close();
    control?.destroy();
    await admin?.close().catch(() => undefined);
    await server?.process.stop();
    await Promise.all(slaves.map((s) => s.stop()));
  }
}

// ---------------------------------------------------------------------------
// Reporting

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

const count = (value: number): string => (Number.isFinite(value) ? Math.round(value).toLocaleString('en') : '–');
const check = (ok: boolean): string => (ok ? '✓' : '✗');

function render(r: Run, settings: Settings, timing: Timing): { text: string; checks: Record<string, boolean> } {
  const checks = {
    cpu: r.cpu.serverPercent < TARGET_CPU_PERCENT,
    p99: r.latency !== null && r.latency.p99Ms <= TARGET_P99_MS,
    /** gridlink took in what the stations sent (whether they reached --rate is the row above). */
    keptUp: r.acquiredPerSecond >= r.offeredPerSecond * SUSTAINED_SHARE,
    rateReached: r.acquiredPerSecond >= settings.rate * SUSTAINED_SHARE,
    /** The part gridlink answers for: received from the station → at the subscriber. */
    gridlinkP99: r.deliveryLatency !== null && r.deliveryLatency.p99Ms <= TARGET_P99_MS,
  };
  const lat = (s: LatencySummary | null): string => (s === null ? '–' : `${fixed(s.p50Ms, 0)} / ${fixed(s.p99Ms, 0)} / ${fixed(s.maxMs, 0)}`);
  const rows: string[][] = [
    ['changes sent by the stations /s', count(r.offeredPerSecond), count(settings.rate), check(checks.rateReached)],
    ['changes acquired /s (readings counter)', count(r.acquiredPerSecond), `≥ ${SUSTAINED_SHARE * 100} % of sent`, check(checks.keptUp)],
    ['server CPU, % of one core', fixed(r.cpu.serverPercent, 1), `< ${TARGET_CPU_PERCENT} %`, check(checks.cpu)],
    ['change → subscriber p50 / p99 / max, ms', lat(r.latency), `p99 ≤ ${TARGET_P99_MS} ms`, check(checks.p99)],
    ['  of which station change → gridlink received', lat(r.acquisitionLatency), '', ''],
    ['  of which gridlink received → subscriber', lat(r.deliveryLatency), `(p99 ≤ ${TARGET_P99_MS} ms)`, check(checks.gridlinkP99)],
    ['latency samples (events to the watchers /s)', `${count(r.latency?.samples ?? 0)} (${count(r.watchedEventsPerSecond)})`, '', ''],
    ['events /s (history + bus)', count(r.eventsPerSecond), '', ''],
    ['bus messages dropped in the window', count(r.busDropped), '', ''],
    ['peak RSS, MB', fixed(toMB(r.peakRssBytes), 0), '', ''],
    [
      `event loop late by p99 / worst, ms (admin status, ${r.eventLoop === null ? '-' : r.eventLoop.windowSeconds >= 60 ? 'last minute' : `${fixed(r.eventLoop.windowSeconds, 0)} s since start`})`,
      r.eventLoop === null ? '-' : `${fixed(r.eventLoop.p99Ms, 1)} / ${fixed(r.eventLoop.maxMs, 0)}`,
      '',
      '',
    ],
    ['stations online at the end; connection losses; deviceLost alarms', `${r.devicesOnline}; ${r.deviceFailures}; ${r.deviceLossAlarms.length}`, '', ''],
    ['start → all stations interrogated, ms', count(r.firstGiMs), '', ''],
    [`stations CPU % (${settings.stations} processes)`, fixed(r.cpu.stationsPercent, 1), '', ''],
    ['bench CPU % (stations\' stdio, watchers, status)', fixed(r.cpu.benchPercent, 1), '', ''],
    ['other processes CPU % (noise)', fixed(r.cpu.otherPercent, 1), '', ''],
  ];
  const notes: string[] = [
    settings.stationTickMs > 0
      ? `The stations run lib60870 threadless, ticked right after each pulse of changes and every ${settings.stationTickMs} ms otherwise (--station-tick-ms), so a change leaves its station when it is made.`
      : "The stations run lib60870's thread per connection (--station-tick-ms 0), which looks at its event queue after a select() of up to 100 ms when nothing comes from the master, so the station's part alone spreads changes over 0..100 ms; the end-to-end target cannot be met against it whatever the master does, and the part gridlink answers for is the row below it.",
  ];
  if (r.cpu.otherPercent > OTHER_CPU_WARNING * 100) notes.push(`window disturbed: other processes used ${fixed(r.cpu.otherPercent, 0)} % of a core meanwhile.`);
  if (r.deviceLossAlarms.length > 0) notes.push(`device-loss alarms: ${r.deviceLossAlarms.slice(0, 3).join('; ')}${r.deviceLossAlarms.length > 3 ? ` (and ${r.deviceLossAlarms.length - 3} more)` : ''}.`);
  if (r.unknownObjects > 0) notes.push(`${count(r.unknownObjects)} information objects for unknown addresses (expected 0).`);
  const text = [
    `### IEC 104 acquisition: ${settings.stations} lib60870 stations × ${3 * settings.points} points, ${count(settings.rate)} spontaneous changes/s${timing.windowSeconds === QUICK.windowSeconds ? ' (quick)' : ''}`,
    '',
    `Stations: lib60870-C's CS104_Slave (tests/peers/iec104/iec104_slave.c), one process each on loopback, ${settings.points} single + ${settings.points} double + ${settings.points} float points, ` +
      `${fixed(settings.rate / settings.stations, 1)} changes/s each (${pulseMsOf(settings) === 0 ? '`burst N RATE`' : `\`burst ${settings.perPulse} 0\` every ${fixed(pulseMsOf(settings), 1)} ms, the stations' pulses spread over the period`}; round robin over the points, M_SP_TB_1 / M_DP_TB_1 / M_ME_TF_1 with CP56Time2a). ` +
      `${settings.stationNice === 0 ? '' : `The stations run at nice ${settings.stationNice} (see --station-nice). `}` +
      `gridlink: \`gridlink serve\` (dist) as the controlling station of all of them (k 12, w ${settings.w}, deadband 0: every change is an event, stored in history and published), http off; ` +
      `${settings.watch === 'all' ? '1 native client watches every point' : `${r.watchers} native clients each watch one point of every station`}. ` +
      `Window ${timing.windowSeconds} s after ${timing.warmupSeconds} s of warm-up. CPU = process CPU time ÷ wall time (100 % = one core); ` +
      `latency = the event's sourceTime (the station's CP56Time2a, taken when it queued the change) → arrival at the client (same wall clock, ms).`,
    '',
    markdownTable(['measure', 'gridlink', 'target', 'met'], rows),
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
  return { text, checks };
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      stations: { type: 'string', default: '200,20' },
      points: { type: 'string', default: '34' },
      rate: { type: 'string', default: '20000' },
      'per-pulse': { type: 'string', default: '10' },
      'station-nice': { type: 'string', default: '19' },
      'station-tick-ms': { type: 'string', default: '100' },
      w: { type: 'string', default: '8' },
      watch: { type: 'string', default: 'sample' },
      'cpu-prof': { type: 'string' },
    },
    strict: true,
  });
  const int = (name: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max}, not ${text}`);
    return n;
  };
  if (values.watch !== 'sample' && values.watch !== 'all') throw new Error(`--watch must be sample or all, not ${values.watch}`);
  const base = {
    perPulse: int('per-pulse', values['per-pulse'], 0, 1_000),
    stationNice: int('station-nice', values['station-nice'], 0, 19),
    stationTickMs: int('station-tick-ms', values['station-tick-ms'], 0, 1_000),
    points: int('points', values.points, 1, 1_000),
    rate: int('rate', values.rate, 1, 1_000_000),
    w: int('w', values.w, 1, 12),
    watch: values.watch === 'all' ? ('all' as const) : ('sample' as const),
  };
  const runs: Settings[] = values.stations.split(',').map((n) => ({ ...base, stations: int('stations', n.trim(), 1, 1_000) }));
  const timing = values.quick ? QUICK : FULL;
  const profileDir = values['cpu-prof'] === undefined ? null : resolve(values['cpu-prof']);
  const results: Array<{ settings: Settings; gridlink: Run; checks: Record<string, boolean> }> = [];
  for (const settings of runs) {
    const workDir = await makeTempDir('gridlink-bench-iec104-');
    const result = await run(settings, timing, workDir, profileDir);
    if (profileDir !== null) log(`server CPU profile (.cpuprofile, whole lifetime) written to ${profileDir}`);
    log(`gridlink, ${settings.stations} stations: ${count(result.acquiredPerSecond)} changes/s, CPU ${fixed(result.cpu.serverPercent, 1)} %, latency p50 ${fixed(result.latency?.p50Ms, 0)} ms p99 ${fixed(result.latency?.p99Ms, 0)} ms`);
    const { text, checks } = render(result, settings, timing);
    process.stdout.write(`${text}\n`);
    results.push({ settings, gridlink: result, checks });
  }
  await writeJson(RESULTS_PATH, {
    ...runInfo('iec104-master', values.quick),
    timing: { ...timing, statusEveryMs: STATUS_EVERY_MS },
    targets: { cpuPercent: TARGET_CPU_PERCENT, p99Ms: TARGET_P99_MS, sustainedShare: SUSTAINED_SHARE },
    runs: results,
  });
  log(`results written to ${RESULTS_PATH}`);
}

if (process.argv.includes(WATCHER_FLAG)) runWatcherChild();
else await runBenchmark(main);
