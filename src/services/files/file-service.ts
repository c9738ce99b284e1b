import { createWriteStream, type Stats } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { auditEntry, type Actor } from '../../accounts/actor.js';
import type { AuditLog } from '../../accounts/audit-log.js';
import { GridlinkError } from '../../errors/index.js';
import { DigestCache } from '../../integrity/digest-cache.js';
import { syncFile } from '../../integrity/file-streams.js';
import { CHUNK_BYTES } from '../../units/buffer-sizes.js';
import { FileArea } from './file-area.js';
import { printable } from './path-rules.js';
import { PathLocks } from './path-locks.js';
import { QuotaLedger, type Limits, type Reservation } from './quota-ledger.js';
import { Staging } from './staging.js';
import { TransferSlots } from './transfer-slots.js';
import type { UploadDeps } from './upload.js';

export interface FileServiceOptions {
  readonly dataDir: string;
  /** The anonymous area (docs/protocol.md §2), or null when it is off. */
  readonly anonymous: { readonly dir: string; readonly writable: boolean; /** Bytes the area may hold. */ readonly quota: number } | null;
  /** Most files and directories one area (a home, the anonymous area) may hold. */
  readonly maxEntries: number;
  readonly durable: boolean;
  readonly maxUploadsPerSession: number;
  /** Transfers that may move bytes at once; the rest wait their turn. */
  readonly maxActiveTransfers: number;
  readonly partialMaxAgeMs: number;
  /** A put.open of the same owner takes over an upload of the name idle this long (a client cut off without a FIN). */
  readonly takeOverIdleUploadMs: number;
  readonly logger: Logger;
  /** Where file changes are recorded (docs/protocol.md §3.2). */
  readonly audit: AuditLog;
  /** A user's current quota in bytes (undefined: the user no longer exists). */
  readonly quotaFor: (user: string) => number | undefined;
}

/**
 * The file service (docs/protocol.md §2, docs/protocol.md §3.3): owns the staging area, the upload locks,
 * the areas clients may use, the quota ledger and the budget of active
 * transfers. What one connection does goes through a FileSession
 * (file-session.ts), one per connection of each front end.
 */
export class FileService {
  readonly staging: Staging;
  readonly locks = new PathLocks();
  /** Digests of stored files, with a sidecar per file under `<data>/digests` (docs/protocol.md §3.3). */
  readonly digestCache: DigestCache;
  readonly quotas = new QuotaLedger();
  readonly #homes = new Map<string, Promise<FileArea>>();
  readonly anonymous: FileArea | null;
  readonly options: FileServiceOptions;
  readonly #slots: TransferSlots;
  #sweeper: NodeJS.Timeout | null = null;
  /** A deleted or replaced file's digests go with it (no sidecar outlives its file). */
  readonly #forgetDigests = (stats: Stats): void => this.digestCache.forget(stats);

  constructor(options: FileServiceOptions) {
    this.options = options;
    this.staging = new Staging(options.dataDir);
    this.digestCache = new DigestCache(10_000, join(options.dataDir, 'digests'));
    this.#slots = new TransferSlots(options.maxActiveTransfers);
    this.anonymous = options.anonymous === null ? null : new FileArea('anonymous', options.anonymous.dir, options.anonymous.writable, this.#forgetDigests);
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
    return { staging: this.staging, locks: this.locks, durable: this.options.durable, digestCache: this.digestCache, takeOverIdleMs: this.options.takeOverIdleUploadMs };
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

  /** The anonymous area for a client that has not logged in; refused when it is off. */
  anonymousArea(): FileArea {
    if (this.anonymous === null) throw new GridlinkError('GL_ERR_AUTH_REQUIRED');
    return this.anonymous;
  }

  /** The anonymous area, the only one legacy frames may use (docs/protocol.md §2). */
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
        const area = new FileArea(`home:${user}`, dir, true, this.#forgetDigests);
        await area.init();
        return area;
      })();
      home.catch(() => this.#homes.delete(user));
      this.#homes.set(user, home);
    }
    return home;
  }

  /** The limits of an area: the owner's quota (or `anonymous.quota`) and `files.maxEntries`. */
  limitsOf(area: FileArea): Limits {
    if (area === this.anonymous) return { bytes: this.options.anonymous?.quota ?? 0, entries: this.options.maxEntries };
    const user = area.key.slice('home:'.length);
    const quota = this.options.quotaFor(user);
    if (quota === undefined) throw new GridlinkError('GL_ERR_AUTH_REQUIRED', 'this account no longer exists');
    return { bytes: quota, entries: this.options.maxEntries };
  }

  /**
   * Claims an upload's growth against its area's quota before any byte is
   * stored (docs/protocol.md §3.3): the new length minus the file it
   * replaces, counting the area's other unfinished uploads; refused with
   * GL_ERR_FILE_QUOTA. The claim is settled exactly at the commit.
   */
  async reserveUpload(area: FileArea, path: string, length: number): Promise<Reservation> {
    const limits = this.limitsOf(area);
    await this.quotas.usage(area.key, area.root);
    const replaced = await area.fileSize(path).catch(() => null);
    // This upload's own partial file (a resume) is covered by its reservation.
    const parked = await this.staging.partialBytes(area.key, this.staging.partialPath(area.key, path, length));
    return this.quotas.reserve(area.key, limits, length, replaced, parked);
  }

  /** Runs a change of names in `area` under its mutation lock, with its usage measured first. */
  async mutate<T>(area: FileArea, work: (limits: Limits) => Promise<T>): Promise<T> {
    const limits = this.limitsOf(area);
    await this.quotas.usage(area.key, area.root);
    return area.exclusive(() => work(limits));
  }

  /**
   * Stores a whole file of `size` bytes from `body` in the anonymous area
   * for the course's legacy `put` (docs/protocol.md §2): staged, synced when
   * durable, renamed into place, audited. No digest: the legacy frames carry none.
   */
  async storeLegacy(actor: Actor, path: string, body: Readable, size: number): Promise<void> {
    const area = this.legacyArea();
    await area.checkWritable(path);
    const reservation = await this.reserveUpload(area, path, size);
    const temp = this.staging.tempPath();
    try {
      await this.track(async () => {
        await pipeline(body, createWriteStream(temp, { flags: 'wx', mode: 0o644, highWaterMark: CHUNK_BYTES }));
        if (this.options.durable) await syncFile(temp);
      });
      await area.exclusive(async () => {
        const replaced = await area.fileSize(path).catch(() => null);
        reservation.check(replaced);
        await area.commit(temp, path, this.options.durable);
        reservation.commit(replaced);
      });
    } catch (err) {
      reservation.release();
      await rm(temp, { force: true });
      throw err;
    }
    this.options.audit.record(auditEntry(actor, 'file.put', { path: printable(path), length: size }));
  }
}
