import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { passiveRange } from '../config/schema.js';
import type { AuthService } from '../services/auth/auth-service.js';
import type { FileService } from '../services/files/file-service.js';
import { PassivePorts } from './data-connections.js';
import { FtpSession } from './ftp-session.js';
import { LoginGate } from './login-gate.js';
import { formatReply } from './replies.js';

export interface FtpListenerOptions {
  readonly host: string;
  readonly port: number;
  /** `ftp.passivePorts`: "first-last", or 0 for ports the OS picks. */
  readonly passivePorts: string | 0;
  /** PEM certificate and key (`ftp.tls`): AUTH TLS is offered when set. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly dataTimeoutMs: number;
  readonly files: FileService;
  readonly auth: AuthService;
  readonly logger: Logger;
}

/** Refused connections that may linger while their 421 leaves; beyond, Node drops them. */
const REFUSAL_SLOTS = 64;

/**
 * The FTP / FTPS front (docs/ftp.md): a TCP listener whose connections each
 * get an {@link FtpSession} on the server's file service and accounts. Over
 * `ftp.maxConnections` a connection is told 421 and closed.
 */
export class FtpListener {
  readonly #options: FtpListenerOptions;
  readonly #server: Server;
  readonly #sessions = new Set<FtpSession>();
  readonly #ports: PassivePorts;
  readonly #tls: SecureContext | null;
  readonly #logins = new LoginGate();
  #nextId = 1;
  #accepted = 0;
  #closing = false;

  constructor(options: FtpListenerOptions) {
    this.#options = options;
    this.#ports = new PassivePorts(options.passivePorts === 0 ? null : passiveRange(options.passivePorts));
    // One context for the control and the data connections: a client may resume its TLS session on the data connection.
    this.#tls = options.tls === undefined ? null : createSecureContext({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' });
    this.#server = createServer({ noDelay: true }, (socket) => this.#onConnection(socket));
    this.#server.maxConnections = options.maxConnections + REFUSAL_SLOTS;
  }

  /** Control connections open now. */
  get connections(): number {
    return this.#sessions.size;
  }

  /** Control connections accepted since the start. */
  get accepted(): number {
    return this.#accepted;
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host: this.#options.host, port: this.#options.port, backlog: 1024 }, () => {
        this.#server.off('error', reject);
        this.#server.on('error', (err) => this.#options.logger.error({ event: 'ftp.listener_error', err }, 'FTP listener error'));
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  #onConnection(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.#closing || this.#sessions.size >= this.#options.maxConnections) {
      const why = this.#closing ? 'the server is stopping; reconnect later' : `too many connections (${this.#options.maxConnections}); try again later`;
      socket.end(formatReply(421, why));
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    this.#accepted += 1;
    const session = new FtpSession(
      socket,
      this.#nextId++,
      {
        files: this.#options.files,
        auth: this.#options.auth,
        logger: this.#options.logger,
        passivePorts: this.#ports,
        logins: this.#logins,
        tls: this.#tls,
        idleTimeoutMs: this.#options.idleTimeoutMs,
        dataTimeoutMs: this.#options.dataTimeoutMs,
      },
      (ended) => this.#sessions.delete(ended),
    );
    this.#sessions.add(session);
  }

  /** Stops accepting; idle sessions end at once, transfers get `graceMs` to finish. */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await Promise.all([...this.#sessions].map((session) => session.shutdown(graceMs)));
    const deadline = Date.now() + 2_000;
    while (this.#sessions.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await closed;
  }
}
