import { GridlinkError } from '../../errors/index.js';
import type { DigestCache } from '../../integrity/digest-cache.js';
import type { DigestResult } from '../../integrity/digests.js';
import { RecycledRange } from '../../integrity/file-streams.js';
import { HashPool } from '../../integrity/hash-pool.js';
import type { FileArea, OpenedFile } from './file-area.js';
import { printable } from './path-rules.js';

export interface DownloadRequest {
  readonly offset: number;
  /** Resume guard: the length and mtime the client saw when the download began. */
  readonly ifMatch?: { readonly length: number; readonly mtimeMs: number } | undefined;
}

/**
 * A download (SPEC §4): a snapshot of one open file, streamed from `offset`.
 * Reading through the open descriptor means a file replaced meanwhile by an
 * upload is still read consistently. The whole file's checksum, when asked
 * for, comes from the digest cache or from a hash worker reading the same
 * descriptor while the bytes are sent.
 */
export class Download {
  readonly #file: OpenedFile;
  readonly #pending: Promise<unknown>[] = [];
  readonly offset: number;
  /** Normalised path inside its area. */
  readonly path: string;

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

  /** The body: bytes [offset, length) of the open file, in two reused buffers. */
  body(): RecycledRange {
    return new RecycledRange(this.#file.handle, this.offset, this.length);
  }

  /** Digests of the whole file; starts hashing now unless the cache knows them. */
  digest(cache: DigestCache, md5: boolean): Promise<DigestResult> {
    const known = cache.get(this.#file.stats, md5);
    if (known !== undefined) return Promise.resolve(known);
    const work = HashPool.shared().range({ fd: this.#file.handle.fd }, 0, this.length, md5);
    this.#pending.push(work.catch(() => undefined));
    return work.then((digests) => {
      cache.set(this.#file.stats, digests);
      return digests;
    });
  }

  /** Closes the file once nothing reads it any more. */
  async close(): Promise<void> {
    await Promise.all(this.#pending);
    await this.#file.handle.close().catch(() => undefined);
  }
}
