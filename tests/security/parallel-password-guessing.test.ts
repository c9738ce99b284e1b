import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import { codeOf } from '../helpers/code-of.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { JSON_TYPE, send } from '../web/web-client.js';

/**
 * Issue 15, finding 2: the throttle was checked before the slow password
 * check and the failure counted after it, so guesses sent at the same time
 * all ran. An attempt now counts before it is verified (docs/security.md).
 */
describe('password guesses sent in parallel are throttled like sequential ones', () => {
  let server: TestServer;
  let httpPort: number;

  beforeEach(async () => {
    server = await startTestServer({ anonymous: { enabled: false }, scada: { enabled: false } });
    httpPort = server.server.httpAddress!.port;
    await server.server.users.add('alice', 'alice-password', 'operator');
  });
  afterEach(async () => {
    await server.stop();
  });

  /** `n` connections, all open before anyone sends a password. */
  async function clients(n: number): Promise<GridlinkClient[]> {
    const all: GridlinkClient[] = [];
    for (let i = 0; i < n; i += 1) all.push(await GridlinkClient.connect({ host: '127.0.0.1', port: server.port }));
    return all;
  }

  // 5 failures block for 1 s, then 2 s, …: a burst that takes over a second to
  // arrive may see a sixth or seventh attempt checked, as sequential ones would.
  it('60 simultaneous wrong web logins: a handful are checked (401), the rest are 429', async () => {
    const body = JSON.stringify({ user: 'alice', password: 'wrong-password' });
    const answers = await Promise.all(Array.from({ length: 60 }, () => send(httpPort, 'POST', '/api/login', JSON_TYPE, body)));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(8);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(52);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
  });

  it('100 simultaneous native password logins: a handful are checked, the rest GL_ERR_AUTH_THROTTLED', async () => {
    const all = await clients(100);
    try {
      const codes = await Promise.all(all.map((c) => codeOf(c.loginWithPassword('alice', 'wrong-password'))));
      expect(codes.filter((c) => c === 'GL_ERR_AUTH_FAILED').length).toBeLessThanOrEqual(8);
      expect(codes.filter((c) => c === 'GL_ERR_AUTH_THROTTLED').length).toBeGreaterThanOrEqual(92);
    } finally {
      await Promise.all(all.map((c) => c.close().catch(() => undefined)));
    }
  });

  it('a burst of 40 guesses with the right password last does not log in', async () => {
    const all = await clients(40);
    try {
      const codes = await Promise.all(all.map((c, i) => codeOf(c.loginWithPassword('alice', i === 39 ? 'alice-password' : `wrong-password-${i}`))));
      expect(codes[39]).toBe('GL_ERR_AUTH_THROTTLED');
      expect(codes.includes('resolved')).toBe(false);
      expect(server.server.audit.recent(200).some((e) => e.event === 'auth.login' && e.actor === 'alice')).toBe(false);
    } finally {
      await Promise.all(all.map((c) => c.close().catch(() => undefined)));
    }
  });

  it('sequential use is unchanged: a right password after a few wrong ones logs in and clears the count', async () => {
    const [client] = await clients(1);
    try {
      for (let i = 0; i < 3; i += 1) expect(await codeOf(client!.loginWithPassword('alice', 'wrong-password'))).toBe('GL_ERR_AUTH_FAILED');
      expect(await client!.loginWithPassword('alice', 'alice-password')).toMatchObject({ user: 'alice' });
      for (let i = 0; i < 4; i += 1) expect(await codeOf(client!.loginWithPassword('alice', 'wrong-password'))).toBe('GL_ERR_AUTH_FAILED');
      expect(await client!.loginWithPassword('alice', 'alice-password')).toMatchObject({ user: 'alice' });
    } finally {
      await client!.close();
    }
  });
});
