import type { FileHandle } from 'node:fs/promises';
import { FILE_IO_BYTES } from '../units/buffer-sizes.js';
import type { WriteBehind } from './write-behind.js';

/**
 * Writes a stream of small chunks (what a socket read gives: 64 KiB or less)
 * to a file in few, large writes through two buffers allocated once: one
 * fills while the other is on its way to the disk (docs/protocol.md §3.3,
 * "Memory"). A socket's chunks are copied and can be collected at once, so a
 * transfer holds two buffers whatever the disk's pace, instead of a write
 * stream's queue of chunks that the garbage collector frees when it gets
 * round to it.
 */
export class BatchedFileWriter {
  readonly #handle: FileHandle;
  readonly #buffers: [Buffer, Buffer];
  #current = 0;
  #filled = 0;
  /** File position of the next write. */
  #position: number;
  #written = 0;
  #inflight: Promise<void> | null = null;
  readonly #behind: WriteBehind | null;

  /** `behind`: flush the file to the disk as it is written (a durable upload). */
  constructor(handle: FileHandle, position: number, expectedBytes = Number.POSITIVE_INFINITY, behind: WriteBehind | null = null, bufferBytes = FILE_IO_BYTES) {
    this.#handle = handle;
    this.#position = position;
    this.#behind = behind;
    // No larger than the transfer: a small file needs small buffers.
    const size = Math.max(1, Math.min(bufferBytes, expectedBytes));
    this.#buffers = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)];
  }

  /** Bytes this writer has put in the file (flushed writes only). */
  get written(): number {
    return this.#written;
  }

  /** Copies `chunk` in; resolves at once unless both buffers are full (the disk is behind). */
  async write(chunk: Uint8Array): Promise<void> {
    let from = 0;
    while (from < chunk.length) {
      const buffer = this.#buffers[this.#current]!;
      const n = Math.min(buffer.length - this.#filled, chunk.length - from);
      buffer.set(chunk.subarray(from, from + n), this.#filled);
      this.#filled += n;
      from += n;
      if (this.#filled === buffer.length) await this.#swap();
    }
  }

  /** Writes what is buffered and waits until every write (and a running write-behind flush) is done. */
  async flush(): Promise<void> {
    if (this.#filled > 0) await this.#swap();
    await this.#inflight;
    this.#inflight = null;
    await this.#behind?.settle();
  }

  async #swap(): Promise<void> {
    // At most one write in flight: wait for it before its buffer is refilled.
    await this.#inflight;
    const buffer = this.#buffers[this.#current]!;
    const length = this.#filled;
    const position = this.#position;
    this.#position += length;
    this.#current ^= 1;
    this.#filled = 0;
    const work = this.#writeAll(buffer, length, position);
    work.catch(() => undefined); // awaited by the next swap or flush
    this.#inflight = work;
  }

  async #writeAll(buffer: Buffer, length: number, position: number): Promise<void> {
    for (let done = 0; done < length; ) {
      const { bytesWritten } = await this.#handle.write(buffer, done, length - done, position + done);
      done += bytesWritten;
      this.#written += bytesWritten;
      this.#behind?.wrote(bytesWritten);
    }
  }
}
