import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const CLIENTS = 1_000;
const SIZE = 1024 * 1024;

/**
 * 1,000 clients at once, each uploading and downloading its own 1 MiB file,
 * against a server in its own process with the shipped defaults (fsync on).
 */
describe(`${CLIENTS} concurrent clients`, () => {
  let work: { path: string; cleanup: () => Promise<void> };
  let server: ServerProcess;

  beforeAll(async () => {
    work = await makeTempDir();
    server = await startServerProcess(work.path, {
      dataDir: join(work.path, 'data'),
      anonymous: { enabled: true, writable: true },
      log: { level: 'warn' },
    });
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('each puts and gets 1 MiB: every file byte-identical, server still healthy', { timeout: 240_000 }, async () => {
    const base = randomBytes(SIZE);
    const sums: string[] = [];
    for (let i = 0; i < CLIENTS; i += 1) {
      // Distinct content per client, so a mix-up between clients cannot pass.
      const data = Buffer.from(base);
      data.writeUInt32LE(i, 0);
      data.writeUInt32LE(i, SIZE - 4);
      sums.push(createHash('sha256').update(data).digest('hex'));
      await writeFile(join(work.path, `in-${i}.bin`), data);
    }

    const results = await Promise.allSettled(
      sums.map(async (_, i) => {
        const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port, idleTimeoutMs: 120_000 });
        try {
          const put = await client.put(join(work.path, `in-${i}.bin`), `client-${i}.bin`);
          const got = await client.get(`client-${i}.bin`, join(work.path, `out-${i}.bin`));
          return { put: put.sha256, got: got.sha256 };
        } finally {
          await client.close();
        }
      }),
    );
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${i}: ${String(r.reason)}`] : []));
    expect(failures).toEqual([]);
    for (let i = 0; i < CLIENTS; i += 1) {
      const r = results[i] as PromiseFulfilledResult<{ put: string; got: string }>;
      expect(r.value.put).toBe(sums[i]);
      expect(r.value.got).toBe(sums[i]);
    }
    // Spot-check the bytes on disk on both ends, not just the reported digests.
    for (const i of [0, 1, 499, 998, 999]) {
      const expected = createHash('sha256').update(await readFile(join(work.path, `out-${i}.bin`))).digest('hex');
      expect(expected).toBe(sums[i]);
      const stored = createHash('sha256').update(await readFile(join(work.path, 'data', 'public', `client-${i}.bin`))).digest('hex');
      expect(stored).toBe(sums[i]);
    }

    const probe = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    await probe.ping();
    await probe.close();
    expect(server.child.exitCode).toBeNull();
    // Bounded memory: 1,000 transfers must not have left the server bloated.
    const rss = await server.rss();
    console.info(`server RSS after ${CLIENTS} clients: ${(rss / 1048576).toFixed(0)} MiB`);
    expect(rss).toBeLessThan(300 * 1024 * 1024);
  });
});
