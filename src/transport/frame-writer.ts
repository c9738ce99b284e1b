import type { Readable, Writable } from 'node:stream';
import { encodeHeader, type OutgoingHeader } from '../codec/index.js';
import { GridlinkError, type ErrorCode } from '../errors/index.js';
import { waitForDrain } from './wait-drain.js';

/**
 * A frame body that is not a stream: chunks pulled one at a time, each given
 * back with `release` once the socket has taken it, so that its buffer can be
 * filled again (src/integrity/file-streams.ts, RecycledRange).
 */
export interface ChunkSource extends AsyncIterable<Buffer> {
  release(chunk: Buffer): void;
  destroy(): void;
}

/** What a frame's body may be. */
export type OutgoingBody = Readable | ChunkSource;

function isChunkSource(body: OutgoingBody): body is ChunkSource {
  return typeof (body as Partial<ChunkSource>).release === 'function';
}

/**
 * Writes frames to a socket one after another (a body is never interleaved
 * with another frame) and honours backpressure: it stops at
 * `writableNeedDrain` and continues on 'drain' (docs/architecture.md, backpressure). Used by both the
 * server session and the client.
 */
export class FrameWriter {
  readonly #out: Writable;
  readonly #closedCode: ErrorCode;
  #tail: Promise<void> = Promise.resolve();

  constructor(out: Writable, closedCode: ErrorCode) {
    this.#out = out;
    this.#closedCode = closedCode;
  }

  /**
   * Queues a frame. With a body, `header.size` must be its exact length; a
   * body that ends short or long breaks framing, so the socket is destroyed.
   */
  send(header: OutgoingHeader, body?: OutgoingBody): Promise<void> {
    const run = (): Promise<void> => this.#write(header, body);
    const next = this.#tail.then(run, run);
    this.#tail = next.catch(() => undefined);
    return next;
  }

  /**
   * Queues a frame already encoded with `encodeHeader` (no body): for fan-out,
   * where one event goes to many connections and is encoded once.
   */
  sendEncoded(frame: Buffer): Promise<void> {
    const run = async (): Promise<void> => {
      const out = this.#out;
      if (out.destroyed || out.writableEnded) throw new GridlinkError(this.#closedCode);
      this.#corkUntilNextTick();
      if (!out.write(frame)) await this.#drain();
    };
    const next = this.#tail.then(run, run);
    this.#tail = next.catch(() => undefined);
    return next;
  }

  async #write(header: OutgoingHeader, body: OutgoingBody | undefined): Promise<void> {
    const out = this.#out;
    if (out.destroyed || out.writableEnded) {
      body?.destroy();
      throw new GridlinkError(this.#closedCode);
    }
    if (!out.write(encodeHeader(header))) await this.#drain();
    if (body === undefined) return;
    const expected = header.size ?? 0;
    const source = isChunkSource(body) ? body : null;
    let sent = 0;
    try {
      for await (const chunk of body) {
        const buffer = chunk as Buffer;
        sent += buffer.length;
        if (sent > expected) break;
        // The write's callback says the socket no longer needs the bytes.
        const written =
          source === null
            ? undefined
            : (err?: Error | null): void => {
                if (err === undefined || err === null) source.release(buffer);
              };
        if (!out.write(buffer, written)) await this.#drain();
      }
    } catch (err) {
      out.destroy(err instanceof Error ? err : undefined);
      throw err;
    }
    if (sent !== expected) {
      const err = new GridlinkError('GL_ERR_SERVER_INTERNAL', `body was ${sent} bytes, announced ${expected}`);
      out.destroy(err);
      throw err;
    }
  }

  #corked = false;

  /**
   * Small frames written in the same tick leave in one writev (docs/architecture.md, backpressure:
   * node-redis writes inside cork()), instead of one system call each.
   */
  #corkUntilNextTick(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.#out.cork();
    process.nextTick(() => {
      this.#corked = false;
      this.#out.uncork();
    });
  }

  #drain(): Promise<void> {
    return waitForDrain(this.#out, () => new GridlinkError(this.#closedCode));
  }

  /** Resolves when everything queued so far has been handed to the socket. */
  flushed(): Promise<void> {
    return this.#tail;
  }
}
