import { constants } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { GridlinkError, fromSystemError } from '../../errors/index.js';
import type { Readable } from 'node:stream';
import type { Digests } from '../../integrity/digests.js';
import { InlineHash } from '../../integrity/inline-hash.js';
import { WriteBehind } from '../../integrity/write-behind.js';
import { FILE_IO_BYTES } from '../../units/buffer-sizes.js';
import { DirectReads } from '../../transport/direct-reads.js';
import { formatBytes } from '../../units/bytes.js';
import type { FileArea } from './file-area.js';
import { printable } from './path-rules.js';
import { holderOf } from './path-locks.js';
import type { Limits, QuotaLedger, Reservation } from './quota-ledger.js';
import type { UploadDeps } from './upload.js';
import { UploadSink } from './upload-sink.js';

/**
 * Where an open-ended upload starts (docs/ftp.md, "Resuming"):
 * - `fresh`: at byte 0 (a plain STOR); an unfinished upload of the name is dropped.
 * - `resume`: at `offset` (REST n + STOR): the unfinished upload of the name must
 *   hold exactly n bytes, or (when there is none) the stored file must.
 * - `append`: after the name's current content (APPE): the stored file when
 *   there is one, else the unfinished upload, else nothing.
 */
export type StreamStart = { readonly kind: 'fresh' } | { readonly kind: 'resume'; readonly offset: number } | { readonly kind: 'append' };

export interface StreamUploadDeps extends UploadDeps {
  readonly quotas: QuotaLedger;
  /** The area's limits when the upload opens (the owner's quota, `files.maxEntries`). */
  readonly limits: Limits;
}

/**
 * The digest an open-ended upload computes as its bytes arrive, for the
 * digest cache: XXH3-128, the native protocol's default (an FTP client
 * sends no checksum to verify, so the cheapest one the server speaks).
 */
const STREAM_DIGEST = 'xxh128';

/** A quota claim grows by at least this much at a time (fewer ledger updates per chunk). */
const CLAIM_STEP_BYTES = 8 * 1024 * 1024;

/**
 * A claim on the area's quota for an upload whose length is not known up
 * front: it grows as bytes arrive, ahead of each write, so the quota is
 * never passed on disk (docs/ftp.md, "Quota"). Growing re-reserves with the
 * ledger: the old claim is given back and the larger one taken in the same
 * synchronous step, so no other upload can slip in between.
 */
class GrowingClaim {
  readonly #quotas: QuotaLedger;
  readonly #key: string;
  readonly #limits: Limits;
  readonly #replaced: number | null;
  readonly #parked: number;
  #reservation: Reservation;
  #claimed: number;

  constructor(quotas: QuotaLedger, key: string, limits: Limits, replaced: number | null, parked: number, initial: number) {
    this.#quotas = quotas;
    this.#key = key;
    this.#limits = limits;
    this.#replaced = replaced;
    this.#parked = parked;
    this.#reservation = quotas.reserve(key, limits, initial, replaced, parked);
    this.#claimed = initial;
  }

  /** Makes the claim cover a file of `length` bytes; throws GL_ERR_FILE_QUOTA when it cannot. */
  cover(length: number): void {
    if (length <= this.#claimed) return;
    this.#reservation.release();
    try {
      this.#take(length + CLAIM_STEP_BYTES);
    } catch {
      // Near the quota: claim exactly what this chunk needs, or fail.
      try {
        this.#take(length);
      } catch (err) {
        if (!(err instanceof GridlinkError)) throw err;
        throw new GridlinkError(err.code, `the upload reached ${formatBytes(length)} (${err.detail ?? err.message})`);
      }
    }
  }

  /** The claim sized to the file's final `length`, to be settled by the commit. */
  exact(length: number): Reservation {
    if (length !== this.#claimed) {
      this.#reservation.release();
      this.#take(length);
    }
    return this.#reservation;
  }

  release(): void {
    this.#reservation.release();
  }

  #take(length: number): void {
    try {
      this.#reservation = this.#quotas.reserve(this.#key, this.#limits, length, this.#replaced, this.#parked);
      this.#claimed = length;
    } catch (err) {
      // Nothing is claimed any more; a later release must not free someone else's bytes.
      this.#reservation = { check: () => undefined, commit: () => undefined, release: () => undefined };
      this.#claimed = 0;
      throw err;
    }
  }
}

/**
 * An upload whose length is known only when its data ends (FTP STOR and
 * APPE, docs/ftp.md): bytes go to a partial file in staging keyed by
 * (area, path) alone, the quota is claimed as the file grows, and the file
 * is renamed into place (after an fsync when `files.durable`) only when the
 * front end says the data ended normally. A cut or aborted upload leaves
 * nothing visible and keeps its partial file, so it can be resumed by name.
 * One writer per name (the same path lock as known-length uploads).
 */
export class StreamUpload {
  readonly area: FileArea;
  /** Normalised path inside the area. */
  readonly path: string;
  /** Where this upload started writing (bytes already in the partial file). */
  readonly offset: number;
  /** True when the upload continues the name's stored file (APPE, or REST n with n its size). */
  readonly extendsStored: boolean;
  readonly #deps: StreamUploadDeps;
  readonly #partialPath: string;
  readonly #handle: FileHandle;
  readonly #release: () => void;
  /** XXH3-128 of the partial file, fed with each chunk as it arrives (no second read). */
  readonly #hash: InlineHash;
  readonly #claim: GrowingClaim;
  /** Flushes the partial file to the disk as it grows, when uploads are durable. */
  readonly #behind: WriteBehind | null;
  /** Bytes on disk in the partial file. */
  #written: number;
  #broken = false;
  #inflight: Promise<unknown> | null = null;
  /** The data being received, so a takeover can end it. */
  #body: Readable | null = null;
  #sink: UploadSink | null = null;
  /** When the last byte arrived (or the upload opened). */
  #lastActivity = Date.now();
  /** Set once commit starts: from then on the name is the commit's until it releases it. */
  #committing = false;

  private constructor(
    fields: { area: FileArea; path: string; offset: number; extendsStored: boolean; partialPath: string; handle: FileHandle; release: () => void; hash: InlineHash; claim: GrowingClaim },
    deps: StreamUploadDeps,
  ) {
    this.area = fields.area;
    this.path = fields.path;
    this.offset = fields.offset;
    this.extendsStored = fields.extendsStored;
    this.#partialPath = fields.partialPath;
    this.#handle = fields.handle;
    this.#release = fields.release;
    this.#hash = fields.hash;
    this.#claim = fields.claim;
    this.#written = fields.offset;
    this.#deps = deps;
    this.#behind = deps.durable ? new WriteBehind(fields.handle) : null;
  }

  /**
   * Opens the upload of `path`: takes the name's lock, prepares the partial
   * file for `start` (truncated, kept, or seeded with a copy of the stored
   * file) and claims what it already holds. Refused before any byte is
   * read: GL_ERR_FILE_BUSY (another upload of the name runs),
   * GL_ERR_FILE_OFFSET_INVALID (a resume offset that matches nothing),
   * GL_ERR_FILE_QUOTA / _TOO_MANY_ENTRIES.
   */
  static async open(area: FileArea, path: string, start: StreamStart, deps: StreamUploadDeps, owner: string): Promise<StreamUpload> {
    await area.checkWritable(path);
    let upload: StreamUpload | null = null;
    // A stalled upload of the same owner is taken over, as for put.open (PathLocks).
    const holder = holderOf(owner, () => upload);
    // Not for APPE: it continues from wherever the name ends, and the client
    // learnt that (SIZE) before the takeover flushed what the stalled one held.
    const key = `${area.key}\0${path}`;
    const release = start.kind === 'append' ? deps.locks.tryAcquire(key, holder) : await deps.locks.acquireOrSupersede(key, holder, deps.takeOverIdleMs);
    if (release === null) throw new GridlinkError('GL_ERR_FILE_BUSY', `${printable(path)}: another upload of this name is running`);
    const partialPath = deps.staging.streamPartialPath(area.key, path);
    let handle: FileHandle | null = null;
    try {
      handle = await open(partialPath, constants.O_RDWR | constants.O_CREAT, 0o644);
      const pending = (await handle.stat()).size;
      const stored = await area.fileSize(path);
      let offset: number;
      let seed = false;
      if (start.kind === 'fresh' || (start.kind === 'resume' && start.offset === 0)) {
        offset = 0;
      } else if (start.kind === 'resume') {
        if (pending === start.offset) offset = pending;
        else if (stored === start.offset) seed = true;
        // Less than the unfinished upload holds (a client that saw its size
        // before the last bytes were flushed): cut back to it, it resends the rest.
        else if (pending > start.offset) offset = start.offset;
        else {
          const held = pending > 0 ? `the unfinished upload of this name holds ${pending} bytes` : stored === null ? 'there is no unfinished upload of this name' : `the stored file has ${stored} bytes`;
          throw new GridlinkError('GL_ERR_FILE_OFFSET_INVALID', `restart at ${start.offset}: ${held}`);
        }
        offset = start.offset;
      } else {
        seed = stored !== null;
        offset = stored ?? pending;
      }
      const hash = await InlineHash.create([STREAM_DIGEST]);
      if (seed) await copyStored(area, path, handle, hash);
      else {
        if (offset !== pending) await handle.truncate(offset);
        // A resume: what the partial file holds is hashed once, before the new bytes.
        await hash.hashFile(handle, 0, offset);
      }
      const written = seed ? (await handle.stat()).size : offset;
      if (seed && written !== offset) throw new GridlinkError('GL_ERR_FILE_CHANGED', `${printable(path)} changed while it was copied; run the command again`);
      await deps.quotas.usage(area.key, area.root);
      const parked = await deps.staging.partialBytes(area.key, partialPath);
      const claim = new GrowingClaim(deps.quotas, area.key, deps.limits, stored, parked, written);
      upload = new StreamUpload({ area, path, offset: written, extendsStored: seed, partialPath, handle, release, hash, claim }, deps);
      return upload;
    } catch (err) {
      await handle?.close().catch(() => undefined);
      release();
      throw fromSystemError(err, printable(path));
    }
  }

  /** When the last byte arrived, or the upload opened (Date.now() time). */
  get lastActivity(): number {
    return this.#lastActivity;
  }

  /** Bytes in the partial file: the file's length if it were committed now. */
  get received(): number {
    return this.#written;
  }

  /**
   * Writes everything `body` yields after what the partial file holds, the
   * quota claimed ahead of each chunk. `body` is a stream, or a socket that
   * reads straight into this upload's buffers ({@link DirectReads}, made
   * with {@link sink}). Returns when `body` ends. When `body` fails (a cut
   * connection) its own error is thrown, after what arrived is on disk,
   * kept for a resume. A GridlinkError means the upload failed here:
   * GL_ERR_FILE_QUOTA when the quota would be passed or GL_ERR_FILE_NO_SPACE
   * for a full disk (the partial file is deleted, nothing is kept),
   * GL_ERR_FILE_IO for another write failure.
   */
  receive(body: Readable | DirectReads): Promise<number> {
    const work = this.#receive(body);
    this.#inflight = work.catch(() => undefined);
    return work;
  }

  /** This upload's buffers, which a socket may read into ({@link DirectReads.adopt}). */
  get sink(): UploadSink {
    this.#sink ??= new UploadSink();
    return this.#sink;
  }

  /**
   * Receives into the {@link sink}'s slabs: each full slab is written in one
   * call while the next fills, and reading stops while every slab waits for
   * the disk, so memory stays bounded whatever the disk's pace.
   */
  async #receive(source: Readable | DirectReads): Promise<number> {
    this.#checkUsable();
    const direct = source instanceof DirectReads ? source : null;
    if (direct !== null && direct.sink !== this.sink) throw new Error('the socket reads into another upload\'s buffers');
    const body: Readable = direct?.socket ?? (source as Readable);
    const sink = this.sink;
    this.#body = body;
    this.#lastActivity = Date.now();
    // Bytes accepted so far: on disk, being written, or in a slab.
    let accepted = this.#written;
    let writes: Promise<void> = Promise.resolve();
    // Failures of ours (set from callbacks): a failed write, or the quota passed.
    const failed: { write: GridlinkError | null; quota: GridlinkError | null } = { write: null, quota: null };
    let stop: () => void = () => undefined;
    // 'end': the data ended normally; an Error: the body failed or closed before its end; null: we stopped it.
    const outcome = await new Promise<'end' | Error | null>((resolve) => {
      let finished = false;
      const finish = (result: 'end' | Error | null): void => {
        if (finished) return;
        finished = true;
        body.off('data', onData);
        body.off('end', onEnd);
        body.off('error', onError);
        body.off('close', onClose);
        if (result !== 'end') body.pause();
        resolve(result);
      };
      sink.open({
        accept: (chunk) => {
          try {
            this.#claim.cover(accepted + chunk.length);
          } catch (err) {
            failed.quota = err instanceof GridlinkError ? err : new GridlinkError('GL_ERR_FILE_QUOTA');
            finish(null);
            return false;
          }
          accepted += chunk.length;
          this.#lastActivity = Date.now();
          this.#hash.update(chunk);
          return true;
        },
        write: (chunk) => {
          writes = writes.then(async () => {
            if (failed.write !== null) return;
            try {
              await this.#write(chunk);
            } catch (err) {
              failed.write = err instanceof GridlinkError ? err : fromSystemError(err, printable(this.path));
              stop();
            }
          });
          return writes;
        },
        resume: () => {
          if (!finished && !body.destroyed) body.resume();
        },
      });
      const onData = (item: Buffer | string): void => {
        if (!sink.feed(typeof item === 'string' ? Buffer.from(item) : item) && !finished) body.pause();
      };
      const onEnd = (): void => finish('end');
      const onError = (err: Error): void => finish(err);
      const onClose = (): void => finish(new Error('the data connection closed before its end'));
      stop = () => finish(null);
      if (direct === null) body.on('data', onData);
      body.once('end', onEnd);
      body.once('error', onError);
      body.once('close', onClose);
      if (body.readableEnded) finish('end');
      else if (body.destroyed) finish(new Error('the data connection closed before its end'));
      else body.resume();
    });
    // Write what did arrive even when the data was cut, so a resume loses
    // nothing; not after a failure of ours (it would land out of place).
    sink.close(failed.quota === null && failed.write === null);
    await writes;
    try {
      await this.#behind?.settle();
    } catch (err) {
      failed.write ??= fromSystemError(err, printable(this.path));
    }
    this.#body = null;
    const failure = failed.quota ?? failed.write;
    if (failure !== null) {
      this.#broken = true;
      // Past the quota or a full disk: nothing is stored and nothing kept (docs/ftp.md).
      if (failure === failed.quota || failure.code === 'GL_ERR_FILE_NO_SPACE') await this.#drop();
      throw failure;
    }
    if (outcome !== 'end') {
      this.#broken = true;
      throw outcome instanceof Error ? outcome : new Error('the data connection closed before its end');
    }
    return this.#written;
  }

  /** Writes a slab's bytes at the end of the partial file; a failure is always a GridlinkError (the body's are not). */
  async #write(chunk: Buffer): Promise<void> {
    let position = this.#written;
    for (let done = 0; done < chunk.length; ) {
      const { bytesWritten } = await this.#handle.write(chunk, done, chunk.length - done, position).catch((err: unknown) => {
        throw fromSystemError(err, printable(this.path));
      });
      if (bytesWritten === 0) throw new GridlinkError('GL_ERR_FILE_IO', `${printable(this.path)}: the disk took no bytes`);
      position += bytesWritten;
      done += bytesWritten;
      this.#behind?.wrote(bytesWritten);
    }
    this.#written = position;
  }

  /**
   * Renames the partial file into place (fsync first when durable), settles
   * the quota claim against the name as it is at that moment (under the
   * area's mutation lock) and remembers its XXH3-128 in the digest cache,
   * so a native or web download asking for it needs no pass over the file.
   * A failure deletes the partial file.
   */
  async commit(): Promise<{ length: number; digests: Digests }> {
    this.#checkUsable();
    this.#broken = true;
    this.#committing = true;
    const length = this.#written;
    if (this.#hash.bytes !== length) {
      await this.#drop();
      throw new GridlinkError('GL_ERR_FILE_IO', `${printable(this.path)}: ${this.#hash.bytes} bytes hashed of ${length} stored; send the file again`);
    }
    const digests = this.#hash.digest();
    try {
      if (this.#deps.durable) await this.#handle.sync();
      await this.#handle.close();
      const reservation = this.#claim.exact(length);
      const { area, path } = this;
      const stored = await area.exclusive(async () => {
        const replaced = await area.fileSize(path).catch(() => null);
        reservation.check(replaced);
        await area.commit(this.#partialPath, path, this.#deps.durable);
        reservation.commit(replaced);
        return area.stat(path);
      });
      this.#deps.digestCache.set(stored, digests);
    } catch (err) {
      await this.#drop();
      throw fromSystemError(err, printable(this.path));
    }
    this.#release();
    return { length, digests };
  }

  /** Stops; the partial file stays for a resume. The name is freed once a running write has flushed. */
  async close(): Promise<void> {
    this.#broken = true;
    await this.#inflight;
    this.#claim.release();
    await this.#handle.close().catch(() => undefined);
    this.#release();
  }

  /**
   * Ends this upload for a newer one of the same owner (PathLocks,
   * acquireOrSupersede): its data is ended with GL_ERR_FILE_SUPERSEDED, what
   * arrived is flushed, then the name is freed. A commit under way is left
   * to finish.
   */
  async supersede(): Promise<void> {
    if (this.#committing) return;
    this.#broken = true;
    this.#body?.destroy(new GridlinkError('GL_ERR_FILE_SUPERSEDED', `${printable(this.path)}: taken over by a newer upload of this name from the same account`));
    await this.close();
  }

  /** Stops and deletes the partial file. */
  async discard(): Promise<void> {
    this.#broken = true;
    await this.#inflight;
    await this.#drop();
  }

  async #drop(): Promise<void> {
    this.#broken = true;
    this.#claim.release();
    await this.#handle.close().catch(() => undefined);
    await rm(this.#partialPath, { force: true });
    this.#release();
  }

  #checkUsable(): void {
    if (this.#broken) throw new GridlinkError('GL_ERR_PROTO_BAD_STATE', 'this upload failed or ended; send the file again to resume it');
  }
}

/**
 * Replaces the partial file's content with a copy of the stored file (an
 * append stages the old bytes plus the new ones, then renames: readers see
 * the old file or the new one, never a mix). Read through a descriptor the
 * area checked, so a link cannot lead the copy outside.
 */
async function copyStored(area: FileArea, path: string, target: FileHandle, hash: InlineHash): Promise<void> {
  const source = await area.openForRead(path);
  try {
    await target.truncate(0);
    const buffer = Buffer.allocUnsafe(Math.min(FILE_IO_BYTES, Math.max(1, source.stats.size)));
    let position = 0;
    for (;;) {
      const { bytesRead } = await source.handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      let done = 0;
      while (done < bytesRead) {
        const { bytesWritten } = await target.write(buffer, done, bytesRead - done, position + done);
        done += bytesWritten;
      }
      position += bytesRead;
    }
  } finally {
    await source.handle.close();
  }
}
