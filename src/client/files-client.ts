import { createWriteStream, type Stats } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GridlinkError } from '../errors/index.js';
import { digestsMatch } from '../integrity/digests.js';
import { RecycledRange } from '../integrity/file-streams.js';
import { HashPool } from '../integrity/hash-pool.js';
import { getEnd, type EntryInfo, type ReplyOf } from '../protocol/v1.js';
import { CHUNK_BYTES, FILE_IO_BYTES } from '../transport/buffer-sizes.js';
import type { ChunkSource } from '../transport/frame-writer.js';
import { findPartialDownload, forgetPartialDownload, localFileLength, messageOf, rememberPartialDownload } from './local-files.js';
import type { NativeChannel } from './native-channel.js';
import type { ProgressListener, TransferResult } from './transfer-progress.js';

export interface TransferOptions {
  /** Also verify with MD5 (for the course's clients). */
  readonly md5?: boolean;
  readonly onProgress?: ProgressListener;
}

/**
 * The file commands (docs/protocol.md §3.3): navigation and management in
 * the area, and transfers that resume where an earlier attempt stopped and
 * end with a SHA-256 check of the whole file.
 */
export class FilesClient {
  readonly #channel: NativeChannel;

  constructor(channel: NativeChannel) {
    this.#channel = channel;
  }

  async stat(path: string): Promise<EntryInfo> {
    return (await this.#channel.request('stat', { path })).entry;
  }

  async pwd(): Promise<string> {
    return (await this.#channel.request('pwd', {})).path;
  }

  async cd(path: string): Promise<string> {
    return (await this.#channel.request('cd', { path })).path;
  }

  ls(path?: string): Promise<ReplyOf<'ls'>> {
    return this.#channel.request('ls', { path });
  }

  async mkdir(path: string, parents: boolean): Promise<string> {
    return (await this.#channel.request('mkdir', { path, parents })).path;
  }

  async rm(path: string): Promise<string> {
    return (await this.#channel.request('rm', { path })).path;
  }

  async rmdir(path: string): Promise<string> {
    return (await this.#channel.request('rmdir', { path })).path;
  }

  mv(from: string, to: string): Promise<ReplyOf<'mv'>> {
    return this.#channel.request('mv', { from, to });
  }

  /**
   * Uploads `local` to `remote`: asks where a previous attempt stopped, sends
   * the rest, and commits with the SHA-256 of the whole file; the server renames
   * it into place only if its own checksum agrees.
   */
  async put(local: string, remote: string, options: TransferOptions): Promise<TransferResult> {
    await localFileLength(local); // a clear error for a missing file or a directory
    // Opened before the server is asked, so a file we cannot read leaves no
    // upload open there.
    const handle = await open(local, 'r').catch((cause: unknown) => {
      throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `${local}: ${messageOf(cause)}`, { cause });
    });
    try {
      return await this.#putFrom(handle, local, await handle.stat(), remote, options);
    } finally {
      await handle.close();
    }
  }

  /**
   * The upload of the open file as `before` describes it. A file that changes
   * meanwhile (written, truncated, appended to) is not committed: the bytes
   * sent would no longer be the file the user has.
   */
  async #putFrom(handle: FileHandle, local: string, before: Stats, remote: string, options: TransferOptions): Promise<TransferResult> {
    const length = before.size;
    const unchanged = async (): Promise<void> => {
      const now = await handle.stat();
      if (now.size === length && now.mtimeMs === before.mtimeMs) return;
      throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `${local} changed while it was sent (${length} bytes then, ${now.size} now); run the command again to send it as it is`);
    };
    const md5 = options.md5 === true;
    const { upload, offset } = await this.#openUpload(remote, length, md5);
    if (offset > length) throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `server offered to resume at ${offset} of ${length}`);
    // The worker hashes the whole local file on another core while we send.
    const digest = HashPool.shared().range({ path: local }, 0, length, md5);
    digest.catch(() => undefined); // awaited below
    options.onProgress?.({ done: offset, total: length, resumedFrom: offset });

    // Read into two reused buffers, each given back once the socket has taken
    // it: no 1 MiB of garbage per read for V8 to collect (as downloads do on
    // the server).
    const body = withProgress(new RecycledRange(handle, offset, length), offset, options.onProgress, length);
    const channel = this.#channel;
    // put.data and put.commit are pipelined (docs/protocol.md §3.3): the
    // commit goes out as soon as the digest is known, before the data's reply.
    const dataId = channel.open();
    const commitId = channel.open();
    try {
      const sending = (async () => {
        await channel.post(dataId, 'put.data', { upload }, { size: length - offset, data: body });
        try {
          await unchanged();
        } catch (err) {
          // Everything announced was sent: the connection still works, so free the name at once.
          await channel.request('put.abort', { upload, discard: true }).catch(() => undefined);
          throw err;
        }
        const { sha256, md5: md5Hex } = await digest.catch((cause: unknown) => {
          throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `cannot hash ${local}: ${messageOf(cause)}`, { cause });
        });
        await channel.post(commitId, 'put.commit', { upload, sha256, md5: md5Hex });
      })();
      const [, committed] = await Promise.all([channel.reply(dataId, 'put.data', false), channel.reply(commitId, 'put.commit', false), sending]).catch(async (err: unknown) => {
        // A file that shrank ends the body short and the connection with it:
        // say that, rather than "connection closed".
        await unchanged();
        throw err;
      });
      const { reply } = committed;
      return { path: reply.path, length: reply.length, sha256: reply.sha256, md5: reply.md5, resumedFrom: offset };
    } finally {
      channel.done(dataId);
      channel.done(commitId);
      body.destroy();
    }
  }

  /**
   * put.open, retried for a few seconds while the name is busy: right after a
   * cut, the server may still be flushing the previous attempt's bytes. A
   * genuinely concurrent upload of the same name still ends in GL_ERR_FILE_BUSY.
   */
  async #openUpload(path: string, length: number, md5: boolean): Promise<ReplyOf<'put.open'>> {
    const deadline = Date.now() + 3_000;
    for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
      try {
        return await this.#channel.request('put.open', { path, length, md5 });
      } catch (err) {
        if (!(err instanceof GridlinkError) || err.code !== 'GL_ERR_FILE_BUSY' || Date.now() + wait > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /**
   * Downloads `remote` to `local`: bytes go to `<local>.gridlink-part`, which a
   * rerun continues; the file is renamed to `local` only after the SHA-256 of
   * the whole file matches the server's.
   */
  async get(remote: string, local: string, options: TransferOptions): Promise<TransferResult> {
    try {
      return await this.#getOnce(remote, local, options);
    } catch (err) {
      // The file changed since the interrupted attempt: start over once.
      if (err instanceof GridlinkError && err.code === 'GL_ERR_FILE_CHANGED') return this.#getOnce(remote, local, options);
      throw err;
    }
  }

  async #getOnce(remote: string, local: string, options: TransferOptions): Promise<TransferResult> {
    const md5 = options.md5 === true;
    const partial = await findPartialDownload(local, remote);
    const channel = this.#channel;
    const id = channel.open();
    // The worker hashes the part file from disk as it grows (and the resumed prefix first).
    const hash = HashPool.shared().incremental(md5);
    hash.feed(partial.partPath, partial.offset, true);
    try {
      await channel.post(id, 'get', { path: remote, offset: partial.offset, ifMatch: partial.ifMatch, md5 });
      let answer;
      try {
        answer = await channel.reply(id, 'get', true);
      } catch (err) {
        if (err instanceof GridlinkError && err.code === 'GL_ERR_FILE_CHANGED') await forgetPartialDownload(partial);
        throw err;
      }
      const { reply, body } = answer;
      if (body === null || reply.offset !== partial.offset || reply.size !== reply.length - reply.offset) {
        body?.resume();
        throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', 'get reply does not match the request');
      }
      if (partial.offset === 0) await rememberPartialDownload(partial, remote, reply.length, reply.mtimeMs);
      options.onProgress?.({ done: partial.offset, total: reply.length, resumedFrom: partial.offset });

      const out = createWriteStream(partial.partPath, { flags: partial.offset === 0 ? 'w' : 'r+', start: partial.offset, highWaterMark: FILE_IO_BYTES });
      const onWritten = (): void => hash.feed(partial.partPath, partial.offset + out.bytesWritten);
      try {
        await pipeline(body, progressTap(partial.offset, options.onProgress, reply.length, onWritten), out);
      } catch (err) {
        body.resume();
        if (err instanceof GridlinkError) throw err;
        throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `${partial.partPath}: ${messageOf(err)}`, { cause: err });
      }
      const expected = await channel.follow(id, 'get.end', getEnd);
      const actual = await hash.finish(partial.partPath, reply.length);
      if ((md5 && expected.md5 === undefined) || !digestsMatch(actual, expected)) {
        await forgetPartialDownload(partial);
        throw new GridlinkError('GL_ERR_FILE_CHECKSUM_MISMATCH', `${remote}: local sha256 ${actual.sha256}, server ${expected.sha256}`);
      }
      await rename(partial.partPath, local);
      await forgetPartialDownload(partial);
      return { path: remote, length: reply.length, sha256: actual.sha256, md5: actual.md5, resumedFrom: partial.offset };
    } finally {
      hash.drop();
      channel.done(id);
    }
  }
}

/** Reports progress as each chunk of an upload is taken by the socket's writer. */
function withProgress(source: RecycledRange, start: number, onProgress: ProgressListener | undefined, total: number): ChunkSource {
  let done = start;
  return {
    release: (chunk) => source.release(chunk),
    destroy: () => source.destroy(),
    async *[Symbol.asyncIterator]() {
      for await (const chunk of source) {
        done += chunk.length;
        onProgress?.({ done, total, resumedFrom: start });
        yield chunk;
      }
    },
  };
}

/** Counts bytes on their way, reporting progress (and calling `tick` per chunk). */
function progressTap(start: number, onProgress: ProgressListener | undefined, total: number, tick?: () => void): Transform {
  let done = start;
  return new Transform({
    highWaterMark: CHUNK_BYTES,
    transform(chunk: Buffer, _encoding, callback) {
      done += chunk.length;
      onProgress?.({ done, total, resumedFrom: start });
      tick?.();
      callback(null, chunk);
    },
  });
}
