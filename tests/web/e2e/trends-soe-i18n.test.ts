import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../../scripts/build-web.js';
import { HistoryStore } from '../../../src/scada/history-store.js';
import type { ScadaService } from '../../../src/scada/scada-service.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../../helpers/test-server.js';
import { until } from '../../helpers/until.js';
import { launchChromium, launchChromiumIn, logIn, openPage, textOf, type UserPage } from './browser.js';

/**
 * The page's trends, sequence of events and languages (issue 14) in a real
 * Chromium against a real server whose history already holds the last 15
 * minutes of `sub1.f1.current` (written with the history store before the
 * server starts, with a stretch of invalid quality), then the simulator's
 * live values. Screenshots go to the test's temporary directory, or to
 * docs/ for the README with GRIDLINK_SCREENSHOTS=docs (a test run does not
 * rewrite tracked files unless asked).
 */

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DOCS = join(REPO, 'docs');
/** Where screenshots go: docs/ on request, else the temporary directory (set in beforeAll). */
let shots = DOCS;
const PASSWORD = 'alice-password-1';
const POINT = 'sub1.f1.current';
const MINUTE = 60_000;

/** 15 minutes of a feeder's current every 2 s: a daily-load-like swing, with 40 s of invalid quality in the middle. */
async function seedHistory(path: string, now: number): Promise<number> {
  const store = new HistoryStore(path);
  let n = 0;
  try {
    for (let at = now - 15 * MINUTE; at < now - 5_000; at += 2_000) {
      const minute = (at - (now - 15 * MINUTE)) / MINUTE;
      const gap = minute > 9 && minute < 9 + 40 / 60;
      const value = Math.round((380 + 60 * Math.sin(minute / 2.2) + 12 * Math.sin(minute * 3.1)) * 10) / 10;
      store.record({ seq: store.takeSeq(), point: POINT, kind: gap ? 'quality' : 'change', value: gap ? null : value, quality: gap ? 'invalid' : 'good', sourceTime: at, serverTime: at });
      n += 1;
    }
  } finally {
    await store.close();
  }
  return n;
}

async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(shots, { recursive: true });
  const path = join(shots, name);
  await page.screenshot({ path, animations: 'disabled' });
  expect((await stat(path)).size).toBeGreaterThan(20_000);
}

describe('trends, sequence of events and Chinese in Chromium (issue 14)', () => {
  let test: TestServer | undefined;
  let work: { path: string; cleanup: () => Promise<void> } | undefined;
  let browser: Browser | undefined;
  let chinese: Browser | undefined;
  let operator: UserPage;
  let base = '';
  let seeded = 0;

  const scada = (): ScadaService => {
    const service = test?.server.scada;
    if (service === undefined || service === null) throw new Error('no data plane');
    return service;
  };

  beforeAll(async () => {
    await buildWeb();
    work = await makeTempDir();
    if (process.env.GRIDLINK_SCREENSHOTS !== 'docs') shots = join(work.path, 'screenshots');
    const dataDir = join(work.path, 'data');
    await mkdir(dataDir, { recursive: true });
    seeded = await seedHistory(join(dataDir, 'history.db'), Date.now());
    test = await startTestServer({ dataDir, scada: { simulator: { pollMs: 500, updateMs: 250 } } });
    await test.server.users.add('alice', PASSWORD, 'operator');
    await test.server.users.add('wang', 'wang-password-1', 'operator');
    base = `http://127.0.0.1:${test.server.httpAddress!.port}`;
    browser = await launchChromium();
    operator = await openPage(browser, base);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await chinese?.close();
    await test?.stop();
    await work?.cleanup();
  }, 30_000);

  it(`a trend of ${POINT} over the last 15 minutes renders from history, with live points added at the right edge`, async () => {
    const { page } = operator;
    await logIn(page, 'alice', PASSWORD);
    await page.getByTestId(`value-${POINT}`).waitFor();
    await page.getByTestId('tab-trends').click();
    await page.getByTestId('trend-point').fill(POINT);
    await page.getByTestId('trend-add').click();
    const chart = page.getByTestId('trend-chart');
    await expect.poll(() => chart.getAttribute('data-state'), { timeout: 15_000 }).toBe('ready');
    // The 15 minutes of history are there, and the chart is drawn (uPlot's canvas, one y axis labelled with the unit).
    await expect.poll(async () => Number(await chart.getAttribute('data-scanned'))).toBeGreaterThanOrEqual(seeded);
    expect(await page.getByTestId('trend-preset-15').getAttribute('aria-pressed')).toBe('true');
    const range = page.getByTestId('trend-range');
    const from = Number(await range.getAttribute('data-from'));
    const to = Number(await range.getAttribute('data-to'));
    expect(to - from).toBe(15 * MINUTE);
    expect(await chart.locator('canvas').count()).toBe(1);
    expect(await chart.getAttribute('data-units')).toBe('A');
    expect(await chart.locator('.u-legend').textContent()).toContain(POINT);
    // Hovering shows the value under the cursor with its unit.
    const over = (await chart.locator('.u-over').boundingBox())!;
    await page.mouse.move(over.x + over.width * 0.2, over.y + over.height / 2);
    await expect.poll(() => chart.locator('.u-legend').textContent()).toMatch(/\d+\.\d A/);
    // Live: values from the WebSocket are appended and the window follows the clock.
    const samples = Number(await chart.getAttribute('data-samples'));
    await expect.poll(async () => Number((await chart.getAttribute('data-live')) ?? 0), { timeout: 15_000 }).toBeGreaterThan(1);
    await expect.poll(async () => Number(await chart.getAttribute('data-samples')), { timeout: 15_000 }).toBeGreaterThan(samples);
    await expect.poll(async () => Number(await range.getAttribute('data-to')), { timeout: 5_000 }).toBeGreaterThan(to);
    await screenshot(page, 'hmi-trend.png');
  }, 60_000);

  it('zooming by dragging across the chart narrows the range and leaves live mode; double-click goes back', async () => {
    const { page } = operator;
    const range = page.getByTestId('trend-range');
    const before = { from: Number(await range.getAttribute('data-from')), to: Number(await range.getAttribute('data-to')) };
    const over = page.locator('.u-over');
    const box = (await over.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, { steps: 8 });
    await page.mouse.up();
    await expect.poll(async () => (await range.getAttribute('data-follow')) === 'false').toBe(true);
    const from = Number(await range.getAttribute('data-from'));
    const to = Number(await range.getAttribute('data-to'));
    expect(to - from).toBeLessThan((before.to - before.from) * 0.3);
    expect(from).toBeGreaterThan(before.from);
    expect(to).toBeLessThan(before.to);
    // The zoomed range is fetched again at the chart's resolution.
    await expect.poll(() => page.getByTestId('trend-chart').getAttribute('data-state')).toBe('ready');
    // Wheel over the chart zooms out around the cursor.
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
    await page.mouse.wheel(0, 300);
    await expect.poll(async () => Number(await range.getAttribute('data-to')) - Number(await range.getAttribute('data-from'))).toBeGreaterThan(to - from);
    await over.dblclick();
    await expect.poll(() => range.getAttribute('data-follow')).toBe('true');
    expect(Number(await range.getAttribute('data-to')) - Number(await range.getAttribute('data-from'))).toBe(15 * MINUTE);
  }, 30_000);

  it("the sequence of events filters by point and shows an operator's command with the operator's name and outcome", async () => {
    const { page } = operator;
    const feeder = 'sub1.f2';
    await page.getByTestId('tab-substation').click();
    await expect.poll(() => textOf(page, `breaker-${feeder}`), { timeout: 10_000 }).toBe('CLOSED');
    await page.getByTestId(`open-${feeder}`).click();
    await page.getByTestId('confirm-operate').click();
    await expect.poll(() => page.getByTestId('command-status').getAttribute('data-outcome'), { timeout: 15_000 }).toBe('ok');

    await page.getByTestId('tab-soe').click();
    await page.getByTestId('soe-pattern').fill(`${feeder}.*`);
    await page.getByTestId('soe-apply').click();
    const rows = page.getByTestId('soe-row');
    const command = page.locator('[data-testid="soe-row"][data-kind="command"]');
    await expect.poll(() => command.count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect(await command.first().getByTestId('soe-who').textContent()).toBe('alice');
    await expect.poll(async () => command.first().getByTestId('soe-outcome').textContent(), { timeout: 10_000 }).toMatch(/^confirmed in \d+ ms$/);
    expect(await command.first().getAttribute('data-point')).toBe(`${feeder}.breaker`);
    // The breaker's change is there too, and every row is of the filtered feeder.
    await expect.poll(() => page.locator('[data-testid="soe-row"][data-kind="change"]', { hasText: 'OPEN' }).count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    const points = await Promise.all((await rows.all()).map((row) => row.getAttribute('data-point')));
    expect(points.length).toBeGreaterThan(0);
    for (const point of points) expect(point).toMatch(/^sub1\.f2\./);
    // Live at the top: a second command appears without reloading.
    const count = await command.count();
    await page.getByTestId('tab-substation').click();
    await page.getByTestId(`close-${feeder}`).click();
    await page.getByTestId('confirm-operate').click();
    await expect.poll(() => page.getByTestId('command-status').getAttribute('data-outcome'), { timeout: 15_000 }).toBe('ok');
    await page.getByTestId('tab-soe').click();
    await expect.poll(() => command.count(), { timeout: 10_000 }).toBe(count + 1);
    expect(await rows.first().getAttribute('data-kind')).toMatch(/^(command|change)$/);
    await screenshot(page, 'hmi-soe.png');
    expect(operator.errors).toEqual([]);
  }, 60_000);

  it('a browser in Chinese (--lang=zh-CN) shows the page in Chinese; the switch turns it into English and it is remembered', async () => {
    chinese = await launchChromiumIn('zh-CN');
    const user = await openPage(chinese, base);
    const { page } = user;
    await page.goto('/');
    expect(await page.evaluate<string>('navigator.languages[0]')).toBe('zh-CN');
    await page.getByTestId('login-submit').waitFor();
    expect(await textOf(page, 'login-submit')).toBe('登录');
    // An alarm, so that the alarm list shows Chinese too.
    const simulator = scada().simulator!;
    simulator.freeze(1, 3, { currentA: 650 });
    try {
      await until(() => scada().alarms().some((a) => a.source === 'sub1.f4.current' && a.state === 'active'), 10_000, 'alarm');
      await logIn(page, 'wang', 'wang-password-1');
      await page.getByTestId('feeder-sub1.f1').waitFor();
      expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
      expect(await textOf(page, 'bay-name-sub1.f1')).toBe('馈线 f1');
      expect(await textOf(page, 'alarms-title')).toBe('告警');
      expect(await textOf(page, 'open-sub1.f1')).toBe('分闸');
      expect(await textOf(page, 'close-sub1.f1')).toBe('合闸');
      expect(await textOf(page, 'tab-files')).toBe('文件');
      expect(await textOf(page, 'role')).toBe('操作员');
      await expect.poll(() => textOf(page, 'breaker-sub1.f1'), { timeout: 10_000 }).toBe('合位');
      const alarmRow = page.locator('tr[data-testid^="alarm-"]', { hasText: 'sub1.f4.current' });
      await alarmRow.waitFor();
      expect(await alarmRow.textContent()).toContain('高限');
      expect(await alarmRow.textContent()).toContain('告警中');
      // The alarm sounds (after a click on the page, as browsers require) until silenced, and blinks until acknowledged.
      const sound = page.getByTestId('sound');
      await page.getByTestId('clock').click();
      await expect.poll(() => sound.getAttribute('data-state'), { timeout: 5_000 }).toBe('alarm');
      await expect.poll(async () => Number((await sound.getAttribute('data-chimes')) ?? 0), { timeout: 5_000 }).toBeGreaterThan(0);
      expect(await alarmRow.getAttribute('class')).toContain('unacked');
      // The detail row of a value: its quality and source time.
      await page.getByTestId('point-sub1.f1.current').click();
      await page.getByTestId('detail-sub1.f1.current').waitFor();
      expect(await textOf(page, 'detail-quality-sub1.f1.current')).toBe('正常');
      expect(await textOf(page, 'detail-source-sub1.f1.current')).toMatch(/^\d{2}:\d{2}:\d{2}$/);
      // The clock in the header, in Chinese.
      expect(await page.getByTestId('clock').textContent()).toMatch(/周/);
      await screenshot(page, 'hmi-zh-CN.png');

      await sound.click();
      expect(await sound.getAttribute('data-state')).toBe('silenced');

      // The switch: English at once, and still English after a reload.
      await page.getByTestId('lang-switch').selectOption('en');
      expect(await textOf(page, 'bay-name-sub1.f1')).toBe('Feeder f1');
      expect(await textOf(page, 'alarms-title')).toBe('Alarms');
      expect(await textOf(page, 'open-sub1.f1')).toBe('Open');
      expect(await textOf(page, 'tab-files')).toBe('Files');
      expect(await textOf(page, 'breaker-sub1.f1')).toBe('CLOSED');
      expect(await alarmRow.textContent()).toContain('high limit');
      expect(await page.locator('html').getAttribute('lang')).toBe('en');
      await page.reload();
      await page.getByTestId('feeder-sub1.f1').waitFor();
      expect(await textOf(page, 'bay-name-sub1.f1')).toBe('Feeder f1');
      expect(await textOf(page, 'tab-trends')).toBe('Trends');
    } finally {
      simulator.unfreeze(1, 3);
    }
    expect(user.errors).toEqual([]);
  }, 60_000);
});
