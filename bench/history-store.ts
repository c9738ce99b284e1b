/**
 * What storing point history costs the event loop (library level, beside
 * the end-to-end acquisition benches bench/iec104-master.ts and
 * bench/scada-poll.ts, which this one explains).
 *
 * The history store (src/scada/history-store.ts) records 20,000 events/s
 * (200 every 10 ms over 2,040 points, as 20 stations × 102 points send) for
 * a window after a warm-up, twice: with its writer thread (the default,
 * src/scada/history-writer.ts) and with every batch written on the event
 * loop (`writerThread: false`, how it was before). The two alternate, so a
 * noisy machine slows both alike. For each: the share of the window the
 * event loop was busy (performance.eventLoopUtilization), how late a 5 ms
 * timer ran (monitorEventLoopDelay: p99 and worst), the process CPU (both
 * threads), and how long the final flush (what a history query waits for)
 * took.
 *
 *   npx tsx bench/history-store.ts [--quick]
 *
 * Prints a markdown table and writes bench/results/history-store.json.
 */
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { HistoryStore } from '../src/scada/history-store.js';
import { makeTempDir, runBenchmark } from './lib/cleanup.js';
import { REPO_ROOT } from './lib/peers.js';
import { fixed, markdownTable, median, runInfo, writeJson } from './lib/report.js';

const POINTS = Array.from({ length: 20 * 102 }, (_, i) => `st${Math.floor(i / 102)}.p${i % 102}`);
const PER_TICK = 200;
const TICK_MS = 10;
/** monitorEventLoopDelay's interval; what it records includes the interval itself, subtracted here (as src/server/event-loop-delay.ts does). */
const RESOLUTION_MS = 5;

interface Sample {
  events: number;
  eventsPerSecond: number;
  loopBusyPercent: number;
  loopLateP99Ms: number;
  loopLateMaxMs: number;
  processCpuPercent: number;
  finalFlushMs: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Records PER_TICK events every TICK_MS for `ms`; returns how many. */
async function feed(store: HistoryStore, ms: number, first: number): Promise<number> {
  let n = first;
  const timer = setInterval(() => {
    const now = Date.now();
    for (let i = 0; i < PER_TICK; i += 1, n += 1) {
      store.record({ seq: store.takeSeq(), point: POINTS[n % POINTS.length]!, kind: 'change', value: n * 0.5, quality: 'good', sourceTime: now, serverTime: now });
    }
  }, TICK_MS);
  await sleep(ms);
  clearInterval(timer);
  return n - first;
}

async function measure(dir: string, writerThread: boolean, warmupMs: number, windowMs: number): Promise<Sample> {
  const store = new HistoryStore(join(dir, `${writerThread ? 'thread' : 'loop'}-${Date.now()}.db`), { writerThread });
  try {
    const warm = await feed(store, warmupMs, 0);
    const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    delay.enable();
    const elu = performance.eventLoopUtilization();
    const cpu = process.cpuUsage();
    const started = performance.now();
    const events = await feed(store, windowMs, warm);
    const elapsed = performance.now() - started;
    const busy = performance.eventLoopUtilization(elu);
    const used = process.cpuUsage(cpu);
    delay.disable();
    const flushStarted = performance.now();
    store.flush();
    const finalFlushMs = performance.now() - flushStarted;
    // Every event reached the database: the comparison is of equal work.
    const stored = store.events(0, Number.MAX_SAFE_INTEGER, 1, () => true).length;
    if (stored === 0) throw new Error('bench: nothing was stored');
    const { fallbackRows, lostRows } = store.writer;
    if (lostRows !== 0) throw new Error(`bench: ${lostRows} rows were lost`);
    if (writerThread && fallbackRows !== 0) throw new Error(`bench: the writer thread handed ${fallbackRows} rows back to the event loop`);
    return {
      events,
      eventsPerSecond: (events / elapsed) * 1000,
      loopBusyPercent: busy.utilization * 100,
      loopLateP99Ms: Math.max(0, delay.percentile(99) / 1e6 - RESOLUTION_MS),
      loopLateMaxMs: Math.max(0, delay.max / 1e6 - RESOLUTION_MS),
      processCpuPercent: ((used.user + used.system) / 1000 / elapsed) * 100,
      finalFlushMs,
    };
  } finally {
    await store.close();
  }
}

function summarise(samples: readonly Sample[]): Record<keyof Sample, number> {
  const pick = (key: keyof Sample): number => median(samples.map((s) => s[key]));
  return {
    events: pick('events'),
    eventsPerSecond: pick('eventsPerSecond'),
    loopBusyPercent: pick('loopBusyPercent'),
    loopLateP99Ms: pick('loopLateP99Ms'),
    loopLateMaxMs: pick('loopLateMaxMs'),
    processCpuPercent: pick('processCpuPercent'),
    finalFlushMs: pick('finalFlushMs'),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const quick = values.quick === true;
  const runs = quick ? 1 : 3;
  const warmupMs = quick ? 2_000 : 3_000;
  const windowMs = quick ? 6_000 : 15_000;
  const dir = await makeTempDir('gridlink-bench-history-');
  const thread: Sample[] = [];
  const loop: Sample[] = [];
  for (let run = 0; run < runs; run += 1) {
    // Alternate which goes first.
    for (const writerThread of run % 2 === 0 ? [true, false] : [false, true]) {
      console.error(`bench: run ${run + 1}/${runs}, writes ${writerThread ? 'in the writer thread' : 'on the event loop'}`);
      (writerThread ? thread : loop).push(await measure(dir, writerThread, warmupMs, windowMs));
    }
  }
  const t = summarise(thread);
  const l = summarise(loop);
  await writeJson(join(REPO_ROOT, 'bench', 'results', 'history-store.json'), { ...runInfo('history-store', quick), windowMs, runs, thread, loop, median: { thread: t, loop: l } });
  console.log(`### History store: 20,000 events/s, the event loop's share${quick ? ' (quick)' : ''}\n`);
  console.log(`${runs} run(s) of ${windowMs / 1000} s after ${warmupMs / 1000} s of warm-up each, medians; "on the loop" is \`writerThread: false\`, how the store wrote before its writer thread.\n`);
  console.log(
    markdownTable(
      ['measure', 'writer thread', 'on the event loop', 'loop ÷ thread'],
      [
        ['events recorded /s', fixed(t.eventsPerSecond, 0), fixed(l.eventsPerSecond, 0), ''],
        ['event loop busy, % of the window', fixed(t.loopBusyPercent), fixed(l.loopBusyPercent), fixed(l.loopBusyPercent / t.loopBusyPercent, 2)],
        ['event loop late, p99 ms', fixed(t.loopLateP99Ms), fixed(l.loopLateP99Ms), fixed(l.loopLateP99Ms / t.loopLateP99Ms, 2)],
        ['event loop late, worst ms', fixed(t.loopLateMaxMs), fixed(l.loopLateMaxMs), fixed(l.loopLateMaxMs / t.loopLateMaxMs, 2)],
        ['process CPU, % of one core (all threads)', fixed(t.processCpuPercent), fixed(l.processCpuPercent), fixed(l.processCpuPercent / t.processCpuPercent, 2)],
        ['final flush (a query waits for it), ms', fixed(t.finalFlushMs), fixed(l.finalFlushMs), ''],
      ],
    ),
  );
}

await runBenchmark(main);
