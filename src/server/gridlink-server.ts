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
import type { Bus } from '../bus/bus.js';
import { LocalBus } from '../bus/local-bus.js';
import { authCommands } from '../services/auth/auth-commands.js';
import { chatCommands } from '../services/chat/chat-commands.js';
import { ChatRooms } from '../services/chat/chat-rooms.js';
import { LegacyUdpChat } from '../services/chat/legacy-udp-chat.js';
import { AuthService } from '../services/auth/auth-service.js';
import { FileService } from '../services/files/file-service.js';
import { fileCommands } from '../services/files/file-commands.js';
import { createLegacyHandler } from '../services/files/legacy-commands.js';
import { NativeListener } from '../transport/native-listener.js';
import type { WebServer } from '../web/http-server.js';
import { scadaCommands } from '../scada/scada-commands.js';
import type { ScadaService } from '../scada/scada-service.js';
import { coreCommands } from './core-commands.js';
import { createRouter } from './router.js';

/** What `gridlink admin status` and metrics report. */
export interface ServerStatus {
  readonly uptimeMs: number;
  readonly connections: number;
  readonly acceptedConnections: number;
  readonly activeTransfers: number;
  readonly queuedTransfers: number;
  readonly chatRooms: Record<string, number>;
  readonly bus: ReturnType<Bus['metrics']>;
  /** The data plane: devices (online), points, readings and events so far, active alarms; null when off. */
  readonly scada: ReturnType<ScadaService['metrics']> | null;
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
  readonly bus: Bus;
  readonly chat: ChatRooms;
  /** The SCADA data plane (SPEC §6); null when `scada.enabled` is false. */
  readonly scada: ScadaService | null;
  /** Set on the very first start of a data directory: shown once, also in `<data>/initial-admin-password`. */
  readonly initialAdminPassword: string | null;
  readonly #db: GridlinkDatabase;
  readonly #admin: AdminServer;
  readonly #native: NativeListener;
  readonly #legacyChat: LegacyUdpChat | null;
  #legacyChatAddress: AddressInfo | null = null;
  readonly #startedAt = Date.now();
  #nativeAddress: AddressInfo | null = null;
  #web: WebServer | null = null;
  #httpAddress: AddressInfo | null = null;
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
    bus: Bus;
    chat: ChatRooms;
    scada: ScadaService | null;
    legacyChat: LegacyUdpChat | null;
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
    this.bus = parts.bus;
    this.chat = parts.chat;
    this.scada = parts.scada;
    this.#legacyChat = parts.legacyChat;
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
    const bus = new LocalBus();
    const chat = new ChatRooms(bus);
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
      chat: { announce: (text) => chat.announce(text), kick: (nick) => chat.kick(nick) },
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
    let scada: ScadaService | null = null;
    if (config.scada.enabled) {
      try {
        // Loaded only when enabled, like the web listener below: a file
        // server does not carry Modbus or fastify in its memory.
        const { ScadaService } = await import('../scada/scada-service.js');
        scada = await ScadaService.start({ config: config.scada, dataDir: config.dataDir, bus, audit, logger }).catch((err: unknown) => {
          throw listenFailure('the substation simulator', 'scada.simulator.port', config.scada.simulator, err);
        });
      } catch (err) {
        files.stop();
        await admin.close();
        db.close();
        throw err;
      }
    }

    const legacyChat = config.legacyChat.enabled
      ? new LegacyUdpChat({ host: config.legacyChat.host, port: config.legacyChat.port, rooms: chat, logger, idleTimeoutMs: config.legacyChat.idleTimeoutMs, maxMembers: config.legacyChat.maxMembers })
      : null;
    const router = createRouter(
      {
        ...coreCommands(config.limits.maxHeaderBytes),
        ...authCommands(auth, (session) => files.onLogin(session)),
        ...fileCommands(files),
        ...chatCommands(chat, config.chat.allowAnonymous),
        ...scadaCommands(scada, bus),
      },
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
    server = new GridlinkServer({ config, logger, files, native, admin, db, users, audit, bus, chat, scada, legacyChat, initialAdminPassword });
    try {
      server.#nativeAddress = await native.listen().catch((err: unknown) => {
        throw listenFailure('the native protocol', 'native.port (or --port)', config.native, err);
      });
      server.#legacyChatAddress =
        (await legacyChat?.listen().catch((err: unknown) => {
          throw listenFailure('the legacy UDP chat', 'legacyChat.port', config.legacyChat, err);
        })) ?? null;
      if (config.http.enabled) {
        const s = server;
        const { WebServer } = await import('../web/http-server.js');
        server.#web = new WebServer({ config: config.http, logger, users, audit, auth, files, chat, bus, status: () => s.status(), scada: () => s.scada });
        server.#httpAddress = await server.#web.listen().catch((err: unknown) => {
          throw listenFailure('the web HMI', 'http.port', config.http, err);
        });
      }
    } catch (err) {
      await server.#web?.close().catch(() => undefined);
      await native.close(0);
      await legacyChat?.close().catch(() => undefined);
      await scada?.stop();
      await admin.close();
      files.stop();
      db.close();
      throw err;
    }
    scada?.startAcquisition();
    const simulatorAddress = scada?.simulatorAddress ?? null;
    logger.info(
      {
        event: 'server.started',
        native: `${server.#nativeAddress.address}:${server.#nativeAddress.port}`,
        legacyChat: server.#legacyChatAddress === null ? false : `${server.#legacyChatAddress.address}:${server.#legacyChatAddress.port}`,
        tls: tls !== undefined,
        http: server.#httpAddress === null ? false : `${config.http.tls === undefined ? 'http' : 'https'}://${server.#httpAddress.address}:${server.#httpAddress.port}`,
        simulator: simulatorAddress === null ? false : `${simulatorAddress.address}:${simulatorAddress.port}`,
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

  /** Address of the web HMI's HTTP listener (null when it is off). */
  get httpAddress(): AddressInfo | null {
    return this.#httpAddress;
  }

  /** Address of the legacy UDP chat (null when it is off). */
  get legacyChatAddress(): AddressInfo | null {
    return this.#legacyChatAddress;
  }

  status(): ServerStatus {
    return {
      uptimeMs: Date.now() - this.#startedAt,
      connections: this.#native.connections,
      acceptedConnections: this.#native.accepted,
      activeTransfers: this.files.activeTransfers,
      queuedTransfers: this.files.queuedTransfers,
      chatRooms: this.chat.rooms(),
      bus: this.bus.metrics(),
      scada: this.scada?.metrics() ?? null,
    };
  }

  /** Graceful stop: no new connections, running transfers finish within the grace period. */
  stop(graceMs = this.config.shutdownGraceMs): Promise<void> {
    this.#stopping ??= (async () => {
      this.logger.info({ event: 'server.stopping', graceMs, ...this.status() });
      await this.#web?.close();
      await this.#native.close(graceMs);
      await this.#legacyChat?.close();
      await this.scada?.stop();
      await this.bus.close();
      this.files.stop();
      await this.#admin.close();
      this.#db.close();
      this.logger.info({ event: 'server.stopped' });
    })();
    return this.#stopping;
  }
}

/**
 * A listener that cannot bind becomes GL_ERR_SERVER_LISTEN naming the service,
 * its address and the key that moves it; other errors pass unchanged.
 */
function listenFailure(service: string, key: string, address: { host: string; port: number }, err: unknown): unknown {
  let code: unknown;
  for (let e: unknown = err; e instanceof Error && code === undefined; e = e.cause) code = (e as NodeJS.ErrnoException).code;
  const why = { EADDRINUSE: 'the address is in use', EACCES: 'permission denied', EADDRNOTAVAIL: 'no such local address' }[String(code)];
  if (why === undefined) return err;
  return new GridlinkError('GL_ERR_SERVER_LISTEN', `${service} on ${address.host}:${address.port}: ${why}; set another ${key}`, { cause: err });
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
