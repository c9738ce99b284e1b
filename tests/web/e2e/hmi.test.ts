import type { UserActor } from '../../../src/accounts/actor.js';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../../scripts/build-web.js';
import { GridlinkClient } from '../../../src/client/index.js';
import type { ChatEvent } from '../../../src/protocol/v1.js';
import type { ScadaService } from '../../../src/scada/scada-service.js';
import { sha256File, writeRandomFile } from '../../helpers/files.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../../helpers/test-server.js';
import { launchChromium, logIn, openPage, textOf, type UserPage } from './browser.js';
import { until } from '../../helpers/until.js';

/**
 * The operator's page (docs/http-api.md) in a real Chromium against a real gridlink
 * server: its HTTP listener, the built-in substation simulator polled over
 * Modbus TCP, accounts, files and chat — nothing mocked.
 */

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SCREENSHOT = join(REPO, 'test-results', 'hmi.png');
const PASSWORDS = { alice: 'alice-password-1', victor: 'victor-password-1', carol: 'carol-password-1' } as const;
const CAROL: UserActor = { identity: { name: 'carol', role: 'operator' }, address: '127.0.0.1', front: 'web', connection: 'e2e-test' };


describe('web HMI in Chromium', () => {
  let test: TestServer | undefined;
  let browser: Browser | undefined;
  let work: { path: string; cleanup: () => Promise<void> } | undefined;
  let operator: UserPage;
  let viewer: UserPage;

  const server = (): TestServer => {
    if (test === undefined) throw new Error('server not started');
    return test;
  };
  const scada = (): ScadaService => {
    const service = server().server.scada;
    if (service === null) throw new Error('the SCADA data plane is off');
    return service;
  };
  const feedersOf = (device: string): string[] => [...new Set(scada().points(`${device}.>`).map((p) => `${device}.${p.name.split('.')[1]}`))];

  beforeAll(async () => {
    // The page the server serves is the one in this tree.
    await buildWeb();
    // Polls twice a second; the poll timeout follows (min(500 ms, pollMs)), which stays clear of
    // a busy 2-core machine running Chromium next to the server.
    test = await startTestServer({ scada: { simulator: { pollMs: 500, updateMs: 250 } } });
    await test.server.users.add('alice', PASSWORDS.alice, 'operator');
    await test.server.users.add('victor', PASSWORDS.victor, 'viewer');
    await test.server.users.add('carol', PASSWORDS.carol, 'operator');
    const address = test.server.httpAddress;
    if (address === null) throw new Error('the server has no HTTP listener (http.enabled is off?)');
    const base = `http://127.0.0.1:${address.port}`;
    work = await makeTempDir();
    browser = await launchChromium();
    operator = await openPage(browser, base);
    viewer = await openPage(browser, base);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await test?.stop();
    await work?.cleanup();
  }, 30_000);

  it('logs in: a wrong password is refused, then the operator sees every feeder and their role', async () => {
    const { page } = operator;
    await page.goto('/');
    await page.getByTestId('login-user').fill('alice');
    await page.getByTestId('login-password').fill('not-the-password');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-error').waitFor({ state: 'visible' });
    expect(await textOf(page, 'login-error')).toMatch(/wrong user name or password/i);

    await logIn(page, 'alice', PASSWORDS.alice);
    expect(await textOf(page, 'user-name')).toBe('alice');
    expect(await textOf(page, 'role')).toBe('operator');
    await page.getByTestId('feeder-sub1.f1').waitFor();
    const shown = await Promise.all((await page.locator('[data-testid^="feeder-"]').all()).map((bay) => bay.getAttribute('data-testid')));
    expect(shown).toEqual(feedersOf('sub1').map((f) => `feeder-${f}`));
    expect(shown.length).toBeGreaterThanOrEqual(2);
    await expect.poll(() => page.getByTestId('link-state').getAttribute('data-state'), { timeout: 10_000 }).toBe('live');
    // Every quantity of a feeder is on screen with its quality.
    for (const quantity of ['voltage', 'current', 'activePower', 'reactivePower', 'frequency']) {
      await expect.poll(() => page.getByTestId(`point-sub1.f1.${quantity}`).getAttribute('data-quality'), { timeout: 10_000 }).toBe('good');
    }
    // A reload keeps the session (cookie), no second login.
    await page.reload();
    await page.getByTestId('role').waitFor({ state: 'visible' });
    await page.getByTestId('feeder-sub1.f1').waitFor();
  }, 45_000);

  it('shows a measurement change live, with the value the server holds', async () => {
    const { page } = operator;
    const name = 'sub1.f1.current';
    await expect.poll(() => textOf(page, `value-${name}`), { timeout: 10_000 }).toMatch(/^\d+\.\d$/);
    const first = await textOf(page, `value-${name}`);
    await expect.poll(() => textOf(page, `value-${name}`), { timeout: 15_000, interval: 50 }).not.toBe(first);
    await expect
      .poll(async () => (await textOf(page, `value-${name}`)) === scada().point(name).value?.toFixed(1), { timeout: 15_000, interval: 20 })
      .toBe(true);
  }, 45_000);

  it('uploads a file with a progress bar and downloads it back byte-identical', async () => {
    const { page } = operator;
    const dir = work?.path ?? '';
    const name = 'feeder-log.bin';
    const size = 3 * 1024 * 1024 + 123;
    const local = join(dir, name);
    const sha = await writeRandomFile(local, size);

    // Files share a tabbed panel with the chat, beside the substation (issue 14).
    await page.getByTestId('tab-files').click();
    await page.getByTestId('file-list').waitFor();
    await page.getByTestId('file-upload').setInputFiles(local);
    const upload = page.getByTestId(`transfer-upload-${name}`);
    await expect.poll(() => upload.getAttribute('data-state'), { timeout: 30_000 }).toBe('done');
    const bar = page.getByTestId(`progress-upload-${name}`);
    expect([await bar.getAttribute('value'), await bar.getAttribute('max')]).toEqual([String(size), String(size)]);
    await page.getByTestId(`file-${name}`).waitFor();
    expect(await sha256File(join(server().dataDir, 'home', 'alice', name))).toBe(sha);

    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.getByTestId(`download-${name}`).click()]);
    expect(download.suggestedFilename()).toBe(name);
    const saved = join(dir, 'downloaded.bin');
    await download.saveAs(saved);
    expect((await stat(saved)).size).toBe(size);
    expect(await sha256File(saved)).toBe(sha);
    await expect.poll(() => page.getByTestId(`transfer-download-${name}`).getAttribute('data-state')).toBe('done');
  }, 60_000);

  it('creates a folder, opens it and goes back, and deletes it after confirmation', async () => {
    const { page } = operator;
    await page.getByTestId('mkdir-name').fill('reports');
    await page.getByTestId('mkdir-submit').click();
    await page.getByTestId('open-dir-reports').click();
    await expect.poll(() => page.getByTestId('file-path').getAttribute('data-path')).toBe('/reports');
    expect(await textOf(page, 'file-list')).toMatch(/empty/);
    await page.getByTestId('file-path').getByText('home').click();
    await expect.poll(() => page.getByTestId('file-path').getAttribute('data-path')).toBe('/');
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByTestId('delete-reports').click();
    await expect.poll(() => page.getByTestId('file-reports').count()).toBe(0);
    await expect(access(join(server().dataDir, 'home', 'alice', 'reports'))).rejects.toThrow();
    await page.getByTestId('file-feeder-log.bin').waitFor();
  }, 30_000);

  it('a chat message typed in one browser reaches another browser and a native client, and back', async () => {
    await logIn(viewer.page, 'victor', PASSWORDS.victor);
    const native = await GridlinkClient.connect({ host: '127.0.0.1', port: server().port });
    try {
      await native.loginWithPassword('carol', PASSWORDS.carol);
      const heard: ChatEvent[] = [];
      await native.joinChat('lobby', 'carol', (event) => heard.push(event));
      await until(() => ['alice', 'victor', 'carol'].every((nick) => server().server.chat.members('lobby').includes(nick)));

      const text = 'feeder 2 maintenance at 14:00';
      await operator.page.getByTestId('tab-chat').click();
      await operator.page.getByTestId('chat-input').fill(text);
      await operator.page.getByTestId('chat-send').click();
      await viewer.page.getByTestId('chat-log').getByText(text).waitFor();
      await until(() => heard.some((e) => e.type === 'message' && e.from === 'alice' && e.text === text));
      expect(await operator.page.getByTestId('chat-input').inputValue()).toBe('');

      const reply = 'control centre: acknowledged';
      await native.say('lobby', reply);
      await operator.page.getByTestId('chat-log').getByText(reply).waitFor();
      await viewer.page.getByTestId('chat-log').getByText(reply).waitFor();
    } finally {
      await native.close();
    }
    await operator.page.getByTestId('chat-log').getByText('carol left').waitFor();
  }, 45_000);

  it('an operator opens a breaker through select → confirm → operate and sees its state and current change', async () => {
    const { page } = operator;
    const feeder = 'sub1.f2';
    await expect.poll(() => textOf(page, `breaker-${feeder}`), { timeout: 10_000 }).toBe('CLOSED');
    await expect.poll(async () => Number(await textOf(page, `value-${feeder}.current`)), { timeout: 10_000 }).toBeGreaterThan(1);
    const before = Number(await textOf(page, `value-${feeder}.current`));

    await page.getByTestId(`open-${feeder}`).click();
    const dialog = page.getByTestId('confirm-dialog');
    await dialog.waitFor({ state: 'visible' });
    expect(await textOf(page, 'confirm-question')).toBe(`Open breaker ${feeder}?`);
    expect(await textOf(page, 'lease-countdown')).toMatch(/^Lease expires in \d+ s$/);
    // While the dialog is up, alice holds the point: nobody else can select it.
    expect(() => scada().select(CAROL, `${feeder}.breaker`)).toThrow(/selected/i);

    await page.getByTestId('confirm-operate').click();
    const status = page.getByTestId('command-status');
    await expect.poll(() => status.getAttribute('data-outcome'), { timeout: 15_000 }).toBe('ok');
    expect(await textOf(page, 'command-status')).toMatch(new RegExp(`^${feeder.replace('.', '\\.')} breaker OPEN — confirmed by the status feedback in \\d+ ms\\.$`));
    expect(await dialog.isVisible()).toBe(false);
    await expect.poll(() => textOf(page, `breaker-${feeder}`), { timeout: 10_000 }).toBe('OPEN');
    expect(await page.getByTestId(`feeder-${feeder}`).getAttribute('data-breaker')).toBe('open');
    expect(scada().point(`${feeder}.breaker`).value).toBe(0);
    await expect.poll(async () => Number(await textOf(page, `value-${feeder}.current`)), { timeout: 10_000 }).toBeLessThan(Math.min(1, before / 10));
    expect(await page.getByTestId(`open-${feeder}`).isDisabled()).toBe(true);

    // Close, then Cancel: nothing is sent and the selection is released.
    await page.getByTestId(`close-${feeder}`).click();
    await dialog.waitFor({ state: 'visible' });
    expect(await textOf(page, 'confirm-question')).toBe(`Close breaker ${feeder}?`);
    await page.getByTestId('cancel-operate').click();
    await expect.poll(() => status.getAttribute('data-outcome')).toBe('cancelled');
    expect(await dialog.isVisible()).toBe(false);
    expect(await textOf(page, `breaker-${feeder}`)).toBe('OPEN');
    await expect
      .poll(async () => {
        try {
          await scada().select(CAROL, `${feeder}.breaker`);
          return true;
        } catch {
          return false;
        }
      })
      .toBe(true);
    scada().deselect(CAROL, `${feeder}.breaker`);

    // A point selected by someone else: the page says so and opens no dialog.
    await scada().select(CAROL, 'sub1.f3.breaker');
    await page.getByTestId('open-sub1.f3').click();
    await expect.poll(() => status.getAttribute('data-outcome')).toBe('failed');
    expect(await textOf(page, 'command-status')).toMatch(/GL_ERR_SCADA_SELECTED/);
    expect(await dialog.isVisible()).toBe(false);
    scada().deselect(CAROL, 'sub1.f3.breaker');
  }, 60_000);

  it('a viewer sees the controls disabled, and the API refuses a forced select or operate', async () => {
    const { page } = viewer;
    if ((await page.getByTestId('role').isVisible()) === false) await logIn(page, 'victor', PASSWORDS.victor);
    expect(await textOf(page, 'role')).toBe('viewer');
    await page.getByTestId('feeder-sub1.f1').waitFor();
    await page.getByTestId('role-note').waitFor({ state: 'visible' });
    const controls = page.locator('[data-testid^="open-sub"], [data-testid^="close-sub"]');
    expect(await controls.count()).toBe(2 * feedersOf('sub1').length);
    expect(await Promise.all((await controls.all()).map((button) => button.isDisabled()))).toEqual(Array.from({ length: 2 * feedersOf('sub1').length }, () => true));

    // Forced requests with the viewer's own session and CSRF token: refused for the role.
    const answers = await page.evaluate(async () => {
      const session = (await (await fetch('/api/session')).json()) as { csrf: string };
      const post = async (path: string, body?: unknown): Promise<[number, string]> => {
        const headers: Record<string, string> = { 'X-CSRF-Token': session.csrf };
        if (body !== undefined) headers['Content-Type'] = 'application/json';
        const response = await fetch(path, { method: 'POST', headers, body: body === undefined ? null : JSON.stringify(body) });
        const reply = (await response.json().catch(() => ({}))) as { error?: { code?: string } };
        return [response.status, reply.error?.code ?? ''];
      };
      return [await post('/api/points/sub1.f1.breaker/select'), await post('/api/points/sub1.f1.breaker/operate', { value: 0 })];
    });
    for (const [status, code] of answers) {
      expect(status).toBe(403);
      expect(code).toMatch(/^GL_ERR_/);
    }
    expect(scada().point('sub1.f1.breaker').value).toBe(1);
  }, 45_000);

  it('logging out in one tab ends the session in the other tab too (its WebSocket is closed by the server)', async () => {
    const second = await viewer.context.newPage();
    try {
      await second.goto('/');
      await second.getByTestId('role').waitFor({ state: 'visible' });
      await expect.poll(() => second.getByTestId('link-state').getAttribute('data-state')).toBe('live');
      await viewer.page.getByTestId('logout').click();
      await viewer.page.getByTestId('login-form').waitFor({ state: 'visible' });
      await second.getByTestId('login-form').waitFor({ state: 'visible' });
      expect(await textOf(second, 'login-error')).toMatch(/session has ended/);
    } finally {
      await second.close();
    }
    await logIn(viewer.page, 'victor', PASSWORDS.victor);
  }, 30_000);

  it('a limit alarm shows up live on the point and in the list; a viewer cannot acknowledge it, the operator does', async () => {
    const simulator = scada().simulator;
    if (simulator === null) throw new Error('no simulator');
    const point = 'sub1.f4.current';
    // Other alarms may be around (a poll that timed out on a busy machine raises device loss): the
    // page's counter must always agree with the server's count of unacknowledged alarms.
    const unacked = (): string => String(scada().alarms({ includeCleared: true }).filter((a) => a.state === 'active' || a.state === 'cleared').length);
    simulator.freeze(1, 3, { currentA: 650 }); // above the 600 A high limit, below high-high
    try {
      await until(() => scada().alarms().some((a) => a.source === point && a.state === 'active'));
      const alarm = scada().alarms().find((a) => a.source === point && a.state === 'active');
      if (alarm === undefined) throw new Error('no alarm');
      for (const { page } of [operator, viewer]) {
        await page.getByTestId(`alarm-${alarm.id}`).waitFor();
        expect(await textOf(page, `alarm-${alarm.id}`)).toContain(point);
        await expect.poll(async () => (await textOf(page, 'alarm-count')) === unacked()).toBe(true);
        await expect.poll(() => page.getByTestId(`point-${point}`).getAttribute('data-alarm')).toBe('active');
      }
      expect(await viewer.page.getByTestId(`ack-${alarm.id}`).isDisabled()).toBe(true);

      await operator.page.getByTestId(`ack-${alarm.id}`).click();
      await expect.poll(() => operator.page.getByTestId(`ack-${alarm.id}`).count()).toBe(0);
      expect(await textOf(operator.page, `alarm-${alarm.id}`)).toContain('acked');
      await expect.poll(async () => (await textOf(operator.page, 'alarm-count')) === unacked()).toBe(true);
      expect(scada().alarms().find((a) => a.id === alarm.id)).toMatchObject({ state: 'activeAcked', ackedBy: 'alice' });
      // The other page learns of the acknowledgement over its WebSocket.
      await expect.poll(() => textOf(viewer.page, `alarm-${alarm.id}`)).toContain('acked');
      await expect.poll(async () => (await textOf(viewer.page, 'alarm-count')) === unacked()).toBe(true);
    } finally {
      simulator.unfreeze(1, 3);
    }
    // Back within limits: cleared and acknowledged, it leaves the list.
    const row = operator.page.locator('tr[data-testid^="alarm-"]', { hasText: point });
    await expect.poll(() => row.count(), { timeout: 15_000 }).toBe(0);
  }, 45_000);

  it('an unknown address gives the 404 page', async () => {
    const page = await operator.context.newPage();
    try {
      const response = await page.goto('/no-such-page.html');
      expect(response?.status()).toBe(404);
      await page.getByTestId('not-found').waitFor();
      expect(await page.locator('a[href="/"]').count()).toBe(1);
    } finally {
      await page.close();
    }
  }, 20_000);

  it('saves a screenshot of the main page, and no page had a script error', async () => {
    const { page } = operator;
    await page.getByTestId('feeder-sub1.f1').waitFor();
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, animations: 'disabled' });
    await access(SCREENSHOT);
    expect((await stat(SCREENSHOT)).size).toBeGreaterThan(10_000);
    expect(operator.errors).toEqual([]);
    expect(viewer.errors).toEqual([]);
  }, 30_000);

  // Last: it takes the substation away for good.
  it('when the device stops answering, every value turns invalid on screen and a device alarm appears', async () => {
    const { page } = operator;
    await scada().simulator?.stop();
    await expect.poll(() => page.getByTestId('point-sub1.f1.voltage').getAttribute('data-quality'), { timeout: 15_000 }).toBe('invalid');
    for (const feeder of feedersOf('sub1')) {
      await expect.poll(() => textOf(page, `breaker-${feeder}`), { timeout: 15_000 }).toBe('INVALID');
      expect(await page.getByTestId(`feeder-${feeder}`).getAttribute('data-breaker')).toBe('unknown');
      // No command on a breaker whose position is not known.
      expect([await page.getByTestId(`open-${feeder}`).isDisabled(), await page.getByTestId(`close-${feeder}`).isDisabled()]).toEqual([true, true]);
    }
    await page.locator('tr.st-active[data-testid^="alarm-"]', { hasText: 'device:sub1' }).waitFor({ timeout: 15_000 });
    await expect.poll(() => textOf(page, 'device-status-sub1'), { timeout: 20_000 }).toBe('OFFLINE');
    await page.screenshot({ path: join(dirname(SCREENSHOT), 'hmi-device-lost.png'), animations: 'disabled' });
    expect(operator.errors).toEqual([]);
  }, 45_000);
});
