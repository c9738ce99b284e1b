import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScadaService } from '../../src/scada/scada-service.js';
import { as, login, send, startWebServer, type Login, type WebTestServer } from './web-client.js';

/** Every state-changing endpoint of docs/http-api.md, with a valid request body. */
interface Endpoint {
  readonly method: 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly body?: string;
  readonly type?: string;
  /** Role needed (beyond a session). */
  readonly role: 'viewer' | 'operator';
}

const ENDPOINTS: Endpoint[] = [
  { method: 'POST', path: '/api/logout', role: 'viewer' },
  { method: 'POST', path: '/api/alarms/1/ack', role: 'operator' },
  { method: 'POST', path: '/api/points/sub1.f1.breaker/select', role: 'operator' },
  { method: 'POST', path: '/api/points/sub1.f1.breaker/deselect', role: 'operator' },
  { method: 'POST', path: '/api/points/sub1.f1.breaker/operate', body: '{"value":0}', type: 'application/json', role: 'operator' },
  { method: 'PUT', path: '/api/files/content?path=new.txt', body: 'new bytes', type: 'application/octet-stream', role: 'viewer' },
  { method: 'POST', path: '/api/files/mkdir', body: '{"path":"newdir"}', type: 'application/json', role: 'viewer' },
  { method: 'DELETE', path: '/api/files?path=keep.txt', role: 'viewer' },
];

/** What must not change when a request is refused: the user's home, the leases, the breaker, the alarms, the sessions. */
async function snapshot(server: WebTestServer, scada: ScadaService, home: string): Promise<string> {
  const files = (await readdir(home)).sort();
  const contents = await Promise.all(files.map(async (f) => ((await stat(join(home, f))).isFile() ? (await readFile(join(home, f))).toString('base64') : 'dir')));
  const staging = await readdir(join(server.dataDir, 'staging', 'partial'));
  const breaker = scada.points('sub1.f1.breaker')[0]?.value;
  const alarms = scada.alarms({ includeCleared: true }).map((a) => `${a.id}:${a.state}`);
  const audit = server.server.audit.recent(500).filter((e) => e.event.startsWith('file.') || e.event.startsWith('control.') || e.event.startsWith('scada.'));
  return JSON.stringify({ files, contents, staging, breaker, alarms, audit: audit.length });
}

describe('the security table: every state-changing endpoint refuses, and nothing changes', () => {
  let server: WebTestServer;
  let scada: ScadaService;
  let home: string;
  let operator: Login;
  let viewer: Login;

  beforeAll(async () => {
    server = await startWebServer({
      http: { maxBodyBytes: 1024 },
      scada: { enabled: true, simulator: { noise: false, pollMs: 100, breakerTravelMs: 50, feeders: 2 } },
    });
    scada = server.server.scada!;
    await server.server.users.add('olga', 'olga-password', 'operator', 1024 * 1024);
    await server.server.users.add('vera', 'vera-password', 'viewer', 1024 * 1024);
    operator = await login(server.httpPort, 'olga', 'olga-password');
    viewer = await login(server.httpPort, 'vera', 'vera-password');
    // Both homes hold keep.txt; the table targets the home of whoever is asking.
    for (const user of ['olga', 'vera']) {
      const dir = join(server.dataDir, 'home', user);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'keep.txt'), 'keep me\n');
    }
    home = join(server.dataDir, 'home', 'olga');
    await new Promise((r) => setTimeout(r, 300)); // first polls
  });
  afterAll(async () => {
    await server.stop();
  });

  const request = (e: Endpoint, headers: Record<string, string>, body = e.body) =>
    send(server.httpPort, e.method, e.path, { ...(e.type === undefined ? {} : { 'content-type': e.type }), ...headers }, body);

  for (const e of ENDPOINTS) {
    const name = `${e.method} ${e.path}`;

    it(`${name}: no session → 401`, async () => {
      const before = await snapshot(server, scada, home);
      const res = await request(e, { origin: server.origin, 'x-csrf-token': operator.csrf });
      expect(res.status).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'GL_ERR_AUTH_REQUIRED' } });
      expect(await snapshot(server, scada, home)).toBe(before);
    });

    if (e.role === 'operator') {
      it(`${name}: a viewer's session → 403`, async () => {
        const before = await snapshot(server, scada, home);
        const res = await request(e, as(viewer, server.httpPort));
        expect(res.status).toBe(403);
        expect(res.json()).toMatchObject({ error: { code: 'GL_ERR_AUTH_FORBIDDEN' } });
        expect(await snapshot(server, scada, home)).toBe(before);
      });
    }

    it(`${name}: a forged Origin → 403`, async () => {
      const before = await snapshot(server, scada, home);
      for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${server.httpPort + 1}`, `https://127.0.0.1:${server.httpPort}`, 'http://127.0.0.1.evil.example']) {
        const res = await request(e, as(operator, server.httpPort, { origin }));
        expect(res.status).toBe(403);
        expect(res.json()).toMatchObject({ error: { code: 'GL_ERR_HTTP_ORIGIN' } });
      }
      expect(await snapshot(server, scada, home)).toBe(before);
    });

    it(`${name}: without the CSRF header, or with another session's → 403`, async () => {
      const before = await snapshot(server, scada, home);
      const headers = as(operator, server.httpPort);
      delete (headers as Record<string, string | undefined>)['x-csrf-token'];
      for (const extra of [{} as Record<string, string>, { 'x-csrf-token': '' }, { 'x-csrf-token': viewer.csrf }, { 'x-csrf-token': `${operator.csrf}x` }]) {
        const res = await request(e, { ...headers, ...extra });
        expect(res.status).toBe(403);
        expect(res.json()).toMatchObject({ error: { code: 'GL_ERR_HTTP_CSRF' } });
      }
      expect(await snapshot(server, scada, home)).toBe(before);
    });

    it(`${name}: header tricks grant nothing`, async () => {
      const before = await snapshot(server, scada, home);
      const tricks = {
        'x-forwarded-for': '127.0.0.1',
        'x-real-ip': '127.0.0.1',
        'x-remote-user': 'olga',
        'x-forwarded-user': 'admin',
        'remote-user': 'admin',
        'x-original-url': e.path,
        'x-rewrite-url': e.path,
        'x-http-method-override': 'GET',
        authorization: 'Basic b2xnYTpvbGdhLXBhc3N3b3Jk',
        'x-csrf-token': operator.csrf,
        origin: server.origin,
      };
      expect((await request(e, tricks)).status).toBe(401);
      expect(await snapshot(server, scada, home)).toBe(before);
    });
  }

  it('oversized JSON bodies → 413 and nothing changes', async () => {
    const before = await snapshot(server, scada, home);
    const big = JSON.stringify({ path: 'x'.repeat(2000) });
    const mk = await send(server.httpPort, 'POST', '/api/files/mkdir', { ...as(operator, server.httpPort), 'content-type': 'application/json' }, big);
    expect(mk.status).toBe(413);
    expect(mk.json()).toMatchObject({ error: { code: 'GL_ERR_HTTP_BODY_TOO_LARGE' } });
    const op = await send(server.httpPort, 'POST', '/api/points/sub1.f1.breaker/operate', { ...as(operator, server.httpPort), 'content-type': 'application/json' }, JSON.stringify({ value: 0, pad: 'x'.repeat(2000) }));
    expect(op.status).toBe(413);
    const log = await send(server.httpPort, 'POST', '/api/login', { 'content-type': 'application/json' }, JSON.stringify({ user: 'olga', password: 'p'.repeat(2000) }));
    expect(log.status).toBe(413);
    expect(await snapshot(server, scada, home)).toBe(before);
  });

  it('an upload beyond the quota → 413 before any byte is stored', async () => {
    const before = await snapshot(server, scada, home);
    const body = Buffer.alloc(2 * 1024 * 1024, 1);
    const res = await send(server.httpPort, 'PUT', '/api/files/content?path=huge.bin', { ...as(operator, server.httpPort), 'content-type': 'application/octet-stream' }, body);
    expect(res.status).toBe(413);
    expect(res.json()).toMatchObject({ error: { code: 'GL_ERR_FILE_QUOTA' } });
    expect(await snapshot(server, scada, home)).toBe(before);
  });

  it('traversal in file names → 400/403 and nothing outside the home is read or written', async () => {
    await writeFile(join(server.dataDir, 'home', 'secret.txt'), 'another area\n');
    const before = await snapshot(server, scada, home);
    const names = ['../secret.txt', '../vera/keep.txt', '../../gridlink.db', '/../secret.txt', 'a/../../secret.txt', '..\\secret.txt', 'x\u0000y', '.gridlink/x', '\uff0e\uff0e/secret.txt', '..\u2215secret.txt'];
    for (const name of names) {
      const q = encodeURIComponent(name);
      const headers = as(operator, server.httpPort);
      const results = [
        await send(server.httpPort, 'GET', `/api/files/content?path=${q}`, headers),
        await send(server.httpPort, 'GET', `/api/files?path=${q}`, headers),
        await send(server.httpPort, 'PUT', `/api/files/content?path=${q}`, { ...headers, 'content-type': 'application/octet-stream' }, 'evil'),
        await send(server.httpPort, 'DELETE', `/api/files?path=${q}`, headers),
        await send(server.httpPort, 'POST', '/api/files/mkdir', { ...headers, 'content-type': 'application/json' }, JSON.stringify({ path: name })),
      ];
      for (const res of results) {
        expect([400, 403]).toContain(res.status);
        expect(res.text).not.toContain('another area');
        expect(res.text).not.toContain('keep me');
      }
    }
    expect(await readFile(join(server.dataDir, 'home', 'secret.txt'), 'utf8')).toBe('another area\n');
    expect(await readFile(join(server.dataDir, 'home', 'vera', 'keep.txt'), 'utf8')).toBe('keep me\n');
    expect(await snapshot(server, scada, home)).toBe(before);
  });

  it('no endpoint runs commands; unknown methods and paths are 404, not handled elsewhere', async () => {
    const headers = as(operator, server.httpPort);
    for (const [method, path] of [
      ['POST', '/api/exec'],
      ['POST', '/api/shell'],
      ['GET', '/api/run?cmd=id'],
      ['POST', '/cgi-bin/sh'],
      ['PUT', '/index.html'],
      ['DELETE', '/'],
      ['PATCH', '/api/files'],
      ['POST', '/api/points'],
    ] as const) {
      const res = await send(server.httpPort, method, path, headers, '');
      expect(res.status).toBe(404);
    }
  });

  it('an upload without a session is refused (401) at once, before its body is read, and the connection is closed', async () => {
    const { request: httpRequest } = await import('node:http');
    const answer = await new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port: server.httpPort,
        method: 'PUT',
        path: '/api/files/content?path=huge.bin',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(1024 ** 3) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, connection: res.headers.connection });
        req.destroy();
      });
      req.on('error', reject);
      req.write(Buffer.alloc(64 * 1024)); // a little of the gigabyte, then wait for the answer
    });
    expect(answer).toEqual({ status: 401, connection: 'close' });
    await expect(stat(join(server.dataDir, 'home', 'olga', 'huge.bin'))).rejects.toThrow();
  });

  it('GET endpoints need a session too (401 without)', async () => {
    for (const path of ['/api/points', '/api/devices', '/api/history?point=sub1.f1.current', '/api/events', '/api/alarms', '/api/files', '/api/files/content?path=keep.txt', '/api/chat/lobby/members', '/api/session', '/api/live']) {
      expect((await send(server.httpPort, 'GET', path, { 'x-forwarded-for': '127.0.0.1', 'x-remote-user': 'olga' })).status).toBe(401);
    }
  });

  it('the same requests with a valid session, token and Origin do work (the table above tests the checks, not broken endpoints)', async () => {
    const headers = as(operator, server.httpPort);
    const put = await send(server.httpPort, 'PUT', '/api/files/content?path=new.txt', { ...headers, 'content-type': 'application/octet-stream' }, 'new bytes');
    expect(put.status).toBe(201);
    expect((await send(server.httpPort, 'POST', '/api/files/mkdir', { ...headers, 'content-type': 'application/json' }, '{"path":"newdir"}')).status).toBe(201);
    expect((await send(server.httpPort, 'DELETE', '/api/files?path=keep.txt', headers)).status).toBe(204);
    expect((await send(server.httpPort, 'POST', '/api/points/sub1.f1.breaker/select', headers)).status).toBe(200);
    expect((await send(server.httpPort, 'POST', '/api/points/sub1.f1.breaker/deselect', headers)).status).toBe(204);
    // Without Origin (not a browser), token and cookie suffice.
    const noOrigin = { cookie: operator.cookie, 'x-csrf-token': operator.csrf };
    expect((await send(server.httpPort, 'POST', '/api/points/sub1.f1.breaker/select', noOrigin)).status).toBe(200);
  });
});
