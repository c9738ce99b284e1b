import { randomBytes } from 'node:crypto';
import { open, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecycledRange } from '../../src/integrity/file-streams.js';
import { makeTempDir } from '../helpers/temp-dir.js';

/**
 * RecycledRange: the download body that reads into a few reused buffers.
 * Whatever the range and buffer size, the chunks put together are exactly the
 * file's bytes, no buffer is filled again before it is given back, and the
 * reader never allocates more than its pool.
 */
describe('RecycledRange', () => {
  let work: { path: string; cleanup: () => Promise<void> };
  let path: string;
  const data = randomBytes(300_001);

  beforeAll(async () => {
    work = await makeTempDir();
    path = join(work.path, 'data.bin');
    await writeFile(path, data);
  });
  afterAll(() => work.cleanup());

  /** Runs `use` with `file` open for reading, and closes it after. */
  async function withOpen<T>(file: string, use: (handle: FileHandle) => Promise<T>): Promise<T> {
    const handle = await open(file, 'r');
    try {
      return await use(handle);
    } finally {
      await handle.close();
    }
  }

  /** Reads the range like FrameWriter does: each chunk released once "written" (after a copy). */
  async function collect(range: RecycledRange, releaseLater = false): Promise<{ bytes: Buffer; chunks: Buffer[] }> {
    const copies: Buffer[] = [];
    const chunks: Buffer[] = [];
    for await (const chunk of range) {
      chunks.push(chunk);
      copies.push(Buffer.from(chunk));
      if (releaseLater) setImmediate(() => range.release(chunk));
      else range.release(chunk);
    }
    return { bytes: Buffer.concat(copies), chunks };
  }

  it.each([
    [0, 300_001, 65_536],
    [0, 300_001, 1_000_000],
    [1, 300_001, 4096],
    [123_457, 200_000, 7],
    [299_999, 300_001, 65_536],
    [300_001, 300_001, 65_536],
  ])('bytes %i..%i in %i-byte buffers are the file’s bytes, in two reused buffers', async (start, end, bufferBytes) => {
    await withOpen(path, async (handle) => {
      const range = new RecycledRange(handle, start, end, 2, bufferBytes);
      const { bytes, chunks } = await collect(range, true);
      expect(bytes.equals(data.subarray(start, end))).toBe(true);
      // Every chunk lives in one of at most two pieces of memory.
      expect(new Set(chunks.map((chunk) => chunk.buffer)).size).toBeLessThanOrEqual(2);
    });
  });

  it('waits for a buffer to be given back before it reads into it again', async () => {
    await withOpen(path, async (handle) => {
      const range = new RecycledRange(handle, 0, 300_001, 2, 1000);
      const iterator = range[Symbol.asyncIterator]();
      const first = (await iterator.next()).value as Buffer;
      const firstCopy = Buffer.from(first);
      const second = (await iterator.next()).value as Buffer;
      // Both buffers are out: the third read must wait, and `first` must not change.
      const third = iterator.next();
      let settled = false;
      void third.then(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(settled).toBe(false);
      expect(first.equals(firstCopy)).toBe(true);
      range.release(first);
      const value = (await third).value as Buffer;
      expect(value.buffer).toBe(first.buffer);
      expect(value.equals(data.subarray(2000, 3000))).toBe(true);
      expect(second.equals(data.subarray(1000, 2000))).toBe(true);
      range.destroy();
      expect((await iterator.next()).done).toBe(true);
    });
  });

  it('ignores chunks it did not yield and chunks given back twice', async () => {
    await withOpen(path, async (handle) => {
      const range = new RecycledRange(handle, 0, 10_000, 1, 1000);
      const chunks: Buffer[] = [];
      for await (const chunk of range) {
        chunks.push(Buffer.from(chunk));
        range.release(Buffer.alloc(1000));
        range.release(chunk);
        range.release(chunk);
      }
      expect(Buffer.concat(chunks).equals(data.subarray(0, 10_000))).toBe(true);
    });
  });

  it('ends early when the file shrank under it, so the writer sees a short body', async () => {
    const shrinking = join(work.path, 'shrinking.bin');
    await writeFile(shrinking, data);
    await withOpen(shrinking, async (handle) => {
      await truncate(shrinking, 5000);
      const { bytes } = await collect(new RecycledRange(handle, 0, data.length, 2, 4096));
      expect(bytes.equals(data.subarray(0, 5000))).toBe(true);
    });
  });
});
