/**
 * The trend of one point with 100,000 samples (issue 14): the history is
 * written with the history store (src/scada/history-store.ts) into a fresh
 * data directory before gridlink starts, 100,000 samples of
 * `sub1.f1.current` over the last 14 minutes (with two stretches of invalid
 * quality); then, against the built `gridlink serve` on loopback:
 *
 * - REST: `GET /api/history?…&buckets=1000` (what the page asks for: the
 *   range reduced to the chart's width, docs/http-api.md) and, for
 *   comparison, the raw samples read page by page (`limit=10000&offset=…`);
 * - the page in Chromium: from "Add" to the chart drawn (`data-state=ready`),
 *   then 5 s of zooming with the wheel and live updates, with the long tasks
 *   (PerformanceObserver "longtask", > 50 ms) and the frame intervals
 *   (requestAnimationFrame) measured in the page, so "the page stays
 *   responsive" is a number.
 *
 *   npx tsx bench/trend.ts [--quick]
 *
 * Prints a markdown table and writes bench/results/trend.json. Needs Debian's
 * chromium (scripts/system-deps.sh installs it) and `npm run build`.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { HistoryStore } from '../src/scada/history-store.js';
import { makeTempDir, onCleanup, runBenchmark } from './lib/cleanup.js';
import { LOOPBACK, readInitialAdminPassword, REPO_ROOT, startGridlink } from './lib/peers.js';
import { freePort } from './lib/processes.js';
import { fixed, markdownTable, median, percentile, runInfo, writeJson } from './lib/report.js';

const POINT = 'sub1.f1.current';
const SAMPLES = 100_000;
/** The samples span 14 minutes up to the start, so the page's default range (the last 15 minutes) holds them all a minute later. */
const RANGE_MS = 14 * 60_000;

async function seed(path: string, now: number): Promise<void> {
  const store = new HistoryStore(path);
  try {
    const step = RANGE_MS / SAMPLES;
    for (let i = 0; i < SAMPLES; i += 1) {
      const at = Math.round(now - RANGE_MS + i * step);
      const gap = (i > 40_000 && i < 40_500) || (i > 77_000 && i < 77_200);
      const value = 380 + 60 * Math.sin(i / 9_000) + 8 * Math.sin(i / 97) + (i % 4_999 === 0 ? 150 : 0);
      store.record({ seq: store.takeSeq(), point: POINT, kind: gap ? 'quality' : 'change', value: gap ? null : Math.round(value * 10) / 10, quality: gap ? 'invalid' : 'good', sourceTime: at, serverTime: at });
    }
  } finally {
    await store.close();
  }
}

async function timed<T>(action: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await action();
  return { ms: performance.now() - started, value };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const quick = values.quick === true;
  const rounds = quick ? 3 : 10;
  const dir = await makeTempDir('gridlink-bench-trend-');
  await mkdir(join(dir, 'data'), { recursive: true });
  const now = Date.now();
  const seeding = await timed(() => seed(join(dir, 'data', 'history.db'), now));
  console.error(`trend: ${SAMPLES} samples written in ${Math.round(seeding.ms)} ms`);
  const httpPort = await freePort();
  const server = await startGridlink({ dir, anonymous: false, config: { http: { host: LOOPBACK, port: httpPort }, scada: { enabled: true, simulator: { port: 0 } }, ftp: { enabled: false }, iec104: { enabled: false }, legacyChat: { enabled: false } } });
  onCleanup(() => server.process.stop());
  const base = `http://${LOOPBACK}:${httpPort}`;
  // The web listener starts after the native one startGridlink waited for.
  await server.process.waitForPort(LOOPBACK, httpPort, 20_000);
  const password = await readInitialAdminPassword(server.dataDir);
  const login = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'admin', password }) });
  if (!login.ok) throw new Error(`login: ${login.status}`);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  const since = now - RANGE_MS - 1_000;
  const until = now + 1_000;

  // REST: the decimated range, as the page asks for it.
  const decimated: number[] = [];
  let shown = 0;
  let scanned = 0;
  let bytes = 0;
  for (let i = 0; i < rounds; i += 1) {
    const { ms, value } = await timed(async () => {
      const res = await fetch(`${base}/api/history?point=${POINT}&since=${since}&until=${until}&buckets=1000`, { headers: { cookie } });
      const text = await res.text();
      if (!res.ok) throw new Error(`history: ${res.status} ${text.slice(0, 200)}`);
      return { text, body: JSON.parse(text) as { scanned: number; samples: unknown[] } };
    });
    decimated.push(ms);
    shown = value.body.samples.length;
    scanned = value.body.scanned;
    bytes = value.text.length;
  }
  // REST: every raw sample, page by page.
  const raw: number[] = [];
  let rawCount = 0;
  for (let i = 0; i < Math.max(1, Math.floor(rounds / 3)); i += 1) {
    const { ms, value } = await timed(async () => {
      let count = 0;
      for (let offset = 0; ; offset += 10_000) {
        const res = await fetch(`${base}/api/history?point=${POINT}&since=${since}&until=${until}&limit=10000&offset=${offset}`, { headers: { cookie } });
        const page = (await res.json()) as unknown[];
        count += page.length;
        if (page.length < 10_000) break;
      }
      return count;
    });
    raw.push(ms);
    rawCount = value;
  }

  // The page in Chromium.
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  onCleanup(() => browser.close());
  const renders: number[] = [];
  let longTasks: number[] = [];
  let frames: number[] = [];
  for (let i = 0; i < Math.max(2, Math.floor(rounds / 2)); i += 1) {
    // bypassCSP: the page's CSP forbids eval, which Playwright's string predicates below use; nothing else changes.
    const context = await browser.newContext({ baseURL: base, viewport: { width: 1440, height: 900 }, bypassCSP: true });
    const page = await context.newPage();
    await page.goto('/');
    await page.getByTestId('login-user').fill('admin');
    await page.getByTestId('login-password').fill(password);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('feeder-sub1.f1').waitFor();
    // Long tasks and frame intervals, recorded by the page from now on.
    await page.evaluate(`(() => {
      window.__long = []; window.__frames = [];
      new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long.push(e.duration); }).observe({ type: 'longtask', buffered: false });
      let last = performance.now();
      const tick = (t) => { window.__frames.push(t - last); last = t; requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    })()`);
    await page.getByTestId('tab-trends').click();
    await page.getByTestId('trend-point').fill(POINT);
    const started = performance.now();
    await page.getByTestId('trend-add').click();
    await page.waitForFunction(`document.querySelector('[data-testid="trend-chart"]')?.dataset.state === 'ready' && Number(document.querySelector('[data-testid="trend-chart"]').dataset.scanned) >= ${SAMPLES}`, undefined, { timeout: 60_000 });
    // The drawing itself happens in the frame after the data arrived.
    await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
    renders.push(performance.now() - started);
    // 5 s of use: wheel zooms in and out over the chart while live values arrive; each zoom fetches its range.
    const box = await page.locator('.u-over').boundingBox();
    if (box === null) throw new Error('no chart');
    await page.evaluate('window.__frames = []');
    const end = performance.now() + 5_000;
    let k = 0;
    while (performance.now() < end) {
      await page.mouse.move(box.x + box.width * (0.2 + 0.6 * Math.random()), box.y + box.height / 2);
      await page.mouse.wheel(0, k % 6 < 3 ? -240 : 240);
      k += 1;
      await page.waitForTimeout(120);
    }
    longTasks = await page.evaluate<number[]>('window.__long');
    frames = (await page.evaluate<number[]>('window.__frames')).slice(1);
    await context.close();
  }
  await browser.close();

  const sortedFrames = [...frames].sort((a, b) => a - b);
  const result = {
    ...runInfo('trend', quick),
    samples: SAMPLES,
    seedMs: Math.round(seeding.ms),
    rest: {
      decimatedMs: { median: median(decimated), p95: percentile([...decimated].sort((a, b) => a - b), 95) },
      decimatedSamples: shown,
      decimatedBytes: bytes,
      scanned,
      rawAllPagesMs: median(raw),
      rawSamples: rawCount,
    },
    page: {
      renderMs: { median: median(renders), max: Math.max(...renders) },
      longTasksDuringUse: longTasks.length,
      longestTaskMs: longTasks.length === 0 ? 0 : Math.max(...longTasks),
      frameMs: { median: median(frames), p95: percentile(sortedFrames, 95), max: sortedFrames[sortedFrames.length - 1] ?? 0 },
    },
  };
  await writeJson(join(REPO_ROOT, 'bench', 'results', 'trend.json'), result);
  console.log(`\nTrend of one point with ${SAMPLES.toLocaleString('en')} samples (${quick ? 'quick' : `${rounds} rounds`}, loopback, Chromium headless)\n`);
  console.log(
    markdownTable(
      ['measure', 'value'],
      [
        ['REST decimated (buckets=1000), median ms', fixed(result.rest.decimatedMs.median)],
        ['REST decimated, p95 ms', fixed(result.rest.decimatedMs.p95)],
        ['samples read / sent', `${scanned} / ${shown}`],
        ['answer size KiB', fixed(bytes / 1024)],
        ['REST raw, all 10 pages of 10,000, median ms', fixed(result.rest.rawAllPagesMs)],
        ['page: Add → chart drawn, median ms', fixed(result.page.renderMs.median)],
        ['page: Add → chart drawn, max ms', fixed(result.page.renderMs.max)],
        ['page: long tasks (> 50 ms) while loading and 5 s of zooming', String(result.page.longTasksDuringUse)],
        ['page: longest task ms', fixed(result.page.longestTaskMs)],
        ['page: frame interval during zooming, median / p95 / max ms', `${fixed(result.page.frameMs.median)} / ${fixed(result.page.frameMs.p95)} / ${fixed(result.page.frameMs.max)}`],
      ],
    ),
  );
}

await runBenchmark(main);
