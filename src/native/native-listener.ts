import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { encodeHeader } from '../codec/index.js';
import { GridlinkError } from '../errors/index.js';
import { Session, type SessionOptions } from './session.js';

export interface NativeListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxConnections: number;
  /** PEM certificate and key; when set the listener speaks TLS (SPEC §3). */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  readonly session: SessionOptions;
  readonly logger: Logger;
}

/**
 * The TCP (or TLS) listener of the native protocol: accepts connections up to
 * a limit, gives each a {@link Session}, and shuts down gracefully.
 */
export class NativeListener {
  readonly #options: NativeListenerOptions;
  readonly #server: Server;
  readonly #sessions = new Set<Session>();
  /** Every raw socket, including TLS ones still in their handshake (no session yet). */
  readonly #sockets = new Set<Socket>();
  #accepted = 0;

  constructor(options: NativeListenerOptions) {
    this.#options = options;
    const onSocket = (socket: Socket): void => this.#accept(socket);
    this.#server =
      options.tls === undefined
        ? createServer({ allowHalfOpen: true, noDelay: true }, onSocket)
        : createTlsServer({ allowHalfOpen: true, cert: options.tls.cert, key: options.tls.key, handshakeTimeout: 10_000 }, onSocket);
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    // A TLS handshake that fails must not take the listener down.
    this.#server.on('tlsClientError', (err: Error) => options.logger.info({ event: 'conn.tls_error', err: err.message }));
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen({ host: this.#options.host, port: this.#options.port, backlog: 4096 }, () => {
        this.#server.off('error', onError);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  get connections(): number {
    return this.#sessions.size;
  }

  get accepted(): number {
    return this.#accepted;
  }

  get sessions(): ReadonlySet<Session> {
    return this.#sessions;
  }

  /**
   * Stops accepting, lets running transfers finish for up to `graceMs`, then
   * cuts what is left. Partial uploads stay in staging, so nothing half-written
   * becomes visible and the clients can resume.
   */
  async close(graceMs: number): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const session of this.#sessions) session.drain();
    const deadline = Date.now() + graceMs;
    while (this.#sessions.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
    await stopped;
  }

  #accept(socket: Socket): void {
    if (this.#sessions.size >= this.#options.maxConnections) {
      const error = new GridlinkError('GL_ERR_SERVER_BUSY', `${this.#options.maxConnections} connections`);
      socket.on('error', () => undefined);
      socket.end(encodeHeader({ cmd: 'error', code: error.code, message: error.message }));
      setTimeout(() => socket.destroy(), 1_000).unref();
      this.#options.logger.warn({ event: 'conn.refused_busy', limit: this.#options.maxConnections });
      return;
    }
    this.#accepted += 1;
    const session = new Session(socket, this.#options.session);
    this.#sessions.add(session);
    socket.once('close', () => this.#sessions.delete(session));
  }
}
