import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

import { FILE_IO_BYTES } from '../units/buffer-sizes.js';

/**
 * Streams bytes [start, end) of an open file. Reads through the descriptor the
 * caller opened (and checked), so a path swapped meanwhile is never read; it
 * never closes the handle (the caller does), and each read is pulled on demand,
 * so a slow consumer holds at most one chunk.
 *
 * (fs streams made from a FileHandle hold a reference that keeps
 * `handle.close()` pending until the stream is closed, which `autoClose:false`
 * never does; reading with `handle.read` avoids that trap.)
 */
export function readRange(handle: FileHandle, start: number, end: number): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    let position = start;
    while (position < end) {
      const want = Math.min(FILE_IO_BYTES, end - position);
      const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(want), 0, want, position);
      if (bytesRead === 0) return; // file shrank: the writer detects the short body
      position += bytesRead;
      yield bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
    }
  }
  // highWaterMark 1 (object mode counts chunks): read at most one chunk ahead.
  return Readable.from(chunks(), { objectMode: true, highWaterMark: 1 });
}

/** fsync a file by path, so what was written survives a power cut. */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Bytes [start, end) of an open file, read into a few buffers that are used
 * again and again: for a consumer that writes each chunk to a socket and hands
 * it back with {@link release} once the socket has taken it (the write's
 * callback). A download then allocates its buffers once instead of leaving
 * 1 MiB of garbage per read for V8 to collect whenever it gets round to it,
 * which on a busy server is what drives the resident size up.
 *
 * One read runs ahead of the consumer (as a stream's highWaterMark would), so
 * the disk and the socket work at the same time. Like {@link readRange}, it
 * reads through the caller's descriptor and never closes it. A chunk that is
 * never released is simply left to the garbage collector.
 */
export class RecycledRange implements AsyncIterable<Buffer> {
  readonly #handle: FileHandle;
  readonly #end: number;
  readonly #free: Buffer[] = [];
  /** The pool's buffers by their memory, to take back a chunk that is a slice of one. */
  readonly #owned = new Map<ArrayBufferLike, Buffer>();
  #position: number;
  #waiting: (() => void) | null = null;
  #stopped = false;
  readonly #tap: ((chunk: Buffer) => void) | undefined;

  /** `tap` sees each chunk once, as it is read (the sender's inline hash, docs/protocol.md §3.3). */
  constructor(handle: FileHandle, start: number, end: number, buffers = 2, bufferBytes = FILE_IO_BYTES, tap?: (chunk: Buffer) => void) {
    this.#handle = handle;
    this.#tap = tap;
    this.#position = start;
    this.#end = end;
    const size = Math.max(1, Math.min(bufferBytes, end - start));
    // No more buffers than the range has chunks: a small file needs one.
    const count = Math.max(1, Math.min(buffers, Math.ceil((end - start) / size)));
    for (let i = 0; i < count; i += 1) {
      // allocUnsafeSlow: a buffer of its own, never a slice of Node's shared pool.
      const buffer = Buffer.allocUnsafeSlow(size);
      this.#owned.set(buffer.buffer, buffer);
      this.#free.push(buffer);
    }
  }

  /** Gives back a chunk this reader yielded, once nothing uses its bytes any more. */
  release(chunk: Buffer): void {
    const buffer = this.#owned.get(chunk.buffer);
    if (buffer === undefined || this.#free.includes(buffer)) return;
    this.#free.push(buffer);
    const wake = this.#waiting;
    this.#waiting = null;
    wake?.();
  }

  /** Stops reading ahead (the transfer was abandoned). */
  destroy(): void {
    this.#stopped = true;
    const wake = this.#waiting;
    this.#waiting = null;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    let next = this.#readNext();
    for (;;) {
      const chunk = await next;
      if (chunk === null) return;
      next = this.#readNext();
      // Awaited at the top of the loop, or dropped if the consumer stops:
      // never an unhandled rejection.
      next.catch(() => undefined);
      yield chunk;
    }
  }

  async #readNext(): Promise<Buffer | null> {
    while (!this.#stopped && this.#position < this.#end && this.#free.length === 0) {
      await new Promise<void>((resolve) => (this.#waiting = resolve));
    }
    if (this.#stopped || this.#position >= this.#end) return null;
    const buffer = this.#free.pop()!;
    const want = Math.min(buffer.length, this.#end - this.#position);
    const { bytesRead } = await this.#handle.read(buffer, 0, want, this.#position);
    if (bytesRead === 0) {
      this.release(buffer);
      return null; // file shrank: the writer detects the short body
    }
    this.#position += bytesRead;
    const chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    this.#tap?.(chunk);
    return chunk;
  }
}
