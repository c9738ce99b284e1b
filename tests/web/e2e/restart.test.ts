import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../../scripts/build-web.js';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { launchChromium, logIn, openPage, textOf } from './browser.js';

/** A port free now, so that the restarted server listens where the first one did (as a real restart would). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * A logged-in browser stays logged in across a restart of the server
 * process (issue 14; docs/http-api.md "Sessions and CSRF"): the built
 * `gridlink serve`, stopped with SIGTERM and started again on the same data
 * directory and port.
 */
describe('a logged-in browser across a server restart', () => {
  let work: { path: string; cleanup: () => Promise<void> } | undefined;
  let server: ServerProcess | undefined;
  let browser: Browser | undefined;
  let config: Record<string, unknown> = {};

  beforeAll(async () => {
    await buildWeb();
    work = await makeTempDir();
    const port = await freePort();
    config = { dataDir: join(work.path, 'data'), http: { port }, scada: { simulator: { pollMs: 500 } }, ftp: { enabled: false }, iec104: { enabled: false }, legacyChat: { enabled: false } };
    server = await startServerProcess(work.path, config);
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await work?.cleanup();
  }, 30_000);

  it('the open page reconnects on its own and a reload needs no login', async () => {
    const started = server!.logs.find((entry) => entry['event'] === 'server.started');
    const base = String(started?.['http']);
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const password = (await readFile(join(String(config['dataDir']), 'initial-admin-password'), 'utf8')).trim();
    const user = await openPage(browser!, base);
    const { page } = user;
    await logIn(page, 'admin', password);
    await page.getByTestId('feeder-sub1.f1').waitFor();
    await expect.poll(() => page.getByTestId('link-state').getAttribute('data-state'), { timeout: 10_000 }).toBe('live');

    expect(await server!.stop()).toBe(0);
    await expect.poll(() => page.getByTestId('link-state').getAttribute('data-state'), { timeout: 10_000 }).toBe('offline');
    server = await startServerProcess(work!.path, config);
    expect(server.logs.some((entry) => entry['event'] === 'web.sessions_restored' && entry['sessions'] === 1)).toBe(true);

    // The page that stayed open is live again, still logged in.
    await expect.poll(() => page.getByTestId('link-state').getAttribute('data-state'), { timeout: 20_000 }).toBe('live');
    expect(await page.getByTestId('login-form').isVisible()).toBe(false);
    expect(await textOf(page, 'user-name')).toBe('admin');
    // A reload asks the restarted server for the session: no login form.
    await page.reload();
    await page.getByTestId('role').waitFor({ state: 'visible' });
    expect(await page.getByTestId('login-form').isVisible()).toBe(false);
    // And a state-changing request with the CSRF token from before the restart works.
    await page.getByTestId('tab-files').click();
    await page.getByTestId('mkdir-name').fill('after-restart');
    await page.getByTestId('mkdir-submit').click();
    await page.getByTestId('file-after-restart').waitFor();
    // Chromium logs each refused reconnection while the server was down; nothing else.
    expect(user.errors.filter((e) => !e.includes('ERR_CONNECTION_REFUSED'))).toEqual([]);
  }, 90_000);
});
