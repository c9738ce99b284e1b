import type { Stats } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { AuditLog } from '../accounts/audit-log.js';
import type { UserStore } from '../accounts/user-store.js';
import { encodeHeader } from '../codec/index.js';
import { GridlinkError } from '../errors/index.js';
import { createAdminDispatcher, type AdminContext, type AdminDispatcher } from './admin-commands.js';
import { AdminConnection } from './admin-connection.js';
import { SOCKET_MODE, checkSocketPath, lockDown, probeSocket, removeIfSame, removeStale } from './socket-file.js';

/** Options of {@link AdminServer}. */
export interface AdminServerOptions {
  /** Where to listen: `<data>/admin.sock` (docs/architecture.md, docs/protocol.md §6). */
  readonly socketPath: string;
  readonly users: UserStore;
  readonly audit: AuditLog;
  /** What `gridlink admin status` shows (uptime, connections, transfers, …). */
  readonly status: () => Record<string, unknown>;
  /** The chat rooms, for announce and kick (docs/protocol.md §6). */
  readonly chat: AdminContext['chat'];
  /** `reload` (docs/configuration.md "Reload"); unset: refused, as by a server that has no configuration file. */
  readonly reload?: AdminContext['reload'];
  readonly logger: Logger;
  /** Concurrent admin connections; more are refused with GL_ERR_SERVER_BUSY. */
  readonly maxConnections?: number;
  /** Idle connections close after this long (a password prompt may sit in between). */
  readonly idleTimeoutMs?: number;
  /** How long `close` lets a running command finish before cutting it. */
  readonly closeGraceMs?: number;
}

/**
 * The local admin channel (docs/protocol.md §6): gridlink frames over a Unix domain
 * socket of mode 0600, so that only the user who runs the server (and root)
 * can connect. Filesystem permissions are the authentication, so there is no
 * login; and since that user gets no more than account administration and
 * status, no command runs anything (no shell, no file access).
 *
 * The socket doubles as the data directory's "server running" marker: a
 * second server on the same directory finds it answering and refuses to start.
 */
export class AdminServer {
  readonly #options: AdminServerOptions;
  readonly #dispatch: AdminDispatcher;
  readonly #logger: Logger;
  readonly #connections = new Set<AdminConnection>();
  #server: Server | null = null;
  #identity: Stats | null = null;
  /** False until the socket's mode is verified: connections that beat the check are cut. */
  #ready = false;

  constructor(options: AdminServerOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'admin' });
    this.#dispatch = createAdminDispatcher({ ...options, reload: options.reload ?? noReload });
  }

  /** The socket path this server listens on. */
  get socketPath(): string {
    return this.#options.socketPath;
  }

  /**
   * Starts listening. A socket that answers means another server owns this
   * data directory: refused with GL_ERR_ADMIN_SOCKET_IN_USE. A socket that
   * does not answer is left from a crash: removed, then replaced.
   */
  async listen(): Promise<void> {
    if (this.#server !== null) throw new Error('admin server already listening');
    const path = this.#options.socketPath;
    checkSocketPath(path);
    const state = await probeSocket(path);
    if (state === 'live') throw new GridlinkError('GL_ERR_ADMIN_SOCKET_IN_USE', `${path} answers`);
    if (state === 'stale') {
      this.#logger.warn({ event: 'admin.stale_socket', path }, 'removing admin socket left by a server that is gone');
      await removeStale(path);
    }
    const server = createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket));
    await bindOwnerOnly(server, path);
    server.on('error', (err) => this.#logger.error({ event: 'admin.listener_error', err }, 'admin listener failed'));
    this.#server = server;
    try {
      this.#identity = await lockDown(path);
    } catch (err) {
      await this.close();
      throw err;
    }
    this.#ready = true;
    this.#logger.info({ event: 'admin.listening', path, mode: SOCKET_MODE.toString(8) }, 'admin socket ready');
  }

  /**
   * Stops accepting, lets each running command finish (up to the grace
   * period), closes the connections and removes the socket file.
   */
  async close(): Promise<void> {
    const server = this.#server;
    if (server === null) return;
    this.#server = null;
    this.#ready = false;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    const graceMs = this.#options.closeGraceMs ?? 5_000;
    const connections = [...this.#connections];
    const timer = setTimeout(() => connections.forEach((c) => c.destroy()), graceMs);
    await Promise.all(connections.map((c) => c.shutdown()));
    clearTimeout(timer);
    await stopped;
    // Node unlinks the socket on close; this covers the rest, and never removes a successor's socket.
    if (this.#identity !== null) await removeIfSame(this.#options.socketPath, this.#identity);
    this.#identity = null;
    this.#logger.info({ event: 'admin.closed' });
  }

  #accept(socket: Socket): void {
    socket.on('error', () => undefined);
    if (!this.#ready) {
      socket.destroy();
      return;
    }
    const limit = this.#options.maxConnections ?? 16;
    if (this.#connections.size >= limit) {
      const error = new GridlinkError('GL_ERR_SERVER_BUSY', `${limit} admin connections`);
      socket.once('end', () => socket.destroy());
      socket.resume(); // read (and drop) input, so the peer's FIN is seen
      socket.end(encodeHeader({ cmd: 'error', code: error.code, message: error.message }));
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    const connection = new AdminConnection(socket, {
      dispatch: this.#dispatch,
      logger: this.#logger,
      idleTimeoutMs: this.#options.idleTimeoutMs ?? 10 * 60_000,
    });
    this.#connections.add(connection);
    void connection.closed.then(() => this.#connections.delete(connection));
  }
}

function noReload(): Promise<never> {
  return Promise.reject(new GridlinkError('GL_ERR_CONFIG_READ', 'this server has no configuration file to re-read'));
}

/**
 * Binds with umask 0177 so the socket is born 0600 (docs/architecture.md table, §8): the
 * bind happens synchronously inside `listen()`, so the umask is restored
 * before any other code runs. Worker threads may not change the umask; there
 * the socket is chmod-ed right after, and `#ready` cuts any early connection.
 */
function bindOwnerOnly(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      // Another server won a race for the same path after our probe.
      if (err.code === 'EADDRINUSE') reject(new GridlinkError('GL_ERR_ADMIN_SOCKET_IN_USE', `${path} is taken`, { cause: err }));
      else reject(new GridlinkError('GL_ERR_ADMIN_SOCKET', `${path}: ${err.message}`, { cause: err }));
    };
    server.once('error', onError);
    let previous: number | null = null;
    try {
      previous = process.umask(0o177);
    } catch {
      // ERR_WORKER_UNSUPPORTED_OPERATION: fall back to chmod alone.
    }
    try {
      server.listen({ path, backlog: 64 }, () => {
        server.off('error', onError);
        resolve();
      });
    } finally {
      if (previous !== null) process.umask(previous);
    }
  });
}
