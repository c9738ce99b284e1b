import type { Stats } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { GridlinkError } from '../errors/index.js';
import { describeDigest, digestSet, LEGACY_DIGEST, verifyDigests, type DigestName, type Digests } from '../integrity/digests.js';
import { RecycledRange } from '../integrity/file-streams.js';
import { BatchedFileWriter } from '../integrity/file-writer.js';
import { InlineHash } from '../integrity/inline-hash.js';
import { getEnd, type EntryInfo, type ReplyOf } from '../protocol/v1.js';
import type { ChunkSource } from '../transport/frame-writer.js';
import { findPartialDownload, forgetPartialDownload, localFileLength, messageOf, rememberPartialDownload } from './local-files.js';
import type { NativeChannel } from './native-channel.js';
import type { ProgressListener, TransferResult } from './transfer-progress.js';

export interface TransferOptions {
  /** Also verify with MD5 (for the course's clients). */
  readonly md5?: boolean | undefined;
  /**
   * The end-to-end digest to ask for (docs/protocol.md §3.3, "Digests"). The
   * library's default is SHA-256, so a caller that reads `result.sha256`
   * keeps getting it; the CLI asks for XXH3-128 unless told otherwise. A
   * server from before negotiation answers with SHA-256 whatever is asked.
   */
  readonly verify?: DigestName | undefined;
  readonly onProgress?: ProgressListener | undefined;
}

/** What the client offers for `verify`: that digest only (the server must agree or fall back to SHA-256). */
function offerFor(options: TransferOptions): { digests: DigestName[]; md5: boolean } {
  const verify = options.verify ?? LEGACY_DIGEST;
  return { digests: [verify], md5: options.md5 === true || verify === 'md5' };
}

/** The result's digest fields: all computed, and `sha256`/`md5` where callers read them. */
function resultOf(path: string, length: number, digest: DigestName, digests: Digests, resumedFrom: number): TransferResult {
  return { path, length, digest, digests, sha256: digests.sha256, md5: digests.md5, resumedFrom };
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
    const offer = offerFor(options);
    const { upload, offset, digest: chosen } = await this.#openUpload(remote, length, offer);
    if (offset > length) throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `server offered to resume at ${offset} of ${length}`);
    // A server from before negotiation names no digest: it checks SHA-256.
    const digest = chosen ?? LEGACY_DIGEST;
    const names = digestSet(digest, offer.md5);
    // Hashed inline as the file is read to be sent (docs/protocol.md §3.3,
    // "Digests"); a resumed upload's prefix is read once first, so the
    // digest covers the whole file.
    const hash = await InlineHash.create(names);
    await hash.hashFile(handle, 0, offset).catch((cause: unknown) => {
      throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `cannot hash ${local}: ${messageOf(cause)}`, { cause });
    });
    options.onProgress?.({ done: offset, total: length, resumedFrom: offset, digest });

    // Read into two reused buffers, each given back once the socket has taken
    // it: no 1 MiB of garbage per read for V8 to collect (as downloads do on
    // the server).
    const range = new RecycledRange(handle, offset, length, 2, undefined, (chunk) => hash.update(chunk));
    const body = withProgress(range, offset, options.onProgress, length, digest);
    const channel = this.#channel;
    // put.data and put.commit are pipelined (docs/protocol.md §3.3): the
    // commit goes out as soon as the digest is known, right after the last byte.
    const dataId = channel.open();
    const commitId = channel.open();
    try {
      const sending = (async () => {
        await channel.post(dataId, 'put.data', { upload }, { size: length - offset, data: body });
        try {
          await unchanged();
          if (hash.bytes !== length) throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `${local} changed while it was sent (read ${hash.bytes} of ${length} bytes)`);
        } catch (err) {
          // Everything announced was sent: the connection still works, so free the name at once.
          await channel.request('put.abort', { upload, discard: true }).catch(() => undefined);
          throw err;
        }
        const sent = hash.digest();
        await channel.post(commitId, 'put.commit', { upload, sha256: sent.sha256, xxh128: sent.xxh128, md5: sent.md5 });
        return sent;
      })();
      const [, committed, sent] = await Promise.all([channel.reply(dataId, 'put.data', false), channel.reply(commitId, 'put.commit', false), sending]).catch(async (err: unknown) => {
        // A file that shrank ends the body short and the connection with it:
        // say that, rather than "connection closed".
        await unchanged();
        throw err;
      });
      const { reply } = committed;
      // The server checked; what it reports must also be what we sent.
      if (!verifyDigests(sent, reply, [digest])) {
        throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `put.commit reply's digest does not match ours (${describeDigest(sent, names)})`);
      }
      return resultOf(reply.path, reply.length, digest, sent, offset);
    } finally {
      channel.done(dataId);
      channel.done(commitId);
      range.destroy();
    }
  }

  /**
   * put.open, retried for a few seconds while the name is busy: right after a
   * cut, the server may still be flushing the previous attempt's bytes, or not
   * know yet that its connection is dead (it hands a stalled upload of the
   * same account to a newer put.open after files.takeOverIdleUploadMs, 2 s by
   * default). A genuinely concurrent upload of the same name still ends in
   * GL_ERR_FILE_BUSY.
   */
  async #openUpload(path: string, length: number, offer: { digests: DigestName[]; md5: boolean }): Promise<ReplyOf<'put.open'>> {
    const deadline = Date.now() + 6_000;
    for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
      try {
        return await this.#channel.request('put.open', { path, length, md5: offer.md5, digests: offer.digests });
      } catch (err) {
        if (!(err instanceof GridlinkError) || err.code !== 'GL_ERR_FILE_BUSY' || Date.now() + wait > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /**
   * Downloads `remote` to `local`: bytes go to `<local>.gridlink-part`, which a
   * rerun continues; the file is renamed to `local` only after the digest of
   * the whole file (hashed as it is written, a resumed prefix read once
   * first) matches the server's.
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
    const offer = offerFor(options);
    const partial = await findPartialDownload(local, remote);
    const channel = this.#channel;
    const id = channel.open();
    try {
      await channel.post(id, 'get', { path: remote, offset: partial.offset, ifMatch: partial.ifMatch, md5: offer.md5, digests: offer.digests });
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
      const digest = reply.digest ?? LEGACY_DIGEST;
      const names = digestSet(digest, offer.md5);
      if (partial.offset === 0) await rememberPartialDownload(partial, remote, reply.length, reply.mtimeMs);
      options.onProgress?.({ done: partial.offset, total: reply.length, resumedFrom: partial.offset, digest });

      const hash = await InlineHash.create(names);
      const file = await open(partial.partPath, partial.offset === 0 ? 'w' : 'r+').catch((cause: unknown) => {
        body.resume();
        throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `${partial.partPath}: ${messageOf(cause)}`, { cause });
      });
      try {
        // The prefix an earlier attempt left, read once, then each chunk as it is written.
        await hash.hashFile(file, 0, partial.offset);
        const out = new BatchedFileWriter(file, partial.offset, reply.size);
        let done = partial.offset;
        for await (const chunk of body as AsyncIterable<Buffer>) {
          hash.update(chunk);
          await out.write(chunk);
          done += chunk.length;
          options.onProgress?.({ done, total: reply.length, resumedFrom: partial.offset, digest });
        }
        await out.flush();
      } catch (err) {
        body.resume();
        if (err instanceof GridlinkError) throw err;
        throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `${partial.partPath}: ${messageOf(err)}`, { cause: err });
      } finally {
        await file.close().catch(() => undefined);
      }
      const expected = await channel.follow(id, 'get.end', getEnd);
      const actual = hash.digest();
      if (hash.bytes !== reply.length || !verifyDigests(actual, expected, names)) {
        await forgetPartialDownload(partial);
        throw new GridlinkError('GL_ERR_FILE_CHECKSUM_MISMATCH', `${remote}: local ${describeDigest(actual, names)}, server ${describeDigest(expected, names)}`);
      }
      await rename(partial.partPath, local);
      await forgetPartialDownload(partial);
      return resultOf(remote, reply.length, digest, actual, partial.offset);
    } finally {
      channel.done(id);
    }
  }
}

/** Reports progress as each chunk of an upload is taken by the socket's writer. */
function withProgress(source: RecycledRange, start: number, onProgress: ProgressListener | undefined, total: number, digest: DigestName): ChunkSource {
  let done = start;
  return {
    release: (chunk) => source.release(chunk),
    destroy: () => source.destroy(),
    async *[Symbol.asyncIterator]() {
      for await (const chunk of source) {
        done += chunk.length;
        onProgress?.({ done, total, resumedFrom: start, digest });
        yield chunk;
      }
    },
  };
}
