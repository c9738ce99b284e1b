import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UploadSink, type SinkHandlers } from '../../src/services/files/upload-sink.js';

const SLAB = 256 * 1024;

/** Handlers whose writes the test finishes by hand; what was written, in order, and what was accepted. */
function held(refuseAfter = Number.POSITIVE_INFINITY): SinkHandlers & { written: Buffer[]; pending: Array<() => void>; resumed: number; accepted: number } {
  const h = {
    written: [] as Buffer[],
    pending: [] as Array<() => void>,
    resumed: 0,
    accepted: 0,
    accept(chunk: Uint8Array): boolean {
      if (h.accepted + chunk.length > refuseAfter) return false;
      h.accepted += chunk.length;
      return true;
    },
    write(chunk: Buffer): Promise<void> {
      h.written.push(Buffer.from(chunk)); // a copy: the slab is reused once the write settles
      return new Promise<void>((resolve) => h.pending.push(resolve));
    },
    resume(): void {
      h.resumed += 1;
    },
  };
  return h;
}

/** Reads `data` into the sink as a socket would: as much as the lent space takes, until the sink says stop. */
function readInto(sink: UploadSink, data: Buffer, from: number): { next: number; stopped: boolean } {
  let at = from;
  while (at < data.length) {
    const space = sink.space();
    expect(space.length).toBeGreaterThan(0);
    const n = Math.min(space.length, data.length - at, 64 * 1024);
    space.set(data.subarray(at, at + n));
    at += n;
    if (!sink.filled(n)) return { next: at, stopped: true };
  }
  return { next: at, stopped: false };
}

const flushAll = async (h: { pending: Array<() => void> }): Promise<void> => {
  while (h.pending.length > 0) h.pending.shift()!();
  await new Promise((resolve) => setImmediate(resolve));
};

describe('UploadSink: an upload\'s slabs', () => {
  it('writes full slabs in order, holds at most three while the disk is behind, and resumes the reader when one comes back', async () => {
    const sink = new UploadSink(SLAB);
    const h = held();
    sink.open(h);
    const data = randomBytes(5 * SLAB + 123);
    const first = readInto(sink, data, 0);
    let next = first.next;
    // Two slabs on their way to the disk and a third filling: the reader is told to stop.
    expect(first.stopped).toBe(true);
    expect(h.pending).toHaveLength(2);
    expect(sink.slabs).toBe(3);
    h.pending.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.resumed).toBe(1);
    while (next < data.length) {
      ({ next } = readInto(sink, data, next));
      await flushAll(h);
    }
    sink.close(true);
    await flushAll(h);
    expect(sink.slabs).toBe(3);
    expect(Buffer.concat(h.written).equals(data)).toBe(true);
    expect(h.accepted).toBe(data.length);
  });

  it('keeps the tail of a cut upload when asked, and drops it after a failure of ours', async () => {
    for (const keep of [true, false]) {
      const sink = new UploadSink(SLAB);
      const h = held();
      sink.open(h);
      const data = randomBytes(SLAB / 2);
      readInto(sink, data, 0);
      expect(h.written).toHaveLength(0); // not full yet
      sink.close(keep);
      await flushAll(h);
      expect(Buffer.concat(h.written).equals(keep ? data : Buffer.alloc(0))).toBe(true);
    }
  });

  it('refuses the chunk that passes the quota, writes nothing of it, and discards what is read after close', async () => {
    const sink = new UploadSink(SLAB);
    const h = held(100_000);
    sink.open(h);
    const data = randomBytes(200_000);
    const { next, stopped } = readInto(sink, data, 0);
    expect(stopped).toBe(true);
    expect(next).toBe(2 * 64 * 1024); // the second 64 KiB read passed 100,000 bytes
    expect(h.accepted).toBe(64 * 1024);
    sink.close(false);
    // A read that was already lent space lands after close: discarded, the reader is not stopped.
    expect(sink.filled(10)).toBe(true);
    await flushAll(h);
    expect(h.written).toHaveLength(0);
  });

  it('takes a stream\'s chunks by copy (feed), the same bytes in the same order', async () => {
    const sink = new UploadSink(SLAB);
    const h = held();
    sink.open(h);
    const data = randomBytes(3 * SLAB + 5);
    for (let at = 0; at < data.length; at += 16_384) {
      sink.feed(data.subarray(at, Math.min(data.length, at + 16_384)));
      await flushAll(h);
    }
    sink.close(true);
    await flushAll(h);
    expect(Buffer.concat(h.written).equals(data)).toBe(true);
  });
});
