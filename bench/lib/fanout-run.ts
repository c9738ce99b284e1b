/**
 * One fan-out run, as bench/chat-fanout.ts (one gridlink node vs mosquitto)
 * and bench/cluster.ts (gridlink nodes on NATS) measure it: one publisher in
 * this process, N subscribers split over SUBSCRIBER_PROCESSES forked Node
 * processes (bench/lib/fanout-subscribers.ts), every delivery timed on
 * CLOCK_MONOTONIC. A target is any set of servers speaking one protocol:
 * subscriber i connects to `ports[i % ports.length]`, the publisher to
 * `ports[0]`; the CPU and RSS counted as "server" are all of its processes'.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { GridlinkClient } from '../../dist/client/index.js';
import { onCleanup } from './cleanup.js';
import { encodePayload, FANOUT_ROOM, isTagged, PUBLISHER_NICK, type FanoutPeer, type FromSubscribers, type SubscriberReport, type ToSubscribers } from './fanout-protocol.js';
import { LOOPBACK, REPO_ROOT } from './peers.js';
import { connectMqtt } from './mqtt-client.js';
import { cpuSeconds, machineBusySeconds, peakRssBytes } from './processes.js';
import { percentile } from './report.js';

export interface Scenario {
  readonly subscribers: number;
  /** Messages the publisher sends. */
  readonly messages: number;
  /** Offered rate in messages per second; null: as fast as the publisher can. */
  readonly rate: number | null;
}

/** The servers of one run: the protocol they speak, where subscribers connect, and their processes. */
export interface FanoutTarget {
  readonly protocol: FanoutPeer;
  /** Subscriber i connects to ports[i % ports.length]; the publisher to ports[0]. */
  readonly ports: readonly number[];
  /** Every process of the target (gridlink nodes, a NATS server, a broker). */
  readonly pids: readonly number[];
  /** True while every process of the target still runs. */
  running(): boolean;
  stop(): Promise<void>;
}

/** Messages handed to the client library per event-loop turn in the max-rate runs. */
export const MAX_RATE_BATCH = 100;
/** Forked processes holding the subscribers (one per core here). */
export const SUBSCRIBER_PROCESSES = 2;
const SUBSCRIBER_SCRIPT = join(REPO_ROOT, 'bench', 'lib', 'fanout-subscribers.ts');
/** After the last send, a run ends when every delivery arrived or none arrived for this long. */
export const QUIET_MS = 2_000;
const RUN_LIMIT_MS = 60_000;
const SETTLE_LIMIT_MS = 30_000;
const READY_LIMIT_MS = 120_000;

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

export interface Publisher {
  /** Hands one message to the client library; never waits for the server. */
  publish(text: string): void;
  /** Waits until every message was acknowledged (gridlink) or written (MQTT); returns how many failed. */
  settle(): Promise<number>;
  close(): Promise<void>;
}

export async function connectPublisher(peer: FanoutPeer, port: number): Promise<Publisher> {
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

export interface LatencySummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** CPU time used from the first send until the deliveries ended, in core-seconds. */
export interface CpuUse {
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

async function cpuSnapshot(serverPids: readonly number[], processes: readonly SubscriberProcess[]): Promise<CpuSnapshot> {
  // A process that died meanwhile reads as NaN: the run reports it anyway.
  const of = (pid: number): Promise<number> => cpuSeconds(pid).catch(() => Number.NaN);
  const sum = (values: readonly number[]): number => values.reduce((total, v) => total + v, 0);
  const [servers, machine, subscribers] = await Promise.all([Promise.all(serverPids.map(of)), machineBusySeconds(), Promise.all(processes.map((p) => of(p.pid)))]);
  const own = process.cpuUsage();
  return { atMs: performance.now(), server: sum(servers), machine, subscribers: sum(subscribers), publisher: (own.user + own.system) / 1e6 };
}

function cpuUse(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const server = after.server - before.server;
  const subscribers = after.subscribers - before.subscribers;
  const publisher = after.publisher - before.publisher;
  const machine = after.machine - before.machine;
  return { windowSeconds: (after.atMs - before.atMs) / 1000, server, subscribers, publisher, other: Math.max(0, machine - server - subscribers - publisher) };
}

export interface RunResult {
  /** Which target: a label of the bench's own (e.g. gridlink, gridlink-3-nodes, mosquitto). */
  readonly peer: string;
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
  /** VmHWM of the target's processes at the end of the run, summed (they were started for this run). */
  readonly serverPeakRssBytes: number;
  readonly serverSurvived: boolean;
  readonly cpu: CpuUse;
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

function latencyOf(reports: readonly SubscriberReport[]): LatencySummary | null {
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

/**
 * Runs `scenario` against the target `start` returns (started fresh for
 * this run, stopped at its end), labelled `peer` in the result.
 */
export async function runFanout(peer: string, start: () => Promise<FanoutTarget>, scenario: Scenario): Promise<RunResult> {
  const server = await start();
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
      child.command({ type: 'start', peer: server.protocol, host: LOOPBACK, ports: server.ports, firstIndex, count, messages: scenario.messages });
    }
    const ready = await Promise.all(processes.map((p) => p.expect('ready', READY_LIMIT_MS)));
    const connectSeconds = Math.max(...ready.map((r) => r.connectSeconds));

    publisher = await connectPublisher(server.protocol, server.ports[0]!);
    await sleep(200); // the publisher's own join announcement reaches every subscriber
    const cpuBefore = await cpuSnapshot(server.pids, processes);
    const { firstNs, lastNs } = await publishAll(publisher, scenario);
    const expectedDeliveries = scenario.subscribers * scenario.messages;
    await waitForDeliveries(processes, expectedDeliveries);
    const cpu = cpuUse(cpuBefore, await cpuSnapshot(server.pids, processes));
    const publishErrors = await settleWithin(publisher, SETTLE_LIMIT_MS);

    for (const p of processes) p.command({ type: 'report' });
    const reports = await Promise.all(processes.map((p) => p.expect('report', 30_000)));
    const serverSurvived = server.running();
    const serverPeakRssBytes = serverSurvived ? (await Promise.all(server.pids.map((pid) => peakRssBytes(pid)))).reduce((sum, b) => sum + b, 0) : Number.NaN;

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
      latency: latencyOf(reports),
      serverPeakRssBytes,
      serverSurvived,
      cpu,
    };
  } finally {
    await publisher?.close().catch(() => undefined);
    await Promise.all(processes.map((p) => p.close()));
    await server.stop();
  }
}

