import { randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchedFileWriter } from '../../src/integrity/file-writer.js';
import { WriteBehind, type Syncable } from '../../src/integrity/write-behind.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const MiB = 1024 * 1024;

/** A file whose flushes the test finishes by hand, counting them. */
function heldFlushes(): { file: Syncable; started: () => number; finish: (error?: Error) => void } {
  let started = 0;
  const pending: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  return {
    file: {
      datasync: () => {
        started += 1;
        return new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
      },
    },
    started: () => started,
    finish: (error) => {
      const next = pending.shift();
      if (next === undefined) throw new Error('no flush is running');
      if (error === undefined) next.resolve();
      else next.reject(error);
    },
  };
}

describe('write-behind of durable uploads', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    dir = await makeTempDir();
  });
  afterAll(async () => {
    await dir.cleanup();
  });

  it('starts a flush each time enough bytes reached the file, never two at once', async () => {
    const held = heldFlushes();
    const behind = new WriteBehind(held.file, 4 * MiB);
    behind.wrote(3 * MiB);
    expect(held.started()).toBe(0);
    behind.wrote(1 * MiB);
    expect(held.started()).toBe(1);
    // 8 MiB more while the first flush runs: no second flush until it ends.
    behind.wrote(8 * MiB);
    expect(held.started()).toBe(1);
    held.finish();
    await behind.settle();
    // The bytes that arrived during the flush start the next one.
    behind.wrote(1);
    expect(held.started()).toBe(2);
    const settled = behind.settle();
    let done = false;
    void settled.then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(done).toBe(false); // settle waits for the running flush
    held.finish();
    await settled;
    expect(done).toBe(true);
  });

  it('a failed flush fails the upload at settle and starts no other', async () => {
    const held = heldFlushes();
    const behind = new WriteBehind(held.file, MiB);
    behind.wrote(MiB);
    const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    held.finish(eio);
    await expect(behind.settle()).rejects.toBe(eio);
    behind.wrote(10 * MiB);
    expect(held.started()).toBe(1);
    // Still failed: a later fsync could succeed over bytes the disk never took.
    await expect(behind.settle()).rejects.toBe(eio);
  });

  it('flushes a real file as the batched writer fills it, and the bytes are intact', async () => {
    const path = join(dir.path, 'durable.bin');
    const data = randomBytes(40 * MiB + 12_345);
    const handle = await open(path, 'w');
    let flushes = 0;
    const counted: Syncable = {
      datasync: async () => {
        flushes += 1;
        await handle.datasync();
      },
    };
    try {
      const out = new BatchedFileWriter(handle, 0, data.length, new WriteBehind(counted, 8 * MiB));
      // Socket-sized chunks, as an upload receives them.
      for (let at = 0; at < data.length; at += 64 * 1024) await out.write(data.subarray(at, at + 64 * 1024));
      await out.flush();
      expect(out.written).toBe(data.length);
    } finally {
      await handle.close();
    }
    // At least one flush ran during the writes (one every 8 MiB unless one was still running).
    expect(flushes).toBeGreaterThanOrEqual(1);
    expect(flushes).toBeLessThanOrEqual(5);
    expect((await readFile(path)).equals(data)).toBe(true);
  });

  it('a flush failure during the writes surfaces from flush()', async () => {
    const path = join(dir.path, 'failing.bin');
    const handle = await open(path, 'w');
    const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    try {
      const out = new BatchedFileWriter(handle, 0, 4 * MiB, new WriteBehind({ datasync: () => Promise.reject(eio) }, MiB));
      for (let at = 0; at < 4 * MiB; at += 64 * 1024) await out.write(Buffer.alloc(64 * 1024, 1));
      await expect(out.flush()).rejects.toBe(eio);
    } finally {
      await handle.close();
    }
  });
});
