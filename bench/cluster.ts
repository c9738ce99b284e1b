/**
 * Cluster benchmark (docs/cluster.md): chat fan-out of 100-byte messages from
 * one publisher to N subscribers, in the same run on
 *   - one gridlink node (no cluster: the in-process bus),
 *   - three gridlink nodes on one NATS JetStream server (Debian's
 *     nats-server), the subscribers spread evenly over the nodes and the
 *     publisher on the first, so two thirds of the deliveries cross NATS,
 *   - mosquitto (MQTT QoS 0), the broker users would otherwise reach for.
 * Each run measures what bench/chat-fanout.ts measures (bench/lib/fanout-run.ts):
 * delivered/s, send → receive latency, lost and duplicated deliveries, and
 * the CPU and peak RSS of every server process of the target (the three
 * nodes and nats-server together). Prints a markdown table and writes
 * bench/results/cluster.json.
 *
 *   npx tsx bench/cluster.ts [--quick]
 *
 * --quick: 100 subscribers at max rate only (a smoke test).
 *
 * Then control, on the same three-node cluster and on one node, both acquiring
 * one Modbus device (gridlink's substation simulator, run by this process so
 * it outlives any node): the latency of `select` for an operator on a node
 * that does not acquire the device (a lease created with CAS in NATS KV, vs
 * the one node's in-memory desk), and failover: SIGKILL of the node that owns
 * the device, then the time until another node owns it and until the
 * survivors' values move again, in poll periods.
 *
 * Targets (issue 16): 0 loss; three nodes deliver ≥ 0.7× the single node's
 * rate (on these 2 cores the same CPUs then carry four servers and NATS's
 * extra hop); ≥ 2× mosquitto at 1,000 subscribers; failover ≤ 3 poll periods.
 */
import { mkdir, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { AdminClient } from '../dist/admin/admin-client.js';
import { GridlinkClient } from '../dist/client/index.js';
import { scadaSchema } from '../dist/config/scada-schema.js';
import { createLogger } from '../dist/log/logger.js';
import { SubstationSimulator } from '../dist/scada/simulator/substation-simulator.js';
import { simulatorDevices } from '../dist/scada/simulator/simulator-devices.js';
import { startNats, type NatsSystem } from '../tests/helpers/nats-server.js';
import { makeTempDir, onCleanup, runBenchmark } from './lib/cleanup.js';
import { PAYLOAD_BYTES } from './lib/fanout-protocol.js';
import { runFanout, SUBSCRIBER_PROCESSES, type FanoutTarget, type RunResult, type Scenario } from './lib/fanout-run.js';
import { LOOPBACK, REPO_ROOT, startGridlink, startMosquitto, type GridlinkServer } from './lib/peers.js';
import { fixed, markdownTable, runInfo, summariseLatency, toMB, writeJson, type LatencySummary } from './lib/report.js';

type Contender = 'one-node' | 'three-nodes' | 'mosquitto';
const CONTENDERS: readonly Contender[] = ['one-node', 'three-nodes', 'mosquitto'];
const LABELS: Record<Contender, string> = {
  'one-node': 'gridlink, 1 node',
  'three-nodes': 'gridlink, 3 nodes on NATS',
  mosquitto: 'mosquitto (MQTT QoS 0)',
};

const FULL: readonly Scenario[] = [
  { subscribers: 1_000, messages: 80, rate: 20 },
  { subscribers: 1_000, messages: 300, rate: null },
];
const QUICK: readonly Scenario[] = [{ subscribers: 100, messages: 500, rate: null }];

const NODES = ['a', 'b', 'c'] as const;
/** As bench/chat-fanout.ts: mosquitto must not drop QoS 0 messages for lack of queue. */
const MOSQUITTO_MAX_QUEUED = 1_000_000;
const CLUSTER_RATIO_TARGET = 0.7;
const MOSQUITTO_RATIO_TARGET = 2;
/** At a fixed offered rate every target delivers the offered load; only max-rate rows are held to the ratios. */
const OTHER_CPU_WARNING = 0.1;
const RESULTS_PATH = join(REPO_ROOT, 'bench', 'results', 'cluster.json');

// ---------------------------------------------------------------------------
// Targets

async function runDir(workDir: string, name: string): Promise<string> {
  const dir = join(workDir, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Chat open to anonymous members, nothing else listening but the native port (as chat-fanout's gridlink). */
const CHAT_ONLY = { chat: { allowAnonymous: true } };

async function startOneNode(workDir: string, run: string): Promise<FanoutTarget> {
  const dir = await runDir(workDir, `${run}-one`);
  const server = await startGridlink({ dir, anonymous: false, config: CHAT_ONLY });
  return {
    protocol: 'gridlink',
    ports: [server.port],
    pids: [server.process.pid],
    running: () => server.process.running,
    stop: async () => {
      await server.process.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function startThreeNodes(workDir: string, run: string): Promise<FanoutTarget> {
  const dir = await runDir(workDir, `${run}-three`);
  const nats: NatsSystem = await startNats();
  const unregister = onCleanup(() => nats.stop());
  const nodes: GridlinkServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.process.stop()));
    await nats.stop();
    unregister();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // One NATS server: one copy of each stream and bucket.
    for (const node of NODES) {
      nodes.push(await startGridlink({ dir: await runDir(dir, node), anonymous: false, config: { ...CHAT_ONLY, cluster: { nats: nats.urls, node, replicas: 1 } } }));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const natsServer = nats.servers[0]!;
  return {
    protocol: 'gridlink',
    ports: nodes.map((n) => n.port),
    pids: [...nodes.map((n) => n.process.pid), ...(natsServer.pid === undefined ? [] : [natsServer.pid])],
    running: () => natsServer.running && nodes.every((n) => n.process.running),
    stop,
  };
}

async function startMosquittoTarget(workDir: string, run: string): Promise<FanoutTarget> {
  const dir = await runDir(workDir, `${run}-mosquitto`);
  const server = await startMosquitto(dir, { maxQueuedMessages: MOSQUITTO_MAX_QUEUED });
  return {
    protocol: 'mosquitto',
    ports: [server.port],
    pids: [server.process.pid],
    running: () => server.process.running,
    stop: async () => {
      await server.process.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function starter(contender: Contender, workDir: string, run: string): () => Promise<FanoutTarget> {
  switch (contender) {
    case 'one-node':
      return () => startOneNode(workDir, run);
    case 'three-nodes':
      return () => startThreeNodes(workDir, run);
    case 'mosquitto':
      return () => startMosquittoTarget(workDir, run);
  }
}

// ---------------------------------------------------------------------------
// Control: select latency across nodes, and failover

const POLL_MS = 1_000;
const DEVICE = 'sub1';
const BREAKER = 'sub1.f1.breaker';
/** Feeder 2's breaker stays closed, so its current keeps moving. */
const CURRENT = 'sub1.f2.current';
const OPERATOR = { name: 'bench-operator', password: 'bench-operator-password-1' };
const FAILOVER_TARGET_POLLS = 3;

interface ControlResult {
  readonly target: 'one-node' | 'three-nodes';
  /** select → granted, for an operator on a node that does not acquire the device (three nodes) or on the one node. */
  readonly select: LatencySummary | null;
  /** SIGKILL of the owner → another node owns the device (three nodes only). */
  readonly failoverMs: number | null;
  /** SIGKILL of the owner → the survivors' values carry a server time after it again. */
  readonly valuesBackMs: number | null;
}

async function withClient<T>(port: number, work: (client: GridlinkClient) => Promise<T>): Promise<T> {
  const client = await GridlinkClient.connect({ host: LOOPBACK, port });
  try {
    await client.login(OPERATOR.name, OPERATOR.password);
    return await work(client);
  } finally {
    await client.close().catch(() => undefined);
  }
}

async function until<T>(what: string, limitMs: number, probe: () => Promise<T | undefined>, everyMs = 25): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${limitMs} ms`);
    await sleep(everyMs);
  }
}

async function ownerSeenBy(node: GridlinkServer): Promise<string | null> {
  const admin = await AdminClient.connect(join(node.dataDir, 'admin.sock'));
  try {
    const scada = (await admin.status())['scada'] as { owners?: Record<string, string | null> } | null;
    return scada?.owners?.[DEVICE] ?? null;
  } finally {
    await admin.close();
  }
}

/** `rounds` selects (each released) of the breaker by one operator, timed. */
async function selectLatency(port: number, rounds: number): Promise<LatencySummary | null> {
  return withClient(port, async (client) => {
    await until('the breaker to read good', 15_000, async () => ((await client.points(BREAKER))[0]?.quality === 'good' ? true : undefined), 100);
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const start = performance.now();
      await client.select(BREAKER);
      times.push(performance.now() - start);
      await client.deselect(BREAKER);
    }
    return summariseLatency(times);
  });
}

async function runControl(workDir: string, target: 'one-node' | 'three-nodes', rounds: number): Promise<ControlResult> {
  const dir = await runDir(workDir, `control-${target}`);
  const simulator = new SubstationSimulator({ host: LOOPBACK, port: 0, units: 1, feeders: 2, noise: true, breakerTravelMs: 100, updateMs: 200, logger: createLogger('silent') });
  const address = await simulator.start();
  const devices = simulatorDevices(scadaSchema.parse({ simulator: { feeders: 2, pollMs: POLL_MS } }).simulator, LOOPBACK, address.port);
  const scada = { scada: { enabled: true, simulator: { enabled: false, port: 0 }, devices } };
  let nats: NatsSystem | null = null;
  const nodes: GridlinkServer[] = [];
  try {
    if (target === 'three-nodes') nats = await startNats();
    for (const name of target === 'three-nodes' ? NODES : (['solo'] as const)) {
      const cluster = nats === null ? {} : { cluster: { nats: nats.urls, node: name, replicas: 1 } };
      nodes.push(await startGridlink({ dir: await runDir(dir, name), anonymous: false, config: { ...scada, ...cluster } }));
    }
    const admin = await AdminClient.connect(join(nodes[0]!.dataDir, 'admin.sock'));
    try {
      await admin.addUser(OPERATOR.name, OPERATOR.password, { role: 'operator' });
    } finally {
      await admin.close();
    }
    if (nats === null) return { target, select: await selectLatency(nodes[0]!.port, rounds), failoverMs: null, valuesBackMs: null };

    const owner = await until('every node to agree on the owner', 30_000, async () => {
      const seen = await Promise.all(nodes.map(ownerSeenBy));
      return seen[0] !== null && seen.every((o) => o === seen[0]) ? seen[0] : undefined;
    });
    const ownerIndex = NODES.indexOf(owner as (typeof NODES)[number]);
    const victim = nodes[ownerIndex]!;
    const survivor = nodes[(ownerIndex + 1) % nodes.length]!;
    // The operator logs in on a node that does not acquire the device (the account came through NATS).
    await until('the operator account on another node', 15_000, () => withClient(survivor.port, () => Promise.resolve(true)), 200);
    const select = await selectLatency(survivor.port, rounds);

    const killedAt = Date.now();
    process.kill(victim.process.pid, 'SIGKILL');
    await until('another owner', 30_000, async () => {
      const seen = await ownerSeenBy(survivor);
      return seen !== null && seen !== owner ? seen : undefined;
    });
    const failoverMs = Date.now() - killedAt;
    await withClient(survivor.port, (client) =>
      until('values after the failover', 30_000, async () => (((await client.points(CURRENT))[0]?.serverTime ?? 0) > killedAt ? true : undefined)),
    );
    const valuesBackMs = Date.now() - killedAt;
    return { target, select, failoverMs, valuesBackMs };
  } finally {
    await Promise.all(nodes.map((n) => n.process.stop()));
    await nats?.stop();
    await simulator.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function renderControl(results: readonly ControlResult[]): string {
  const table = markdownTable(
    ['target', 'select p50 ms', 'select p99 ms', 'selects', 'failover ms', 'failover, poll periods', 'values back ms'],
    results.map((r) => [
      r.target === 'one-node' ? 'gridlink, 1 node (in-memory desk)' : 'gridlink, 3 nodes (lease in NATS KV; operator on a node that does not acquire)',
      fixed(r.select?.p50Ms, 2),
      fixed(r.select?.p99Ms, 2),
      count(r.select?.samples ?? 0),
      r.failoverMs === null ? '–' : count(r.failoverMs),
      r.failoverMs === null ? '–' : fixed(r.failoverMs / POLL_MS, 2),
      r.valuesBackMs === null ? '–' : count(r.valuesBackMs),
    ]),
  );
  const cluster = results.find((r) => r.target === 'three-nodes');
  const met = cluster?.failoverMs !== null && cluster?.failoverMs !== undefined && cluster.failoverMs <= FAILOVER_TARGET_POLLS * POLL_MS;
  return `${table}\n\nTarget failover ≤ ${FAILOVER_TARGET_POLLS} poll periods (${POLL_MS} ms each): ${met ? 'MET' : 'NOT MET'}`;
}

// ---------------------------------------------------------------------------
// Reporting

function count(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en') : '–';
}

function loadLabel(scenario: Pick<Scenario, 'rate'>): string {
  return scenario.rate === null ? 'max rate' : `${scenario.rate.toLocaleString('en')} msg/s`;
}

function scenarioLabel(scenario: Scenario): string {
  return `${scenario.subscribers.toLocaleString('en')} subscribers, ${loadLabel(scenario)}`;
}

interface Row {
  readonly scenario: Scenario;
  readonly results: Record<Contender, RunResult>;
  /** Three nodes' delivered/s over one node's. */
  readonly clusterRatio: number;
  /** Three nodes' delivered/s over mosquitto's. */
  readonly mosquittoRatio: number;
}

function rowOf(scenario: Scenario, all: readonly RunResult[]): Row {
  const find = (c: Contender): RunResult => {
    const r = all.find((x) => x.peer === c && x.subscribers === scenario.subscribers && x.rate === scenario.rate);
    if (r === undefined) throw new Error(`no ${c} result for ${scenarioLabel(scenario)}`);
    return r;
  };
  const results = { 'one-node': find('one-node'), 'three-nodes': find('three-nodes'), mosquitto: find('mosquitto') };
  return {
    scenario,
    results,
    clusterRatio: results['three-nodes'].deliveredPerSecond / results['one-node'].deliveredPerSecond,
    mosquittoRatio: results['three-nodes'].deliveredPerSecond / results.mosquitto.deliveredPerSecond,
  };
}

function renderTable(rows: readonly Row[]): string {
  const headers = ['subscribers', 'load', 'target', 'delivered/s', 'p50 ms', 'p99 ms', 'lost', 'duplicated or reordered', 'disconnected', 'join s', 'servers RSS MB', 'servers CPU s', '3 nodes / 1 node', '3 nodes / mosquitto'];
  const out: string[][] = [];
  for (const row of rows) {
    for (const c of CONTENDERS) {
      const r = row.results[c];
      out.push([
        count(r.subscribers),
        loadLabel(r),
        LABELS[c],
        count(r.deliveredPerSecond),
        fixed(r.latency?.p50Ms, 2),
        fixed(r.latency?.p99Ms, 2),
        count(r.lost),
        count(r.duplicatesOrReordered),
        count(r.disconnectedSubscribers),
        fixed(r.connectSeconds, 2),
        fixed(toMB(r.serverPeakRssBytes)),
        fixed(r.cpu.server, 2),
        c === 'three-nodes' ? fixed(row.clusterRatio, 2) : '–',
        c === 'three-nodes' ? fixed(row.mosquittoRatio, 2) : '–',
      ]);
    }
  }
  return markdownTable(headers, out);
}

interface Verdict {
  readonly noLoss: boolean;
  readonly clusterRatio: boolean;
  readonly mosquittoRatio: boolean;
}

function verdict(rows: readonly Row[]): Verdict {
  const maxRate = rows.filter((r) => r.scenario.rate === null);
  const atThousand = maxRate.filter((r) => r.scenario.subscribers >= 1_000);
  return {
    noLoss: rows.every((r) => CONTENDERS.every((c) => r.results[c].lost === 0 && r.results[c].duplicatesOrReordered === 0)),
    clusterRatio: maxRate.length > 0 && maxRate.every((r) => r.clusterRatio >= CLUSTER_RATIO_TARGET),
    mosquittoRatio: atThousand.length > 0 && atThousand.every((r) => r.mosquittoRatio >= MOSQUITTO_RATIO_TARGET),
  };
}

function renderChecks(rows: readonly Row[], v: Verdict): string {
  const met = (ok: boolean): string => (ok ? 'MET' : 'NOT MET');
  const notes: string[] = [];
  for (const row of rows) {
    for (const c of CONTENDERS) {
      const r = row.results[c];
      if (r.lost > 0 || r.duplicatesOrReordered > 0) notes.push(`- ${scenarioLabel(row.scenario)}, ${LABELS[c]}: lost ${count(r.lost)}, duplicated or reordered ${count(r.duplicatesOrReordered)}`);
      if (!r.serverSurvived) notes.push(`- ${scenarioLabel(row.scenario)}, ${LABELS[c]}: a server process exited during the run`);
      if (r.cpu.other > OTHER_CPU_WARNING * r.cpu.windowSeconds) notes.push(`- ${scenarioLabel(row.scenario)}, ${LABELS[c]}: run disturbed, other processes used ${fixed((100 * r.cpu.other) / r.cpu.windowSeconds, 0)}% of a core meanwhile`);
    }
  }
  return [
    `Target 0 lost and 0 duplicated, every row: ${met(v.noLoss)}`,
    `Target 3 nodes ≥ ${CLUSTER_RATIO_TARGET}× one node at max rate: ${met(v.clusterRatio)}`,
    `Target 3 nodes ≥ ${MOSQUITTO_RATIO_TARGET}× mosquitto at max rate with 1,000 subscribers: ${v.mosquittoRatio ? 'MET' : rows.some((r) => r.scenario.subscribers >= 1_000) ? 'NOT MET' : 'not measured (--quick)'}`,
    ...notes,
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
  const workDir = await makeTempDir('gridlink-bench-cluster-');
  const results: RunResult[] = [];
  for (const [index, scenario] of scenarios.entries()) {
    // Rotate who goes first, so drift on the machine does not always hit the same one.
    const order = CONTENDERS.map((_, i) => CONTENDERS[(i + index) % CONTENDERS.length]!);
    for (const contender of order) {
      const run = `${scenario.subscribers}-${scenario.rate ?? 'max'}-${contender}`;
      const result = await runFanout(contender, starter(contender, workDir, run), scenario);
      results.push(result);
      log(
        `${scenarioLabel(scenario)}, ${LABELS[contender].padEnd(26)} ${count(result.deliveredPerSecond).padStart(9)} delivered/s, ` +
          `p50 ${fixed(result.latency?.p50Ms, 2)} ms, p99 ${fixed(result.latency?.p99Ms, 2)} ms, lost ${count(result.lost)}, ` +
          `duplicated ${count(result.duplicatesOrReordered)}; CPU s servers ${fixed(result.cpu.server, 2)}, other ${fixed(result.cpu.other, 2)} in ${fixed(result.cpu.windowSeconds, 2)} s (joined in ${fixed(result.connectSeconds, 2)} s)`,
      );
    }
  }
  const rows = scenarios.map((s) => rowOf(s, results));
  const v = verdict(rows);
  const rounds = quick ? 20 : 100;
  const control: ControlResult[] = [];
  for (const target of ['one-node', 'three-nodes'] as const) {
    const result = await runControl(workDir, target, rounds);
    control.push(result);
    log(`control, ${target}: select p50 ${fixed(result.select?.p50Ms, 2)} ms, p99 ${fixed(result.select?.p99Ms, 2)} ms; failover ${result.failoverMs ?? '–'} ms, values back ${result.valuesBackMs ?? '–'} ms`);
  }
  process.stdout.write(
    [
      `### Cluster fan-out: 1 publisher → N subscribers, ${PAYLOAD_BYTES}-byte messages (${cpus().length} CPUs, Node ${process.version})`,
      '',
      `Three gridlink nodes joined to one nats-server (JetStream, one replica); the subscribers spread evenly over the nodes, ` +
        `the publisher on the first; the subscribers in ${SUBSCRIBER_PROCESSES} forked processes, as for one node and mosquitto. ` +
        `servers RSS and CPU: every process of the target summed (3 nodes and nats-server).`,
      '',
      renderTable(rows),
      '',
      renderChecks(rows, v),
      '',
      `### Cluster control: select latency and failover (one Modbus device polled every ${POLL_MS} ms)`,
      '',
      renderControl(control),
      '',
    ].join('\n'),
  );
  await writeJson(RESULTS_PATH, { ...runInfo('cluster', quick), settings: { payloadBytes: PAYLOAD_BYTES, nodes: NODES, scenarios }, results, control, rows: rows.map((r) => ({ subscribers: r.scenario.subscribers, rate: r.scenario.rate, clusterRatio: r.clusterRatio, mosquittoRatio: r.mosquittoRatio })), targets: v });
  log(`results written to ${RESULTS_PATH}`);
}

await runBenchmark(main);
