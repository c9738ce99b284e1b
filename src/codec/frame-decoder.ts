import { Readable, Writable } from 'node:stream';
import { GridlinkError } from '../errors/index.js';
import { CHUNK_BYTES } from '../units/buffer-sizes.js';
import { DEFAULT_LIMITS, LENGTH_PREFIX_BYTES, type DecoderLimits, type Frame } from './frame.js';
import { checkHeaderLength, parseHeader } from './header-parser.js';

const enum State {
  /** Waiting for the 4-byte header length. */
  Length,
  /** Waiting for the header bytes. */
  Header,
  /** Streaming body bytes to the frame's body stream. */
  Body,
  /** A frame was delivered; waiting for {@link FrameDecoder.release}. */
  Held,
  /** A fatal error happened; everything after it is ignored. */
  Failed,
}

/**
 * Streaming decoder for gridlink frames (docs/protocol.md §1). Pipe a socket into it;
 * it calls `onFrame` once per frame.
 *
 * - TCP is a byte stream: a frame may arrive in many chunks and many frames in
 *   one chunk. Bytes are kept as a list of chunks and only joined for headers,
 *   which are bounded by `maxHeaderBytes`; body bytes are handed on as
 *   zero-copy slices of the received chunks.
 * - Limits are checked on the declared lengths *before* any byte is buffered.
 * - Backpressure: the decoder holds the write callback (so the socket pauses)
 *   while the body stream's reader is full, and after each frame until the
 *   owner calls {@link release}. So at most one frame per connection is in
 *   flight and memory per connection stays bounded.
 * - Errors are {@link GridlinkError}s with `GL_ERR_FRAME_*` codes, emitted as
 *   the stream's `'error'`; after one, framing is lost and input is ignored.
 */
export class FrameDecoder extends Writable {
  readonly #limits: DecoderLimits;
  readonly #onFrame: (frame: Frame) => void;
  readonly #autoRelease: boolean;

  #chunks: Buffer[] = [];
  #buffered = 0;
  #state: State = State.Length;
  #headerLength = 0;

  #body: Readable | null = null;
  #bodyRemaining = 0;
  /** False while the body's reader has asked us to stop pushing. */
  #bodyWanted = true;
  /** True when the body's reader went away: remaining body bytes are skipped. */
  #bodyDiscard = false;
  /** True when the owner released the current frame before its body ended. */
  #releasedEarly = false;

  #pendingCallback: ((error?: Error | null) => void) | null = null;
  #driving = false;
  #driveAgain = false;
  #framesDecoded = 0;

  /**
   * @param autoRelease decode the next frame as soon as the current one (and
   *   its body) has been handed on, without waiting for {@link release}; for
   *   clients, whose replies need no handler in between. Body backpressure
   *   still applies.
   */
  constructor(onFrame: (frame: Frame) => void, limits: DecoderLimits = DEFAULT_LIMITS, autoRelease = false) {
    // No queue of our own: while a frame is held, the socket pauses after one
    // chunk and the rest waits in the kernel, not in this process.
    super({ highWaterMark: 0 });
    this.#onFrame = onFrame;
    this.#limits = limits;
    this.#autoRelease = autoRelease;
  }

  /** Number of frames delivered so far. */
  get framesDecoded(): number {
    return this.#framesDecoded;
  }

  /** True when the decoder sits between frames with nothing buffered. */
  get idle(): boolean {
    return this.#state === State.Length && this.#buffered === 0;
  }

  /**
   * Tells the decoder that the owner has finished with the current frame, so
   * the next one may be decoded. If the body has not been read to its end,
   * the rest of it is skipped so that framing is kept.
   */
  release(): void {
    if (this.#state === State.Held) {
      this.#state = State.Length;
      this.#drive();
    } else if (this.#state === State.Body) {
      this.#releasedEarly = true;
      this.#discardBody();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#state === State.Failed) {
      callback();
      return;
    }
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    this.#pendingCallback = callback;
    this.#drive();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#state === State.Failed || this.idle) {
      callback();
      return;
    }
    const error = new GridlinkError(
      'GL_ERR_FRAME_TRUNCATED',
      this.#state === State.Body ? `${this.#bodyRemaining} body bytes missing` : 'incomplete header',
    );
    this.#fail(error, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#body !== null && !this.#body.readableEnded) {
      failAfterDrained(this.#body, error ?? new GridlinkError('GL_ERR_FRAME_TRUNCATED', 'connection closed'));
    }
    this.#body = null;
    this.#chunks = [];
    this.#buffered = 0;
    callback(error);
  }

  /** Runs the state machine until it needs more bytes or is held. Re-entrant calls are folded. */
  #drive(): void {
    if (this.#driving) {
      this.#driveAgain = true;
      return;
    }
    this.#driving = true;
    try {
      do {
        this.#driveAgain = false;
        this.#step();
      } while (this.#driveAgain);
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#driving = false;
    }
  }

  #step(): void {
    for (;;) {
      switch (this.#state) {
        case State.Length: {
          if (this.#buffered < LENGTH_PREFIX_BYTES) return this.#needMore();
          const length = this.#consume(LENGTH_PREFIX_BYTES).readInt32LE(0);
          checkHeaderLength(length, this.#limits);
          this.#headerLength = length;
          this.#state = State.Header;
          break;
        }
        case State.Header: {
          if (this.#buffered < this.#headerLength) return this.#needMore();
          const header = parseHeader(this.#consume(this.#headerLength), this.#limits);
          this.#framesDecoded += 1;
          if (!Object.hasOwn(header, 'size')) {
            this.#state = this.#autoRelease ? State.Length : State.Held;
            this.#onFrame({ header, body: null, bodySize: 0 });
            break;
          }
          const size = header['size'] as number;
          this.#startBody(size);
          this.#onFrame({ header, body: this.#body, bodySize: size });
          if (size === 0) this.#endBody();
          break;
        }
        case State.Body: {
          if (!this.#bodyWanted) return; // resumed by the body's read()
          if (this.#buffered === 0) return this.#needMore();
          const slice = this.#consumeUpTo(this.#bodyRemaining);
          this.#bodyRemaining -= slice.length;
          if (!this.#bodyDiscard && this.#body !== null && !this.#body.push(slice)) {
            this.#bodyWanted = false;
          }
          if (this.#bodyRemaining === 0) this.#endBody();
          break;
        }
        case State.Held:
        case State.Failed:
          return;
      }
    }
  }

  #startBody(size: number): void {
    this.#bodyRemaining = size;
    // Pull, never push ahead: nothing is handed to the body until its reader
    // asks, so a transfer waiting for its turn holds no body bytes.
    this.#bodyWanted = false;
    this.#bodyDiscard = false;
    this.#releasedEarly = false;
    this.#state = State.Body;
    const body = new Readable({
      highWaterMark: CHUNK_BYTES,
      read: () => {
        if (this.#body !== body) return;
        this.#bodyWanted = true;
        this.#drive();
      },
    });
    // The handler may refuse a frame without ever reading its body; when the
    // connection then drops, the body's error must not crash the process.
    // Readers that do consume it (pipeline) still see the error.
    body.on('error', () => undefined);
    // A reader that stops early (an error, a refused upload) must not stall the
    // connection: the rest of the body is skipped and framing is kept.
    body.once('close', () => {
      if (this.#body === body && this.#state === State.Body) this.#discardBody();
    });
    this.#body = body;
  }

  #endBody(): void {
    const body = this.#body;
    this.#body = null;
    if (body !== null && !this.#bodyDiscard) body.push(null);
    this.#state = this.#releasedEarly || this.#autoRelease ? State.Length : State.Held;
    this.#releasedEarly = false;
  }

  #discardBody(): void {
    this.#bodyDiscard = true;
    this.#bodyWanted = true;
    this.#drive();
  }

  #needMore(): void {
    const callback = this.#pendingCallback;
    this.#pendingCallback = null;
    callback?.();
  }

  #fail(error: Error, callback?: (error?: Error | null) => void): void {
    this.#state = State.Failed;
    if (this.#body !== null) {
      failAfterDrained(this.#body, error);
      this.#body = null;
    }
    this.#chunks = [];
    this.#buffered = 0;
    const pending = callback ?? this.#pendingCallback;
    this.#pendingCallback = null;
    if (pending !== null) pending(error);
    else this.destroy(error);
  }

  /** Takes exactly `n` buffered bytes; copies only when they span chunks. */
  #consume(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0]!;
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks[0]!;
      const take = Math.min(chunk.length, n - offset);
      chunk.copy(out, offset, 0, take);
      offset += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    return out;
  }

  /** Takes up to `max` bytes from the first chunk, without copying. */
  #consumeUpTo(max: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length <= max) {
      this.#chunks.shift();
      this.#buffered -= first.length;
      return first;
    }
    this.#chunks[0] = first.subarray(max);
    this.#buffered -= max;
    return first.subarray(0, max);
  }
}

/**
 * Fails a body stream once its reader has taken what already arrived, so an
 * upload cut mid-body still stores every byte the server received (a resume
 * then re-sends nothing twice). A reader that never drains is cut when its
 * connection is destroyed or times out.
 */
function failAfterDrained(body: Readable, error: Error): void {
  if (body.destroyed || body.readableLength === 0) {
    body.destroy(error);
    return;
  }
  setTimeout(() => failAfterDrained(body, error), 5).unref();
}
