import type { FileHandle } from 'node:fs/promises';
import { WRITE_BEHIND_BYTES } from '../units/buffer-sizes.js';

/** What write-behind needs of an open file: Node's FileHandle has it. */
export type Syncable = Pick<FileHandle, 'datasync'>;

/**
 * Flushes a file that is still being written to the disk behind its writer
 * (docs/protocol.md §3.3, "Durable uploads"): each time
 * {@link WRITE_BEHIND_BYTES} more have reached the file, an fdatasync starts
 * in the background, one at a time, while the writes go on. A durable upload
 * then overlaps the disk's flush with the network instead of paying for the
 * whole file in one fsync after its last byte, and holds at most that much
 * dirty page cache plus what arrives during one flush.
 *
 * It never replaces the fsync before the commit: it only leaves that fsync
 * less to do. A failed flush is kept and thrown by {@link settle}: on Linux
 * the kernel reports a write-back error once, so a later fsync could succeed
 * over bytes that never reached the disk, and the upload must fail instead.
 */
export class WriteBehind {
  readonly #file: Syncable;
  readonly #everyBytes: number;
  #unflushed = 0;
  #flushing: Promise<void> | null = null;
  #failure: { readonly error: unknown } | null = null;

  constructor(file: Syncable, everyBytes = WRITE_BEHIND_BYTES) {
    this.#file = file;
    this.#everyBytes = everyBytes;
  }

  /** Counts `bytes` that reached the file; starts a flush if enough are waiting and none runs. */
  wrote(bytes: number): void {
    this.#unflushed += bytes;
    if (this.#flushing !== null || this.#failure !== null || this.#unflushed < this.#everyBytes) return;
    this.#unflushed = 0;
    this.#flushing = this.#file.datasync().then(
      () => {
        this.#flushing = null;
      },
      (error: unknown) => {
        this.#failure = { error };
        this.#flushing = null;
      },
    );
  }

  /** Waits for a running flush; throws the first flush failure, if any. */
  async settle(): Promise<void> {
    await this.#flushing;
    if (this.#failure !== null) throw this.#failure.error;
  }
}
