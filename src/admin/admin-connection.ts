import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { FrameDecoder, MAX_HEADER_BYTES, type DecoderLimits, type Frame, type OutgoingHeader } from '../codec/index.js';
import { GridlinkError } from '../errors/index.js';
import { requestId, type RequestId } from '../protocol/v1.js';
import { FrameWriter } from '../transport/frame-writer.js';
import type { AdminDispatcher } from './admin-commands.js';
import { ADMIN_PROTOCOL_VERSION } from './admin-protocol.js';

/**
 * Admin requests never carry a body (docs/protocol.md §6), so any announced body is
 * refused before a byte of it is read; headers keep the docs/protocol.md §1 bound.
 */
const ADMIN_LIMITS: DecoderLimits = { maxHeaderBytes: MAX_HEADER_BYTES, maxBodyBytes: 0 };
/** How long a closing connection may linger for its last frame to leave. */
const LINGER_MS = 2_000;

export interface AdminConnectionOptions {
  readonly dispatch: AdminDispatcher;
  readonly logger: Logger;
  /** Close after this long without a byte either way. */
  readonly idleTimeoutMs: number;
}

/**
 * One client of the admin socket: socket → decoder → dispatcher, one frame at
 * a time (the next is decoded only after the reply is queued), so a
 * connection holds at most one request. Errors the peer caused become error
 * frames; the connection stays open unless framing is lost (docs/protocol.md §1).
 */
export class AdminConnection {
  readonly #socket: Socket;
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  readonly #dispatch: AdminDispatcher;
  readonly #logger: Logger;
  readonly #closed: Promise<void>;
  #current: Promise<void> | null = null;
  #inputEnded = false;
  #closing = false;

  constructor(socket: Socket, options: AdminConnectionOptions) {
    this.#socket = socket;
    this.#dispatch = options.dispatch;
    this.#logger = options.logger;
    this.#writer = new FrameWriter(socket, 'GL_ERR_CLIENT_CLOSED');
    this.#decoder = new FrameDecoder((frame) => this.#onFrame(frame), ADMIN_LIMITS);
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.setTimeout(options.idleTimeoutMs, () => this.close(new GridlinkError('GL_ERR_SERVER_TIMEOUT')));
    socket.on('error', (err) => this.#logger.debug({ event: 'admin.socket_error', err: err.message }));
    this.#decoder.on('error', (err) => this.#onDecoderError(err));
    this.#decoder.on('finish', () => {
      this.#inputEnded = true;
      if (this.#current === null) this.close();
    });
    socket.once('close', () => this.#decoder.destroy());
    socket.pipe(this.#decoder);
  }

  /** Resolves once the socket has closed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /**
   * Ends the connection: sends `error` first if given (with the request id
   * when known), ignores further input, and lets the last frame leave.
   */
  close(error?: GridlinkError, id?: RequestId | null): void {
    if (this.#closing) return;
    this.#closing = true;
    if (error !== undefined) this.#sendError(error, id);
    this.#socket.unpipe(this.#decoder);
    this.#socket.resume();
    this.#writer
      .flushed()
      .then(() => this.#socket.end())
      .catch(() => this.#socket.destroy());
    setTimeout(() => this.#socket.destroy(), LINGER_MS).unref();
  }

  /** Server shutdown: lets the command in progress finish (it may be mid-write to the database), then closes. */
  async shutdown(): Promise<void> {
    await this.#current;
    this.close(new GridlinkError('GL_ERR_SERVER_SHUTTING_DOWN'));
    await this.#closed;
  }

  /** Cuts the connection at once. */
  destroy(): void {
    this.#socket.destroy();
  }

  #onFrame(frame: Frame): void {
    if (this.#closing) return;
    const current = this.#handle(frame)
      .catch((err: unknown) => {
        this.#logger.error({ event: 'admin.handler_error', err }, 'unexpected error in an admin command');
        this.close(new GridlinkError('GL_ERR_SERVER_INTERNAL'));
      })
      .finally(() => {
        this.#current = null;
        if (this.#closing) return;
        if (this.#inputEnded) this.close();
        else this.#decoder.release();
      });
    this.#current = current;
  }

  async #handle(frame: Frame): Promise<void> {
    const { header } = frame;
    const parsedId = requestId.safeParse(header['id']);
    const id = parsedId.success ? parsedId.data : null;
    if (header['v'] !== ADMIN_PROTOCOL_VERSION) {
      // There is no legacy admin protocol: a frame without "v":1 is a peer that speaks something else.
      this.close(new GridlinkError('GL_ERR_PROTO_BAD_VERSION', `got ${JSON.stringify(header['v']) ?? 'none'}`), id);
      return;
    }
    const cmd = header.cmd;
    let reply: Record<string, unknown>;
    try {
      if (id === null) throw new GridlinkError('GL_ERR_PROTO_BAD_FIELD', '"id" must be a non-negative integer or a string of 1..64 characters');
      if (frame.body !== null) throw new GridlinkError('GL_ERR_PROTO_UNEXPECTED_BODY', cmd);
      reply = await this.#dispatch(cmd, header);
    } catch (err) {
      if (!(err instanceof GridlinkError)) throw err;
      // Code only: the header may hold a password, so it is never logged (docs/protocol.md §3.2).
      this.#logger.info({ event: 'admin.refused', cmd, code: err.code });
      if (err.fatal) this.close(err, id);
      else this.#sendError(err, id);
      return;
    }
    this.#logger.info({ event: 'admin.command', cmd });
    try {
      await this.#send({ ...reply, v: ADMIN_PROTOCOL_VERSION, id, cmd });
    } catch (err) {
      // Nothing was written (the header did not encode: too large, or a value JSON cannot hold).
      if (this.#socket.destroyed) return;
      this.#logger.error({ event: 'admin.reply_error', cmd, err }, 'admin reply could not be encoded');
      this.close(new GridlinkError('GL_ERR_SERVER_INTERNAL', 'reply could not be encoded'), id);
    }
  }

  #onDecoderError(err: Error): void {
    const error = err instanceof GridlinkError ? err : new GridlinkError('GL_ERR_SERVER_INTERNAL', undefined, { cause: err });
    this.#logger.info({ event: 'admin.bad_frame', code: error.code }, 'bad admin frame; closing');
    // Framing is lost (docs/protocol.md §1): report it without an id, then close.
    this.close(error);
  }

  #sendError(error: GridlinkError, id: RequestId | null | undefined): void {
    const header = id === undefined ? { cmd: 'error', code: error.code, message: error.message } : { v: ADMIN_PROTOCOL_VERSION, id, cmd: 'error', code: error.code, message: error.message };
    this.#send(header).catch(() => undefined);
  }

  #send(header: OutgoingHeader): Promise<void> {
    return this.#writer.send(header);
  }
}
