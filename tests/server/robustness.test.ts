import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameConnection, GridlinkClient } from '../../src/client/index.js';
import { encodeHeader } from '../../src/codec/index.js';
import { GridlinkError } from '../../src/errors/index.js';
import { lengthPrefix, openSocket, rawExchange, rawHeader } from '../helpers/raw-peer.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer } from '../helpers/test-server.js';

describe('hostile traffic against a server process', () => {
  let work: { path: string; cleanup: () => Promise<void> };
  let server: ServerProcess;

  beforeAll(async () => {
    work = await makeTempDir();
    server = await startServerProcess(work.path, { dataDir: join(work.path, 'data'), anonymous: { enabled: true, writable: true } });
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('random bytes never crash the server or grow its memory (time-boxed)', { timeout: 120_000 }, async () => {
    // Warm up, then take the baseline.
    await rawExchange(server.port, [randomBytes(1000)], { waitMs: 200, endAfterWrite: true });
    const baseline = await server.rss();
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 4096 }), { minLength: 1, maxLength: 4 }), async (chunks) => {
        const out = await rawExchange(server.port, chunks, { waitMs: 300, endAfterWrite: true });
        for (const frame of out.frames) {
          if (frame.cmd === 'error') expect(String(frame['code'])).toMatch(/^GL_ERR_/u);
        }
      }),
      { interruptAfterTimeLimit: 15_000, numRuns: 3_000 },
    );
    // Many connections announcing the largest header and never sending it:
    // each may buffer at most 64 KiB, so 300 of them stay far below 100 MB.
    const sockets = await Promise.all(Array.from({ length: 300 }, () => openSocket(server.port)));
    for (const socket of sockets) socket.write(Buffer.concat([lengthPrefix(65_536), Buffer.alloc(60_000, 0x7b)]));
    await new Promise((r) => setTimeout(r, 500));
    const loaded = await server.rss();
    for (const socket of sockets) socket.destroy();
    expect(loaded - baseline).toBeLessThan(100 * 1024 * 1024);

    expect(server.child.exitCode).toBeNull();
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    await client.ping();
    await client.close();
  });

  it('a body announced as huge but never sent does not allocate it', async () => {
    const before = await server.rss();
    const out = await rawExchange(server.port, [rawHeader(`{"cmd":"put","name":"huge.bin","size":${2 ** 40}}`), randomBytes(1000)], { waitMs: 300 });
    // 1 TiB is past anonymous.quota (1 GiB): refused before a byte is read or stored.
    expect(out.frames).toEqual([expect.objectContaining({ cmd: 'error', code: 'GL_ERR_FILE_QUOTA' })]);
    expect((await server.rss()) - before).toBeLessThan(50 * 1024 * 1024);
  });
});

describe('connection management', () => {
  it('idle connections are closed after the idle timeout', async () => {
    const server = await startTestServer({ native: { idleTimeoutMs: 300 } });
    try {
      const out = await rawExchange(server.port, [], { waitMs: 3_000 });
      expect(out.closed).toBe(true);
      expect(out.frames).toEqual([expect.objectContaining({ cmd: 'error', code: 'GL_ERR_SERVER_TIMEOUT' })]);
      // A half-open peer mid-frame (header announced, bytes never sent) is closed too.
      const stalled = await rawExchange(server.port, [lengthPrefix(100)], { waitMs: 3_000 });
      expect(stalled.closed).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('connections beyond the limit are refused with GL_ERR_SERVER_BUSY', async () => {
    const server = await startTestServer({ native: { maxConnections: 3 } });
    try {
      const held = await Promise.all([1, 2, 3].map(() => FrameConnection.connect({ host: '127.0.0.1', port: server.port })));
      await Promise.all(held.map((c) => c.request('ping')));
      const out = await rawExchange(server.port, [encodeHeader({ v: 1, id: 1, cmd: 'ping' })], { waitMs: 2_000 });
      expect(out.frames[0]).toMatchObject({ cmd: 'error', code: 'GL_ERR_SERVER_BUSY' });
      expect(out.closed).toBe(true);
      held[0]!.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const again = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
      await again.request('ping');
      for (const c of [...held, again]) c.destroy();
    } finally {
      await server.stop();
    }
  });
});

describe('graceful shutdown (SIGTERM)', () => {
  it('stops accepting, tells idle clients, and leaves no half-written file visible; the upload resumes after restart', { timeout: 60_000 }, async () => {
    const work = await makeTempDir();
    const dataDir = join(work.path, 'data');
    const config = { dataDir, anonymous: { enabled: true, writable: true }, shutdownGraceMs: 500 };
    let server = await startServerProcess(work.path, config);
    try {
      const idle = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
      await idle.request('ping');

      // An upload that stalls half-way (the client sends part of the body).
      const payload = randomBytes(2 * 1024 * 1024);
      const uploader = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
      const open = await uploader.request('put.open', { path: 'during-shutdown.bin', length: payload.length });
      const id = uploader.open();
      void uploader.send({ v: 1, id, cmd: 'put.data', upload: open['upload'], size: payload.length }, Readable.from([payload.subarray(0, 1_000_000)])).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));

      const code = await server.stop('SIGTERM');
      expect(code).toBe(0);
      expect(idle.failure).toBeInstanceOf(GridlinkError);
      expect(idle.failure?.code).toBe('GL_ERR_SERVER_SHUTTING_DOWN');
      expect(await readdir(join(dataDir, 'public'))).toEqual([]);
      expect(server.logs.some((l) => l['event'] === 'server.stopped')).toBe(true);
      uploader.destroy();
      // What reached the disk before the cut is kept, out of sight, for a resume.
      const partials = await readdir(join(dataDir, 'staging', 'partial'));
      expect(partials).toHaveLength(1);
      const kept = (await stat(join(dataDir, 'staging', 'partial', partials[0]!))).size;
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThanOrEqual(1_000_000);

      // Restart: the client resumes from what reached the disk.
      server = await startServerProcess(work.path, config);
      const local = join(work.path, 'payload.bin');
      await writeFile(local, payload);
      const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
      const result = await client.put(local, 'during-shutdown.bin');
      await client.close();
      expect(result.resumedFrom).toBe(kept);
      expect((await readFile(join(dataDir, 'public', 'during-shutdown.bin'))).equals(payload)).toBe(true);
    } finally {
      await server.stop();
      await work.cleanup();
    }
  });
});
