import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Actor, Identity } from '../accounts/actor.js';
import type { Logger } from 'pino';
import { FrameDecoder, type DecoderLimits, type Frame, type OutgoingHeader } from '../codec/index.js';
import { GridlinkError } from '../errors/index.js';
import { FrameWriter, type OutgoingBody } from '../transport/frame-writer.js';

/** Handles one decoded frame; the next frame is decoded only after it settles. */
export type FrameHandler = (session: Session, frame: Frame) => Promise<void>;

export interface SessionOptions {
  readonly limits: DecoderLimits;
  /** Close after this long without a byte in either direction (idle or stalled peer). */
  readonly idleTimeoutMs: number;
  /**
   * Close when a frame header is not complete this long after its first byte
   * arrived (a header sent a byte at a time keeps the idle timer from firing);
   * none when unset. See docs/security.md.
   */
  readonly headerTimeoutMs?: number | undefined;
  readonly handle: FrameHandler;
  readonly logger: Logger;
}

/** How long a closing connection may linger for its last frame to leave. */
const LINGER_MS = 5_000;

let nextSessionId = 1;

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/u;

/**
 * One client connection of the native protocol (docs/protocol.md §1): socket → decoder →
 * handler, strictly one frame at a time, so a connection holds at most one
 * frame's state and the socket pauses while a handler works (backpressure).
 * Replies go through a {@link FrameWriter}. Services keep per-connection state
 * keyed by the session and clean it up in {@link onClose} hooks.
 */
export class Session {
  readonly id = nextSessionId++;
  readonly remoteAddress: string;
  /** True when the connection is TLS-encrypted. */
  readonly secure: boolean;
  /** The logged-in user; null until a login succeeds. */
  identity: Identity | null = null;
  readonly logger: Logger;
  readonly #socket: Socket;
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  readonly #handle: FrameHandler;
  readonly #closeHooks: (() => Promise<void> | void)[] = [];
  readonly #headerTimeoutMs: number | undefined;
  /** Runs while a header is arriving: from its first byte until the frame is decoded. */
  #headerTimer: NodeJS.Timeout | null = null;
  #busy = false;
  #inputEnded = false;
  #closing = false;
  #closed = false;
  #draining = false;

  constructor(socket: Socket, options: SessionOptions) {
    this.#socket = socket;
    this.remoteAddress = socket.remoteAddress ?? 'unknown';
    this.secure = socket instanceof TLSSocket;
    this.logger = options.logger.child({ session: this.id, remote: this.remoteAddress });
    this.#handle = options.handle;
    this.#headerTimeoutMs = options.headerTimeoutMs;
    this.#writer = new FrameWriter(socket, 'GL_ERR_CLIENT_CLOSED');
    this.#decoder = new FrameDecoder((frame) => this.#onFrame(frame), options.limits);

    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.setTimeout(options.idleTimeoutMs, () => {
      this.logger.info({ event: 'conn.timeout' }, 'idle or stalled connection closed');
      this.close(new GridlinkError('GL_ERR_SERVER_TIMEOUT'));
    });
    socket.on('error', (err) => this.logger.debug({ event: 'conn.socket_error', err: err.message }));
    socket.once('close', () => void this.#onClose());
    this.#decoder.on('error', (err) => this.#onDecoderError(err));
    this.#decoder.on('finish', () => {
      this.#inputEnded = true;
      if (!this.#busy) this.close();
    });
    socket.pipe(this.#decoder);
    // After the decoder's own listener (pipe's): it has seen the bytes by then.
    if (this.#headerTimeoutMs !== undefined) socket.on('data', () => this.#watchHeader());
  }

  /** True when the peer is on this machine (a password may then travel in clear, docs/protocol.md §3.2). */
  /** Who acts on this connection, for the services (audit, limits, leases). */
  get actor(): Actor {
    return { identity: this.identity, address: this.remoteAddress, front: 'native', connection: `native:${this.id}` };
  }

  get fromLoopback(): boolean {
    return LOOPBACK.test(this.remoteAddress);
  }

  /** True while a frame is being handled (e.g. a transfer is streaming). */
  get busy(): boolean {
    return this.#busy;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a frame; with a body, `header.size` is its exact length. */
  send(header: OutgoingHeader, body?: OutgoingBody): Promise<void> {
    return this.#writer.send(header, body);
  }

  /** Sends a frame encoded once for many connections (see FrameWriter.sendEncoded). */
  sendEncoded(frame: Buffer): Promise<void> {
    return this.#writer.sendEncoded(frame);
  }

  /** Registers cleanup to run once when the connection closes. */
  onClose(hook: () => Promise<void> | void): void {
    this.#closeHooks.push(hook);
  }

  /**
   * Ends the connection: sends `error` first if given (with the request `id`
   * when known), stops handling input, and lets the last frame leave.
   */
  close(error?: GridlinkError, id?: unknown): void {
    if (this.#closing) return;
    this.#closing = true;
    const socket = this.#socket;
    if (error !== undefined) {
      const header = id === undefined ? { cmd: 'error', code: error.code, message: error.message } : { v: 1, id, cmd: 'error', code: error.code, message: error.message };
      this.send(header).catch(() => undefined);
    }
    // Discard further input so the peer's FIN is seen and the socket can close.
    socket.unpipe(this.#decoder);
    socket.resume();
    this.#writer
      .flushed()
      .then(() => socket.end())
      .catch(() => socket.destroy());
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }

  /**
   * Graceful shutdown (SIGTERM): an idle connection closes now; a busy one
   * closes as soon as its current frame (a transfer) is done.
   */
  drain(): void {
    this.#draining = true;
    if (!this.#busy) this.close(new GridlinkError('GL_ERR_SERVER_SHUTTING_DOWN'));
  }

  /** Cuts the connection at once (shutdown grace expired). */
  destroy(): void {
    this.#socket.destroy();
  }

  #onFrame(frame: Frame): void {
    this.#stopHeaderTimer();
    if (this.#closing) return;
    this.#busy = true;
    this.#handle(this, frame)
      .catch((err: unknown) => {
        this.logger.error({ event: 'conn.handler_error', err }, 'unexpected error in a command handler');
        this.close(new GridlinkError('GL_ERR_SERVER_INTERNAL'));
      })
      .finally(() => {
        this.#busy = false;
        if (this.#closing) return;
        if (this.#draining) this.close(new GridlinkError('GL_ERR_SERVER_SHUTTING_DOWN'));
        else if (this.#inputEnded) this.close();
        else {
          this.#decoder.release();
          // Bytes of the next frame may have come while this one was handled.
          this.#watchHeader();
        }
      });
  }

  /**
   * Starts the header deadline when part of a header has arrived and none is
   * running. It is cleared when the frame is decoded; when it fires with the
   * same header still incomplete, the connection is closed.
   */
  #watchHeader(): void {
    const timeoutMs = this.#headerTimeoutMs;
    if (timeoutMs === undefined || this.#headerTimer !== null || this.#busy || this.#closing || this.#decoder.idle) return;
    const frames = this.#decoder.framesDecoded;
    this.#headerTimer = setTimeout(() => {
      this.#headerTimer = null;
      if (this.#busy || this.#closing || this.#decoder.idle) return;
      if (this.#decoder.framesDecoded !== frames) {
        this.#watchHeader();
        return;
      }
      this.logger.info({ event: 'conn.header_timeout', timeoutMs }, 'frame header not completed in time; closing');
      this.close(new GridlinkError('GL_ERR_SERVER_TIMEOUT', `a frame header must be complete within ${timeoutMs} ms of its first byte`));
    }, timeoutMs);
    this.#headerTimer.unref();
  }

  #stopHeaderTimer(): void {
    if (this.#headerTimer === null) return;
    clearTimeout(this.#headerTimer);
    this.#headerTimer = null;
  }

  #onDecoderError(err: Error): void {
    const error = err instanceof GridlinkError ? err : new GridlinkError('GL_ERR_SERVER_INTERNAL', undefined, { cause: err });
    this.logger.info({ event: 'conn.bad_frame', code: error.code, detail: error.detail }, 'bad frame; closing');
    // A handler streaming the body sees the same error through its body stream
    // and reports it; otherwise report it here.
    if (this.#busy) return;
    this.close(error);
  }

  async #onClose(): Promise<void> {
    this.#closed = true;
    this.#closing = true;
    this.#stopHeaderTimer();
    this.#decoder.destroy();
    for (const hook of this.#closeHooks.splice(0)) {
      try {
        await hook();
      } catch (err) {
        this.logger.warn({ event: 'conn.cleanup_error', err }, 'cleanup after close failed');
      }
    }
  }
}
