/**
 * SCADA acquisition benchmark (issue 5): 200 simulated Modbus TCP devices ×
 * 100 holding registers, polled once a second by `gridlink serve`. Measures,
 * over a sustained window after a warm-up: points read per second, the
 * server's CPU (100 % = one core) and peak RSS, and the latency from a change
 * at a device to the `point.event` at a watching client (p50/p99/max).
 * Targets: ≥ 20,000 points/s sustained, server CPU < 50 %, p99 < one poll
 * period + 50 ms. Side by side, in the same run and against the same
 * devices, a reference poller (pymodbus 3.0, bench/lib/scada-reference-poller.py)
 * puts the same polling load on the devices and only decodes what it reads;
 * its CPU is the yardstick for what the polling itself costs. Prints a
 * markdown table and writes bench/results/scada-poll.json.
 *
 *   npx tsx bench/scada-poll.ts [--quick] [--deadband zero|realistic|max] [--watch currents|all] [--cpu-prof DIR]
 *
 * --quick: 15 s window, 40 probes (a smoke test); full: 60 s, 150 probes.
 * --deadband zero (default): every change of a register is an event (the
 *   simulator's noise moves about half the registers every second, so
 *   ~9,000 events/s go to history and the bus); realistic: the deadbands
 *   gridlink gives the built-in simulator's points (0.05 kV, 2 A, 20 kW/kvar,
 *   0.02 Hz), which the simulator's noise (±2 % current, ±0.5 % voltage)
 *   still exceeds about half the time (~5,000 events/s); max: a deadband
 *   no change exceeds, so after each point's first value there are no
 *   events: what polling and the point table alone cost (no latency
 *   probes then: their changes would not be events either).
 * --cpu-prof DIR: run the server under `node --cpu-prof` (profile in DIR; it
 *   costs the server some CPU, so its numbers are not the benchmark's).
 * Needs the build (dist/; bash bench/run.sh builds first) and, for the
 * reference, Debian's python3-pymodbus (scripts/system-deps.sh, run by
 * `npm test`, installs it); without it the table says the reference is missing.
 *
 * Process layout: the devices (gridlink's own SubstationSimulator, 200 unit
 * ids on one Modbus TCP port, noise on) run in a forked process
 * (bench/lib/scada-devices.ts), so the server's CPU time is its own; the
 * server is the built `gridlink serve` with a generated config (simulator
 * off, 200 devices of 100 telemetry points `dev001.r000`…, http off); this
 * process holds the watching clients and the admin-socket client.
 *
 * points/s: the server's `readings` counter (the `scada` part of `gridlink
 * admin status`, read through the same AdminClient the CLI uses, every
 * 100 ms) fitted by least squares over the window; all pollers start
 * together, so readings come in one burst per second and a two-point
 * difference would depend on where the window's ends fall.
 *
 * Latency probes: at random times in the window the bench asks the devices
 * process to pin one feeder's current register (random unit, random feeder)
 * to a value no noise produces; that process answers with the hrtime
 * (CLOCK_MONOTONIC, one clock for the machine) right after the register
 * image changed, and the watching client timestamps the matching event.
 * By default (--watch currents) ten client connections each watch one
 * current register of every device (`*.r002` … `*.r092`, 200 points each,
 * ~2,000 events/s in all); --watch all: one connection watches every point
 * (every event goes to it). Either way the bench also checks, after the
 * window, that a single watch of all 20,000 points is answered.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { AdminClient } from '../dist/admin/admin-client.js';
import { GridlinkClient } from '../dist/client/index.js';
import type { DeviceStatus, PointEvent } from '../dist/protocol/scada.js';
import { makeTempDir, onCleanup, runBenchmark } from './lib/cleanup.js';
import { LOOPBACK, readInitialAdminPassword, REPO_ROOT, startGridlink, type GridlinkServer } from './lib/peers.js';
import { cpuSeconds, freePort, machineBusySeconds, peakRssBytes, rssBytes, ServerProcess } from './lib/processes.js';
import { fixed, markdownTable, runInfo, summariseLatency, toMB, writeJson, type LatencySummary } from './lib/report.js';
import { CURRENT_SCALE, FEEDER_REGISTER, probeRaw, REGISTERS_PER_FEEDER, registerPoint } from './lib/scada-protocol.js';
import { DevicesProcess } from './lib/devices-process.js';
import { connectAdmin, scadaStatus } from './lib/admin-status.js';

// ---------------------------------------------------------------------------
// Settings

const UNITS = 200;
const FEEDERS = 10;
const REGISTERS = FEEDERS * REGISTERS_PER_FEEDER;
const POLL_MS = 1_000;
/** The simulator redraws its noise this often. */
const NOISE_UPDATE_MS = 1_000;

const TARGET_POINTS_PER_SECOND = 20_000;
const TARGET_CPU_PERCENT = 50;
const TARGET_P99_MS = POLL_MS + 50;
/**
 * The offered load is exactly UNITS × REGISTERS per POLL_MS; a poller that
 * starts each poll POLL_MS after the previous one started, on a timer that
 * fires a millisecond or so late, cannot quite reach it. Reading this share
 * of the offered load counts as sustaining it (the table shows the number).
 */
const SUSTAINED_SHARE = 0.99;

interface Timing {
  readonly warmupSeconds: number;
  readonly windowSeconds: number;
  readonly probes: number;
}
const FULL: Timing = { warmupSeconds: 10, windowSeconds: 60, probes: 150 };
const QUICK: Timing = { warmupSeconds: 5, windowSeconds: 15, probes: 40 };

/** Admin-socket status samples during the window. */
const STATUS_EVERY_MS = 100;
/** A probe whose event has not arrived this long after the change is lost. */
const PROBE_TIMEOUT_MS = 3 * POLL_MS + 2_000;
const ONLINE_LIMIT_MS = 60_000;
/** Flag a window during which processes other than ours used more than this share of a core. */
const OTHER_CPU_WARNING = 0.1;

const REFERENCE_SCRIPT = join(REPO_ROOT, 'bench', 'lib', 'scada-reference-poller.py');
/** Debian's python3-pymodbus lives in the system Python (`python3` may be a pyenv shim). */
const SYSTEM_PYTHON = '/usr/bin/python3';
const RESULTS_PATH = join(REPO_ROOT, 'bench', 'results', 'scada-poll.json');

type DeadbandMode = 'zero' | 'realistic' | 'max';
const DEADBAND_MODES: readonly DeadbandMode[] = ['zero', 'realistic', 'max'];
/** The `max` deadband: larger than any register can move. */
const MAX_DEADBAND = 1e9;

// ---------------------------------------------------------------------------
// The devices' register map and gridlink's config for it

interface Quantity {
  readonly label: string;
  readonly scale: number;
  readonly type: 'uint16' | 'int16';
  readonly unit: string;
  /** The deadband gridlink's simulatorDevices() gives this quantity. */
  readonly realisticDeadband: number;
}

/** Register index within a feeder → what it holds (src/scada/simulator/layout.ts); 6..9 are spare (always 0). */
const QUANTITIES: Record<number, Quantity> = {
  [FEEDER_REGISTER.breaker]: { label: 'breaker', scale: 1, type: 'uint16', unit: '', realisticDeadband: 0 },
  [FEEDER_REGISTER.voltage]: { label: 'voltage', scale: 0.01, type: 'uint16', unit: 'kV', realisticDeadband: 0.05 },
  [FEEDER_REGISTER.current]: { label: 'current', scale: CURRENT_SCALE, type: 'uint16', unit: 'A', realisticDeadband: 2 },
  [FEEDER_REGISTER.activePower]: { label: 'activePower', scale: 1, type: 'int16', unit: 'kW', realisticDeadband: 20 },
  [FEEDER_REGISTER.reactivePower]: { label: 'reactivePower', scale: 1, type: 'int16', unit: 'kvar', realisticDeadband: 20 },
  [FEEDER_REGISTER.frequency]: { label: 'frequency', scale: 0.01, type: 'uint16', unit: 'Hz', realisticDeadband: 0.02 },
};
const SPARE: Quantity = { label: 'spare', scale: 1, type: 'uint16', unit: '', realisticDeadband: 0 };

/** `scada.devices` of the server's config: unit ids 1..UNITS, 100 telemetry points on holding registers 0..99 each. */
function deviceConfigs(port: number, deadband: DeadbandMode): unknown[] {
  return Array.from({ length: UNITS }, (_, i) => {
    const unit = i + 1;
    const points = Array.from({ length: REGISTERS }, (_, register) => {
      const q = QUANTITIES[register % REGISTERS_PER_FEEDER] ?? SPARE;
      return {
        name: registerPoint(unit, register),
        class: 'telemetry',
        source: 'holding',
        address: register,
        type: q.type,
        scale: q.scale,
        unit: q.unit,
        deadband: deadband === 'zero' ? 0 : deadband === 'max' ? MAX_DEADBAND : q.realisticDeadband,
      };
    });
    return { name: `dev${String(unit).padStart(3, '0')}`, host: LOOPBACK, port, unitId: unit, pollMs: POLL_MS, points };
  });
}


// ---------------------------------------------------------------------------
// Measuring helpers

interface CounterSample {
  /** CLOCK_MONOTONIC, seconds. */
  readonly t: number;
  readonly readings: number;
  readonly events: number;
}

/** Least-squares slope of y over t (per second), with the plain end-to-end rate. */
function rate(samples: readonly CounterSample[], field: 'readings' | 'events'): { slope: number; endToEnd: number } {
  if (samples.length < 2) return { slope: Number.NaN, endToEnd: Number.NaN };
  const n = samples.length;
  const meanT = samples.reduce((sum, s) => sum + s.t, 0) / n;
  const meanY = samples.reduce((sum, s) => sum + s[field], 0) / n;
  let cov = 0;
  let varT = 0;
  for (const s of samples) {
    cov += (s.t - meanT) * (s[field] - meanY);
    varT += (s.t - meanT) ** 2;
  }
  const first = samples[0]!;
  const last = samples[n - 1]!;
  return { slope: cov / varT, endToEnd: (last[field] - first[field]) / (last.t - first.t) };
}

const nowSeconds = (): number => Number(process.hrtime.bigint()) / 1e9;

interface CpuSnapshot {
  readonly t: number;
  readonly measured: number;
  readonly devices: number;
  readonly bench: number;
  readonly machine: number;
}

async function cpuSnapshot(measuredPid: number, devicesPid: number): Promise<CpuSnapshot> {
  const of = (pid: number): Promise<number> => cpuSeconds(pid).catch(() => Number.NaN);
  const [measured, devices, machine] = await Promise.all([of(measuredPid), of(devicesPid), machineBusySeconds()]);
  const own = process.cpuUsage();
  return { t: nowSeconds(), measured, devices, machine, bench: (own.user + own.system) / 1e6 };
}

/** CPU use over a window, as % of one core. */
interface CpuUse {
  readonly windowSeconds: number;
  /** The poller measured: gridlink's server, or the reference. */
  readonly measuredPercent: number;
  readonly devicesPercent: number;
  readonly benchPercent: number;
  /** Everything else the machine ran meanwhile: noise in the numbers when large. */
  readonly otherPercent: number;
}

function cpuUse(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const seconds = after.t - before.t;
  const pct = (a: number, b: number): number => (100 * (b - a)) / seconds;
  const measured = pct(before.measured, after.measured);
  const devices = pct(before.devices, after.devices);
  const bench = pct(before.bench, after.bench);
  return { windowSeconds: seconds, measuredPercent: measured, devicesPercent: devices, benchPercent: bench, otherPercent: Math.max(0, pct(before.machine, after.machine) - measured - devices - bench) };
}

// ---------------------------------------------------------------------------
// Latency probes

interface Probe {
  readonly id: number;
  readonly unit: number;
  readonly feeder: number;
  readonly point: string;
  readonly raw: number;
  changedNs: bigint | null;
  changedMs: number | null;
  receivedNs: bigint | null;
  receivedMs: number | null;
  /** The event's sourceTime: when the server got the poll reply (its Date.now()). */
  sourceTime: number | null;
}

class Prober {
  readonly #devices: DevicesProcess;
  readonly #inFlight = new Map<string, Probe>();
  readonly #byId = new Map<number, Probe>();
  readonly done: Probe[] = [];
  #next = 0;
  eventsSeen = 0;
  /**
   * Time between consecutive change events of one watched current register
   * (their sourceTimes, the server's poll reply times): the devices' poll
   * periods as the server kept them. Noise moves a current at nearly every
   * poll; an interval of two periods or more is an unchanged value or a
   * failed poll.
   */
  readonly pollIntervals: number[] = [];
  recordIntervals = false;
  readonly #lastSourceTime = new Map<string, number>();

  constructor(devices: DevicesProcess) {
    this.#devices = devices;
    devices.onChanged = (reply) => {
      const probe = this.#byId.get(reply.id);
      if (probe === undefined) return;
      probe.changedNs = reply.atNs;
      probe.changedMs = reply.atMs;
      this.#settle(probe);
    };
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Pins a random feeder (one not already probed) to a value of its own. */
  fire(): void {
    let unit: number;
    let feeder: number;
    let point: string;
    do {
      unit = 1 + Math.floor(Math.random() * UNITS);
      feeder = Math.floor(Math.random() * FEEDERS);
      point = registerPoint(unit, feeder * REGISTERS_PER_FEEDER + FEEDER_REGISTER.current);
    } while (this.#inFlight.has(point));
    const id = this.#next++;
    const probe: Probe = { id, unit, feeder, point, raw: probeRaw(id), changedNs: null, changedMs: null, receivedNs: null, receivedMs: null, sourceTime: null };
    this.#inFlight.set(point, probe);
    this.#byId.set(id, probe);
    this.#devices.command({ type: 'change', id, unit, feeder, raw: probe.raw });
  }

  /** A watched event arrived (called with its arrival time). */
  event(event: PointEvent, receivedNs: bigint): void {
    this.eventsSeen += 1;
    if (event.kind === 'change') {
      const last = this.#lastSourceTime.get(event.point);
      if (this.recordIntervals && last !== undefined) this.pollIntervals.push(event.sourceTime - last);
      this.#lastSourceTime.set(event.point, event.sourceTime);
    }
    const probe = this.#inFlight.get(event.point);
    if (probe === undefined || probe.receivedNs !== null || event.value === null || Math.round(event.value / CURRENT_SCALE) !== probe.raw) return;
    probe.receivedNs = receivedNs;
    probe.receivedMs = Date.now();
    probe.sourceTime = event.sourceTime;
    this.#settle(probe);
  }

  /** Probes whose change was made but whose event did not come within PROBE_TIMEOUT_MS. */
  expire(): Probe[] {
    const now = process.hrtime.bigint();
    const expired: Probe[] = [];
    for (const probe of this.#inFlight.values()) {
      if (probe.changedNs !== null && now - probe.changedNs > BigInt(PROBE_TIMEOUT_MS) * 1_000_000n) expired.push(probe);
    }
    for (const probe of expired) this.#finish(probe);
    return expired;
  }

  #settle(probe: Probe): void {
    if (probe.changedNs !== null && probe.receivedNs !== null) this.#finish(probe);
  }

  #finish(probe: Probe): void {
    this.#inFlight.delete(probe.point);
    this.#byId.delete(probe.id);
    this.done.push(probe);
    if (this.#devices.failure === null) this.#devices.command({ type: 'restore', unit: probe.unit, feeder: probe.feeder });
  }
}

/** Fires `count` probes at uniformly random times within `seconds`. */
async function runProbes(prober: Prober, count: number, seconds: number): Promise<void> {
  const start = performance.now();
  const times = Array.from({ length: count }, () => Math.random() * seconds * 1000).sort((a, b) => a - b);
  for (const at of times) {
    const wait = start + at - performance.now();
    if (wait > 0) await sleep(wait);
    prober.fire();
  }
}

// ---------------------------------------------------------------------------
// gridlink

interface GridlinkRun {
  readonly pointsPerSecond: number;
  readonly pointsPerSecondEndToEnd: number;
  readonly eventsPerSecond: number;
  readonly statusSamples: number;
  readonly cpu: CpuUse;
  readonly peakRssBytes: number;
  /** VmRSS when the window started and right after it. */
  readonly rssStartBytes: number;
  readonly rssEndBytes: number;
  /** Bus messages published per second in the window (an event is published twice: `points.<name>` and `events.<name>`). */
  readonly busPublishedPerSecond: number;
  /** Messages the bus dropped in the window (a watcher's queue full). */
  readonly busDropped: number;
  readonly latency: LatencySummary | null;
  /** Device change → the server's poll reply (the event's sourceTime; wall clocks, ms). */
  readonly acquisitionLatency: LatencySummary | null;
  /** The server's poll reply → the watching client (wall clocks, ms): the server's processing and delivery. */
  readonly deliveryLatency: LatencySummary | null;
  readonly probesFired: number;
  readonly probesLost: number;
  readonly watchedEventsPerSecond: number;
  readonly watchers: number;
  readonly devicesOnline: number;
  readonly polls: number;
  readonly pollFailures: number;
  /** Device-loss alarms raised since the server started (time and message). */
  readonly deviceLossAlarms: readonly string[];
  /** Poll period as seen in the watched events (intervals under 1.5 periods), ms. */
  readonly pollInterval: LatencySummary | null;
  /** Watched intervals of 1.5 periods or more: an unchanged value in between, or a failed poll. */
  readonly pollGaps: number;
  readonly activeAlarms: number;
  readonly watchAllPoints: string;
}

/** Calls `work` every `everyMs` until the returned stop function is called. */
function every(everyMs: number, work: () => Promise<void>): () => Promise<void> {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      await work();
      await sleep(Math.max(0, started + everyMs - performance.now()));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

/** A single watch of every point: whether (and how fast) its snapshot of ~20,000 points is answered. */
async function tryWatchAll(port: number, password: string): Promise<string> {
  const client = await GridlinkClient.connect({ host: LOOPBACK, port });
  try {
    await client.login('admin', password);
    const started = performance.now();
    const points = await client.watch(undefined, { onEvent: () => undefined });
    return `answered with ${points.length.toLocaleString('en')} points in ${fixed(performance.now() - started, 0)} ms`;
  } catch (err) {
    return `failed: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    client.destroy();
  }
}

/**
 * `node bin/gridlink.js serve` as peers.ts's startGridlink starts it (quiet
 * logs, a free loopback port, no anonymous area), with `--cpu-prof` into
 * `profileDir` when given (written when the server exits after SIGTERM).
 */
async function startServer(dir: string, config: Record<string, unknown>, profileDir: string | null): Promise<GridlinkServer> {
  if (profileDir === null) return startGridlink({ dir, anonymous: false, config });
  const port = await freePort();
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'gridlink.json');
  await writeFile(configPath, JSON.stringify({ dataDir, native: { host: LOOPBACK, port }, log: { level: 'warn' }, ...config }));
  const args = ['--cpu-prof', '--cpu-prof-dir', profileDir, join(REPO_ROOT, 'bin', 'gridlink.js'), 'serve', '--config', configPath];
  const server = new ServerProcess('gridlink', process.execPath, args, { cwd: REPO_ROOT });
  await server.waitForPort(LOOPBACK, port);
  return { process: server, port, dataDir, anonymousDir: join(dataDir, 'public') };
}

type WatchMode = 'currents' | 'all';
const WATCH_MODES: readonly WatchMode[] = ['currents', 'all'];

/** What the watching connections subscribe to: one pattern per connection. */
function watchPatterns(mode: WatchMode): Array<string | undefined> {
  if (mode === 'all') return [undefined];
  return Array.from({ length: FEEDERS }, (_, feeder) => `*.r${String(feeder * REGISTERS_PER_FEEDER + FEEDER_REGISTER.current).padStart(3, '0')}`);
}

async function runGridlink(devices: DevicesProcess, devicesPort: number, workDir: string, timing: Timing, deadband: DeadbandMode, watch: WatchMode, profileDir: string | null): Promise<GridlinkRun> {
  let server: GridlinkServer | null = null;
  const watchers: GridlinkClient[] = [];
  let admin: AdminClient | null = null;
  try {
    log(`starting gridlink serve with ${UNITS} devices × ${REGISTERS} points (deadband ${deadband})`);
    server = await startServer(workDir, { http: { enabled: false }, scada: { simulator: { enabled: false }, devices: deviceConfigs(devicesPort, deadband) } }, profileDir);
    admin = await connectAdmin(server.dataDir);
    const onlineBy = Date.now() + ONLINE_LIMIT_MS;
    for (;;) {
      const status = await scadaStatus(admin);
      if (status.devicesOnline === UNITS) break;
      if (Date.now() > onlineBy) throw new Error(`only ${status.devicesOnline} of ${UNITS} devices online after ${ONLINE_LIMIT_MS} ms`);
      await sleep(200);
    }
    const password = await readInitialAdminPassword(server.dataDir);

    const prober = new Prober(devices);
    for (const pattern of watchPatterns(watch)) {
      const client = await GridlinkClient.connect({ host: LOOPBACK, port: server.port });
      watchers.push(client);
      await client.login('admin', password);
      await client.watch(pattern, { onEvent: (event) => prober.event(event, process.hrtime.bigint()) });
    }
    log(`${watchers.length} watcher connection(s) (${watch}); warming up ${timing.warmupSeconds} s`);
    await sleep(timing.warmupSeconds * 1000);

    const samples: CounterSample[] = [];
    const sampling = { on: false };
    const adminClient = admin;
    const stopSampling = every(STATUS_EVERY_MS, async () => {
      const status = await scadaStatus(adminClient);
      if (sampling.on) samples.push({ t: nowSeconds(), readings: status.readings, events: status.events });
    });
    const eventsBefore = prober.eventsSeen;
    const statusBefore = await scadaStatus(admin);
    sampling.on = true;
    prober.recordIntervals = true;
    const rssStart = await rssBytes(server.process.pid);
    const cpuBefore = await cpuSnapshot(server.process.pid, devices.pid);
    log(`measuring for ${timing.windowSeconds} s with ${timing.probes} latency probes`);
    const [, cpuAfter] = await Promise.all([
      runProbes(prober, timing.probes, timing.windowSeconds),
      sleep(timing.windowSeconds * 1000).then(() => cpuSnapshot(server!.process.pid, devices.pid)),
    ]);
    sampling.on = false;
    prober.recordIntervals = false;
    const eventsDuring = prober.eventsSeen - eventsBefore;
    await stopSampling();
    const statusAfter = await scadaStatus(admin);
    const peak = await peakRssBytes(server.process.pid);
    const rssEnd = await rssBytes(server.process.pid);

    // The last probes' events, or their timeout.
    let lost = 0;
    const settleBy = Date.now() + PROBE_TIMEOUT_MS + 1_000;
    while (prober.inFlight > 0 && Date.now() < settleBy) {
      lost += prober.expire().length;
      await sleep(50);
    }
    lost += prober.expire().length + prober.inFlight;

    // After the window's readings: a 20,000-point snapshot is a burst of work of its own.
    const watchAllPoints = await tryWatchAll(server.port, password);
    log(`a single watch of all ${UNITS * REGISTERS} points: ${watchAllPoints}`);
    const final = await scadaStatus(admin);
    const statuses: DeviceStatus[] = await watchers[0]!.devices();
    const deviceLoss = (await watchers[0]!.alarms(true)).filter((a) => a.kind === 'deviceLost');
    const steady = prober.pollIntervals.filter((ms) => ms < 1.5 * POLL_MS);
    const cpu = cpuUse(cpuBefore, cpuAfter);
    const readings = rate(samples, 'readings');
    const events = rate(samples, 'events');
    const complete = prober.done.filter((p) => p.changedNs !== null && p.receivedNs !== null);
    return {
      pointsPerSecond: readings.slope,
      pointsPerSecondEndToEnd: readings.endToEnd,
      eventsPerSecond: events.slope,
      statusSamples: samples.length,
      cpu,
      peakRssBytes: peak,
      rssStartBytes: rssStart,
      rssEndBytes: rssEnd,
      busPublishedPerSecond: (statusAfter.bus.published - statusBefore.bus.published) / cpu.windowSeconds,
      busDropped: statusAfter.bus.dropped - statusBefore.bus.dropped,
      latency: summariseLatency(complete.map((p) => Number(p.receivedNs! - p.changedNs!) / 1e6)),
      acquisitionLatency: summariseLatency(complete.map((p) => p.sourceTime! - p.changedMs!)),
      deliveryLatency: summariseLatency(complete.map((p) => p.receivedMs! - p.sourceTime!)),
      probesFired: timing.probes,
      probesLost: lost,
      watchedEventsPerSecond: eventsDuring / cpu.windowSeconds,
      watchers: watchers.length,
      devicesOnline: final.devicesOnline,
      polls: statuses.reduce((sum, d) => sum + d.polls, 0),
      pollFailures: statuses.reduce((sum, d) => sum + d.failures, 0),
      deviceLossAlarms: deviceLoss.map((a) => `${new Date(a.raisedAt).toISOString()} ${a.message}`),
      pollInterval: summariseLatency(steady),
      pollGaps: prober.pollIntervals.length - steady.length,
      activeAlarms: final.activeAlarms,
      watchAllPoints,
    };
  } finally {
    for (const client of watchers) client.destroy();
    await admin?.close().catch(() => undefined);
    await server?.process.stop();
  }
}

// ---------------------------------------------------------------------------
// The pymodbus reference

interface ReferenceRun {
  readonly pointsPerSecond: number;
  readonly pointsPerSecondEndToEnd: number;
  readonly cpu: CpuUse;
  readonly peakRssBytes: number;
  readonly connected: number;
  readonly polls: number;
  readonly errors: number;
  readonly pymodbusVersion: string;
}

interface ReferenceLine {
  readonly t: number;
  readonly readings: number;
  readonly polls: number;
  readonly errors: number;
  readonly connected: number;
}

async function runReference(devices: DevicesProcess, devicesPort: number, timing: Timing): Promise<ReferenceRun> {
  const version = await new Promise<string>((resolve, reject) => {
    const probe = spawn(SYSTEM_PYTHON, ['-c', 'import pymodbus; print(pymodbus.__version__)'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    probe.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    probe.once('error', reject);
    probe.once('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${SYSTEM_PYTHON} cannot import pymodbus (install Debian's python3-pymodbus)`))));
  });
  log(`starting the reference poller (pymodbus ${version})`);
  const child = spawn(SYSTEM_PYTHON, [REFERENCE_SCRIPT, LOOPBACK, String(devicesPort), String(UNITS), String(REGISTERS), String(POLL_MS)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const unregister = onCleanup(() => {
    child.kill('SIGKILL');
  });
  if (child.pid === undefined) throw new Error(`could not start ${REFERENCE_SCRIPT}`);
  const pid = child.pid;
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = String(code ?? signal)));
  const lines: ReferenceLine[] = [];
  const recording = { on: false };
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      const parsed = JSON.parse(line) as ReferenceLine;
      if (recording.on) lines.push(parsed);
    } catch {
      // not a stats line
    }
  });
  const alive = (): void => {
    if (exited !== null) throw new Error(`the reference poller exited (${exited}): ${stderr.trim()}`);
  };
  try {
    await sleep(timing.warmupSeconds * 1000);
    alive();
    recording.on = true;
    const before = await cpuSnapshot(pid, devices.pid);
    await sleep(timing.windowSeconds * 1000);
    const after = await cpuSnapshot(pid, devices.pid);
    recording.on = false;
    alive();
    const peak = await peakRssBytes(pid);
    const samples = lines.map((l) => ({ t: l.t, readings: l.readings, events: 0 }));
    const readings = rate(samples, 'readings');
    const first = lines[0];
    const last = lines.at(-1);
    return {
      pointsPerSecond: readings.slope,
      pointsPerSecondEndToEnd: readings.endToEnd,
      cpu: cpuUse(before, after),
      peakRssBytes: peak,
      connected: last?.connected ?? 0,
      polls: first !== undefined && last !== undefined ? last.polls - first.polls : 0,
      errors: first !== undefined && last !== undefined ? last.errors - first.errors : 0,
      pymodbusVersion: version,
    };
  } finally {
    child.kill('SIGTERM');
    await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(3_000)]);
    child.kill('SIGKILL');
    unregister();
  }
}

// ---------------------------------------------------------------------------
// Reporting

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

const count = (value: number): string => (Number.isFinite(value) ? Math.round(value).toLocaleString('en') : '–');
const check = (ok: boolean): string => (ok ? '✓' : '✗');

const DEADBAND_TEXT: Record<DeadbandMode, string> = {
  zero: '0 (every change is an event: stored in history and published on the bus)',
  realistic: 'as for the built-in simulator (0.05 kV, 2 A, 20 kW/kvar, 0.02 Hz)',
  max: `${MAX_DEADBAND.toExponential()} (no events after the first values: polling and the point table alone; no latency probes)`,
};

function render(g: GridlinkRun, r: ReferenceRun | null, referenceError: string | null, timing: Timing, deadband: DeadbandMode): { text: string; checks: Record<string, boolean> } {
  const p99 = g.latency?.p99Ms ?? Number.NaN;
  const checks = {
    pointsPerSecond: g.pointsPerSecond >= TARGET_POINTS_PER_SECOND * SUSTAINED_SHARE,
    pointsPerSecondStrict: g.pointsPerSecond >= TARGET_POINTS_PER_SECOND,
    cpu: g.cpu.measuredPercent < TARGET_CPU_PERCENT,
    p99: g.latency !== null && p99 < TARGET_P99_MS && g.probesLost === 0,
  };
  const ratio = r === null ? Number.NaN : g.cpu.measuredPercent / r.cpu.measuredPercent;
  const lat = (s: LatencySummary | null): string => (s === null ? '–' : `${fixed(s.p50Ms, 0)} / ${fixed(s.p99Ms, 0)} / ${fixed(s.maxMs, 0)}`);
  const rows: string[][] = [
    [
      'points read /s',
      count(g.pointsPerSecond),
      r === null ? '–' : count(r.pointsPerSecond),
      `≥ ${count(TARGET_POINTS_PER_SECOND)} (≥ ${SUSTAINED_SHARE * 100} % of the offered load)`,
      check(checks.pointsPerSecond),
    ],
    ['CPU, % of one core', fixed(g.cpu.measuredPercent, 1), r === null ? '–' : fixed(r.cpu.measuredPercent, 1), `< ${TARGET_CPU_PERCENT} %`, check(checks.cpu)],
    ['CPU gridlink / reference', r === null ? '–' : `${fixed(ratio, 2)}×`, '–', '', ''],
    [
      'change → subscriber p50 / p99 / max, ms',
      lat(g.latency),
      '–',
      `p99 < ${TARGET_P99_MS} ms`,
      g.probesFired === 0 ? 'n/a' : check(checks.p99),
    ],
    ['  of which device change → poll reply', lat(g.acquisitionLatency), '–', '', ''],
    ['  of which poll reply → subscriber', lat(g.deliveryLatency), '–', '', ''],
    ['poll period p50 / p99 / max, ms (from watched events)', lat(g.pollInterval), '–', '', ''],
    ['latency probes (lost)', `${g.latency?.samples ?? 0} (${g.probesLost})`, '–', '', ''],
    ['events /s (history + bus)', count(g.eventsPerSecond), '–', '', ''],
    ['events /s to the watchers', count(g.watchedEventsPerSecond), '–', '', ''],
    ['bus messages /s (dropped)', `${count(g.busPublishedPerSecond)} (${count(g.busDropped)})`, '–', '', ''],
    ['peak RSS (RSS at window start → end), MB', `${fixed(toMB(g.peakRssBytes), 0)} (${fixed(toMB(g.rssStartBytes), 0)} → ${fixed(toMB(g.rssEndBytes), 0)})`, r === null ? '–' : fixed(toMB(r.peakRssBytes), 0), '', ''],
    ['devices online; failed polls', `${g.devicesOnline}; ${g.pollFailures}`, r === null ? '–' : `${r.connected}; ${r.errors}`, '', ''],
    ['devices process CPU %', fixed(g.cpu.devicesPercent, 1), r === null ? '–' : fixed(r.cpu.devicesPercent, 1), '', ''],
    ['other processes CPU % (noise)', fixed(g.cpu.otherPercent, 1), r === null ? '–' : fixed(r.cpu.otherPercent, 1), '', ''],
  ];
  const notes: string[] = [];
  if (!checks.pointsPerSecondStrict) notes.push(`points/s is ${count(g.pointsPerSecond)}, under the offered ${count(TARGET_POINTS_PER_SECOND)} by ${fixed(100 - (100 * g.pointsPerSecond) / TARGET_POINTS_PER_SECOND, 2)} % (polls are on a fixed grid; the shortfall is the measurement window's edges and polls that started late).`);
  if (g.deviceLossAlarms.length > 0) notes.push(`${g.pollFailures} polls failed; device-loss alarms: ${g.deviceLossAlarms.slice(0, 5).join('; ')}${g.deviceLossAlarms.length > 5 ? ` (and ${g.deviceLossAlarms.length - 5} more)` : ''}.`);
  if (g.probesLost > 0) notes.push(`${g.probesLost} probes never reached the subscriber within ${PROBE_TIMEOUT_MS} ms (counted as a p99 miss).`);
  if (g.cpu.otherPercent > OTHER_CPU_WARNING * 100) notes.push(`gridlink window disturbed: other processes used ${fixed(g.cpu.otherPercent, 0)} % of a core meanwhile.`);
  if (r !== null && r.cpu.otherPercent > OTHER_CPU_WARNING * 100) notes.push(`reference window disturbed: other processes used ${fixed(r.cpu.otherPercent, 0)} % of a core meanwhile.`);
  if (r !== null && r.pointsPerSecond < TARGET_POINTS_PER_SECOND * SUSTAINED_SHARE) notes.push(`the reference did not sustain the load: ${count(r.pointsPerSecond)} points/s.`);
  if (referenceError !== null) notes.push(`reference not measured: ${referenceError}`);
  notes.push(`a single watch of all ${count(UNITS * REGISTERS)} points: ${g.watchAllPoints}.`);
  const text = [
    `### SCADA acquisition: ${UNITS} Modbus TCP devices × ${REGISTERS} registers at ${POLL_MS / 1000} Hz${timing.windowSeconds === QUICK.windowSeconds ? ' (quick)' : ''}`,
    '',
    `Devices: gridlink's SubstationSimulator (noise on, ${FEEDERS} feeders × ${REGISTERS_PER_FEEDER} registers per unit id) in a separate process on one loopback port. ` +
      `gridlink: \`gridlink serve\` (dist) polling ${UNITS} devices (one connection each, one FC3 read of ${REGISTERS} registers per poll) into ${count(UNITS * REGISTERS)} telemetry points, ` +
      `deadband ${DEADBAND_TEXT[deadband]}, no limits, http off; ` +
      `${g.watchers === 1 ? '1 native client watches every point' : `${g.watchers} native clients each watch one current register of every device`}. ` +
      `Reference: pymodbus ${r?.pymodbusVersion ?? '3.0'} (asyncio client, one task per unit) **only polls and decodes**: no point table, events, history, alarms or subscribers. ` +
      `Window ${timing.windowSeconds} s after ${timing.warmupSeconds} s of warm-up, one after the other against the same devices process. ` +
      `CPU = process CPU time ÷ wall time (100 % = one core); points/s = least-squares slope of the server's \`readings\` counter (admin status, every ${STATUS_EVERY_MS} ms); ` +
      `latency = device register changed → matching point.event at the client (CLOCK_MONOTONIC), ${g.probesFired} changes at random times on random feeders; the split into poll reply / delivery uses the event's sourceTime (wall clock, ms).`,
    '',
    markdownTable(['measure', 'gridlink', 'pymodbus reference (polls only)', 'target', 'met'], rows),
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
  return { text, checks };
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, deadband: { type: 'string', default: 'zero' }, watch: { type: 'string', default: 'currents' }, 'cpu-prof': { type: 'string' } },
    strict: true,
  });
  const watch = WATCH_MODES.find((mode) => mode === values.watch);
  if (watch === undefined) throw new Error(`--watch must be one of ${WATCH_MODES.join(', ')}, not ${values.watch}`);
  const profileDir = values['cpu-prof'] === undefined ? null : resolve(values['cpu-prof']);
  const deadband = DEADBAND_MODES.find((mode) => mode === values.deadband);
  if (deadband === undefined) throw new Error(`--deadband must be one of ${DEADBAND_MODES.join(', ')}, not ${values.deadband}`);
  const base = values.quick ? QUICK : FULL;
  const timing = deadband === 'max' ? { ...base, probes: 0 } : base;
  const workDir = await makeTempDir('gridlink-bench-scada-');

  const devices = new DevicesProcess();
  try {
    const { port } = await devices.request({ type: 'start', host: LOOPBACK, units: UNITS, feeders: FEEDERS, updateMs: NOISE_UPDATE_MS }, 'ready', 30_000);
    log(`devices process ${devices.pid}: ${UNITS} unit ids on ${LOOPBACK}:${port}`);
    const gridlink = await runGridlink(devices, port, workDir, timing, deadband, watch, profileDir);
    if (profileDir !== null) log(`server CPU profile (.cpuprofile, whole lifetime) written to ${profileDir}`);
    log(
      `gridlink: ${count(gridlink.pointsPerSecond)} points/s, CPU ${fixed(gridlink.cpu.measuredPercent, 1)} %, ` +
        `latency p50 ${fixed(gridlink.latency?.p50Ms, 0)} ms p99 ${fixed(gridlink.latency?.p99Ms, 0)} ms (${gridlink.latency?.samples ?? 0} probes, ${gridlink.probesLost} lost), ` +
        `${count(gridlink.eventsPerSecond)} events/s, peak RSS ${fixed(toMB(gridlink.peakRssBytes), 0)} MB`,
    );
    let reference: ReferenceRun | null = null;
    let referenceError: string | null = null;
    try {
      reference = await runReference(devices, port, timing);
      log(`reference: ${count(reference.pointsPerSecond)} points/s, CPU ${fixed(reference.cpu.measuredPercent, 1)} %, ${reference.errors} failed polls`);
    } catch (err) {
      referenceError = err instanceof Error ? err.message : String(err);
      log(`reference failed: ${referenceError}`);
    }
    const { text, checks } = render(gridlink, reference, referenceError, timing, deadband);
    process.stdout.write(text);
    await writeJson(RESULTS_PATH, {
      ...runInfo('scada-poll', values.quick),
      settings: { units: UNITS, feeders: FEEDERS, registers: REGISTERS, pollMs: POLL_MS, noiseUpdateMs: NOISE_UPDATE_MS, deadband, watch, ...timing, statusEveryMs: STATUS_EVERY_MS, probeTimeoutMs: PROBE_TIMEOUT_MS },
      targets: { pointsPerSecond: TARGET_POINTS_PER_SECOND, sustainedShare: SUSTAINED_SHARE, cpuPercent: TARGET_CPU_PERCENT, p99Ms: TARGET_P99_MS },
      gridlink,
      reference,
      referenceError,
      cpuRatioGridlinkOverReference: reference === null ? null : gridlink.cpu.measuredPercent / reference.cpu.measuredPercent,
      checks,
    });
    log(`results written to ${RESULTS_PATH}`);
  } finally {
    await devices.close();
  }
}

await runBenchmark(main);
