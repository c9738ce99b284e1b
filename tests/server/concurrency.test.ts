import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import { configSchema } from '../../src/config/schema.js';
import { CHUNK_BYTES, FILE_IO_BYTES } from '../../src/units/buffer-sizes.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const CLIENTS = 1_000;
const SIZE = 1024 * 1024;
const MiB = 1024 * 1024;

/** The server this test starts runs with the default `files.maxActiveTransfers`. */
const ACTIVE_TRANSFERS = configSchema.parse({}).files.maxActiveTransfers;

/**
 * What the design lets the server's memory grow by under this load, on top of
 * its idle size: each waiting connection holds at most one socket read
 * (CHUNK_BYTES) and its session (counted as twice that together); each active
 * transfer about three FILE_IO_BYTES of file I/O (a write queue and two read
 * buffers); and V8 may leave up to 64 MiB of freed buffers for its next
 * collection. A server that kept each client's file, or anything per
 * connection beyond that, goes past it.
 */
const GROWTH_BUDGET = CLIENTS * 2 * CHUNK_BYTES + ACTIVE_TRANSFERS * 3 * FILE_IO_BYTES + 64 * MiB;

/**
 * 1,000 clients at once, each uploading and downloading its own 1 MiB file,
 * against a server in its own process with the shipped defaults (fsync on).
 */
describe(`${CLIENTS} concurrent clients`, () => {
  let work: { path: string; cleanup: () => Promise<void> };
  let server: ServerProcess;
  let idleRss: number;

  beforeAll(async () => {
    work = await makeTempDir();
    server = await startServerProcess(work.path, {
      dataDir: join(work.path, 'data'),
      // 1,000 MiB of uploads into the anonymous area: past its default quota (1 GiB) with the open ones.
      anonymous: { enabled: true, writable: true, quota: 4 * 1024 ** 3 },
      log: { level: 'warn' },
      // 1,000 clients from 127.0.0.1: lift the per-address cap meant for strangers.
      native: { maxConnectionsPerAddress: 2_000 },
    });
    idleRss = await server.rss();
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
    // Bounded memory: the peak over the whole load, not a sample after it
    // (what the server keeps afterwards depends on when V8 last collected).
    const peak = await server.peakRss();
    console.info(`server RSS idle ${(idleRss / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB, after ${((await server.rss()) / MiB).toFixed(0)} MiB`);
    expect(peak - idleRss).toBeLessThan(GROWTH_BUDGET);
  });
});
