import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { FrameDecoder, type Frame, type FrameHeader, type OutgoingHeader } from '../codec/index.js';
import { GridlinkError } from '../errors/index.js';
import type { RequestId } from '../protocol/v1.js';
import { FrameWriter, type OutgoingBody } from '../transport/frame-writer.js';

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  /** Connect to this Unix domain socket instead of host:port (the local admin socket). */
  readonly path?: string | undefined;
  /** Speak TLS; `ca` pins the server's certificate authority. */
  readonly tls?: { readonly ca?: Buffer; readonly rejectUnauthorized?: boolean } | undefined;
  /** Give up connecting after this long. */
  readonly connectTimeoutMs?: number;
  /** Fail if the server sends nothing for this long while a reply is awaited. */
  readonly idleTimeoutMs?: number;
}

interface Inbox {
  readonly frames: Frame[];
  waiter: { resolve: (frame: Frame) => void; reject: (err: Error) => void } | null;
}

/** Replies the client will queue for one request before it calls that a protocol error. */
const MAX_QUEUED_FRAMES = 64;

/**
 * A client connection of the native protocol: frames out through a
 * {@link FrameWriter}, frames in through a {@link FrameDecoder}, and replies
 * routed to their request by `id` (docs/protocol.md §3) so requests may be
 * pipelined. In legacy mode (docs/protocol.md §2) frames carry no id and all
 * go to one inbox. It knows frames, not commands: the typed requests of the
 * native protocol are {@link NativeChannel}'s (native-channel.ts); the admin
 * socket speaks its own commands over it (src/admin/admin-client.ts).
 */
export class FrameConnection {
  readonly #socket: Socket;
  readonly #writer: FrameWriter;
  readonly #legacy: boolean;
  readonly #inboxes = new Map<RequestId | null, Inbox>();
  #nextId = 1;
  #failure: GridlinkError | null = null;
  readonly #pushListeners = new Set<(header: FrameHeader) => void>();
  readonly #failureListeners = new Set<(err: GridlinkError) => void>();

  private constructor(socket: Socket, legacy: boolean, idleTimeoutMs: number) {
    this.#socket = socket;
    this.#legacy = legacy;
    this.#writer = new FrameWriter(socket, 'GL_ERR_CLIENT_CLOSED');
    const decoder = new FrameDecoder((frame) => this.#onFrame(frame), undefined, true);
    decoder.on('error', (err) => this.#fail(err instanceof GridlinkError ? err : new GridlinkError('GL_ERR_CLIENT_PROTOCOL', err.message)));
    socket.on('error', (err) => this.#fail(new GridlinkError('GL_ERR_CLIENT_CLOSED', err.message)));
    socket.on('close', () => this.#fail(new GridlinkError('GL_ERR_CLIENT_CLOSED')));
    socket.setTimeout(idleTimeoutMs, () => {
      if (this.#inboxes.size > 0) socket.destroy(new Error(`no reply for ${idleTimeoutMs / 1000} s`));
    });
    socket.pipe(decoder);
  }

  /** Opens a connection; `legacy` speaks the course's protocol (no ids). */
  static connect(options: ConnectOptions, legacy = false): Promise<FrameConnection> {
    const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const socket =
        options.path !== undefined
          ? netConnect({ path: options.path, allowHalfOpen: true })
          : options.tls === undefined
          ? netConnect({ host: options.host, port: options.port, allowHalfOpen: true, noDelay: true })
          : tlsConnect({ host: options.host, port: options.port, ca: options.tls.ca, rejectUnauthorized: options.tls.rejectUnauthorized ?? true });
      const timer = setTimeout(() => socket.destroy(new Error(`timed out after ${connectTimeoutMs} ms`)), connectTimeoutMs);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        const where = options.path ?? `${options.host}:${options.port}`;
        reject(new GridlinkError('GL_ERR_CLIENT_CONNECT', `${where}: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.once(options.tls === undefined || options.path !== undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new FrameConnection(socket, legacy, options.idleTimeoutMs ?? 60_000));
      });
    });
  }

  /** Allocates a request id and starts collecting its replies. */
  open(): RequestId {
    const id = this.#legacy ? 0 : this.#nextId++;
    this.#inboxes.set(this.#legacy ? null : id, { frames: [], waiter: null });
    return id;
  }

  /** Stops collecting replies for `id`. */
  done(id: RequestId): void {
    this.#inboxes.delete(this.#legacy ? null : id);
  }

  /** Sends a frame; with a body, `header.size` must be its exact length. */
  send(header: OutgoingHeader, body?: OutgoingBody): Promise<void> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return this.#writer.send(header, body);
  }

  /** The next reply for `id`; an error frame is thrown as a {@link GridlinkError}. */
  receive(id: RequestId): Promise<Frame> {
    const inbox = this.#inboxes.get(this.#legacy ? null : id);
    if (inbox === undefined) return Promise.reject(new Error(`request ${String(id)} is not open`));
    const queued = inbox.frames.shift();
    if (queued !== undefined) return settle(queued);
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return new Promise<Frame>((resolve, reject) => {
      inbox.waiter = { resolve, reject };
    }).then(settle);
  }

  /**
   * Receives frames the server pushes without an `id` (chat events, watched
   * points: docs/protocol.md §3.4, §3.6); every listener sees every pushed
   * frame. Without a listener such a frame is a protocol error.
   */
  onPush(listener: (header: FrameHeader) => void): void {
    this.#pushListeners.add(listener);
  }

  /** A reply already received for `id`, without waiting; an error frame is thrown. */
  takeQueued(id: RequestId): Frame | undefined {
    const frame = this.#inboxes.get(this.#legacy ? null : id)?.frames.shift();
    if (frame?.header.cmd === 'error') throw GridlinkError.fromWire(frame.header);
    return frame;
  }

  /**
   * Sends a request without a body and returns its single reply header,
   * unchecked: for the admin socket's commands and for tests that send what a
   * hostile or broken peer would. The native commands are typed and their
   * replies checked by {@link NativeChannel.request}.
   */
  async request(cmd: string, fields: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.open();
    try {
      await this.send({ v: 1, id, cmd, ...fields });
      return (await this.receive(id)).header;
    } finally {
      this.done(id);
    }
  }

  /** Half-closes our side (no more requests) and waits for the server to close. */
  async end(waitMs = 10_000): Promise<void> {
    await this.#writer.flushed();
    const closed = new Promise<void>((resolve) => {
      if (this.#socket.destroyed) resolve();
      else this.#socket.once('close', () => resolve());
    });
    this.#socket.end();
    const timer = setTimeout(() => this.#socket.destroy(), waitMs);
    await closed;
    clearTimeout(timer);
  }

  /**
   * Calls `listener` once when the connection fails (an error frame without
   * id, a cut); at once if it already has. Returns a function that stops it.
   */
  onFailure(listener: (err: GridlinkError) => void): () => void {
    if (this.#failure !== null) {
      listener(this.#failure);
      return () => undefined;
    }
    this.#failureListeners.add(listener);
    return () => this.#failureListeners.delete(listener);
  }

  /** A connection-level failure seen so far (an error frame without id, a cut). */
  get failure(): GridlinkError | null {
    return this.#failure;
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /**
   * Ends the connection because of `err` (a pushed frame that breaks the
   * protocol): waiting and later requests fail with it, as after a cut.
   */
  abort(err: GridlinkError): void {
    this.#fail(err);
    this.#socket.destroy();
  }

  #onFrame(frame: Frame): void {
    const rawId = frame.header['id'];
    // null: no id (a push, or about the whole connection); undefined: an id no request can have.
    const key = this.#legacy || rawId === undefined || rawId === null ? null : typeof rawId === 'number' || typeof rawId === 'string' ? rawId : undefined;
    const inbox = key === undefined ? undefined : this.#inboxes.get(key);
    if (key === null && !this.#legacy && frame.header.cmd !== 'error' && frame.body === null && this.#pushListeners.size > 0) {
      for (const listener of this.#pushListeners) listener(frame.header);
      return;
    }
    if (inbox === undefined) {
      // An error without id concerns the whole connection (busy, timeout, shutdown).
      const err =
        frame.header.cmd === 'error'
          ? GridlinkError.fromWire(frame.header)
          : new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `unexpected ${frame.header.cmd} frame for request ${JSON.stringify(rawId)}`);
      frame.body?.resume();
      this.#fail(err);
      this.#socket.destroy();
      return;
    }
    if (inbox.waiter !== null) {
      const { resolve } = inbox.waiter;
      inbox.waiter = null;
      resolve(frame);
      return;
    }
    if (inbox.frames.length >= MAX_QUEUED_FRAMES) {
      this.#fail(new GridlinkError('GL_ERR_CLIENT_PROTOCOL', 'too many unread replies'));
      this.#socket.destroy();
      return;
    }
    inbox.frames.push(frame);
  }

  #fail(err: GridlinkError): void {
    if (this.#failure === null) {
      this.#failure = err;
      for (const listener of this.#failureListeners) listener(err);
      this.#failureListeners.clear();
    }
    for (const inbox of this.#inboxes.values()) {
      const waiter = inbox.waiter;
      inbox.waiter = null;
      waiter?.reject(this.#failure);
    }
  }
}

function settle(frame: Frame): Promise<Frame> {
  if (frame.header.cmd === 'error') {
    frame.body?.resume();
    return Promise.reject(GridlinkError.fromWire(frame.header));
  }
  return Promise.resolve(frame);
}
