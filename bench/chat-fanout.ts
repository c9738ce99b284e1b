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
import { mkdir, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeTempDir, runBenchmark } from './lib/cleanup.js';
import { FANOUT_ROOM, PAYLOAD_BYTES, type FanoutPeer } from './lib/fanout-protocol.js';
import { MAX_RATE_BATCH, QUIET_MS, runFanout, SUBSCRIBER_PROCESSES, type FanoutTarget, type RunResult, type Scenario } from './lib/fanout-run.js';
import { REPO_ROOT, startGridlink, startMosquitto, type RunningServer } from './lib/peers.js';
import { fixed, markdownTable, runInfo, toMB, writeJson } from './lib/report.js';


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

/** Far above any run's message count: mosquitto must not drop QoS 0 messages for lack of queue. */
const MOSQUITTO_MAX_QUEUED = 1_000_000;
/**
 * At a fixed offered rate both peers deliver about N × rate per second; what
 * differs is only the last message's latency. A gridlink/mosquitto ratio of
 * at least 1 − this counts as keeping up there (max-rate rows get none); a
 * peer that falls behind a fixed load drops far lower.
 */
const FIXED_RATE_TOLERANCE = 0.05;
/** Flag a run during which processes other than ours used more than this share of a core. */
const OTHER_CPU_WARNING = 0.1;

const RESULTS_PATH = join(REPO_ROOT, 'bench', 'results', 'chat-fanout.json');

// ---------------------------------------------------------------------------
// The two targets

async function startServer(peer: FanoutPeer, workDir: string, scenario: Scenario): Promise<FanoutTarget> {
  const dir = join(workDir, `${peer}-${scenario.subscribers}-${scenario.rate ?? 'max'}`);
  await mkdir(dir, { recursive: true });
  const server: RunningServer =
    peer === 'gridlink'
      ? // As the brief's config: dataDir, the port, anonymous chat, quiet logs (no anonymous file area).
        await startGridlink({ dir, anonymous: false, config: { chat: { allowAnonymous: true } } })
      : await startMosquitto(dir, { maxQueuedMessages: MOSQUITTO_MAX_QUEUED });
  return {
    protocol: peer,
    ports: [server.port],
    pids: [server.process.pid],
    running: () => server.process.running,
    stop: async () => {
      await server.process.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
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
        PEER_LABELS[result.peer as FanoutPeer],
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
      const result = await runFanout(peer, () => startServer(peer, workDir, scenario), scenario);
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
