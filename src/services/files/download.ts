import { Readable, pipeline } from 'node:stream';
import { readRange } from '../../integrity/file-streams.js';
import { GridlinkError } from '../../errors/index.js';
import { Digests, type DigestResult } from '../../integrity/digests.js';
import type { FileArea, OpenedFile } from './file-area.js';
import { printable } from './path-rules.js';

export interface DownloadRequest {
  readonly offset: number;
  /** Resume guard: the length and mtime the client saw when the download began. */
  readonly ifMatch?: { readonly length: number; readonly mtimeMs: number } | undefined;
  readonly md5: boolean;
}

/**
 * A download (SPEC §4): a snapshot of one open file, streamed from `offset`,
 * with the whole file's checksum computed on the way (the stored prefix is
 * re-read for a resumed download). Reading through the open descriptor means a
 * file replaced meanwhile by an upload is still read consistently.
 */
export class Download {
  readonly #file: OpenedFile;
  readonly #digests: Digests;
  readonly offset: number;

  private constructor(file: OpenedFile, offset: number, md5: boolean) {
    this.#file = file;
    this.offset = offset;
    this.#digests = new Digests(md5);
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
      return new Download(file, request.offset, request.md5);
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

  /** Hashes the prefix the client already holds (resume only). */
  async hashPrefix(): Promise<void> {
    if (this.offset === 0) return;
    await this.#digests.updateFrom(readRange(this.#file.handle, 0, this.offset));
  }

  /** The body: bytes [offset, length), hashed as they are read. */
  body(): Readable {
    if (this.size === 0) return Readable.from([]);
    const source = readRange(this.#file.handle, this.offset, this.length);
    // pipeline() destroys the file stream too if the consumer goes away.
    return pipeline(source, this.#digests.tap(), () => undefined);
  }

  digest(): DigestResult {
    return this.#digests.digest();
  }

  async close(): Promise<void> {
    await this.#file.handle.close().catch(() => undefined);
  }
}
