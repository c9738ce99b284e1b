import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { makeTempDir } from '../helpers/temp-dir.js';
import { as, JSON_TYPE, login, send, startWebServer, type WebTestServer } from '../web/web-client.js';

/**
 * Issue 15, finding 6: `Origin: http://evil.example` with `Host: evil.example`
 * was accepted, because the Origin was compared with the Host the request
 * named: a page of a DNS-rebinding attacker passed. The Host must be one of
 * the server's names, on every request (docs/security.md).
 */
describe('only the server\'s own names are accepted, in Host and in Origin', () => {
  let server: WebTestServer;
  let page: { path: string; cleanup: () => Promise<void> };
  const evil = { host: 'evil.example', origin: 'http://evil.example' };
  const login$ = (headers: Record<string, string>) =>
    send(server.httpPort, 'POST', '/api/login', { ...JSON_TYPE, ...headers }, JSON.stringify({ user: 'alice', password: 'alice-password' }));

  beforeAll(async () => {
    page = await makeTempDir();
    await mkdir(page.path, { recursive: true });
    await writeFile(join(page.path, 'index.html'), '<!doctype html><title>HMI</title>\n');
    server = await startWebServer({ http: { staticDir: page.path, hosts: ['hmi.plant.example'], origins: ['https://proxy.plant.example'] } });
    await server.server.users.add('alice', 'alice-password', 'operator');
  });
  afterAll(async () => {
    await server.stop();
    await page.cleanup();
  });

  it('a login with Host and Origin of another site is refused (403), and no session is made', async () => {
    const res = await login$(evil);
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: 'GL_ERR_HTTP_ORIGIN' } });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(server.server.audit.recent(50).some((e) => e.event === 'auth.login')).toBe(false);
  });

  it('with a foreign Host, reads are refused too: the page, the API, /metrics (a rebinding page could read them)', async () => {
    const alice = await login(server.httpPort, 'alice', 'alice-password');
    expect((await send(server.httpPort, 'GET', '/', { host: 'evil.example:8000' })).status).toBe(403);
    expect((await send(server.httpPort, 'GET', '/api/session', { cookie: alice.cookie, host: 'evil.example' })).status).toBe(403);
    expect((await send(server.httpPort, 'GET', '/metrics', { host: 'evil.example' })).status).toBe(403);
    expect((await send(server.httpPort, 'GET', '/nowhere', { host: 'evil.example' })).status).toBe(403);
  });

  it('the WebSocket upgrade with a foreign Host and Origin is refused', async () => {
    const alice = await login(server.httpPort, 'alice', 'alice-password');
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/api/live`, { headers: { cookie: alice.cookie, ...evil } });
      ws.once('open', () => {
        ws.terminate();
        resolve(101);
      });
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
        ws.terminate();
      });
      ws.once('error', reject);
    });
    expect(status).toBe(403);
  });

  it('an Origin of another site is refused even when the Host is ours', async () => {
    expect((await login$({ origin: 'http://evil.example' })).status).toBe(403);
    expect((await login$({ origin: 'http://evil.example', host: 'localhost' })).status).toBe(403);
  });

  it('normal use still works: the listener address, localhost, http.hosts and the names of http.origins', async () => {
    const port = server.httpPort;
    expect((await login$({ origin: `http://127.0.0.1:${port}` })).status).toBe(200);
    expect((await login$({ host: `localhost:${port}`, origin: `http://localhost:${port}` })).status).toBe(200);
    expect((await login$({ host: 'hmi.plant.example', origin: 'http://hmi.plant.example' })).status).toBe(200);
    expect((await login$({ host: 'proxy.plant.example', origin: 'https://proxy.plant.example' })).status).toBe(200);
    expect((await login$({})).status).toBe(200); // no Origin: not a browser
    expect((await send(port, 'GET', '/')).status).toBe(200);
    expect((await send(port, 'GET', '/', { host: `LOCALHOST:${port}` })).status).toBe(200);
    expect((await send(port, 'GET', '/metrics')).status).toBe(200);
    const alice = await login(port, 'alice', 'alice-password');
    const res = await send(port, 'POST', '/api/logout', as(alice, port));
    expect(res.status).toBe(204);
  });
});
