import { constants } from 'node:fs';
import { open, rm, truncate } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { GridlinkError, fromSystemError } from '../../errors/index.js';
import type { DigestCache } from '../../integrity/digest-cache.js';
import { describeDigest, verifyDigests, type DigestName, type Digests } from '../../integrity/digests.js';
import { BatchedFileWriter } from '../../integrity/file-writer.js';
import { InlineHash } from '../../integrity/inline-hash.js';
import { WriteBehind } from '../../integrity/write-behind.js';
import { syncFile } from '../../integrity/file-streams.js';
import type { FileArea } from './file-area.js';
import { holderOf, type PathLocks } from './path-locks.js';
import { printable } from './path-rules.js';
import type { Reservation } from './quota-ledger.js';
import type { Staging } from './staging.js';

export interface UploadTarget {
  readonly area: FileArea;
  /** Normalised path inside the area. */
  readonly path: string;
  /** Total length of the file being uploaded. */
  readonly length: number;
  /**
   * The digests to compute (docs/protocol.md §3.3, "Digests"): the one the
   * server chose from the client's offer, plus MD5 when the client asked.
   */
  readonly digests: readonly DigestName[];
  /** Whose upload it is (a LockHolder owner): only the same owner may take over a stalled one. */
  readonly owner: string;
  /** The claim on the owner's quota, settled at commit or close. */
  readonly reservation?: Reservation | undefined;
}

export interface UploadDeps {
  readonly staging: Staging;
  readonly locks: PathLocks;
  /** fsync the file before it is renamed into place. */
  readonly durable: boolean;
  /** Where committed files' digests are remembered for downloads. */
  readonly digestCache: DigestCache;
  /** A newer put.open of the same owner takes over an upload idle this long (files.takeOverIdleUploadMs). */
  readonly takeOverIdleMs: number;
}

/**
 * A resumable upload (docs/protocol.md §3.3): bytes go to a partial file in staging, keyed by
 * (area, path, length), so a client that was cut off can ask where it stopped
 * and continue. Only one upload per name at a time (a path lock). The file is
 * renamed into place only after its digests match the sender's.
 *
 * The digests are computed inline (docs/protocol.md §3.3, "Digests"): each
 * chunk is hashed as it arrives, before it is written, so nothing reads the
 * file back. A resumed upload hashes the prefix it already holds once, at
 * open, so its digest still covers the whole file.
 */
export class Upload {
  readonly target: UploadTarget;
  readonly #deps: UploadDeps;
  readonly #partialPath: string;
  readonly #release: () => void;
  /** The running digests of bytes [0, received) of the partial file. */
  readonly #hash: InlineHash;
  #received: number;
  /** Set when the hash state may disagree with the file, or the upload ended. */
  #broken = false;
  /** The append in progress: the name stays locked until it has flushed. */
  #inflight: Promise<unknown> | null = null;
  /** The body being appended, so a takeover can end it. */
  #body: Readable | null = null;
  /** When the last byte arrived (or the upload opened). */
  #lastActivity = Date.now();
  /** Set once commit starts: from then on the name is the commit's until it releases it. */
  #committing = false;

  private constructor(target: UploadTarget, deps: UploadDeps, partialPath: string, release: () => void, hash: InlineHash, received: number) {
    this.target = target;
    this.#deps = deps;
    this.#partialPath = partialPath;
    this.#release = release;
    this.#hash = hash;
    this.#received = received;
  }

  /** Opens (or reopens) the partial file and hashes what it already holds (a resume). */
  static async open(target: UploadTarget, deps: UploadDeps): Promise<Upload> {
    await target.area.checkWritable(target.path);
    let upload: Upload | null = null;
    const holder = holderOf(target.owner, () => upload);
    const release = await deps.locks.acquireOrSupersede(`${target.area.key}\0${target.path}`, holder, deps.takeOverIdleMs);
    if (release === null) {
      target.reservation?.release();
      throw new GridlinkError('GL_ERR_FILE_BUSY', printable(target.path));
    }
    const partialPath = deps.staging.partialPath(target.area.key, target.path, target.length);
    try {
      const hash = await InlineHash.create(target.digests);
      const handle = await open(partialPath, constants.O_RDWR | constants.O_CREAT, 0o644);
      let received: number;
      try {
        received = (await handle.stat()).size;
        if (received > target.length) {
          // Cannot be ours (same key means same length): start over.
          await truncate(partialPath, 0);
          received = 0;
        }
        // The prefix of a resumed upload, read once: its hash state is not
        // kept beside it (docs/protocol.md §3.3, "Digests").
        await hash.hashFile(handle, 0, received);
      } finally {
        await handle.close();
      }
      upload = new Upload(target, deps, partialPath, release, hash, received);
      return upload;
    } catch (err) {
      target.reservation?.release();
      release();
      throw fromSystemError(err, printable(target.path));
    }
  }

  /** When the last byte arrived, or the upload opened (Date.now() time). */
  get lastActivity(): number {
    return this.#lastActivity;
  }

  /** Bytes stored so far: where the next data must start. */
  get received(): number {
    return this.#received;
  }

  /**
   * Appends `size` bytes streamed from `body` at the current end. Throws before
   * reading anything if they would run past the announced length.
   */
  append(body: Readable, size: number): Promise<number> {
    const work = this.#append(body, size);
    this.#inflight = work.catch(() => undefined);
    return work;
  }

  async #append(body: Readable, size: number): Promise<number> {
    this.#checkUsable();
    if (this.#received + size > this.target.length) {
      throw new GridlinkError('GL_ERR_FILE_OFFSET_INVALID', `${this.#received} + ${size} bytes exceeds the announced length ${this.target.length}`);
    }
    const start = this.#received;
    this.#body = body;
    this.#lastActivity = Date.now();
    const handle = await open(this.#partialPath, 'r+');
    const out = new BatchedFileWriter(handle, start, size, this.#deps.durable ? new WriteBehind(handle) : null);
    let failure: unknown = null;
    let arrived = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        // Hashed as it is written: what is stored is what was hashed.
        this.#hash.update(chunk);
        arrived += chunk.length;
        this.#lastActivity = Date.now();
        await out.write(chunk);
      }
    } catch (err) {
      failure = err;
    }
    this.#body = null;
    // Flush what did arrive even when the body was cut, so a resume loses
    // nothing the server had already received.
    try {
      await out.flush();
    } catch (err) {
      failure ??= err;
    } finally {
      await handle.close().catch(() => undefined);
    }
    if (failure === null && arrived !== size) {
      failure = new GridlinkError('GL_ERR_FILE_OFFSET_INVALID', `received ${arrived} of ${size} announced bytes`);
    }
    if (failure !== null) {
      // The client must reopen the upload (put.open) to go on from what is stored.
      this.#broken = true;
      const mapped = failure instanceof GridlinkError ? failure : fromSystemError(failure, printable(this.target.path));
      // A full disk: free what this upload holds rather than keep it for a resume.
      if (mapped.code === 'GL_ERR_FILE_NO_SPACE') await this.#drop();
      throw mapped;
    }
    this.#received += size;
    return this.#received;
  }

  /**
   * Verifies the checksums and renames the file into place. `null`: the
   * sender gave no checksum (an HTTP upload without one); the file is then
   * committed with the digest computed here, which the caller reports back.
   */
  async commit(expected: Digests | null): Promise<Digests> {
    this.#checkUsable();
    if (this.#received !== this.target.length) {
      throw new GridlinkError('GL_ERR_FILE_OFFSET_INVALID', `received ${this.#received} of ${this.target.length} bytes`);
    }
    this.#broken = true; // one commit per upload
    this.#committing = true;
    const actual = this.#hash.digest();
    if (expected !== null && !verifyDigests(actual, expected, this.target.digests)) {
      await this.#drop();
      throw new GridlinkError('GL_ERR_FILE_CHECKSUM_MISMATCH', `${printable(this.target.path)}: server computed ${describeDigest(actual, this.target.digests)}`);
    }
    try {
      if (this.#deps.durable) await syncFile(this.#partialPath);
      const { area, path, reservation } = this.target;
      // Settled against the name as it is at the rename, under the area's
      // mutation lock: it may have been removed or moved since the open.
      const stored = await area.exclusive(async () => {
        const replaced = await area.fileSize(path).catch(() => null);
        reservation?.check(replaced);
        await area.commit(this.#partialPath, path, this.#deps.durable);
        reservation?.commit(replaced);
        return area.stat(path);
      });
      this.#deps.digestCache.set(stored, actual);
    } catch (err) {
      await this.#drop();
      throw fromSystemError(err, printable(this.target.path));
    }
    this.#release();
    return actual;
  }

  /**
   * Stops using the upload; the partial file stays for a later resume. The
   * name is freed only after a running append has flushed, so a client that
   * reconnects at once can never write the partial file alongside it.
   */
  async close(): Promise<void> {
    this.#broken = true;
    await this.#inflight;
    this.target.reservation?.release();
    this.#release();
  }

  /**
   * Ends this upload for a newer put.open of the same owner (PathLocks,
   * acquireOrSupersede): the body being appended is ended with
   * GL_ERR_FILE_SUPERSEDED, what arrived is flushed, and the name is freed,
   * in that order, so the newer upload resumes from every stored byte and
   * never writes beside this one. A commit under way is left to finish.
   */
  async supersede(): Promise<void> {
    if (this.#committing) return;
    this.#broken = true;
    this.#body?.destroy(new GridlinkError('GL_ERR_FILE_SUPERSEDED', `${printable(this.target.path)}: taken over by a newer upload of this name from the same account`));
    await this.#inflight;
    this.target.reservation?.release();
    this.#release();
  }

  /** Stops and deletes the partial file. */
  async discard(): Promise<void> {
    this.#broken = true;
    await this.#inflight;
    await this.#drop();
  }

  async #drop(): Promise<void> {
    this.#broken = true;
    this.target.reservation?.release();
    await rm(this.#partialPath, { force: true });
    this.#release();
  }

  #checkUsable(): void {
    if (this.#broken) {
      throw new GridlinkError('GL_ERR_PROTO_BAD_STATE', 'this upload failed or is closed; open it again with put.open to resume');
    }
  }
}
