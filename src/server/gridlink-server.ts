import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AuditLog } from '../accounts/audit-log.js';
import { AdminServer } from '../admin/admin-server.js';
import { openDatabase, type GridlinkDatabase } from '../accounts/database.js';
import { LoginThrottle } from '../accounts/login-throttle.js';
import { UserStore } from '../accounts/user-store.js';
import type { Config } from '../config/schema.js';
import { GridlinkError } from '../errors/index.js';
import { authCommands } from '../services/auth/auth-commands.js';
import { AuthService } from '../services/auth/auth-service.js';
import { FileService } from '../services/files/file-service.js';
import { fileCommands } from '../services/files/file-commands.js';
import { createLegacyHandler } from '../services/files/legacy-commands.js';
import { NativeListener } from '../transport/native-listener.js';
import { coreCommands } from './core-commands.js';
import { createRouter } from './router.js';

/** What `gridlink admin status` and metrics report. */
export interface ServerStatus {
  readonly uptimeMs: number;
  readonly connections: number;
  readonly acceptedConnections: number;
  readonly activeTransfers: number;
  readonly queuedTransfers: number;
}

/**
 * One gridlink server process (SPEC §1): every service, wired together, on
 * one event loop. `start` creates the data directory on first run.
 */
export class GridlinkServer {
  readonly config: Config;
  readonly logger: Logger;
  readonly files: FileService;
  readonly users: UserStore;
  readonly audit: AuditLog;
  /** Set on the very first start of a data directory: shown once, also in `<data>/initial-admin-password`. */
  readonly initialAdminPassword: string | null;
  readonly #db: GridlinkDatabase;
  readonly #admin: AdminServer;
  readonly #native: NativeListener;
  readonly #startedAt = Date.now();
  #nativeAddress: AddressInfo | null = null;
  #stopping: Promise<void> | null = null;

  private constructor(parts: {
    config: Config;
    logger: Logger;
    files: FileService;
    native: NativeListener;
    admin: AdminServer;
    db: GridlinkDatabase;
    users: UserStore;
    audit: AuditLog;
    initialAdminPassword: string | null;
  }) {
    this.config = parts.config;
    this.logger = parts.logger;
    this.files = parts.files;
    this.users = parts.users;
    this.audit = parts.audit;
    this.initialAdminPassword = parts.initialAdminPassword;
    this.#db = parts.db;
    this.#admin = parts.admin;
    this.#native = parts.native;
  }

  static async start(config: Config, logger: Logger): Promise<GridlinkServer> {
    await mkdir(config.dataDir, { recursive: true, mode: 0o750 });
    const anonymousDir = config.anonymous.dir ?? join(config.dataDir, 'public');
    if (config.anonymous.enabled) {
      await mkdir(anonymousDir, { recursive: true });
      await checkSameFilesystem(config.dataDir, anonymousDir);
    }
    const db = openDatabase(join(config.dataDir, 'gridlink.db'));
    const users = new UserStore(db);
    const audit = new AuditLog(db, logger);
    // The admin socket (SPEC §8) also marks the data directory as in use: it
    // listens before anything else there is touched, so a second server with
    // the same directory refuses to start.
    let server: GridlinkServer | null = null;
    const admin = new AdminServer({
      socketPath: join(config.dataDir, 'admin.sock'),
      users,
      audit,
      logger,
      status: () => (server === null ? { starting: true } : { ...server.status() }),
    });
    try {
      await admin.listen();
    } catch (err) {
      db.close();
      throw err;
    }
    const initialAdminPassword = await createInitialAdmin(config.dataDir, users, audit);
    const auth = new AuthService(users, audit, new LoginThrottle());
    const files = new FileService({
      dataDir: config.dataDir,
      anonymous: config.anonymous.enabled ? { dir: anonymousDir, writable: config.anonymous.writable } : null,
      durable: config.files.durable,
      maxUploadsPerSession: config.files.maxUploadsPerSession,
      maxActiveTransfers: config.files.maxActiveTransfers,
      partialMaxAgeMs: config.files.partialMaxAgeHours * 3_600_000,
      logger,
      audit,
      quotaFor: (user) => users.get(user)?.quotaBytes,
    });
    await files.start();

    const router = createRouter(
      { ...coreCommands(config.limits.maxHeaderBytes), ...authCommands(auth, (session) => files.onLogin(session)), ...fileCommands(files) },
      createLegacyHandler(files),
    );
    const tls = config.native.tls === undefined ? undefined : { cert: await readFile(config.native.tls.certFile), key: await readFile(config.native.tls.keyFile) };
    const native = new NativeListener({
      host: config.native.host,
      port: config.native.port,
      maxConnections: config.native.maxConnections,
      tls,
      logger,
      session: {
        limits: { maxHeaderBytes: config.limits.maxHeaderBytes, maxBodyBytes: config.limits.maxBodyBytes },
        idleTimeoutMs: config.native.idleTimeoutMs,
        handle: router,
        logger,
      },
    });
    server = new GridlinkServer({ config, logger, files, native, admin, db, users, audit, initialAdminPassword });
    try {
      server.#nativeAddress = await native.listen();
    } catch (err) {
      await admin.close();
      files.stop();
      db.close();
      throw err;
    }
    logger.info(
      {
        event: 'server.started',
        native: `${server.#nativeAddress.address}:${server.#nativeAddress.port}`,
        tls: tls !== undefined,
        dataDir: config.dataDir,
        anonymous: config.anonymous.enabled ? { dir: anonymousDir, writable: config.anonymous.writable } : false,
      },
      'gridlink is serving',
    );
    return server;
  }

  /** Address the native protocol listens on (the real port when 0 was asked). */
  get nativeAddress(): AddressInfo {
    if (this.#nativeAddress === null) throw new Error('server not started');
    return this.#nativeAddress;
  }

  status(): ServerStatus {
    return {
      uptimeMs: Date.now() - this.#startedAt,
      connections: this.#native.connections,
      acceptedConnections: this.#native.accepted,
      activeTransfers: this.files.activeTransfers,
      queuedTransfers: this.files.queuedTransfers,
    };
  }

  /** Graceful stop: no new connections, running transfers finish within the grace period. */
  stop(graceMs = this.config.shutdownGraceMs): Promise<void> {
    this.#stopping ??= (async () => {
      this.logger.info({ event: 'server.stopping', graceMs, ...this.status() });
      await this.#native.close(graceMs);
      this.files.stop();
      await this.#admin.close();
      this.#db.close();
      this.logger.info({ event: 'server.stopped' });
    })();
    return this.#stopping;
  }
}

/** Uploads are renamed from staging into an area, which needs one filesystem. */
async function checkSameFilesystem(dataDir: string, areaDir: string): Promise<void> {
  const [a, b] = await Promise.all([stat(dataDir), stat(areaDir)]);
  if (a.dev !== b.dev) {
    throw new GridlinkError('GL_ERR_CONFIG_INVALID', `anonymous.dir (${areaDir}) must be on the same filesystem as dataDir (${dataDir})`);
  }
}

/**
 * The first start of a data directory creates `admin` with a random password,
 * written once to `<data>/initial-admin-password` (mode 0600) for the operator
 * to read and then change (SPEC §3). Never logged.
 */
async function createInitialAdmin(dataDir: string, users: UserStore, audit: AuditLog): Promise<string | null> {
  if (users.count() > 0) return null;
  const password = randomBytes(18).toString('base64url');
  await users.add('admin', password, 'admin');
  await writeFile(join(dataDir, 'initial-admin-password'), `${password}\n`, { mode: 0o600, flag: 'w' });
  audit.record({ event: 'admin.initial_admin_created', actor: 'server', detail: { name: 'admin' } });
  return password;
}
