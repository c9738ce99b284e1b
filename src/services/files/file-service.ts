import type { Logger } from 'pino';
import { GridlinkError } from '../../errors/index.js';
import { DigestCache } from '../../integrity/digest-cache.js';
import type { Session } from '../../session/session.js';
import { FileArea } from './file-area.js';
import { PathLocks } from './path-locks.js';
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
}

/** Per-connection state of the file service. */
export interface FileSessionState {
  /** Open uploads by handle. */
  readonly uploads: Map<number, Upload>;
  nextUpload: number;
}

/**
 * The file service (SPEC §2.1, §4): owns the staging area, the upload locks,
 * the areas clients may use and each connection's open transfers.
 */
export class FileService {
  readonly staging: Staging;
  readonly locks = new PathLocks();
  readonly digestCache = new DigestCache();
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

  /** The area a connection works in: for now the anonymous area (accounts come later). */
  areaFor(_session: Session): FileArea {
    if (this.anonymous === null) throw new GridlinkError('GL_ERR_FILE_AREA_DISABLED');
    return this.anonymous;
  }

  /** The connection's file state; created on first use, cleaned up on close. */
  stateFor(session: Session): FileSessionState {
    let state = this.#sessions.get(session);
    if (state === undefined) {
      const created: FileSessionState = { uploads: new Map(), nextUpload: 1 };
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
