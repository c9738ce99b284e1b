import { GridlinkError } from '../../errors/index.js';
import type { DigestCache } from '../../integrity/digest-cache.js';
import type { DigestName, Digests } from '../../integrity/digests.js';
import { RecycledRange } from '../../integrity/file-streams.js';
import { InlineHash } from '../../integrity/inline-hash.js';
import type { FileArea, OpenedFile } from './file-area.js';
import { printable } from './path-rules.js';

export interface DownloadRequest {
  readonly offset: number;
  /** Resume guard: the length and mtime the client saw when the download began. */
  readonly ifMatch?: { readonly length: number; readonly mtimeMs: number } | undefined;
}

/**
 * A download (docs/protocol.md §3.3): a snapshot of one open file, streamed from `offset`.
 * Reading through the open descriptor means a file replaced meanwhile by an
 * upload is still read consistently. The whole file's digest comes from the
 * digest cache (a file gridlink received or sent whole before, unchanged
 * since), else it is computed inline on the chunks as they are read to be
 * sent (docs/protocol.md §3.3, "Digests"), after the prefix a resumed
 * download skips has been hashed once.
 */
export class Download {
  readonly #file: OpenedFile;
  readonly offset: number;
  /** Normalised path inside its area. */
  readonly path: string;
  /** The running hash of what was read, when the cache did not know the digest. */
  #hash: InlineHash | null = null;
  #known: Digests | null = null;
  #cache: DigestCache | null = null;

  private constructor(file: OpenedFile, path: string, offset: number) {
    this.#file = file;
    this.path = path;
    this.offset = offset;
  }

  static async open(area: FileArea, path: string, request: DownloadRequest): Promise<Download> {
    const file = await area.openForRead(path);
    const { size, mtimeMs } = file.stats;
    try {
      if (request.ifMatch !== undefined && (request.ifMatch.length !== size || request.ifMatch.mtimeMs !== mtimeMs)) {
        throw new GridlinkError('GL_ERR_FILE_CHANGED', printable(path));
      }
      if (request.offset > size) {
        throw new GridlinkError('GL_ERR_FILE_OFFSET_INVALID', `offset ${request.offset} is past the end (${size} bytes)`);
      }
      return new Download(file, path, request.offset);
    } catch (err) {
      await file.handle.close();
      throw err;
    }
  }

  get length(): number {
    return this.#file.stats.size;
  }

  get mtimeMs(): number {
    return this.#file.stats.mtimeMs;
  }

  /** Bytes the body will carry. */
  get size(): number {
    return this.length - this.offset;
  }

  /**
   * Makes the whole file's digests `names` ready for {@link inlineDigest}:
   * from the cache, else by hashing inline, starting with the prefix before
   * `offset` (read once). Call before {@link body}.
   */
  async prepareDigest(cache: DigestCache, names: readonly DigestName[]): Promise<void> {
    this.#cache = cache;
    this.#known = (await cache.lookup(this.#file.stats, names)) ?? null;
    if (this.#known !== null) return;
    const hash = await InlineHash.create(names);
    await hash.hashFile(this.#file.handle, 0, this.offset);
    this.#hash = hash;
  }

  /** The body: bytes [offset, length) of the open file, in two reused buffers (hashed as read when needed). */
  body(): RecycledRange {
    const hash = this.#hash;
    return new RecycledRange(this.#file.handle, this.offset, this.length, 2, undefined, hash === null ? undefined : (chunk) => hash.update(chunk));
  }

  /**
   * The whole file's digests once the body has been sent: the cached ones,
   * or those computed as it was read (then remembered for the next download).
   */
  inlineDigest(): Digests {
    if (this.#known !== null) return this.#known;
    const hash = this.#hash;
    if (hash === null) throw new Error('prepareDigest was not called');
    if (hash.bytes !== this.length) throw new GridlinkError('GL_ERR_FILE_IO', `${printable(this.path)} changed while it was read; run the command again`);
    this.#known = hash.digest();
    this.#cache?.set(this.#file.stats, this.#known);
    return this.#known;
  }

  /** Closes the file. */
  async close(): Promise<void> {
    await this.#file.handle.close().catch(() => undefined);
  }
}
