import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { PEERS_DIR, run } from '../helpers/python.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * docs/protocol.md against an independent peer: tests/peers/gridlink_client.py
 * was written from the document alone (SCRAM login, resumable upload, SHA-256).
 */
describe('independent Python client (versioned protocol)', () => {
  let server: TestServer;
  let work: { path: string; cleanup: () => Promise<void> };
  const py = (args: string[], password = 'erin-password') =>
    run('python3', [join(PEERS_DIR, 'gridlink_client.py'), '--host', '127.0.0.1', '--port', String(server.port), '--user', 'erin', ...args], {
      env: { ...process.env, GRIDLINK_PASSWORD: password },
      timeoutMs: 120_000,
    });

  beforeAll(async () => {
    server = await startTestServer({ anonymous: { enabled: false } });
    work = await makeTempDir();
    await server.server.users.add('erin', 'erin-password', 'operator');
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('logs in with the challenge-response', async () => {
    const out = await py(['login']);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ cmd: 'auth.proof', user: 'erin', role: 'operator' });
    const wrong = await py(['login'], 'not-erins-password');
    expect(wrong.code).toBe(2);
    expect(JSON.parse(wrong.stderr.trim())).toMatchObject({ cmd: 'error', code: 'GL_ERR_AUTH_FAILED' });
  });

  it('a replayed proof is refused', async () => {
    const out = await py(['replay']);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ cmd: 'error', code: expect.stringMatching(/^GL_ERR_AUTH_/u) as string });
  });

  it('uploads, is cut off, resumes from where the server stopped, and both SHA-256 agree', async () => {
    const local = join(work.path, 'feeder-log.bin');
    const sum = await writeRandomFile(local, 12 * 1024 * 1024 + 7);
    const cut = await py(['put', local, 'logs/feeder-log.bin', '--cut-after', '5000000']);
    // logs/ does not exist yet: the server refuses before any byte is stored.
    expect(cut.code).toBe(2);
    expect(cut.stderr).toContain('GL_ERR_FILE_NOT_FOUND');

    const { GridlinkClient } = await import('../../src/client/index.js');
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    await client.login('erin', 'erin-password');
    await client.mkdir('logs');
    await client.close();

    const first = await py(['put', local, 'logs/feeder-log.bin', '--cut-after', '5000000']);
    expect(first.code).toBe(3);
    expect(JSON.parse(first.stdout)).toEqual({ cut_at: 5_000_000 });
    const resumed = await py(['put', local, 'logs/feeder-log.bin']);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const result = JSON.parse(resumed.stdout) as { offset: number; sha256: string; length: number };
    expect(result.offset).toBe(5_000_000);
    expect(result.sha256).toBe(sum);
    expect(result.length).toBe(12 * 1024 * 1024 + 7);
    expect(await sha256File(join(server.dataDir, 'home', 'erin', 'logs', 'feeder-log.bin'))).toBe(sum);
    await expect(stat(join(server.dataDir, 'home', 'erin', 'logs', 'feeder-log.bin.part'))).rejects.toThrow();
  });
});
