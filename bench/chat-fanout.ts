/**
 * Chat fan-out benchmark: one publisher, N subscribers (100 and 1,000), 100-byte
 * messages, gridlink's chat room side by side with mosquitto (MQTT, QoS 0,
 * topic `bench`) under the same load: M messages at a fixed offered rate, and
 * M' messages as fast as the publisher can send them. Reports delivered
 * messages per second, send → receive latency (p50, p99, max), lost
 * deliveries, disconnected subscribers and the server's peak RSS. Prints a
 * markdown table and writes bench/results/chat-fanout.json.
 *
 *   npx tsx bench/chat-fanout.ts [--quick]
 *
 * --quick: 100 subscribers only, fewer messages (a smoke test).
 * Needs mosquitto (Debian package) and the bench-only npm dependencies
 * (`npm ci --prefix bench`); bash bench/run.sh installs both.
 *
 * Process layout, the same for both peers: the server is a child process; the
 * publisher (one connection) runs in this process; the subscribers run in
 * SUBSCRIBER_PROCESSES forked Node processes (bench/lib/fanout-subscribers.ts),
 * each holding an equal share of the connections, so neither the publisher's
 * event loop nor the subscribers' is shared with the other. Each message
 * carries its sequence number and its send time (process.hrtime, i.e.
 * CLOCK_MONOTONIC, one clock for all processes of the machine); subscriber
 * processes time every delivery and report the latencies back over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { GridlinkClient } from '../dist/client/index.js';
import { makeTempDir, onCleanup, runBenchmark } from './lib/cleanup.js';
import { encodePayload, FANOUT_ROOM, isTagged, PAYLOAD_BYTES, PUBLISHER_NICK, type FanoutPeer, type FromSubscribers, type SubscriberReport, type ToSubscribers } from './lib/fanout-protocol.js';
import { LOOPBACK, REPO_ROOT, startGridlink, startMosquitto, type RunningServer } from './lib/peers.js';
import { connectMqtt } from './lib/mqtt-client.js';
import { cpuSeconds, machineBusySeconds, peakRssBytes } from './lib/processes.js';
import { fixed, markdownTable, percentile, toMB, writeJson, runInfo } from './lib/report.js';

interface Scenario {
  readonly subscribers: number;
  /** Messages the publisher sends. */
  readonly messages: number;
  /** Offered rate in messages per second; null: as fast as the publisher can. */
  readonly rate: number | null;
}

/**
 * The fixed rate offers the same 20,000 deliveries per second at both N, a
 * load this 2-core machine sustains for both peers, so those rows show
 * latency without a backlog. (1,000 msg/s to 100 subscribers, 100,000
 * deliveries/s, saturates both here: publisher, server and two subscriber
 * processes share 2 cores, and that row would only repeat the max-rate one.)
 * Message counts are chosen for a few seconds per run.
 */
const FULL: readonly Scenario[] = [
  { subscribers: 100, messages: 600, rate: 200 },
  { subscribers: 100, messages: 2_000, rate: null },
  { subscribers: 1_000, messages: 80, rate: 20 },
  { subscribers: 1_000, messages: 300, rate: null },
];
const QUICK: readonly Scenario[] = [
  { subscribers: 100, messages: 300, rate: 200 },
  { subscribers: 100, messages: 500, rate: null },
];

const PEERS: readonly FanoutPeer[] = ['gridlink', 'mosquitto'];
const PEER_LABELS: Record<FanoutPeer, string> = {
  gridlink: 'gridlink (chat room)',
  mosquitto: 'mosquitto (MQTT QoS 0)',
};

/** Messages handed to the client library per event-loop turn in the max-rate runs. */
const MAX_RATE_BATCH = 100;
/** Forked processes holding the subscribers (one per core here). */
const SUBSCRIBER_PROCESSES = 2;
const SUBSCRIBER_SCRIPT = join(REPO_ROOT, 'bench', 'lib', 'fanout-subscribers.ts');
/** Far above any run's message count: mosquitto must not drop QoS 0 messages for lack of queue. */
const MOSQUITTO_MAX_QUEUED = 1_000_000;
/** After the last send, a run ends when every delivery arrived or none arrived for this long. */
const QUIET_MS = 2_000;
const RUN_LIMIT_MS = 60_000;
const SETTLE_LIMIT_MS = 30_000;
/**
 * At a fixed offered rate both peers deliver about N × rate per second; what
 * differs is only the last message's latency. A gridlink/mosquitto ratio of
 * at least 1 − this counts as keeping up there (max-rate rows get none); a
 * peer that falls behind a fixed load drops far lower.
 */
const FIXED_RATE_TOLERANCE = 0.05;
/** Flag a run during which processes other than ours used more than this share of a core. */
const OTHER_CPU_WARNING = 0.1;
const READY_LIMIT_MS = 120_000;

const RESULTS_PATH = join(REPO_ROOT, 'bench', 'results', 'chat-fanout.json');

// ---------------------------------------------------------------------------
// Subscriber processes

type Reply<T extends FromSubscribers['type']> = Extract<FromSubscribers, { type: T }>;

/** A forked bench/lib/fanout-subscribers.ts, spoken to over IPC. */
class SubscriberProcess {
  readonly #child: ChildProcess;
  readonly pid: number;
  readonly #unregister: () => void;
  readonly #inbox: FromSubscribers[] = [];
  #waiter: (() => void) | null = null;
  #failure: Error | null = null;
  /** Deliveries so far, from its latest progress message. */
  received = 0;

  constructor(name: string) {
    // stdout is not read; stderr shows a crash; IPC carries typed arrays ('advanced').
    this.#child = fork(SUBSCRIBER_SCRIPT, [], { cwd: REPO_ROOT, serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    if (this.#child.pid === undefined) throw new Error(`${name}: could not start ${SUBSCRIBER_SCRIPT}`);
    this.pid = this.#child.pid;
    this.#unregister = onCleanup(() => {
      this.#child.kill('SIGKILL');
    });
    this.#child.on('message', (message: unknown) => {
      if (!isTagged(message)) return this.#fail(new Error(`${name}: unexpected IPC message`));
      const reply = message as FromSubscribers;
      if (reply.type === 'progress') {
        this.received = reply.received;
      } else if (reply.type === 'failed') {
        this.#fail(new Error(`${name}: ${reply.message}`));
      } else {
        this.#inbox.push(reply);
        this.#wake();
      }
    });
    this.#child.once('error', (err) => this.#fail(new Error(`${name}: ${err.message}`)));
    this.#child.once('exit', (code, signal) => this.#fail(new Error(`${name} exited (${String(code ?? signal)})`)));
  }

  command(command: ToSubscribers): void {
    if (this.#failure !== null) throw this.#failure;
    this.#child.send(command);
  }

  /** The next reply of `type` (others before it are skipped), or the process's failure. */
  async expect<T extends FromSubscribers['type']>(type: T, timeoutMs: number): Promise<Reply<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.#inbox.findIndex((reply) => reply.type === type);
      if (index >= 0) return this.#inbox.splice(index, 1)[0] as Reply<T>;
      if (this.#failure !== null) throw this.#failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} from a subscriber process within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Asks it to close its connections and waits for it to exit. */
  async close(): Promise<void> {
    if (this.#failure === null) {
      this.command({ type: 'close' });
      await this.expect('closed', 10_000).catch(() => undefined);
    }
    this.#child.kill('SIGKILL');
    this.#unregister();
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }
}

// ---------------------------------------------------------------------------
// Servers and publishers

interface Publisher {
  /** Hands one message to the client library; never waits for the server. */
  publish(text: string): void;
  /** Waits until every message was acknowledged (gridlink) or written (MQTT); returns how many failed. */
  settle(): Promise<number>;
  close(): Promise<void>;
}

async function startServer(peer: FanoutPeer, dir: string): Promise<RunningServer> {
  if (peer === 'gridlink') {
    // As the brief's config: dataDir, the port, anonymous chat, quiet logs (no anonymous file area).
    return startGridlink({ dir, anonymous: false, config: { chat: { allowAnonymous: true } } });
  }
  return startMosquitto(dir, { maxQueuedMessages: MOSQUITTO_MAX_QUEUED });
}

async function connectPublisher(peer: FanoutPeer, port: number): Promise<Publisher> {
  let failed = 0;
  if (peer === 'gridlink') {
    const client = await GridlinkClient.connect({ host: LOOPBACK, port });
    await client.joinChat(FANOUT_ROOM, PUBLISHER_NICK, () => undefined);
    const pending: Promise<void>[] = [];
    return {
      // Pipelined like an MQTT QoS 0 publish: the reply of chat.say is collected later.
      publish: (text) => {
        pending.push(client.say(FANOUT_ROOM, text).catch(() => void (failed += 1)));
      },
      settle: async () => {
        await Promise.all(pending);
        return failed;
      },
      close: async () => {
        if (client.failure === null) await client.close();
        else client.destroy();
      },
    };
  }
  const client = await connectMqtt(LOOPBACK, port, PUBLISHER_NICK);
  client.on('error', () => void (failed += 1));
  let outstanding = 0;
  let settled: (() => void) | null = null;
  return {
    publish: (text) => {
      outstanding += 1;
      client.publish(FANOUT_ROOM, Buffer.from(text, 'latin1'), { qos: 0 }, (err) => {
        if (err !== undefined && err !== null) failed += 1;
        outstanding -= 1;
        if (outstanding === 0) settled?.();
      });
    },
    settle: async () => {
      if (outstanding > 0) await new Promise<void>((resolve) => (settled = resolve));
      return failed;
    },
    close: () => client.endAsync(),
  };
}

// ---------------------------------------------------------------------------
// One run

interface LatencySummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** CPU time used from the first send until the deliveries ended, in core-seconds. */
interface CpuUse {
  /** Wall time of that window. */
  readonly windowSeconds: number;
  readonly server: number;
  readonly subscribers: number;
  /** This process: the publisher (and the bench's bookkeeping). */
  readonly publisher: number;
  /** Everything else the machine ran meanwhile (other processes, interrupts): noise in the numbers when large. */
  readonly other: number;
}

interface CpuSnapshot {
  readonly atMs: number;
  readonly server: number;
  readonly subscribers: number;
  readonly publisher: number;
  readonly machine: number;
}

async function cpuSnapshot(serverPid: number, processes: readonly SubscriberProcess[]): Promise<CpuSnapshot> {
  // A process that died meanwhile reads as NaN: the run reports it anyway.
  const of = (pid: number): Promise<number> => cpuSeconds(pid).catch(() => Number.NaN);
  const [server, machine, ...subscribers] = await Promise.all([of(serverPid), machineBusySeconds(), ...processes.map((p) => of(p.pid))]);
  const own = process.cpuUsage();
  return { atMs: performance.now(), server, machine, subscribers: subscribers.reduce((sum, s) => sum + s, 0), publisher: (own.user + own.system) / 1e6 };
}

function cpuUse(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const server = after.server - before.server;
  const subscribers = after.subscribers - before.subscribers;
  const publisher = after.publisher - before.publisher;
  const machine = after.machine - before.machine;
  return { windowSeconds: (after.atMs - before.atMs) / 1000, server, subscribers, publisher, other: Math.max(0, machine - server - subscribers - publisher) };
}

interface RunResult {
  readonly peer: FanoutPeer;
  readonly subscribers: number;
  readonly messages: number;
  /** Offered rate, msg/s; null for the max-rate run. */
  readonly rate: number | null;
  readonly subscriberProcesses: number;
  /** Seconds for the subscribers to connect and join/subscribe (slowest process). */
  readonly connectSeconds: number;
  /** First to last send, and the rate the publisher actually achieved. */
  readonly sendSeconds: number;
  readonly sentPerSecond: number;
  readonly publishErrors: number;
  readonly expectedDeliveries: number;
  readonly delivered: number;
  readonly lost: number;
  readonly duplicatesOrReordered: number;
  readonly malformed: number;
  readonly disconnectedSubscribers: number;
  readonly disconnectReasons: Record<string, number>;
  /** The fewest messages one subscriber got. */
  readonly minPerSubscriber: number;
  /** First send → last delivery. */
  readonly deliverySeconds: number;
  /** Deliveries / deliverySeconds. */
  readonly deliveredPerSecond: number;
  readonly latency: LatencySummary | null;
  /** VmHWM of the server process at the end of the run (it was started for this run). */
  readonly serverPeakRssBytes: number;
  readonly serverSurvived: boolean;
  readonly cpu: CpuUse;
}

async function subdir(parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

/**
 * Sends `scenario.messages` messages, paced to `scenario.rate`; at max rate
 * back to back, MAX_RATE_BATCH per turn of the event loop (one message per
 * turn would make the publisher's rate a matter of the scheduler: each write
 * wakes the server, which preempts the publisher on 2 busy cores).
 */
async function publishAll(publisher: Publisher, scenario: Scenario): Promise<{ firstNs: bigint; lastNs: bigint }> {
  const start = process.hrtime.bigint();
  let firstNs = start;
  let lastNs = start;
  for (let seq = 0; seq < scenario.messages; ) {
    const due = scenario.rate === null ? Math.min(scenario.messages, seq + MAX_RATE_BATCH) : Math.min(scenario.messages, Math.floor((Number(process.hrtime.bigint() - start) / 1e9) * scenario.rate) + 1);
    while (seq < due) {
      const now = process.hrtime.bigint();
      if (seq === 0) firstNs = now;
      lastNs = now;
      publisher.publish(encodePayload(seq, now));
      seq += 1;
    }
    if (seq < scenario.messages) await (scenario.rate === null ? yieldToLoop() : sleep(1));
  }
  return { firstNs, lastNs };
}

/** Publish errors; a publisher whose sends never settle (a broken connection) fails the run. */
async function settleWithin(publisher: Publisher, limitMs: number): Promise<number> {
  const abort = new AbortController();
  const timeout = sleep(limitMs, undefined, { signal: abort.signal }).then(() => {
    throw new Error(`the publisher's sends did not settle within ${limitMs} ms`);
  });
  timeout.catch(() => undefined); // settled by the race below, or aborted
  try {
    return await Promise.race([publisher.settle(), timeout]);
  } finally {
    abort.abort();
  }
}

/** Until every expected delivery arrived, none arrived for QUIET_MS, or RUN_LIMIT_MS passed. */
async function waitForDeliveries(processes: readonly SubscriberProcess[], expected: number): Promise<void> {
  const limit = Date.now() + RUN_LIMIT_MS;
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const received = processes.reduce((sum, p) => sum + p.received, 0);
    if (received >= expected) return;
    if (received !== last) {
      last = received;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > QUIET_MS || Date.now() > limit) {
      return;
    }
    await sleep(50);
  }
}

function summariseLatency(reports: readonly SubscriberReport[]): LatencySummary | null {
  const total = reports.reduce((sum, r) => sum + r.latenciesUs.length, 0);
  if (total === 0) return null;
  const all = new Float64Array(total);
  let at = 0;
  for (const report of reports) {
    all.set(report.latenciesUs, at);
    at += report.latenciesUs.length;
  }
  all.sort();
  return { p50Ms: percentile(all, 50) / 1000, p99Ms: percentile(all, 99) / 1000, maxMs: (all[total - 1] ?? Number.NaN) / 1000 };
}

async function runOnce(peer: FanoutPeer, scenario: Scenario, workDir: string): Promise<RunResult> {
  const dir = await subdir(workDir, `${peer}-${scenario.subscribers}-${scenario.rate ?? 'max'}`);
  const server = await startServer(peer, dir);
  const processes: SubscriberProcess[] = [];
  let publisher: Publisher | null = null;
  try {
    // Subscribers sub0..subN-1, split evenly over the processes.
    const share = Math.ceil(scenario.subscribers / SUBSCRIBER_PROCESSES);
    for (let i = 0; i < SUBSCRIBER_PROCESSES; i++) {
      const firstIndex = i * share;
      const count = Math.min(share, scenario.subscribers - firstIndex);
      if (count <= 0) break;
      const child = new SubscriberProcess(`subscriber process ${i + 1}`);
      processes.push(child);
      child.command({ type: 'start', peer, host: LOOPBACK, port: server.port, firstIndex, count, messages: scenario.messages });
    }
    const ready = await Promise.all(processes.map((p) => p.expect('ready', READY_LIMIT_MS)));
    const connectSeconds = Math.max(...ready.map((r) => r.connectSeconds));

    publisher = await connectPublisher(peer, server.port);
    await sleep(200); // the publisher's own join announcement reaches every subscriber
    const cpuBefore = await cpuSnapshot(server.process.pid, processes);
    const { firstNs, lastNs } = await publishAll(publisher, scenario);
    const expectedDeliveries = scenario.subscribers * scenario.messages;
    await waitForDeliveries(processes, expectedDeliveries);
    const cpu = cpuUse(cpuBefore, await cpuSnapshot(server.process.pid, processes));
    const publishErrors = await settleWithin(publisher, SETTLE_LIMIT_MS);

    for (const p of processes) p.command({ type: 'report' });
    const reports = await Promise.all(processes.map((p) => p.expect('report', 30_000)));
    const serverSurvived = server.process.running;
    const serverPeakRssBytes = serverSurvived ? await peakRssBytes(server.process.pid) : Number.NaN;

    const delivered = reports.reduce((sum, r) => sum + r.received, 0);
    const lastReceiveNs = Math.max(...reports.map((r) => r.lastReceiveNs ?? Number.NEGATIVE_INFINITY));
    const deliverySeconds = (lastReceiveNs - Number(firstNs)) / 1e9;
    const disconnectReasons: Record<string, number> = {};
    for (const report of reports) {
      for (const [reason, count] of Object.entries(report.disconnectReasons)) disconnectReasons[reason] = (disconnectReasons[reason] ?? 0) + count;
    }
    const sendSeconds = Number(lastNs - firstNs) / 1e9;
    return {
      peer,
      subscribers: scenario.subscribers,
      messages: scenario.messages,
      rate: scenario.rate,
      subscriberProcesses: processes.length,
      connectSeconds,
      sendSeconds,
      sentPerSecond: sendSeconds > 0 ? (scenario.messages - 1) / sendSeconds : Number.NaN,
      publishErrors,
      expectedDeliveries,
      delivered,
      lost: expectedDeliveries - delivered,
      duplicatesOrReordered: reports.reduce((sum, r) => sum + r.duplicatesOrReordered, 0),
      malformed: reports.reduce((sum, r) => sum + r.malformed, 0),
      disconnectedSubscribers: reports.reduce((sum, r) => sum + r.disconnected, 0),
      disconnectReasons,
      minPerSubscriber: Math.min(...reports.map((r) => r.minPerSubscriber)),
      deliverySeconds,
      deliveredPerSecond: delivered > 0 ? delivered / deliverySeconds : 0,
      latency: summariseLatency(reports),
      serverPeakRssBytes,
      serverSurvived,
      cpu,
    };
  } finally {
    await publisher?.close().catch(() => undefined);
    await Promise.all(processes.map((p) => p.close()));
    await server.process.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Reporting

function loadLabel(scenario: Pick<Scenario, 'rate'>): string {
  return scenario.rate === null ? 'max rate' : `${scenario.rate.toLocaleString('en')} msg/s`;
}

function scenarioLabel(scenario: Scenario): string {
  return `${scenario.subscribers.toLocaleString('en')} subscribers, ${loadLabel(scenario)}`;
}

function count(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en') : '–';
}

interface Comparison {
  readonly scenario: Scenario;
  readonly gridlink: RunResult;
  readonly mosquitto: RunResult;
  /** gridlink / mosquitto */
  readonly deliveredRatio: number;
  readonly p99Ratio: number;
  readonly deliveredMet: boolean;
  readonly p99Met: boolean;
}

function compare(scenario: Scenario, results: readonly RunResult[]): Comparison {
  const find = (peer: FanoutPeer): RunResult => {
    const result = results.find((r) => r.peer === peer && r.subscribers === scenario.subscribers && r.rate === scenario.rate);
    if (result === undefined) throw new Error(`no ${peer} result for ${scenarioLabel(scenario)}`);
    return result;
  };
  const gridlink = find('gridlink');
  const mosquitto = find('mosquitto');
  const gP99 = gridlink.latency?.p99Ms ?? Number.NaN;
  const mP99 = mosquitto.latency?.p99Ms ?? Number.NaN;
  return {
    scenario,
    gridlink,
    mosquitto,
    deliveredRatio: gridlink.deliveredPerSecond / mosquitto.deliveredPerSecond,
    p99Ratio: gP99 / mP99,
    deliveredMet: gridlink.deliveredPerSecond >= mosquitto.deliveredPerSecond * (scenario.rate === null ? 1 : 1 - FIXED_RATE_TOLERANCE),
    p99Met: gP99 <= mP99,
  };
}

function renderTable(comparisons: readonly Comparison[]): string {
  const headers = [
    'subscribers',
    'load',
    'messages',
    'peer',
    'sent msg/s',
    'delivered/s',
    'p50 ms',
    'p99 ms',
    'max ms',
    'lost deliveries',
    'disconnected',
    'join/subscribe s',
    'server RSS MB',
    'server CPU s',
    'delivered/s gridlink/mosquitto',
    'p99 gridlink/mosquitto',
  ];
  const rows: string[][] = [];
  for (const c of comparisons) {
    for (const result of [c.gridlink, c.mosquitto]) {
      const isGridlink = result.peer === 'gridlink';
      rows.push([
        count(result.subscribers),
        loadLabel(result),
        count(result.messages),
        PEER_LABELS[result.peer],
        count(result.sentPerSecond),
        count(result.deliveredPerSecond),
        fixed(result.latency?.p50Ms, 2),
        fixed(result.latency?.p99Ms, 2),
        fixed(result.latency?.maxMs, 1),
        count(result.lost),
        count(result.disconnectedSubscribers),
        fixed(result.connectSeconds, 2),
        fixed(toMB(result.serverPeakRssBytes)),
        fixed(result.cpu.server, 2),
        isGridlink ? fixed(c.deliveredRatio, 2) : '–',
        isGridlink ? fixed(c.p99Ratio, 2) : '–',
      ]);
    }
  }
  return markdownTable(headers, rows);
}

function renderChecks(comparisons: readonly Comparison[]): string {
  const met = (ok: boolean): string => (ok ? 'MET' : 'NOT MET');
  const lines = comparisons.map((c) => {
    const notes: string[] = [];
    for (const result of [c.gridlink, c.mosquitto]) {
      if (result.lost > 0 || result.disconnectedSubscribers > 0) {
        const reasons = Object.entries(result.disconnectReasons)
          .map(([reason, n]) => `${n} × ${reason}`)
          .join(', ');
        notes.push(`${result.peer} lost ${count(result.lost)} of ${count(result.expectedDeliveries)} deliveries, ${count(result.disconnectedSubscribers)} subscribers disconnected${reasons === '' ? '' : ` (${reasons})`}`);
      }
      if (result.duplicatesOrReordered > 0 || result.malformed > 0) notes.push(`${result.peer}: ${result.duplicatesOrReordered} duplicate/reordered, ${result.malformed} malformed`);
      if (result.publishErrors > 0) notes.push(`${result.peer}: ${result.publishErrors} publishes failed`);
      if (!result.serverSurvived) notes.push(`${result.peer}: the server exited during the run`);
      if (result.cpu.other > OTHER_CPU_WARNING * result.cpu.windowSeconds) {
        notes.push(`${result.peer} run disturbed: other processes used ${fixed((100 * result.cpu.other) / result.cpu.windowSeconds, 0)}% of a core meanwhile`);
      }
    }
    return (
      `- ${scenarioLabel(c.scenario)}: delivered/s ${met(c.deliveredMet)} (${fixed(c.deliveredRatio, 2)}×), p99 ${met(c.p99Met)} (${fixed(c.p99Ratio, 2)}×)` +
      (notes.length > 0 ? `; ${notes.join('; ')}` : '')
    );
  });
  const all = comparisons.every((c) => c.deliveredMet && c.p99Met);
  return [
    `Target gridlink delivered/s ≥ mosquitto's (at a fixed rate: within ${FIXED_RATE_TOLERANCE * 100}%, both deliver the offered load) and p99 ≤ mosquitto's, every row: ${met(all)}`,
    ...lines,
  ].join('\n');
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } }, strict: true });
  const quick = values.quick;
  const scenarios = quick ? QUICK : FULL;
  const workDir = await makeTempDir('gridlink-bench-fanout-');

  const results: RunResult[] = [];
  for (const [index, scenario] of scenarios.entries()) {
    // Alternate which peer goes first, so drift on the machine does not always hit the same one.
    const order = index % 2 === 0 ? PEERS : [...PEERS].reverse();
    for (const peer of order) {
      const result = await runOnce(peer, scenario, workDir);
      results.push(result);
      log(
        `${scenarioLabel(scenario)}, ${scenario.messages} messages, ${PEER_LABELS[peer].padEnd(22)} ` +
          `${count(result.deliveredPerSecond).padStart(9)} delivered/s, p50 ${fixed(result.latency?.p50Ms, 2)} ms, p99 ${fixed(result.latency?.p99Ms, 2)} ms, ` +
          `lost ${count(result.lost)}, disconnected ${result.disconnectedSubscribers}; CPU s server ${fixed(result.cpu.server, 2)}, subscribers ${fixed(result.cpu.subscribers, 2)}, ` +
          `publisher ${fixed(result.cpu.publisher, 2)}, other ${fixed(result.cpu.other, 2)} in ${fixed(result.cpu.windowSeconds, 2)} s (joined in ${fixed(result.connectSeconds, 2)} s)`,
      );
    }
  }

  const comparisons = scenarios.map((scenario) => compare(scenario, results));
  process.stdout.write(
    [
      `### Chat fan-out: 1 publisher → N subscribers, ${PAYLOAD_BYTES}-byte messages (${cpus().length} CPUs, Node ${process.version})`,
      '',
      `gridlink: chat room \`${FANOUT_ROOM}\` (chat.say → chat.event), anonymous chat, GridlinkClient. ` +
        `mosquitto (Debian package): topic \`${FANOUT_ROOM}\`, QoS 0, MQTT 3.1.1, mqtt.js, max_queued_messages ${MOSQUITTO_MAX_QUEUED.toLocaleString('en')}. ` +
        `Each server is started fresh for each run. The publisher runs in the bench process and sends without waiting for replies; ` +
        `the subscribers are split evenly over ${SUBSCRIBER_PROCESSES} forked Node processes. ` +
        `delivered/s = deliveries ÷ (first send → last delivery); latency = send → receive of every delivery (CLOCK_MONOTONIC); ` +
        `lost = N × M − deliveries; join/subscribe s = until every subscriber was in the room (gridlink: and had every other's join announcement); ` +
        `RSS = the server's VmHWM at the end of the run; server CPU s = its CPU time from the first send to the last delivery.`,
      '',
      renderTable(comparisons),
      '',
      renderChecks(comparisons),
      '',
    ].join('\n'),
  );

  await writeJson(RESULTS_PATH, {
    ...runInfo('chat-fanout', quick),
    settings: {
      payloadBytes: PAYLOAD_BYTES,
      subscriberProcesses: SUBSCRIBER_PROCESSES,
      maxRateBatch: MAX_RATE_BATCH,
      mosquittoMaxQueuedMessages: MOSQUITTO_MAX_QUEUED,
      quietMs: QUIET_MS,
      fixedRateTolerance: FIXED_RATE_TOLERANCE,
      scenarios,
    },
    drivers: {
      gridlink: 'GridlinkClient from dist/client: publisher in the bench process (chat.say pipelined), subscribers joinChat in forked processes',
      mosquitto: 'mqtt.js (bench/package.json): publisher in the bench process (QoS 0), subscribers in forked processes',
    },
    results,
    comparisons: comparisons.map((c) => ({
      subscribers: c.scenario.subscribers,
      rate: c.scenario.rate,
      messages: c.scenario.messages,
      deliveredRatioGridlinkOverMosquitto: c.deliveredRatio,
      p99RatioGridlinkOverMosquitto: c.p99Ratio,
      deliveredMet: c.deliveredMet,
      p99Met: c.p99Met,
    })),
    targets: { gridlinkAtLeastMosquitto: comparisons.every((c) => c.deliveredMet && c.p99Met) },
  });
  log(`results written to ${RESULTS_PATH}`);
}

await runBenchmark(main);
