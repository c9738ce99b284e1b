import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { DirectReads } from '../../transport/direct-reads.js';
import { auditEntry, type Actor } from '../../accounts/actor.js';
import { GridlinkError } from '../../errors/index.js';
import { chooseDigest, digestSet, type DigestName, type DigestResult, type Digests } from '../../integrity/digests.js';
import { Download, type DownloadRequest } from './download.js';
import { entryType, type FileArea, type OpenedFile } from './file-area.js';
import type { FileService } from './file-service.js';
import { printable } from './path-rules.js';
import { StreamUpload, type StreamStart } from './stream-upload.js';
import { Upload } from './upload.js';
import type { EntryInfo } from '../../protocol/v1.js';

/** A file's entry as listings and `stat` show it. */
export interface Entry extends EntryInfo {
  /** Normalised path inside the area ('' is its root). */
  readonly path: string;
}

export interface UploadRequest {
  readonly path: string;
  readonly length: number;
  /** Also compute MD5 (the course's clients). */
  readonly md5?: boolean | undefined;
  /** The digests the client offers, preferred first (docs/protocol.md §3.3); absent: SHA-256, as before. */
  readonly digests?: readonly string[] | undefined;
}

/**
 * What one connection or session of any front end (native protocol, web,
 * FTP) does with files (docs/protocol.md §3.3): its current directory, its
 * open uploads, and every operation — each confined to the actor's area,
 * counted against its quota, bounded by the per-session upload limit and
 * audited in the actor's name. Paths are relative to the current directory;
 * results are normalised paths inside the area ('' is its root).
 */
export class FileSession {
  readonly #files: FileService;
  #actor: Actor;
  #cwd = '';
  readonly #uploads = new Map<number, Upload>();
  /** Open-ended uploads (FTP STOR/APPE) open now; they count against the same limit. */
  readonly #streams = new Set<StreamUpload>();
  #nextUpload = 1;
  readonly #onAccountGone: () => void;

  /** `onAccountGone`: the actor's account was deleted; the front end logs the connection out. */
  constructor(files: FileService, actor: Actor, onAccountGone: () => void = () => undefined) {
    this.#files = files;
    this.#actor = actor;
    this.#onAccountGone = onAccountGone;
  }

  get actor(): Actor {
    return this.#actor;
  }

  /** The current directory ('' is the area's root). */
  get cwd(): string {
    return this.#cwd;
  }

  /** Uploads open now. */
  get openUploads(): number {
    return this.#uploads.size + this.#streams.size;
  }

  /** A login (or logout) changes the area: start again at its root. */
  setActor(actor: Actor): void {
    this.#actor = actor;
    this.#cwd = '';
  }

  /** The area the actor works in: the user's home after login, else the anonymous area when it is on. */
  async area(): Promise<FileArea> {
    const identity = this.#actor.identity;
    if (identity !== null) {
      // A deleted account loses access at once, also on connections already open.
      if (this.#files.options.quotaFor(identity.name) === undefined) {
        this.#audit('auth.account_gone', {});
        this.setActor({ ...this.#actor, identity: null });
        this.#onAccountGone();
        throw new GridlinkError('GL_ERR_AUTH_REQUIRED', 'this account no longer exists');
      }
      return this.#files.homeOf(identity.name);
    }
    return this.#files.anonymousArea();
  }

  /** The area and a path in it, resolved against the current directory. */
  async #place(path: string): Promise<{ area: FileArea; path: string }> {
    const area = await this.area();
    return { area, path: area.resolve(path, this.#cwd) };
  }

  async cd(path: string): Promise<string> {
    const { area, path: target } = await this.#place(path);
    await area.realDirectory(target);
    this.#cwd = target;
    return target;
  }

  async list(path = '.'): Promise<{ path: string; entries: EntryInfo[]; truncated: boolean }> {
    const { area, path: target } = await this.#place(path);
    return { path: target, ...(await area.list(target)) };
  }

  async stat(path: string): Promise<Entry> {
    const { area, path: target } = await this.#place(path);
    if (target === '') return { path: '', name: '/', type: 'dir', length: 0, mtimeMs: 0 };
    const stats = await area.stat(target);
    return { path: target, name: target.slice(target.lastIndexOf('/') + 1), type: entryType(stats), length: stats.size, mtimeMs: stats.mtimeMs };
  }

  async mkdir(path: string, parents: boolean): Promise<string> {
    const { area, path: target } = await this.#place(path);
    const { quotas } = this.#files;
    await this.#files.mutate(area, async (limits) => {
      await area.makeDirectory(target, parents, {
        beforeCreate: (missing) => quotas.checkEntries(area.key, limits, missing),
        created: () => quotas.adjust(area.key, 0, 1),
      });
    });
    this.#audit('file.mkdir', { path: printable(target) });
    return target;
  }

  /** Removes a file; its bytes leave the owner's usage. */
  async remove(path: string): Promise<string> {
    const { area, path: target } = await this.#place(path);
    const freed = await this.#files.mutate(area, async () => {
      const bytes = await area.removeFile(target);
      this.#files.quotas.adjust(area.key, -bytes, -1);
      return bytes;
    });
    this.#audit('file.rm', { path: printable(target), length: freed });
    return target;
  }

  async removeDirectory(path: string): Promise<string> {
    const { area, path: target } = await this.#place(path);
    await this.#files.mutate(area, async () => {
      await area.removeDirectory(target);
      this.#files.quotas.adjust(area.key, 0, -1);
    });
    this.#audit('file.rmdir', { path: printable(target) });
    return target;
  }

  async move(from: string, to: string): Promise<{ from: string; to: string }> {
    const area = await this.area();
    const source = area.resolve(from, this.#cwd);
    const target = area.resolve(to, this.#cwd);
    await this.#files.mutate(area, () => area.move(source, target));
    this.#audit('file.mv', { from: printable(source), to: printable(target) });
    return { from: source, to: target };
  }

  /**
   * Opens (or resumes) an upload: its growth is claimed against the owner's
   * quota before any byte is stored. Returns its handle and where to continue.
   */
  async openUpload(request: UploadRequest): Promise<{ handle: number; offset: number; path: string; digest: DigestName }> {
    const limit = this.#files.options.maxUploadsPerSession;
    if (this.openUploads >= limit) throw new GridlinkError('GL_ERR_FILE_TOO_MANY_TRANSFERS', `at most ${limit}`);
    const { area, path } = await this.#place(request.path);
    const digest = chooseDigest(request.digests);
    const upload = await this.#open(area, path, request.length, digestSet(digest, request.md5 === true));
    const handle = this.#nextUpload++;
    this.#uploads.set(handle, upload);
    return { handle, offset: upload.received, path, digest };
  }

  /** Appends `size` bytes of `body` to an open upload; a failure closes it (reopen to continue). */
  async append(handle: number, body: Readable, size: number): Promise<number> {
    const upload = this.#upload(handle);
    try {
      return await this.#files.track(() => upload.append(body, size));
    } catch (err) {
      this.#uploads.delete(handle);
      await upload.close();
      throw err;
    }
  }

  /** Verifies and commits an upload: renamed into place only when whole and matching. */
  async commit(handle: number, expected: Digests | null): Promise<{ path: string; length: number; digests: Digests }> {
    const upload = this.#upload(handle);
    this.#uploads.delete(handle);
    try {
      const digests = await upload.commit(expected);
      const { path, length } = upload.target;
      this.#audit('file.put', { path: printable(path), length, ...digests });
      return { path, length, digests };
    } finally {
      await upload.close();
    }
  }

  /** Ends an upload: its partial file stays for a resume, unless `discard`. */
  async abort(handle: number, discard: boolean): Promise<void> {
    const upload = this.#upload(handle);
    this.#uploads.delete(handle);
    if (discard) await upload.discard();
    else await upload.close();
  }

  /**
   * Stores a whole file from one stream (an HTTP PUT): an upload that starts
   * at byte 0, so a partial file left by an earlier interrupted upload of
   * the same name and length is dropped first (its quota claim with it).
   * Counts as one of the session's open uploads while it runs.
   */
  async store(path: string, length: number, body: Readable, expected: DigestResult | null): Promise<{ path: string; length: number; digests: DigestResult }> {
    const limit = this.#files.options.maxUploadsPerSession;
    if (this.openUploads >= limit) throw new GridlinkError('GL_ERR_FILE_TOO_MANY_TRANSFERS', `at most ${limit}`);
    const { area, path: target } = await this.#place(path);
    if (target === '') throw new GridlinkError('GL_ERR_FILE_IS_DIRECTORY', 'the home directory');
    const upload = await this.#openFresh(area, target, length);
    const handle = this.#nextUpload++;
    this.#uploads.set(handle, upload);
    try {
      await this.#files.track(() => upload.append(body, length));
    } catch (err) {
      this.#uploads.delete(handle);
      await upload.discard();
      throw err;
    }
    const stored = await this.commit(handle, expected);
    const sha256 = stored.digests.sha256;
    if (sha256 === undefined) throw new GridlinkError('GL_ERR_FILE_IO', 'no SHA-256 computed');
    return { ...stored, digests: { sha256 } };
  }

  /**
   * Streams a file to `send` within the server's budget of active transfers
   * and closes it whatever happens; the download's digest is there for the
   * front end to send after the bytes.
   */
  async download(path: string, request: DownloadRequest, send: (download: Download) => Promise<void>): Promise<Download> {
    const { area, path: target } = await this.#place(path);
    const download = await Download.open(area, target, request);
    try {
      await this.#files.track(() => send(download));
    } finally {
      await download.close();
    }
    return download;
  }

  /**
   * Readies the whole file's digests `names` for a download (docs/protocol.md
   * §3.3): from the digest cache, else hashed inline as the body is read;
   * take them with `download.inlineDigest()` once the body is sent.
   */
  prepareDigest(download: Download, names: readonly DigestName[]): Promise<void> {
    return download.prepareDigest(this.#files.digestCache, names);
  }

  /** An open descriptor of a file for a front end that reads ranges itself (HTTP); the caller closes it. */
  async openForRead(path: string): Promise<{ path: string; file: OpenedFile }> {
    const { area, path: target } = await this.#place(path);
    return { path: target, file: await area.openForRead(target) };
  }

  /**
   * Opens an upload whose length is unknown until its data ends (an FTP
   * STOR or APPE; stream-upload.ts, docs/ftp.md): confined, locked and
   * counted like any upload; the quota is claimed as it grows. Feed it
   * with {@link receiveStream}, then {@link commitStream} or {@link closeStream}.
   */
  async openStream(path: string, start: StreamStart): Promise<StreamUpload> {
    const limit = this.#files.options.maxUploadsPerSession;
    if (this.openUploads >= limit) throw new GridlinkError('GL_ERR_FILE_TOO_MANY_TRANSFERS', `at most ${limit}`);
    const { area, path: target } = await this.#place(path);
    if (target === '') throw new GridlinkError('GL_ERR_FILE_IS_DIRECTORY', 'the root of your area');
    const limits = this.#files.limitsOf(area);
    const stream = await StreamUpload.open(area, target, start, { ...this.#files.uploadDeps, quotas: this.#files.quotas, limits }, this.#owner());
    this.#streams.add(stream);
    return stream;
  }

  /** Stores the bytes of `body` (a stream, or a socket reading into the stream's buffers) in an open stream, within the server's budget of active transfers. */
  receiveStream(stream: StreamUpload, body: Readable | DirectReads): Promise<number> {
    return this.#files.track(() => stream.receive(body));
  }

  /** The data ended normally: the file goes into place, audited in the actor's name. */
  async commitStream(stream: StreamUpload): Promise<{ path: string; length: number; digests: Digests }> {
    this.#streams.delete(stream);
    const { length, digests } = await stream.commit();
    const detail: Record<string, unknown> = { path: printable(stream.path), length, ...digests };
    if (stream.extendsStored) detail['append'] = true;
    else if (stream.offset > 0) detail['resumedAt'] = stream.offset;
    this.#audit('file.put', detail);
    return { path: stream.path, length, digests };
  }

  /** Ends a stream without storing it: its partial file stays for a resume, unless `discard`. */
  async closeStream(stream: StreamUpload, discard: boolean): Promise<void> {
    this.#streams.delete(stream);
    if (discard) await stream.discard();
    else await stream.close();
  }

  /**
   * The length of `path` as a resuming client needs it (FTP SIZE): the
   * stored file's, else the caller's unfinished open-ended upload of that
   * name (`pending`), so `REST n` + `STOR` or `APPE` can continue it. A
   * partial file is never listed or read; only its length is told.
   */
  async sizeForResume(path: string): Promise<{ path: string; length: number; pending: boolean }> {
    const { area, path: target } = await this.#place(path);
    if (target === '') throw new GridlinkError('GL_ERR_FILE_IS_DIRECTORY', 'the root of your area');
    try {
      const stats = await area.stat(target);
      if (stats.isDirectory()) throw new GridlinkError('GL_ERR_FILE_IS_DIRECTORY', printable(target));
      return { path: target, length: stats.size, pending: false };
    } catch (err) {
      if (!(err instanceof GridlinkError) || err.code !== 'GL_ERR_FILE_NOT_FOUND') throw err;
      // The parent must exist inside the area for an upload of the name to exist.
      await area.realParent(target);
      const partial = await stat(this.#files.staging.streamPartialPath(area.key, target)).catch(() => null);
      if (partial === null || partial.size === 0) throw err;
      return { path: target, length: partial.size, pending: true };
    }
  }

  /** The connection ended: uploads keep their partial files for a resume, but free their names. */
  async close(): Promise<void> {
    const open = [...this.#uploads.values()];
    this.#uploads.clear();
    for (const upload of open) await upload.close();
    const streams = [...this.#streams];
    this.#streams.clear();
    for (const stream of streams) await stream.close();
  }

  #upload(handle: number): Upload {
    const upload = this.#uploads.get(handle);
    if (upload === undefined) throw new GridlinkError('GL_ERR_PROTO_BAD_STATE', `no open upload ${handle}`);
    return upload;
  }

  async #open(area: FileArea, path: string, length: number, digests: readonly DigestName[]): Promise<Upload> {
    await area.checkWritable(path);
    const reservation = await this.#files.reserveUpload(area, path, length);
    try {
      return await Upload.open({ area, path, length, digests, reservation, owner: this.#owner() }, this.#files.uploadDeps);
    } catch (err) {
      reservation.release();
      throw err;
    }
  }

  async #openFresh(area: FileArea, path: string, length: number): Promise<Upload> {
    for (let attempt = 0; ; attempt += 1) {
      // An HTTP upload verifies and reports SHA-256 (X-Content-SHA256).
      const upload = await this.#open(area, path, length, ['sha256']);
      if (upload.received === 0) return upload;
      await upload.discard();
      if (attempt > 0) throw new GridlinkError('GL_ERR_FILE_BUSY', printable(path));
    }
  }

  /** Whose uploads these are, for taking over a stalled one (PathLocks): the account, or the anonymous peer's address. */
  #owner(): string {
    const identity = this.#actor.identity;
    return identity === null ? `anonymous:${this.#actor.address}` : `user:${identity.name}`;
  }

  #audit(event: string, detail: Record<string, unknown>): void {
    this.#files.options.audit.record(auditEntry(this.#actor, event, detail));
  }
}
