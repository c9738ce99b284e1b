import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AuditLog } from '../accounts/audit-log.js';
import { AdminServer } from '../admin/admin-server.js';
import { ConfigReloader } from '../admin/config-reload.js';
import { configSourceOf, reloadConfig } from '../config/load.js';
import { openDatabase } from '../accounts/database.js';
import { LoginThrottle } from '../accounts/login-throttle.js';
import { UserStore } from '../accounts/user-store.js';
import type { Config } from '../config/schema.js';
import { GridlinkError } from '../errors/index.js';
import type { Bus } from '../bus/bus.js';
import { LocalBus } from '../bus/local-bus.js';
import { authCommands } from '../native/commands/auth.js';
import { chatCommands } from '../native/commands/chat.js';
import { coreCommands } from '../native/commands/core.js';
import { fileCommands, NativeFileSessions } from '../native/commands/files.js';
import { createLegacyHandler } from '../native/commands/legacy.js';
import { scadaCommands } from '../native/commands/scada.js';
import { NativeListener } from '../native/native-listener.js';
import { createRouter } from '../native/router.js';
import type { Iec104Station } from '../iec104/station/station.js';
import type { ServerStatus } from '../protocol/server-status.js';
import { ChatRooms } from '../services/chat/chat-rooms.js';
import { LegacyUdpChat } from '../services/chat/legacy-udp-chat.js';
import { AuthService } from '../services/auth/auth-service.js';
import { FileService } from '../services/files/file-service.js';
import type { ScadaService } from '../scada/scada-service.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { ClusterScada } from '../cluster/cluster-scada.js';
import { Closers } from './closers.js';
import { EventLoopDelay } from './event-loop-delay.js';

/** The parts a running server is made of (fields of {@link GridlinkServer}). */
interface Parts {
  readonly config: Config;
  readonly logger: Logger;
  readonly closers: Closers;
  readonly files: FileService;
  readonly users: UserStore;
  readonly audit: AuditLog;
  readonly bus: Bus;
  readonly chat: ChatRooms;
  readonly scada: ScadaService | null;
  readonly cluster: ClusterNode | null;
  readonly native: NativeListener;
  readonly eventLoop: EventLoopDelay;
  readonly initialAdminPassword: string | null;
}

/** Where the listeners are, once they listen. */
interface Addresses {
  native: AddressInfo | null;
  /** The FTP front (docs/ftp.md); absent when `ftp.enabled` is false. */
  ftp?: AddressInfo | undefined;
  legacyChat: AddressInfo | null;
  http: AddressInfo | null;
  iec104: AddressInfo | null;
}

/**
 * One gridlink server process (docs/architecture.md): every service, wired
 * together, on one event loop. `start` creates the data directory on first
 * run. Every part registers its closer on one stack as soon as it exists;
 * a failed start, a signal and `stop()` all unwind that same stack.
 */
export class GridlinkServer {
  readonly config: Config;
  readonly logger: Logger;
  readonly files: FileService;
  readonly users: UserStore;
  readonly audit: AuditLog;
  readonly bus: Bus;
  readonly chat: ChatRooms;
  /** The SCADA data plane (docs/architecture.md); null when `scada.enabled` is false. */
  readonly scada: ScadaService | null;
  /** This node of a cluster (docs/cluster.md); null without `cluster.nats`. */
  readonly cluster: ClusterNode | null;
  /** Set on the very first start of a data directory: shown once, also in `<data>/initial-admin-password`. */
  readonly initialAdminPassword: string | null;
  readonly #closers: Closers;
  readonly #native: NativeListener;
  readonly #eventLoop: EventLoopDelay;
  readonly #addresses: Addresses = { native: null, legacyChat: null, http: null, iec104: null };
  /** The IEC 104 controlled station (docs/iec104.md); null when `iec104.enabled` is false. */
  #iec104: Iec104Station | null = null;
  readonly #startedAt = Date.now();
  #stopping: Promise<void> | null = null;

  private constructor(parts: Parts) {
    this.config = parts.config;
    this.logger = parts.logger;
    this.#closers = parts.closers;
    this.files = parts.files;
    this.users = parts.users;
    this.audit = parts.audit;
    this.bus = parts.bus;
    this.chat = parts.chat;
    this.scada = parts.scada;
    this.cluster = parts.cluster;
    this.#native = parts.native;
    this.#eventLoop = parts.eventLoop;
    this.initialAdminPassword = parts.initialAdminPassword;
  }

  static async start(config: Config, logger: Logger): Promise<GridlinkServer> {
    const closers = new Closers(logger);
    try {
      return await GridlinkServer.#open(config, logger, closers);
    } catch (err) {
      await closers.closeAll(0);
      throw err;
    }
  }

  static async #open(config: Config, logger: Logger, closers: Closers): Promise<GridlinkServer> {
    await mkdir(config.dataDir, { recursive: true, mode: 0o750 });
    const anonymousDir = config.anonymous.dir ?? join(config.dataDir, 'public');
    if (config.anonymous.enabled) {
      await mkdir(anonymousDir, { recursive: true });
      await checkSameFilesystem(config.dataDir, anonymousDir);
    }
    const db = openDatabase(join(config.dataDir, 'gridlink.db'));
    closers.push('database', () => {
      db.close();
    });
    const users = new UserStore(db);
    const audit = new AuditLog(db, logger);
    // A cluster node (docs/cluster.md) joins NATS first: its bus and chat nicknames span the nodes.
    let cluster: ClusterNode | null = null;
    if (config.cluster.nats.length > 0) {
      const { ClusterNode } = await import('../cluster/cluster-node.js');
      const joined = await ClusterNode.start(config.cluster, logger);
      closers.push('cluster', () => joined.close());
      cluster = joined;
    }
    let bus: Bus;
    if (cluster === null) {
      const local = new LocalBus();
      closers.push('bus', () => local.close());
      bus = local;
    } else bus = cluster.bus;
    const chat = new ChatRooms(bus, cluster?.nicks ?? null);
    // The admin socket (docs/configuration.md) also marks the data directory
    // as in use: it listens before anything else there is touched, so a
    // second server with the same directory refuses to start.
    let server: GridlinkServer | null = null;
    // `gridlink admin reload` and SIGHUP (docs/configuration.md "Reload"): set once the server runs.
    let reloader: ConfigReloader | null = null;
    const admin = new AdminServer({
      socketPath: join(config.dataDir, 'admin.sock'),
      users,
      audit,
      logger,
      status: () => (server === null ? { starting: true } : { ...server.status(), ...(reloader === null ? {} : { config: reloader.status() }) }),
      chat: { announce: (text) => chat.announce(text), kick: (nick) => chat.kick(nick) },
      reload: (by) => reloader?.reload(by) ?? Promise.reject(noReload(config)),
    });
    await admin.listen();
    closers.push('admin socket', () => admin.close());
    const initialAdminPassword = await createInitialAdmin(config.dataDir, users, audit);
    const auth = new AuthService(users, audit, new LoginThrottle());
    // Read at every upload, so that a reload changes them for the next one.
    const fileLimits = { anonymousQuota: config.anonymous.quota, maxEntries: config.files.maxEntries };
    const files = new FileService({
      dataDir: config.dataDir,
      anonymous: config.anonymous.enabled ? { dir: anonymousDir, writable: config.anonymous.writable, get quota() { return fileLimits.anonymousQuota; } } : null,
      get maxEntries() {
        return fileLimits.maxEntries;
      },
      durable: config.files.durable,
      maxUploadsPerSession: config.files.maxUploadsPerSession,
      maxActiveTransfers: config.files.maxActiveTransfers,
      partialMaxAgeMs: config.files.partialMaxAgeHours * 3_600_000,
      takeOverIdleUploadMs: config.files.takeOverIdleUploadMs,
      logger,
      audit,
      quotaFor: (user) => users.get(user)?.quotaBytes,
    });
    await files.start();
    closers.push('file service', () => files.stop());
    // The SCADA half of a cluster node (docs/cluster.md): shared accounts, select leases, device owners.
    let clusterScada: ClusterScada | null = null;
    if (cluster !== null) {
      const { ClusterScada } = await import('../cluster/cluster-scada.js');
      const started = await ClusterScada.start(cluster, users, { replicas: config.cluster.replicas, logger });
      closers.push('cluster SCADA', () => started.close());
      clusterScada = started;
    }
    let scada: ScadaService | null = null;
    if (config.scada.enabled) {
      // Loaded only when enabled, like the web listener below: a file
      // server does not carry Modbus or fastify in its memory.
      const { ScadaService } = await import('../scada/scada-service.js');
      const started = await ScadaService.start({ config: config.scada, dataDir: config.dataDir, bus, audit, logger, ...(clusterScada === null ? {} : { cluster: clusterScada.scada }) }).catch((err: unknown) => {
        throw listenFailure('the substation simulator', 'scada.simulator.port', config.scada.simulator, err);
      });
      closers.push('SCADA data plane', () => started.stop());
      scada = started;
    }

    const nativeFiles = new NativeFileSessions(files);
    const router = createRouter(
      {
        ...coreCommands(config.limits.maxHeaderBytes),
        ...authCommands(auth, (session) => nativeFiles.onLogin(session)),
        ...fileCommands(nativeFiles),
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
      maxConnectionsPerAddress: config.native.maxConnectionsPerAddress,
      headerTimeoutMs: config.native.headerTimeoutMs,
      tls,
      logger,
      session: {
        limits: { maxHeaderBytes: config.limits.maxHeaderBytes, maxBodyBytes: config.limits.maxBodyBytes },
        idleTimeoutMs: config.native.idleTimeoutMs,
        handle: router,
        logger,
      },
    });
    const eventLoop = new EventLoopDelay(logger);
    closers.push('event loop monitor', () => eventLoop.close());
    server = new GridlinkServer({ config, logger, closers, files, native, users, audit, bus, chat, scada, cluster, eventLoop, initialAdminPassword });
    const addresses = server.#addresses;
    addresses.native = await native.listen().catch((err: unknown) => {
      throw listenFailure('the native protocol', 'native.port (or --port)', config.native, err);
    });
    closers.push('native listener', (graceMs) => native.close(graceMs));
    if (config.legacyChat.enabled) {
      const legacyChat = new LegacyUdpChat({
        host: config.legacyChat.host,
        port: config.legacyChat.port,
        rooms: chat,
        logger,
        idleTimeoutMs: config.legacyChat.idleTimeoutMs,
        maxMembers: config.legacyChat.maxMembers,
        maxNamesPerAddress: config.legacyChat.maxNamesPerAddress,
        maxBytesPerAddressPerSecond: config.legacyChat.maxBytesPerAddressPerSecond,
      });
      addresses.legacyChat = await legacyChat.listen().catch((err: unknown) => {
        throw listenFailure('the legacy UDP chat', 'legacyChat.port', config.legacyChat, err);
      });
      closers.push('legacy UDP chat', () => legacyChat.close());
    }
    if (config.ftp.enabled) {
      // Loaded only when enabled, like the web listener below.
      const { FtpListener } = await import('../ftp/ftp-listener.js');
      const ftpTls = config.ftp.tls === undefined ? undefined : { cert: await readFile(config.ftp.tls.certFile), key: await readFile(config.ftp.tls.keyFile) };
      const ftp = new FtpListener({ ...config.ftp, tls: ftpTls, files, auth, logger });
      addresses.ftp = await ftp.listen().catch((err: unknown) => {
        throw listenFailure('the FTP front', 'ftp.port', config.ftp, err);
      });
      closers.push('FTP front', (graceMs) => ftp.close(graceMs));
    }
    if (config.http.enabled) {
      const s = server;
      const { WebServer } = await import('../web/http-server.js');
      const web = new WebServer({ config: config.http, logger, users, audit, database: db, auth, files, chat, bus, status: () => s.status(), scada: () => s.scada });
      addresses.http = await web.listen().catch((err: unknown) => {
        throw listenFailure('the web HMI', 'http.port', config.http, err);
      });
      closers.push('web HMI', () => web.close());
    }
    if (config.iec104.enabled) {
      // Loaded only when enabled, like the web listener: the station's code stays out of other servers' memory.
      if (scada === null) throw new GridlinkError('GL_ERR_CONFIG_INVALID', 'iec104.enabled needs the SCADA data plane (scada.enabled)');
      const { Iec104Station, pointOptionsFrom } = await import('../iec104/station/station.js');
      const iec104Tls = config.iec104.tls === undefined ? undefined : { cert: await readFile(config.iec104.tls.certFile), key: await readFile(config.iec104.tls.keyFile) };
      const station = new Iec104Station({ config: config.iec104, scada, bus, logger, tls: iec104Tls, pointOptions: pointOptionsFrom(config.scada.devices) });
      closers.push('IEC 104 station', () => station.close());
      addresses.iec104 = await station.listen().catch((err: unknown) => {
        throw listenFailure('the IEC 104 station', 'iec104.port', config.iec104, err);
      });
      server.#iec104 = station;
    }
    scada?.startAcquisition();
    const source = configSourceOf(config);
    if (source !== undefined) {
      const live = new ConfigReloader({
        file: source.file,
        running: config,
        read: () => reloadConfig(source),
        targets: {
          setLogLevel: (level) => void (logger.level = level),
          setFileLimits: (limits) => Object.assign(fileLimits, limits),
          scada,
          iec104Station: server.#iec104 === null ? null : { reloadPoints: (devices) => server.#iec104!.reloadPoints(devices) },
        },
        audit,
        logger,
      });
      const onHangup = (): void => {
        logger.info({ event: 'server.signal', signal: 'SIGHUP' });
        live.reload('signal:SIGHUP').catch(() => undefined); // refused reloads are logged and audited by the reloader
      };
      process.on('SIGHUP', onHangup);
      closers.push('config reload', async () => {
        process.off('SIGHUP', onHangup);
        await live.close();
      });
      reloader = live;
    }
    const simulatorAddress = scada?.simulatorAddress ?? null;
    logger.info(
      {
        event: 'server.started',
        native: `${addresses.native.address}:${addresses.native.port}`,
        legacyChat: addresses.legacyChat === null ? false : `${addresses.legacyChat.address}:${addresses.legacyChat.port}`,
        tls: tls !== undefined,
        ftp: addresses.ftp === undefined ? false : `${config.ftp.tls === undefined ? 'ftp' : 'ftp+tls'}://${addresses.ftp.address}:${addresses.ftp.port}`,
        http: addresses.http === null ? false : `${config.http.tls === undefined ? 'http' : 'https'}://${addresses.http.address}:${addresses.http.port}`,
        iec104: addresses.iec104 === null ? false : `${config.iec104.tls === undefined ? '' : 'tls://'}${addresses.iec104.address}:${addresses.iec104.port}`,
        simulator: simulatorAddress === null ? false : `${simulatorAddress.address}:${simulatorAddress.port}`,
        dataDir: config.dataDir,
        cluster: cluster === null ? false : { node: cluster.node, nats: config.cluster.nats },
        anonymous: config.anonymous.enabled ? { dir: anonymousDir, writable: config.anonymous.writable } : false,
      },
      'gridlink is serving',
    );
    return server;
  }

  /** Address the native protocol listens on (the real port when 0 was asked). */
  get nativeAddress(): AddressInfo {
    if (this.#addresses.native === null) throw new Error('server not started');
    return this.#addresses.native;
  }

  /** Address of the web HMI's HTTP listener (null when it is off). */
  get httpAddress(): AddressInfo | null {
    return this.#addresses.http;
  }

  /** Address of the IEC 104 controlled station (null when it is off). */
  get iec104Address(): AddressInfo | null {
    return this.#addresses.iec104;
  }

  /** Address of the FTP front (null when it is off). */
  get ftpAddress(): AddressInfo | null {
    return this.#addresses.ftp ?? null;
  }

  /** Address of the legacy UDP chat (null when it is off). */
  get legacyChatAddress(): AddressInfo | null {
    return this.#addresses.legacyChat;
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
      iec104: this.#iec104?.status() ?? null,
      cluster: this.cluster?.status() ?? null,
      eventLoop: this.#eventLoop.snapshot(),
    };
  }

  /** Graceful stop: no new connections, running transfers finish within the grace period. */
  stop(graceMs = this.config.shutdownGraceMs): Promise<void> {
    this.#stopping ??= (async () => {
      this.logger.info({ event: 'server.stopping', graceMs, ...this.status() });
      await this.#closers.closeAll(graceMs);
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

/** Why a reload cannot run: no configuration file, or the server is not up yet. */
function noReload(config: Config): GridlinkError {
  if (configSourceOf(config) === undefined) return new GridlinkError('GL_ERR_CONFIG_READ', 'the server runs on its embedded defaults: there is no file to re-read (start it with --config FILE)');
  return new GridlinkError('GL_ERR_SERVER_BUSY', 'the server is still starting');
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
 * to read and then change (docs/protocol.md §3.2). Never logged.
 */
async function createInitialAdmin(dataDir: string, users: UserStore, audit: AuditLog): Promise<string | null> {
  if (users.count() > 0) return null;
  const password = randomBytes(18).toString('base64url');
  await users.add('admin', password, 'admin');
  await writeFile(join(dataDir, 'initial-admin-password'), `${password}\n`, { mode: 0o600, flag: 'w' });
  audit.record({ event: 'admin.initial_admin_created', actor: 'server', detail: { name: 'admin' } });
  return password;
}
