/**
 * IEC 104 controlled-station benchmark (issue 12): gridlink's station
 * against lib60870-C's CS104_Slave (the reference implementation,
 * tests/helpers/lib60870.ts) as the anchor, in the same run, both served to
 * the same lib60870 master (tests/peers/iec104/iec104_master.c in
 * --count-only mode, which counts monitoring objects and times an
 * interrogation from the `gi` command to its ACTTERM):
 *
 *  (a) general interrogation of 20,000 points: the median time of repeated
 *      station interrogations (QOI 20), gridlink's station holding 200
 *      Modbus devices × 100 telemetry points (a quiet simulator: no event
 *      during the interrogations), lib60870's slave 20,000 short floats,
 *      once with its default SQ = 0 ASDUs (30 per ASDU) and once with
 *      --sequence (48 per ASDU, as gridlink sends consecutive addresses);
 *  (b) sustained spontaneous events per second delivered to the master:
 *      gridlink's changes come the whole way, from the Modbus devices (the
 *      simulator's noise redrawn every poll, deadband 0, so about half the
 *      registers change at each poll) through polling, the point table,
 *      history and the bus to the station; lib60870's are `burst N 0`
 *      (as fast as its event queue takes them, packed per tick). Measured
 *      at the master over a window after a warm-up. Besides, the same for
 *      gridlink's station alone: a gridlink server in this process, the
 *      same 20,000 points, with synthetic events published on its bus as
 *      fast as the station's queue takes them (no polling, no history):
 *      what lib60870's burst measures of lib60870, the station's own path.
 *
 * In (a) and in (b) of the station alone the stations take turns, round
 * after round (all of them running, one measured at a time), so that the
 * machine's load, which moves within a minute here, falls on both.
 *
 * Targets: (a) and (b) ≥ 1.0× lib60870's slave (ratio = gridlink's rate /
 * lib60870's, or lib60870's time / gridlink's). Prints a markdown table
 * and writes bench/results/iec104-station.json.
 *
 *   npx tsx bench/iec104-station.ts [--quick] [--poll-ms 250] [--cpu-prof DIR]
 *
 * --quick: fewer interrogations and a 10 s window (a smoke test); full: 40
 *   interrogations after 30 to warm up, 30 s. --poll-ms: the devices' poll and noise period
 *   for (b) (the offered load is about 10,000 events per second per 1,000 ms
 *   of it... i.e. 20,000 × ½ per period). --cpu-prof DIR: run gridlink
 *   under `node --cpu-prof` (it costs the server CPU, so its numbers are not
 *   the benchmark's).
 *
 * Processes: the Modbus devices (gridlink's own SubstationSimulator, 200
 * unit ids on one port, bench/lib/scada-devices.ts) are forked, the server
 * is the built `gridlink serve`, lib60870's slave and master are their own
 * processes; CPU is read from /proc for each. Needs the build (dist/;
 * bash bench/run.sh builds first) and gcc for lib60870 (built once, cached).
 */
import { writeFile } from 'node:fs/promises';
import { cpus as cpuList, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { AdminClient } from '../dist/admin/admin-client.js';
import { parseConfig } from '../dist/config/load.js';
import { createLogger } from '../dist/log/logger.js';
import type { PointEvent } from '../dist/protocol/scada.js';
import { GridlinkServer as InProcessServer } from '../dist/server/gridlink-server.js';
import { ensureLib60870, startMaster, startSlave, type Lib60870Master, type Lib60870Slave, type MasterEvent } from '../tests/helpers/lib60870.js';
import { makeTempDir, onCleanup, runBenchmark } from './lib/cleanup.js';
import { LOOPBACK, REPO_ROOT, startGridlink, type GridlinkServer } from './lib/peers.js';
import { cpuSeconds, freePort, peakRssBytes, ServerProcess } from './lib/processes.js';
import { fixed, markdownTable, median, percentile, runInfo, toMB, writeJson } from './lib/report.js';
import { REGISTERS_PER_FEEDER, registerPoint } from './lib/scada-protocol.js';
import { DevicesProcess } from './lib/devices-process.js';
import { connectAdmin } from './lib/admin-status.js';

// ---------------------------------------------------------------------------
// Settings

const UNITS = 200;
const FEEDERS = 10;
const REGISTERS = FEEDERS * REGISTERS_PER_FEEDER;
const POINTS = UNITS * REGISTERS;
/** (a): the devices redraw no noise while the interrogations run, and are polled once a second. */
const QUIET_UPDATE_MS = 3_600_000;
const GI_POLL_MS = 1_000;
const TARGET_RATIO = 1.0;

interface Timing {
  /** (a): interrogations each station answers before the measured ones. */
  readonly warmupInterrogations: number;
  /** (a) and (b) of the station alone: rounds in which the stations take turns. */
  readonly rounds: number;
  readonly interrogationsPerRound: number;
  /** (b): seconds of sending before the first window (and the all-the-way one), and before each later round's. */
  readonly warmupSeconds: number;
  readonly roundWarmupSeconds: number;
  /** (b): a round's window, and the all-the-way window. */
  readonly roundSeconds: number;
  readonly windowSeconds: number;
}
/**
 * Warm-up interrogations: gridlink's interrogation path runs 8-27 ms for
 * its first 20 or so (V8 compiling it), 3-6 ms afterwards; a station that
 * has served for a while has long passed them. lib60870 gets the same.
 * The stations take turns, round after round, because on these shared
 * two-core machines the load moves within a minute: one station measured
 * after the other has seen the same code move by a third.
 */
const FULL: Timing = { warmupInterrogations: 30, rounds: 4, interrogationsPerRound: 10, warmupSeconds: 5, roundWarmupSeconds: 2, roundSeconds: 8, windowSeconds: 30 };
const QUICK: Timing = { warmupInterrogations: 25, rounds: 3, interrogationsPerRound: 5, warmupSeconds: 3, roundWarmupSeconds: 1, roundSeconds: 3, windowSeconds: 10 };

const RESULTS_PATH = join(REPO_ROOT, 'bench', 'results', 'iec104-station.json');
const ONLINE_LIMIT_MS = 60_000;
/** lib60870's burst: more changes than any window takes; stopped after the window. */
const BURST_CHANGES = 100_000_000;
/**
 * Synthetic events: published in batches of this many while the station's
 * queues hold fewer ASDUs than the next constant. The publisher shares the
 * station's thread, so while it publishes a batch the master's
 * acknowledgements wait (lib60870's burst fills its queue from a thread of
 * its own beside the sending one); 400 (25 ASDUs, two windows of k = 12)
 * keeps a window ready without holding the loop for long. With 1,600 the
 * station alone delivered 0.61x lib60870's rate, with 400 0.61-0.84x.
 */
const SYNTHETIC_BATCH = 400;
const SYNTHETIC_MAX_QUEUED = 1_000;
/** ASDUs a batch becomes: consecutive floats, 16 time-tagged ones (M_ME_TF_1) per ASDU, plus one for a batch's cut. */
const SYNTHETIC_ASDUS = Math.ceil(SYNTHETIC_BATCH / 16) + 1;

async function startDevices(updateMs: number): Promise<{ devices: DevicesProcess; port: number }> {
  const devices = new DevicesProcess();
  const ready = await devices.request({ type: 'start', host: LOOPBACK, units: UNITS, feeders: FEEDERS, updateMs }, 'ready', 30_000);
  return { devices, port: ready.port };
}

/** `scada.devices`: unit ids 1..UNITS, 100 telemetry points each, deadband 0: IOAs 1..20,000 in table order. */
function deviceConfigs(port: number, pollMs: number): unknown[] {
  return Array.from({ length: UNITS }, (_, i) => ({
    name: `dev${String(i + 1).padStart(3, '0')}`,
    host: LOOPBACK,
    port,
    unitId: i + 1,
    pollMs,
    timeoutMs: Math.min(2_000, Math.round(pollMs * 0.9)),
    points: Array.from({ length: REGISTERS }, (_, register) => ({ name: registerPoint(i + 1, register), class: 'telemetry', address: register, deadband: 0 })),
  }));
}

// ---------------------------------------------------------------------------
// gridlink

interface Gridlink {
  readonly server: GridlinkServer;
  readonly admin: AdminClient;
  readonly iec104Port: number;
}

/** The built `gridlink serve` (under --cpu-prof when asked) with the 200 devices and the station on. */
async function startServer(dir: string, devicesPort: number, pollMs: number, profileDir: string | null): Promise<Gridlink> {
  const iec104Port = await freePort();
  const config = {
    http: { enabled: false },
    iec104: { enabled: true, host: LOOPBACK, port: iec104Port },
    scada: { simulator: { enabled: false }, devices: deviceConfigs(devicesPort, pollMs) },
  };
  let server: GridlinkServer;
  if (profileDir === null) {
    server = await startGridlink({ dir, anonymous: false, config });
  } else {
    const port = await freePort();
    const dataDir = join(dir, 'data');
    const configPath = join(dir, 'gridlink.json');
    await writeFile(configPath, JSON.stringify({ dataDir, native: { host: LOOPBACK, port }, log: { level: 'warn' }, ...config }));
    const args = ['--cpu-prof', '--cpu-prof-dir', profileDir, join(REPO_ROOT, 'bin', 'gridlink.js'), 'serve', '--config', configPath];
    const process_ = new ServerProcess('gridlink', process.execPath, args, { cwd: REPO_ROOT });
    await process_.waitForPort(LOOPBACK, port);
    server = { process: process_, port, dataDir, anonymousDir: join(dataDir, 'public') };
  }
  const admin = await connectAdmin(server.dataDir);
  const by = Date.now() + ONLINE_LIMIT_MS;
  for (;;) {
    const status = await admin.status();
    const scada = status['scada'] as { devicesOnline: number; readings: number } | null;
    if (scada !== null && scada.devicesOnline === UNITS && scada.readings >= POINTS) break;
    if (Date.now() > by) throw new Error(`only ${scada?.devicesOnline ?? 0} of ${UNITS} devices online after ${ONLINE_LIMIT_MS} ms`);
    await sleep(200);
  }
  return { server, admin, iec104Port };
}

async function stopServer(g: Gridlink | null): Promise<void> {
  await g?.admin.close().catch(() => undefined);
  await g?.server.process.stop();
}

// ---------------------------------------------------------------------------
// Measuring

interface GiResult {
  readonly runs: number;
  readonly medianMs: number;
  readonly p90Ms: number;
  readonly minMs: number;
  readonly objects: number;
}

/** One station interrogation by a count-only master: gi_done's ms (from the `gi` command to ACTTERM). */
async function interrogate(master: Lib60870Master): Promise<number> {
  const gi = await master.interrogate(120_000);
  if (gi.done.objects !== POINTS) throw new Error(`an interrogation returned ${gi.done.objects} objects, not ${POINTS}`);
  return gi.done.ms;
}

/**
 * (a) for several stations in turn: each warmed up, then `rounds` rounds in
 * which every station answers `interrogationsPerRound` interrogations, the
 * order rotating from round to round, so that a change in the machine's load
 * falls on all of them.
 */
async function interleavedInterrogations(masters: readonly Lib60870Master[], timing: Timing): Promise<GiResult[]> {
  for (const master of masters) for (let i = 0; i < timing.warmupInterrogations; i++) await interrogate(master);
  const times = masters.map((): number[] => []);
  for (let round = 0; round < timing.rounds; round++) {
    for (let j = 0; j < masters.length; j++) {
      const index = (round + j) % masters.length;
      for (let i = 0; i < timing.interrogationsPerRound; i++) times[index]!.push(await interrogate(masters[index]!));
    }
  }
  return times.map((t) => {
    const sorted = Float64Array.from(t).sort();
    return { runs: t.length, medianMs: median(t), p90Ms: percentile(sorted, 90), minMs: sorted[0]!, objects: POINTS };
  });
}

interface RateResult {
  /** Information objects the master received per second in the window. */
  readonly eventsPerSecond: number;
  readonly windowSeconds: number;
  /** CPU of the station's process over the window, % of one core (gridlink's server, or lib60870's slave). */
  readonly stationCpuPercent: number;
  readonly masterCpuPercent: number;
}

type RateEvent = Extract<MasterEvent, { event: 'rate' }>;

/** Objects the master counted from now for `seconds` (its `rate` lines, ~1 s apart), with the CPU of both processes. */
async function measureRate(master: Lib60870Master, stationPid: number, seconds: number): Promise<RateResult> {
  const from = master.events.length;
  const cpu = async (): Promise<[number, number, number]> => [performance.now(), await cpuSeconds(stationPid), await cpuSeconds(master.child.pid!)];
  const before = await cpu();
  await sleep(seconds * 1000);
  const after = await cpu();
  const lines = master.events.slice(from).filter((e): e is RateEvent => e.event === 'rate');
  const objects = lines.reduce((sum, e) => sum + e.objects, 0);
  const ms = lines.reduce((sum, e) => sum + e.intervalMs, 0);
  const wall = (after[0] - before[0]) / 1000;
  return { eventsPerSecond: ms > 0 ? (objects * 1000) / ms : 0, windowSeconds: ms / 1000, stationCpuPercent: (100 * (after[1] - before[1])) / wall, masterCpuPercent: (100 * (after[2] - before[2])) / wall };
}

/** A station sending spontaneous events as fast as its master takes them, between start() and stop(). */
interface Bursting {
  readonly master: Lib60870Master;
  readonly pid: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The rounds' results of one station summed: events over the windows' time, CPU weighted by it. */
function sumRates(rounds: readonly RateResult[]): RateResult {
  const seconds = rounds.reduce((sum, r) => sum + r.windowSeconds, 0);
  const weighted = (f: (r: RateResult) => number): number => rounds.reduce((sum, r) => sum + f(r) * r.windowSeconds, 0) / seconds;
  return { eventsPerSecond: weighted((r) => r.eventsPerSecond), windowSeconds: seconds, stationCpuPercent: weighted((r) => r.stationCpuPercent), masterCpuPercent: weighted((r) => r.masterCpuPercent) };
}

/**
 * (b) for two stations in turn: `rounds` rounds in which each, the order
 * rotating, sends for a warm-up and a window while the other is quiet.
 * Returns each one's sum and the ratio (second / first) of every round.
 */
async function interleavedRates(stations: readonly [Bursting, Bursting], timing: Timing): Promise<{ sums: [RateResult, RateResult]; roundRatios: number[] }> {
  const rounds: [RateResult[], RateResult[]] = [[], []];
  const roundRatios: number[] = [];
  for (let round = 0; round < timing.rounds; round++) {
    const got: (RateResult | null)[] = [null, null];
    for (const index of round % 2 === 0 ? [0, 1] : [1, 0]) {
      const station = stations[index]!;
      await station.start();
      try {
        await sleep((round === 0 ? timing.warmupSeconds : timing.roundWarmupSeconds) * 1000);
        got[index] = await measureRate(station.master, station.pid, timing.roundSeconds);
      } finally {
        await station.stop();
      }
    }
    rounds[0].push(got[0]!);
    rounds[1].push(got[1]!);
    roundRatios.push(got[1]!.eventsPerSecond / got[0]!.eventsPerSecond);
  }
  return { sums: [sumRates(rounds[0]), sumRates(rounds[1])], roundRatios };
}

// ---------------------------------------------------------------------------
// The runs

interface InterrogationResults {
  readonly gridlink: GiResult;
  readonly sq0: GiResult;
  readonly sq1: GiResult;
}

/**
 * (a): gridlink's station on quiet devices, and lib60870's slave holding
 * 20,000 floats twice (SQ = 0 and SQ = 1), each with its own master, all
 * running at once and interrogated in turn.
 */
async function runInterrogations(devicesPort: number, timing: Timing, profileDir: string | null): Promise<InterrogationResults> {
  log(`gridlink serve: ${UNITS} devices × ${REGISTERS} points, quiet; lib60870 slaves: ${POINTS.toLocaleString('en')} floats with SQ = 0 and with SQ = 1 (--sequence); interrogations in turn`);
  const g = await startServer(await makeTempDir('gridlink-bench-104a-'), devicesPort, GI_POLL_MS, profileDir === null ? null : join(profileDir, 'gi'));
  const slaves: Lib60870Slave[] = [];
  const masters: Lib60870Master[] = [];
  try {
    for (const sequence of [false, true]) slaves.push(await startSlave({ singles: 0, doubles: 0, floats: POINTS, sequence }));
    for (const port of [g.iec104Port, ...slaves.map((s) => s.port)]) masters.push(await startMaster({ port, startdt: true, countOnly: true }));
    const [gridlink, sq0, sq1] = await interleavedInterrogations(masters, timing);
    return { gridlink: gridlink!, sq0: sq0!, sq1: sq1! };
  } finally {
    for (const master of masters) await master.stop();
    for (const slave of slaves) await slave.stop();
    await stopServer(g);
  }
}

interface StationAloneResults {
  readonly lib60870: RateResult;
  readonly gridlink: RateResult & { readonly droppedEvents: number };
  /** gridlink / lib60870, round by round. */
  readonly roundRatios: readonly number[];
}

/** (b), the station alone: lib60870's `burst N 0` and gridlink's station fed synthetic events, in turn. */
async function runStationAlone(devicesPort: number, timing: Timing): Promise<StationAloneResults> {
  log(
    `station alone, ${timing.rounds} rounds in turn: lib60870 slave (burst ${BURST_CHANGES.toLocaleString('en')} 0) and gridlink's station with synthetic events on the bus of a server in this process; ` +
      `warming up ${timing.warmupSeconds} s (then ${timing.roundWarmupSeconds} s), measuring ${timing.roundSeconds} s a round`,
  );
  const slave = await startSlave({ singles: 0, doubles: 0, floats: POINTS });
  let libMaster: Lib60870Master | null = null;
  let synthetic: Synthetic | null = null;
  try {
    libMaster = await startMaster({ port: slave.port, startdt: true, countOnly: true, rateIntervalMs: 1_000 });
    const lib: Bursting = {
      master: libMaster,
      pid: slave.child.pid!,
      start: async () => void (await slave.request(`burst ${BURST_CHANGES} 0`)),
      stop: async () => void (await slave.request('burst stop')),
    };
    synthetic = await startSynthetic(devicesPort);
    const { sums, roundRatios } = await interleavedRates([lib, synthetic], timing);
    return { lib60870: sums[0], gridlink: { ...sums[1], droppedEvents: synthetic.droppedEvents() }, roundRatios };
  } finally {
    await libMaster?.stop();
    await slave.stop();
    await synthetic?.close();
  }
}

interface AllTheWayResults extends RateResult {
  /** Events the data plane made per second in the window (admin status), and what the station dropped. */
  readonly producedPerSecond: number;
  readonly droppedEvents: number;
  readonly busDropped: number;
  readonly devicesOnline: number;
  readonly peakRssBytes: number;
  readonly pollMs: number;
}

/** (b) all the way: noisy devices, redrawn every poll; the changes travel from Modbus through the point table, history and bus to the station. */
async function runAllTheWay(timing: Timing, pollMs: number, workDir: string, profileDir: string | null): Promise<AllTheWayResults> {
  const { devices, port } = await startDevices(pollMs);
  let g: Gridlink | null = null;
  try {
    log(`gridlink serve: ${UNITS} devices × ${REGISTERS} points polled every ${pollMs} ms, noise redrawn as often; warming up ${timing.warmupSeconds} s, measuring ${timing.windowSeconds} s`);
    g = await startServer(workDir, port, pollMs, profileDir === null ? null : join(profileDir, 'spontaneous'));
    const master = await startMaster({ port: g.iec104Port, startdt: true, countOnly: true, rateIntervalMs: 1_000 });
    try {
      await sleep(timing.warmupSeconds * 1000);
      const before = await g.admin.status();
      const t0 = performance.now();
      const rate = await measureRate(master, g.server.process.pid, timing.windowSeconds);
      const after = await g.admin.status();
      const seconds = (performance.now() - t0) / 1000;
      const scadaOf = (s: Record<string, unknown>) => s['scada'] as { events: number; devicesOnline: number };
      const busOf = (s: Record<string, unknown>) => s['bus'] as { dropped: number };
      const iecOf = (s: Record<string, unknown>) => s['iec104'] as { droppedEvents: number };
      return {
        ...rate,
        producedPerSecond: (scadaOf(after).events - scadaOf(before).events) / seconds,
        droppedEvents: iecOf(after).droppedEvents,
        busDropped: busOf(after).dropped - busOf(before).dropped,
        devicesOnline: scadaOf(after).devicesOnline,
        peakRssBytes: await peakRssBytes(g.server.process.pid),
        pollMs,
      };
    } finally {
      await master.stop();
    }
  } finally {
    await stopServer(g);
    await devices.close();
  }
}

/** gridlink's station alone, as a {@link Bursting} station. */
interface Synthetic extends Bursting {
  droppedEvents(): number;
  close(): Promise<void>;
}

/**
 * The station alone: a gridlink server in this process (from dist/) with
 * the same points, and PointEvents published straight on its bus, in
 * batches, whenever the station's queues are short (as lib60870's burst
 * waits for its event queue): no polling, no point table, no history.
 */
async function startSynthetic(devicesPort: number): Promise<Synthetic> {
  const dir = await makeTempDir('gridlink-bench-104s-');
  const config = parseConfig({
    dataDir: join(dir, 'data'),
    log: { level: 'warn' },
    native: { host: LOOPBACK, port: 0 },
    http: { enabled: false },
    files: { durable: false },
    iec104: { enabled: true, host: LOOPBACK, port: 0 },
    scada: { simulator: { enabled: false }, devices: deviceConfigs(devicesPort, 60_000) },
  });
  const server = await InProcessServer.start(config, createLogger('warn'));
  const unregister = onCleanup(() => server.stop(0));
  const names = server.scada!.points().map((p) => p.name);
  // Each point's channel made once, as the SCADA service does (a bus Channel per point's events).
  const channels = names.map((name) => server.bus.channel(`events.${name}`));
  let master: Lib60870Master;
  try {
    master = await startMaster({ port: server.iec104Address!.port, startdt: true, countOnly: true, rateIntervalMs: 1_000 });
  } catch (err) {
    await server.stop(0);
    unregister();
    throw err;
  }
  let running = false;
  let cursor = 0;
  let value = 0;
  // The station's queue, read at most once a millisecond: status() also takes the event loop's percentiles,
  // and the loop turns far more often than that while the station waits on its window.
  let queued = 0;
  let checkedAt = 0;
  const pump = (): void => {
    if (!running) return;
    const at = performance.now();
    if (at - checkedAt >= 1) {
      queued = server.status().iec104?.queued ?? 0;
      checkedAt = at;
    }
    if (queued < SYNTHETIC_MAX_QUEUED) {
      queued += SYNTHETIC_ASDUS; // until the next look, counted here
      const now = Date.now();
      value += 1;
      for (let i = 0; i < SYNTHETIC_BATCH; i++) {
        const point = names[cursor]!;
        const channel = channels[cursor]!;
        cursor = (cursor + 1) % names.length;
        const event: PointEvent = { seq: 0, point, value: value + i, quality: 'good', sourceTime: now, serverTime: now, kind: 'change' };
        channel.publish(event);
      }
    }
    setImmediate(pump);
  };
  return {
    master,
    pid: process.pid,
    start: () => {
      running = true;
      pump();
      return Promise.resolve();
    },
    stop: () => {
      running = false;
      return Promise.resolve();
    },
    droppedEvents: () => server.status().iec104?.droppedEvents ?? 0,
    close: async () => {
      running = false;
      await master.stop();
      await server.stop(0);
      unregister();
    },
  };
}

// ---------------------------------------------------------------------------
// Report

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

const count = (value: number): string => (Number.isFinite(value) ? Math.round(value).toLocaleString('en') : '–');
const ratio = (value: number): string => `${fixed(value, 3)}×`;

interface Results {
  readonly gi: InterrogationResults;
  readonly alone: StationAloneResults;
  readonly allTheWay: AllTheWayResults;
}

function report(r: Results, timing: Timing, load: readonly [number, number]): string {
  const { gi, alone, allTheWay } = r;
  const anchorGi = Math.min(gi.sq0.medianMs, gi.sq1.medianMs);
  const giRatio = anchorGi / gi.gridlink.medianMs;
  const rateRatio = allTheWay.eventsPerSecond / alone.lib60870.eventsPerSecond;
  const aloneRatio = alone.gridlink.eventsPerSecond / alone.lib60870.eventsPerSecond;
  const mark = (x: number): string => (x >= TARGET_RATIO ? 'met' : 'NOT met');
  const giRow = (label: string, x: GiResult): string[] => [label, fixed(x.medianMs, 1), fixed(x.p90Ms, 1), fixed(x.minMs, 1), count(x.objects)];
  const rateRow = (label: string, x: RateResult): string[] => [label, count(x.eventsPerSecond), fixed(x.stationCpuPercent, 0), fixed(x.masterCpuPercent, 0)];
  const lines = [
    `### IEC 104 controlled station: gridlink vs lib60870-C${timing.windowSeconds === QUICK.windowSeconds ? ' (quick)' : ''}`,
    '',
    `(a) General interrogation of ${POINTS.toLocaleString('en')} points to lib60870's master (count-only), ${gi.gridlink.runs} runs each after ${timing.warmupInterrogations} warm-up, ` +
      `in ${timing.rounds} rounds of ${timing.interrogationsPerRound} taken in turn; ms from the \`gi\` command to ACTTERM.`,
    '',
    markdownTable(
      ['station', 'median ms', 'p90 ms', 'min ms', 'objects'],
      [
        giRow('gridlink (SQ = 1 for consecutive addresses)', gi.gridlink),
        giRow('lib60870 slave, SQ = 0 (30 floats / ASDU)', gi.sq0),
        giRow('lib60870 slave, SQ = 1 (48 floats / ASDU)', gi.sq1),
      ],
    ),
    '',
    `Ratio (the faster lib60870 median / gridlink's): **${ratio(giRatio)}** — target ≥ ${TARGET_RATIO}×: ${mark(giRatio)}.`,
    '',
    `(b) Sustained spontaneous events per second received by the master. The stations alone: ${timing.rounds} rounds taken in turn, ${timing.roundSeconds} s windows; all the way: ${fixed(allTheWay.windowSeconds, 0)} s after ${timing.warmupSeconds} s.`,
    '',
    markdownTable(
      ['station', 'events/s at the master', 'station CPU %', 'master CPU %'],
      [
        rateRow(`gridlink (Modbus devices polled every ${allTheWay.pollMs} ms, all the way)`, allTheWay),
        rateRow('gridlink station alone (synthetic events on the bus; CPU: server and publisher)', alone.gridlink),
        rateRow('lib60870 slave (burst N 0)', alone.lib60870),
      ],
    ),
    '',
    `Ratio (gridlink / lib60870): **${ratio(aloneRatio)}** for the station alone (round by round: ${alone.roundRatios.map(ratio).join(', ')}), ` +
      `${ratio(rateRatio)} all the way from the devices — target ≥ ${TARGET_RATIO}× for the station: ${mark(aloneRatio)}.`,
    `gridlink's data plane made ${count(allTheWay.producedPerSecond)} events/s in the all-the-way window (the master got ${fixed((100 * allTheWay.eventsPerSecond) / allTheWay.producedPerSecond, 1)} % of them: ` +
      'that row is the offered load, not a ceiling); ' +
      `station queue drops ${count(allTheWay.droppedEvents)} (station alone: ${count(alone.gridlink.droppedEvents)}), bus drops ${count(allTheWay.busDropped)}, devices online ${allTheWay.devicesOnline}/${UNITS}, server peak RSS ${fixed(toMB(allTheWay.peakRssBytes), 0)} MB.`,
    '',
    `Machine load (1-minute load average) at the start and the end of the run: ${fixed(load[0], 1)}, ${fixed(load[1], 1)} on ${cpuList().length} CPUs. ` +
      "Every process here competes for them; a station's delivery is bounded by k = 12 ASDUs per acknowledgement round trip, and gridlink's round trip includes a turn of its event loop.",
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, 'poll-ms': { type: 'string', default: '250' }, 'cpu-prof': { type: 'string' } } });
  const timing = values.quick ? QUICK : FULL;
  const pollMs = Number(values['poll-ms']);
  if (!Number.isInteger(pollMs) || pollMs < 50) throw new Error('--poll-ms must be an integer ≥ 50');
  await ensureLib60870();
  const workDir = await makeTempDir('gridlink-bench-104-');
  const loadBefore = loadavg()[0]!;
  const profileDir = values['cpu-prof'] ?? null;
  let gi: InterrogationResults;
  let alone: StationAloneResults;
  {
    // Quiet devices: they only give the stations their 20,000 points.
    const { devices, port } = await startDevices(QUIET_UPDATE_MS);
    try {
      gi = await runInterrogations(port, timing, profileDir);
      alone = await runStationAlone(port, timing);
    } finally {
      await devices.close();
    }
  }
  const allTheWay = await runAllTheWay(timing, pollMs, workDir, profileDir);
  const load: [number, number] = [loadBefore, loadavg()[0]!];
  const results: Results = { gi, alone, allTheWay };
  process.stdout.write(`${report(results, timing, load)}\n`);
  await writeJson(RESULTS_PATH, { ...runInfo('iec104-station', values.quick), settings: { units: UNITS, registers: REGISTERS, points: POINTS, pollMs, ...timing }, loadAverage: load, ...results });
}

await runBenchmark(main);
