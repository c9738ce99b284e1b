import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AuditLog } from '../../accounts/audit-log.js';
import { GridlinkError } from '../../errors/index.js';
import { DigestCache } from '../../integrity/digest-cache.js';
import type { Session } from '../../session/session.js';
import { FileArea } from './file-area.js';
import { PathLocks } from './path-locks.js';
import { QuotaLedger, type Reservation } from './quota-ledger.js';
import { Staging } from './staging.js';
import { TransferSlots } from './transfer-slots.js';
import type { Upload, UploadDeps } from './upload.js';

export interface FileServiceOptions {
  readonly dataDir: string;
  /** The anonymous area (SPEC §2.1), or null when it is off. */
  readonly anonymous: { readonly dir: string; readonly writable: boolean } | null;
  readonly durable: boolean;
  readonly maxUploadsPerSession: number;
  /** Transfers that may move bytes at once; the rest wait their turn. */
  readonly maxActiveTransfers: number;
  readonly partialMaxAgeMs: number;
  readonly logger: Logger;
  /** Where file changes are recorded (SPEC §3). */
  readonly audit: AuditLog;
  /** A user's current quota in bytes (undefined: the user no longer exists). */
  readonly quotaFor: (user: string) => number | undefined;
}

/** Per-connection state of the file service. */
export interface FileSessionState {
  /** Open uploads by handle. */
  readonly uploads: Map<number, Upload>;
  nextUpload: number;
  /** Current directory inside the connection's area ('' = its root). */
  cwd: string;
}

/**
 * The file service (SPEC §2.1, §4): owns the staging area, the upload locks,
 * the areas clients may use and each connection's open transfers.
 */
export class FileService {
  readonly staging: Staging;
  readonly locks = new PathLocks();
  readonly digestCache = new DigestCache();
  readonly quotas = new QuotaLedger();
  readonly #homes = new Map<string, Promise<FileArea>>();
  readonly anonymous: FileArea | null;
  readonly options: FileServiceOptions;
  readonly #sessions = new WeakMap<Session, FileSessionState>();
  readonly #slots: TransferSlots;
  #sweeper: NodeJS.Timeout | null = null;

  constructor(options: FileServiceOptions) {
    this.options = options;
    this.staging = new Staging(options.dataDir);
    this.#slots = new TransferSlots(options.maxActiveTransfers);
    this.anonymous = options.anonymous === null ? null : new FileArea('anonymous', options.anonymous.dir, options.anonymous.writable);
  }

  async start(): Promise<void> {
    await this.staging.init();
    await this.anonymous?.init();
    const sweep = (): void => {
      this.staging
        .sweep(this.options.partialMaxAgeMs)
        .then((removed) => {
          if (removed > 0) this.options.logger.info({ event: 'files.partials_swept', removed });
        })
        .catch((err: unknown) => this.options.logger.warn({ event: 'files.sweep_failed', err }));
    };
    sweep();
    this.#sweeper = setInterval(sweep, 3_600_000).unref();
  }

  stop(): void {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
  }

  get uploadDeps(): UploadDeps {
    return { staging: this.staging, locks: this.locks, durable: this.options.durable, digestCache: this.digestCache };
  }

  /** Transfers (uploads and downloads) moving bytes now, for status and metrics. */
  get activeTransfers(): number {
    return this.#slots.active;
  }

  /** Transfers waiting for a slot. */
  get queuedTransfers(): number {
    return this.#slots.waiting;
  }

  /** Runs a transfer within the server's budget of active transfers. */
  track<T>(work: () => Promise<T>): Promise<T> {
    return this.#slots.run(work);
  }

  /**
   * The area a connection works in (SPEC §4): the user's home after login,
   * else the anonymous area when it is on.
   */
  async areaFor(session: Session): Promise<FileArea> {
    if (session.identity !== null) {
      // A deleted account loses access at once, also on connections already open.
      if (this.options.quotaFor(session.identity.name) === undefined) {
        this.audit(session, 'auth.account_gone', {});
        session.identity = null;
        throw new GridlinkError('GL_ERR_AUTH_REQUIRED', 'this account no longer exists');
      }
      return this.homeOf(session.identity.name);
    }
    if (this.anonymous === null) throw new GridlinkError('GL_ERR_AUTH_REQUIRED');
    return this.anonymous;
  }

  /** The anonymous area, the only one legacy frames may use (SPEC §2.1). */
  legacyArea(): FileArea {
    if (this.anonymous === null) throw new GridlinkError('GL_ERR_FILE_AREA_DISABLED');
    return this.anonymous;
  }

  /** `<data>/home/<user>`, created on first use. */
  homeOf(user: string): Promise<FileArea> {
    let home = this.#homes.get(user);
    if (home === undefined) {
      home = (async () => {
        const dir = join(this.options.dataDir, 'home', user);
        await mkdir(dir, { recursive: true, mode: 0o750 });
        const area = new FileArea(`home:${user}`, dir, true);
        await area.init();
        return area;
      })();
      home.catch(() => this.#homes.delete(user));
      this.#homes.set(user, home);
    }
    return home;
  }

  /**
   * Claims an upload's growth against `user`'s quota before any byte is
   * stored (SPEC §4): the new length minus the file it replaces, counting the
   * user's other unfinished uploads; refused with GL_ERR_FILE_QUOTA.
   */
  async reserveUpload(user: string, area: FileArea, path: string, length: number): Promise<Reservation> {
    const quota = this.options.quotaFor(user);
    if (quota === undefined) throw new GridlinkError('GL_ERR_AUTH_REQUIRED', 'this account no longer exists');
    const existing = await area.stat(path).catch(() => null);
    const replaced = existing?.isFile() === true ? existing.size : 0;
    // This upload's own partial file (a resume) is covered by its reservation.
    const parked = await this.staging.partialBytes(area.key, this.staging.partialPath(area.key, path, length));
    return this.quotas.reserve(user, area.root, quota, length - replaced, parked);
  }

  /** Records a file change in the audit log. */
  audit(session: Session, event: string, detail: Record<string, unknown>): void {
    this.options.audit.record({ event, actor: session.identity?.name ?? 'anonymous', address: session.remoteAddress, detail });
  }

  /** A login changes the area: start again at its root. */
  onLogin(session: Session): void {
    this.stateFor(session).cwd = '';
  }

  /** The connection's file state; created on first use, cleaned up on close. */
  stateFor(session: Session): FileSessionState {
    let state = this.#sessions.get(session);
    if (state === undefined) {
      const created: FileSessionState = { uploads: new Map(), nextUpload: 1, cwd: '' };
      state = created;
      this.#sessions.set(session, created);
      // A cut connection keeps its partial files for a resume, but frees the names.
      session.onClose(async () => {
        for (const upload of created.uploads.values()) await upload.close();
        created.uploads.clear();
      });
    }
    return state;
  }
}
