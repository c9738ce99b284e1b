import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import type { GridlinkError } from '../../src/errors/index.js';
import { as, JSON_TYPE, login, send, startWebServer, type WebTestServer } from './web-client.js';

describe('web login, sessions and CSRF (docs/http-api.md)', () => {
  let server: WebTestServer;

  beforeAll(async () => {
    server = await startWebServer();
    await server.server.users.add('alice', 'alice-password', 'operator');
    await server.server.users.add('bob', 'bob-password-1', 'viewer');
    await server.server.users.add('dave', 'dave-password', 'viewer');
  });
  afterAll(async () => {
    await server.stop();
  });

  it('login gives user, role and a CSRF token, and an HttpOnly SameSite=Strict cookie without Secure on plain HTTP', async () => {
    const res = await send(server.httpPort, 'POST', '/api/login', JSON_TYPE, JSON.stringify({ user: 'alice', password: 'alice-password' }));
    expect(res.status).toBe(200);
    const body = res.json<{ user: string; role: string; csrf: string }>();
    expect(body).toMatchObject({ user: 'alice', role: 'operator' });
    expect(body.csrf.length).toBeGreaterThanOrEqual(40);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^gl_session=[A-Za-z0-9_-]{40,};/u);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/');
    expect(cookie).not.toContain('Secure');
  });

  it('GET /api/session answers the session or 401', async () => {
    const alice = await login(server.httpPort, 'alice', 'alice-password');
    const res = await send(server.httpPort, 'GET', '/api/session', { cookie: alice.cookie });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ user: 'alice', role: 'operator', csrf: alice.csrf });
    const none = await send(server.httpPort, 'GET', '/api/session');
    expect(none.status).toBe(401);
    expect(none.json()).toMatchObject({ error: { code: 'GL_ERR_AUTH_REQUIRED' } });
    expect((await send(server.httpPort, 'GET', '/api/session', { cookie: 'gl_session=forged-token-value' })).status).toBe(401);
  });

  it('wrong password and unknown user fail alike (401), are audited with via=web, and the password is never stored', async () => {
    const wrong = await send(server.httpPort, 'POST', '/api/login', JSON_TYPE, JSON.stringify({ user: 'dave', password: 'wrong-password' }));
    const unknown = await send(server.httpPort, 'POST', '/api/login', JSON_TYPE, JSON.stringify({ user: 'nobody', password: 'wrong-password' }));
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.json<{ error: { code: string } }>().error.code).toBe('GL_ERR_AUTH_FAILED');
    expect(unknown.json<{ error: { message: string } }>().error.message).toBe(wrong.json<{ error: { message: string } }>().error.message);
    await login(server.httpPort, 'dave', 'dave-password');
    const events = server.server.audit.recent(50);
    expect(events.some((e) => e.event === 'auth.failure' && e.actor === 'dave' && e.detail?.['via'] === 'web')).toBe(true);
    expect(events.some((e) => e.event === 'auth.login' && e.actor === 'dave' && e.detail?.['via'] === 'web')).toBe(true);
    expect(JSON.stringify(events)).not.toContain('dave-password');
  });

  it('malformed logins are 400: not JSON, a form post, missing fields, wrong types', async () => {
    for (const [type, body] of [
      ['application/json', '{"user":'],
      ['application/x-www-form-urlencoded', 'user=alice&password=alice-password'],
      ['text/plain', '{"user":"alice","password":"alice-password"}'],
      ['application/json', '{"user":"alice"}'],
      ['application/json', '{"user":1,"password":["x"]}'],
    ] as const) {
      const res = await send(server.httpPort, 'POST', '/api/login', { 'content-type': type }, body);
      expect([400, 415]).toContain(res.status);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
  });

  it('logout ends the session server-side and clears the cookie; the old cookie is refused', async () => {
    const bob = await login(server.httpPort, 'bob', 'bob-password-1');
    const res = await send(server.httpPort, 'POST', '/api/logout', as(bob, server.httpPort));
    expect(res.status).toBe(204);
    expect(String(res.headers['set-cookie'])).toMatch(/gl_session=;/u);
    expect((await send(server.httpPort, 'GET', '/api/session', { cookie: bob.cookie })).status).toBe(401);
    expect(server.server.audit.recent(20).some((e) => e.event === 'auth.logout' && e.actor === 'bob')).toBe(true);
  });

  it('logout needs the CSRF token (a cross-site page cannot log a user out)', async () => {
    const bob = await login(server.httpPort, 'bob', 'bob-password-1');
    expect((await send(server.httpPort, 'POST', '/api/logout', { cookie: bob.cookie })).status).toBe(403);
    expect((await send(server.httpPort, 'GET', '/api/session', { cookie: bob.cookie })).status).toBe(200);
  });

  it('a new login gives a new cookie and ends the session of the cookie it came with (no fixation)', async () => {
    const first = await login(server.httpPort, 'bob', 'bob-password-1');
    const second = await login(server.httpPort, 'bob', 'bob-password-1', { cookie: first.cookie });
    expect(second.cookie).not.toBe(first.cookie);
    expect((await send(server.httpPort, 'GET', '/api/session', { cookie: first.cookie })).status).toBe(401);
    expect((await send(server.httpPort, 'GET', '/api/session', { cookie: second.cookie })).status).toBe(200);
  });

  it('login checks Origin too', async () => {
    const res = await send(server.httpPort, 'POST', '/api/login', { ...JSON_TYPE, origin: 'http://evil.example' }, JSON.stringify({ user: 'bob', password: 'bob-password-1' }));
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: 'GL_ERR_HTTP_ORIGIN' } });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect((await login(server.httpPort, 'bob', 'bob-password-1', { origin: server.origin })).role).toBe('viewer');
  });

  it('a deleted user loses access at once', async () => {
    await server.server.users.add('gone', 'gone-password', 'operator');
    const gone = await login(server.httpPort, 'gone', 'gone-password');
    expect((await send(server.httpPort, 'GET', '/api/session', { cookie: gone.cookie })).status).toBe(200);
    server.server.users.delete('gone');
    expect((await send(server.httpPort, 'GET', '/api/session', { cookie: gone.cookie })).status).toBe(401);
    // Even if the same name is created again, the old cookie stays dead.
    await server.server.users.add('gone', 'gone-password', 'operator');
    expect((await send(server.httpPort, 'GET', '/api/session', { cookie: gone.cookie })).status).toBe(401);
  });

  it('a password change ends the sessions; a role change applies at once', async () => {
    await server.server.users.add('carl', 'carl-password', 'operator');
    const carl = await login(server.httpPort, 'carl', 'carl-password');
    server.server.users.setRole('carl', 'viewer');
    expect((await send(server.httpPort, 'GET', '/api/session', { cookie: carl.cookie })).json()).toMatchObject({ role: 'viewer' });
    await server.server.users.setPassword('carl', 'carl-password-2');
    expect((await send(server.httpPort, 'GET', '/api/session', { cookie: carl.cookie })).status).toBe(401);
  });

  it('failed web logins are throttled like native ones (429 with Retry-After), and the throttle is shared with the native protocol', async () => {
    await server.server.users.add('tess', 'tess-password', 'viewer');
    let last = 0;
    let retryAfter: unknown;
    for (let i = 0; i < 7; i += 1) {
      const res = await send(server.httpPort, 'POST', '/api/login', JSON_TYPE, JSON.stringify({ user: 'tess', password: 'bad-password' }));
      last = res.status;
      retryAfter = res.headers['retry-after'];
    }
    expect(last).toBe(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    // Even the right password waits now.
    const right = await send(server.httpPort, 'POST', '/api/login', JSON_TYPE, JSON.stringify({ user: 'tess', password: 'tess-password' }));
    expect(right.status).toBe(429);
    expect(server.server.audit.recent(30).some((e) => e.event === 'auth.throttled' && e.actor === 'tess')).toBe(true);
    const native = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    try {
      const err = await native.loginWithPassword('tess', 'tess-password').catch((e: unknown) => e);
      expect((err as GridlinkError).code).toBe('GL_ERR_AUTH_THROTTLED');
    } finally {
      await native.close();
    }
  });
});

describe('web sessions: idle expiry and a bounded store', () => {
  it('a session unused for http.sessionIdleMinutes ends; use keeps it alive', async () => {
    // 3 s, used every second: wide margins, so a busy machine cannot make the used session look idle.
    const server = await startWebServer({ http: { sessionIdleMinutes: 0.05 } });
    try {
      await server.server.users.add('ivy', 'ivy-password', 'viewer');
      const a = await login(server.httpPort, 'ivy', 'ivy-password');
      const b = await login(server.httpPort, 'ivy', 'ivy-password');
      for (let i = 0; i < 4; i += 1) {
        await new Promise((r) => setTimeout(r, 1_000));
        expect((await send(server.httpPort, 'GET', '/api/session', { cookie: a.cookie })).status).toBe(200);
      }
      expect((await send(server.httpPort, 'GET', '/api/session', { cookie: b.cookie })).status).toBe(401);
    } finally {
      await server.stop();
    }
  });

  it('beyond http.maxSessions the least recently used session ends', async () => {
    const server = await startWebServer({ http: { maxSessions: 3 } });
    try {
      await server.server.users.add('ivy', 'ivy-password', 'viewer');
      const sessions = [];
      for (let i = 0; i < 3; i += 1) sessions.push(await login(server.httpPort, 'ivy', 'ivy-password'));
      // Use the first, so the second is now the least recently used.
      expect((await send(server.httpPort, 'GET', '/api/session', { cookie: sessions[0]!.cookie })).status).toBe(200);
      sessions.push(await login(server.httpPort, 'ivy', 'ivy-password'));
      const alive = await Promise.all(sessions.map(async (s) => (await send(server.httpPort, 'GET', '/api/session', { cookie: s.cookie })).status));
      expect(alive).toEqual([200, 401, 200, 200]);
    } finally {
      await server.stop();
    }
  });
});
