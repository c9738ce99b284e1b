import type { ReadSink } from '../../transport/direct-reads.js';
import { FILE_IO_BYTES } from '../../units/buffer-sizes.js';

/** A slab is handed to the disk once less than this is free in it: a read always has room for a full socket read. */
const MIN_READ_SPACE = 64 * 1024;
/** Slabs an upload may hold before it stops reading: one filling, the others on their way to the disk. */
const MAX_SLABS = 3;

/** What one receive does with the bytes. */
export interface SinkHandlers {
  /** Bytes arrived (a view of the slab, valid during the call); false refuses them and everything after (the quota is passed). */
  accept(chunk: Uint8Array): boolean;
  /** Writes a full slab's bytes at the end of the file; the slab is reused once the promise settles. */
  write(chunk: Buffer): Promise<void>;
  /** Reading may go on: the disk gave a slab back after the sink had asked to stop. */
  resume(): void;
}

/**
 * An upload's buffers: slabs of {@link FILE_IO_BYTES} that the socket reads
 * into in place ({@link ReadSink}, for a DirectReads socket) or that a
 * stream's chunks are copied into ({@link feed}), each written to the file
 * in one call once full while the next fills. An upload holds at most
 * {@link MAX_SLABS} slabs whatever the disk's pace, allocated when first
 * needed (a small file needs one) and its own until it is dropped: a read
 * that lands after the upload ended can only reach this upload's memory.
 */
export class UploadSink implements ReadSink {
  readonly #slabBytes: number;
  readonly #free: Buffer[] = [];
  #current: Buffer;
  #fill = 0;
  #allocated = 1;
  #handlers: SinkHandlers | null = null;
  /** The sink asked its reader to stop until a slab comes back. */
  #waiting = false;

  constructor(slabBytes = FILE_IO_BYTES) {
    this.#slabBytes = Math.max(slabBytes, 2 * MIN_READ_SPACE);
    this.#current = Buffer.allocUnsafeSlow(this.#slabBytes);
  }

  /** Slabs allocated so far (for tests: the memory bound). */
  get slabs(): number {
    return this.#allocated;
  }

  /** Bytes go to `handlers` from now on. */
  open(handlers: SinkHandlers): void {
    this.#handlers = handlers;
    this.#fill = 0;
    this.#waiting = false;
  }

  /**
   * The receive is over: what fills the current slab is written when
   * `keep` (the data ended or was cut: a resume continues after it) and
   * dropped otherwise (a failure of ours). Later reads are discarded.
   */
  close(keep: boolean): void {
    if (keep && this.#handlers !== null && this.#fill > 0) this.#handOff();
    this.#handlers = null;
    this.#fill = 0;
  }

  space(): Uint8Array {
    return this.#current.subarray(this.#fill);
  }

  filled(n: number): boolean {
    const handlers = this.#handlers;
    if (handlers === null) return true; // after close: discarded
    const chunk = this.#current.subarray(this.#fill, this.#fill + n);
    this.#fill += n;
    if (!handlers.accept(chunk)) {
      this.#fill -= n;
      return false;
    }
    if (this.#current.length - this.#fill < MIN_READ_SPACE) return this.#handOff();
    return true;
  }

  /** A stream's chunk, copied in; false when the stream should pause until {@link SinkHandlers.resume}. */
  feed(chunk: Uint8Array): boolean {
    let go = true;
    for (let from = 0; from < chunk.length && this.#handlers !== null; ) {
      const space = this.space();
      const n = Math.min(space.length, chunk.length - from);
      space.set(chunk.subarray(from, from + n));
      from += n;
      if (!this.filled(n)) go = false;
    }
    return go;
  }

  /** Sends the current slab to the disk and takes the next; false when every slab is busy now. */
  #handOff(): boolean {
    const handlers = this.#handlers!;
    const slab = this.#current;
    const length = this.#fill;
    this.#current = this.#take();
    this.#fill = 0;
    const back = (): void => this.#giveBack(slab);
    handlers.write(slab.subarray(0, length)).then(back, back);
    if (this.#free.length === 0 && this.#allocated >= MAX_SLABS) {
      this.#waiting = true;
      return false;
    }
    return true;
  }

  /** A free slab, else a new one (beyond the bound only when a copied chunk overruns a paused sink). */
  #take(): Buffer {
    const slab = this.#free.pop();
    if (slab !== undefined) return slab;
    this.#allocated += 1;
    return Buffer.allocUnsafeSlow(this.#slabBytes);
  }

  #giveBack(slab: Buffer): void {
    this.#free.push(slab);
    if (!this.#waiting) return;
    this.#waiting = false;
    this.#handlers?.resume();
  }
}
