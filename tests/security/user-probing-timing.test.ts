import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import { codeOf } from '../helpers/code-of.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { JSON_TYPE, send } from '../web/web-client.js';

/**
 * Issue 15, finding 3: a wrong password for an unknown user was answered in
 * 1–2 ms, for an existing one after scrypt (~40 ms), so timing told which
 * names exist. An unknown name now costs the same scrypt work against a decoy
 * credential (docs/security.md).
 */
const ROUNDS = 10;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function timed(attempt: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await attempt();
  return performance.now() - start;
}

describe('a wrong password costs the same for unknown and existing users', () => {
  let server: TestServer;
  let httpPort: number;

  beforeAll(async () => {
    server = await startTestServer({ anonymous: { enabled: false }, scada: { enabled: false } });
    httpPort = server.server.httpAddress!.port;
    await server.server.users.add('alice', 'alice-password', 'operator');
  });
  afterAll(async () => {
    await server.stop();
  });

  /**
   * Sequential tries, each round one for alice and one for a name that does
   * not exist, then a good login that clears the throttle's count (so no
   * try is refused early). Medians, and a generous factor: the gap without
   * the decoy is 20-fold, so a noisy machine does not blur it.
   */
  async function compare(wrong: (user: string) => Promise<string>, good: () => Promise<unknown>): Promise<{ existing: number; unknown: number }> {
    const existing: number[] = [];
    const unknown: number[] = [];
    await wrong('alice'); // warm-up: first-use costs (JIT, scrypt's memory) do not count
    await good();
    for (let i = 0; i < ROUNDS; i += 1) {
      let code = '';
      existing.push(await timed(async () => (code = await wrong('alice'))));
      expect(code).toBe('GL_ERR_AUTH_FAILED');
      unknown.push(await timed(async () => (code = await wrong(`ghost-${i}`))));
      expect(code).toBe('GL_ERR_AUTH_FAILED');
      await good();
    }
    return { existing: median(existing), unknown: median(unknown) };
  }

  it('native password login: unknown user median ≥ 0.5 × existing user median', async () => {
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    try {
      const { existing, unknown } = await compare(
        (user) => codeOf(client.loginWithPassword(user, 'wrong-password')),
        () => client.loginWithPassword('alice', 'alice-password'),
      );
      expect(unknown, `unknown ${unknown.toFixed(1)} ms, existing ${existing.toFixed(1)} ms`).toBeGreaterThanOrEqual(0.5 * existing);
    } finally {
      await client.close();
    }
  });

  it('web login: unknown user median ≥ 0.5 × existing user median', async () => {
    const post = (user: string, password: string) => send(httpPort, 'POST', '/api/login', JSON_TYPE, JSON.stringify({ user, password }));
    const { existing, unknown } = await compare(
      async (user) => {
        const res = await post(user, 'wrong-password');
        return res.status === 401 ? res.json<{ error: { code: string } }>().error.code : `HTTP ${res.status}`;
      },
      async () => expect((await post('alice', 'alice-password')).status).toBe(200),
    );
    expect(unknown, `unknown ${unknown.toFixed(1)} ms, existing ${existing.toFixed(1)} ms`).toBeGreaterThanOrEqual(0.5 * existing);
  });
});
