import { createWriteStream, type Stats } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { computeProof, deriveClientKeys } from '../accounts/credentials.js';
import { GridlinkError } from '../errors/index.js';
import { digestsMatch, type DigestResult } from '../integrity/digests.js';
import { RecycledRange } from '../integrity/file-streams.js';
import { HashPool } from '../integrity/hash-pool.js';
import { CHUNK_BYTES, FILE_IO_BYTES } from '../transport/buffer-sizes.js';
import type { ChunkSource } from '../transport/frame-writer.js';
import type { ChatEvent, EntryInfo, Replies } from '../protocol/v1.js';
import type { Alarm, DeviceStatus, OperateResult, PointEvent, PointSnapshot, SelectLease } from '../scada/types.js';
import { FrameConnection, type ConnectOptions } from './frame-connection.js';
import { findPartialDownload, forgetPartialDownload, localFileLength, rememberPartialDownload } from './local-files.js';
import type { ProgressListener, TransferResult } from './transfer-progress.js';

export interface TransferOptions {
  /** Also verify with MD5 (for the course's clients). */
  readonly md5?: boolean;
  readonly onProgress?: ProgressListener;
}


/**
 * The typed client of gridlink's native protocol (SPEC §2.2), used by the CLI,
 * the tests and the benchmarks. Transfers resume where an earlier attempt
 * stopped and end with a SHA-256 check of the whole file.
 */
export class GridlinkClient {
  readonly #conn: FrameConnection;
  #watch: { onEvent: (event: PointEvent) => void; onAlarm?: (alarm: Alarm) => void; snapshot: PointSnapshot[] | null } | null = null;

  private constructor(conn: FrameConnection) {
    this.#conn = conn;
  }

  static async connect(options: ConnectOptions): Promise<GridlinkClient> {
    return new GridlinkClient(await FrameConnection.connect(options));
  }

  async hello(): Promise<Replies['hello']> {
    return (await this.#conn.request('hello')) as unknown as Replies['hello'];
  }

  async ping(): Promise<void> {
    await this.#conn.request('ping');
  }

  async stat(path: string): Promise<EntryInfo> {
    return ((await this.#conn.request('stat', { path })) as unknown as Replies['stat']).entry;
  }

  /**
   * Logs in with the challenge–response of docs/protocol.md §3.2: the password
   * never leaves this process, so this is safe on any connection.
   */
  async login(user: string, password: string): Promise<Replies['auth.proof']> {
    const challenge = (await this.#conn.request('auth.challenge', { user })) as unknown as Replies['auth.challenge'];
    const nonce = Buffer.from(String(challenge.nonce), 'base64');
    const salt = Buffer.from(String(challenge.salt), 'base64');
    const { N, r, p } = challenge;
    // A hostile server must not make us burn memory or time: bound its cost.
    const sane = (v: unknown, max: number): boolean => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max;
    if (nonce.length < 32 || salt.length < 8 || !sane(N, 1 << 20) || (N & (N - 1)) !== 0 || !sane(r, 32) || !sane(p, 16)) {
      throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', 'the server sent an implausible login challenge');
    }
    const { clientKey, storedKey } = await deriveClientKeys(password, salt, { N, r, p });
    const proof = computeProof(clientKey, storedKey, nonce).toString('base64');
    return (await this.#conn.request('auth.proof', { proof })) as unknown as Replies['auth.proof'];
  }

  /** Logs in by sending the password (the server accepts it only over TLS or loopback). */
  async loginWithPassword(user: string, password: string): Promise<Replies['auth.password']> {
    return (await this.#conn.request('auth.password', { user, password })) as unknown as Replies['auth.password'];
  }

  async pwd(): Promise<string> {
    return ((await this.#conn.request('pwd')) as unknown as Replies['pwd']).path;
  }

  async cd(path: string): Promise<string> {
    return ((await this.#conn.request('cd', { path })) as unknown as Replies['cd']).path;
  }

  async ls(path?: string): Promise<Replies['ls']> {
    return (await this.#conn.request('ls', path === undefined ? {} : { path })) as unknown as Replies['ls'];
  }

  async mkdir(path: string, parents = false): Promise<string> {
    return ((await this.#conn.request('mkdir', { path, parents })) as unknown as Replies['mkdir']).path;
  }

  async rm(path: string): Promise<string> {
    return ((await this.#conn.request('rm', { path })) as unknown as Replies['rm']).path;
  }

  async rmdir(path: string): Promise<string> {
    return ((await this.#conn.request('rmdir', { path })) as unknown as Replies['rmdir']).path;
  }

  async mv(from: string, to: string): Promise<Replies['mv']> {
    return (await this.#conn.request('mv', { from, to })) as unknown as Replies['mv'];
  }

  /**
   * Uploads `local` to `remote`: asks where a previous attempt stopped, sends
   * the rest, and commits with the SHA-256 of the whole file; the server renames
   * it into place only if its own checksum agrees.
   */
  async put(local: string, remote: string, options: TransferOptions = {}): Promise<TransferResult> {
    await localFileLength(local); // a clear error for a missing file or a directory
    // Opened before the server is asked, so a file we cannot read leaves no
    // upload open there.
    const handle = await open(local, 'r').catch((cause: unknown) => {
      throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `${local}: ${(cause as Error).message}`, { cause });
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
    const opened = await this.#openUpload(remote, length, md5);
    const { upload, offset } = opened;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > length) {
      throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `server offered to resume at ${String(offset)} of ${length}`);
    }
    // The worker hashes the whole local file on another core while we send.
    const digest = HashPool.shared().range({ path: local }, 0, length, md5);
    digest.catch(() => undefined); // awaited below
    options.onProgress?.({ done: offset, total: length, resumedFrom: offset });

    // Read into two reused buffers, each given back once the socket has taken
    // it: no 1 MiB of garbage per read for V8 to collect (as downloads do on
    // the server).
    const body = withProgress(new RecycledRange(handle, offset, length), offset, options.onProgress, length);
    const conn = this.#conn;
    const dataId = conn.open();
    const commitId = conn.open();
    try {
      const sending = (async () => {
        await conn.send({ v: 1, id: dataId, cmd: 'put.data', upload, size: length - offset }, body);
        try {
          await unchanged();
        } catch (err) {
          // Everything announced was sent: the connection still works, so free the name at once.
          await conn.request('put.abort', { upload, discard: true }).catch(() => undefined);
          throw err;
        }
        const { sha256, md5: md5Hex } = await digest.catch((cause: unknown) => {
          throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `cannot hash ${local}: ${(cause as Error).message}`, { cause });
        });
        await conn.send({ v: 1, id: commitId, cmd: 'put.commit', upload, sha256, ...(md5Hex === undefined ? {} : { md5: md5Hex }) });
      })();
      const [, committed] = await Promise.all([conn.receive(dataId), conn.receive(commitId), sending]).catch(async (err: unknown) => {
        // A file that shrank ends the body short and the connection with it:
        // say that, rather than "connection closed".
        await unchanged();
        throw err;
      });
      const reply = committed.header as unknown as Replies['put.commit'];
      return { path: reply.path, length: reply.length, sha256: reply.sha256, md5: reply.md5, resumedFrom: offset };
    } finally {
      conn.done(dataId);
      conn.done(commitId);
      body.destroy();
    }
  }

  /**
   * put.open, retried for a few seconds while the name is busy: right after a
   * cut, the server may still be flushing the previous attempt's bytes. A
   * genuinely concurrent upload of the same name still ends in GL_ERR_FILE_BUSY.
   */
  async #openUpload(path: string, length: number, md5: boolean): Promise<Replies['put.open']> {
    const deadline = Date.now() + 3_000;
    for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
      try {
        return (await this.#conn.request('put.open', { path, length, md5 })) as unknown as Replies['put.open'];
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
  async get(remote: string, local: string, options: TransferOptions = {}): Promise<TransferResult> {
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
    const conn = this.#conn;
    const id = conn.open();
    // The worker hashes the part file from disk as it grows (and the resumed prefix first).
    const hash = HashPool.shared().incremental(md5);
    hash.feed(partial.partPath, partial.offset, true);
    try {
      await conn.send({ v: 1, id, cmd: 'get', path: remote, offset: partial.offset, ifMatch: partial.ifMatch, md5 });
      let frame;
      try {
        frame = await conn.receive(id);
      } catch (err) {
        if (err instanceof GridlinkError && err.code === 'GL_ERR_FILE_CHANGED') await forgetPartialDownload(partial);
        throw err;
      }
      const reply = frame.header as unknown as Replies['get'];
      if (frame.body === null || reply.offset !== partial.offset || reply.size !== reply.length - reply.offset) {
        frame.body?.resume();
        throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', 'get reply does not match the request');
      }
      if (partial.offset === 0) await rememberPartialDownload(partial, remote, reply.length, reply.mtimeMs);
      options.onProgress?.({ done: partial.offset, total: reply.length, resumedFrom: partial.offset });

      const out = createWriteStream(partial.partPath, { flags: partial.offset === 0 ? 'w' : 'r+', start: partial.offset, highWaterMark: FILE_IO_BYTES });
      const onWritten = (): void => hash.feed(partial.partPath, partial.offset + out.bytesWritten);
      try {
        await pipeline(frame.body, progressTap(partial.offset, options.onProgress, reply.length, onWritten), out);
      } catch (err) {
        frame.body.resume();
        if (err instanceof GridlinkError) throw err;
        throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `${partial.partPath}: ${(err as Error).message}`, { cause: err });
      }
      const expected = (await conn.receive(id)).header as unknown as DigestResult;
      const actual = await hash.finish(partial.partPath, reply.length);
      if (typeof expected.sha256 !== 'string' || (md5 && typeof expected.md5 !== 'string') || !digestsMatch(actual, expected)) {
        await forgetPartialDownload(partial);
        throw new GridlinkError('GL_ERR_FILE_CHECKSUM_MISMATCH', `${remote}: local sha256 ${actual.sha256}, server ${String(expected.sha256)}`);
      }
      await rename(partial.partPath, local);
      await forgetPartialDownload(partial);
      return { path: remote, length: reply.length, sha256: actual.sha256, md5: actual.md5, resumedFrom: partial.offset };
    } finally {
      hash.drop();
      conn.done(id);
    }
  }

  /**
   * Joins a chat room (SPEC §5.1); room events (others joining, leaving,
   * messages, private messages, announcements) arrive at `onEvent`.
   */
  async joinChat(room: string, nick: string, onEvent: (event: ChatEvent) => void): Promise<Replies['chat.join']> {
    this.#conn.onPush((header) => {
      if (header.cmd === 'chat.event') onEvent(header as unknown as ChatEvent);
    });
    return (await this.#conn.request('chat.join', { room, nick })) as unknown as Replies['chat.join'];
  }

  async say(room: string, text: string): Promise<void> {
    await this.#conn.request('chat.say', { room, text });
  }

  async whisper(room: string, to: string, text: string): Promise<void> {
    await this.#conn.request('chat.msg', { room, to, text });
  }

  async who(room: string): Promise<string[]> {
    return ((await this.#conn.request('chat.who', { room })) as unknown as Replies['chat.who']).members;
  }

  async leaveChat(room: string): Promise<void> {
    await this.#conn.request('chat.leave', { room });
  }

  // --- SCADA data plane (SPEC §6; docs/protocol.md §3.6) ---

  async points(pattern?: string): Promise<PointSnapshot[]> {
    return this.#pages('points', pattern === undefined ? {} : { pattern }, (r: Replies['points']) => r.points);
  }

  async devices(): Promise<DeviceStatus[]> {
    return this.#pages('devices', {}, (r: Replies['devices']) => r.devices);
  }

  async history(point: string, since: number, until?: number, limit?: number): Promise<Replies['history']['samples']> {
    return this.#pages('history', { point, since, ...(until === undefined ? {} : { until }), ...(limit === undefined ? {} : { limit }) }, (r: Replies['history']) => r.samples);
  }

  async events(since: number, options: { until?: number; limit?: number; pattern?: string } = {}): Promise<PointEvent[]> {
    return this.#pages('events', { since, ...options }, (r: Replies['events']) => r.events);
  }

  async alarms(all = false): Promise<Alarm[]> {
    return this.#pages('alarms', all ? { all } : {}, (r: Replies['alarms']) => r.alarms);
  }

  /** Asks for a paged listing (docs/protocol.md §3.6) until its last page. */
  async #pages<R extends { next: number | null }, T>(cmd: 'points' | 'devices' | 'history' | 'events' | 'alarms', fields: Record<string, unknown>, items: (reply: R) => T[]): Promise<T[]> {
    const out: T[] = [];
    for (let offset: number | null = 0; offset !== null; ) {
      const reply = (await this.#conn.request(cmd, offset === 0 ? fields : { ...fields, offset })) as unknown as R;
      out.push(...items(reply));
      if (reply.next !== null && reply.next <= offset) throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `${cmd}: the server's next page (${reply.next}) does not advance`);
      offset = reply.next;
    }
    return out;
  }

  async acknowledge(alarm: number): Promise<Alarm> {
    return ((await this.#conn.request('alarm.ack', { alarm })) as unknown as Replies['alarm.ack']).alarm;
  }

  /** Takes the exclusive selection of a control point (held by this connection until used, released or expired). */
  async select(point: string): Promise<SelectLease> {
    return ((await this.#conn.request('select', { point })) as unknown as Replies['select']).lease;
  }

  async deselect(point: string): Promise<void> {
    await this.#conn.request('deselect', { point });
  }

  /** Operates a point this connection selected; resolves once the status feedback confirms it. */
  async operate(point: string, value: number): Promise<OperateResult> {
    return ((await this.#conn.request('operate', { point, value })) as unknown as Replies['operate']).result;
  }

  /** Shows `value` in place of the device's (quality substituted), or releases it with null. */
  async substitute(point: string, value: number | null): Promise<PointSnapshot> {
    return ((await this.#conn.request('substitute', { point, value })) as unknown as Replies['substitute']).point;
  }

  /**
   * Watches points (SPEC §6): resolves with their current snapshot; then every
   * event of a matching point (and, with `alarms`, every alarm change) arrives
   * at the listeners, in order.
   */
  async watch(pattern: string | undefined, listeners: { onEvent: (event: PointEvent) => void; onAlarm?: (alarm: Alarm) => void }): Promise<PointSnapshot[]> {
    const snapshot: PointSnapshot[] = [];
    if (this.#watch === null) {
      // One push listener per connection; a later watch replaces the earlier one (as on the server).
      this.#conn.onPush((header) => {
        const watch = this.#watch;
        if (watch === null) return;
        if (header.cmd === 'point.event') watch.onEvent(header as unknown as PointEvent);
        else if (header.cmd === 'alarm.event') watch.onAlarm?.((header as unknown as { alarm: Alarm }).alarm);
        else if (header.cmd === 'point.snapshot') watch.snapshot?.push(...(header as unknown as { points: PointSnapshot[] }).points);
      });
    }
    const watch: { onEvent: (event: PointEvent) => void; onAlarm?: (alarm: Alarm) => void; snapshot: PointSnapshot[] | null } = { ...listeners, snapshot };
    this.#watch = watch;
    const fields = { ...(pattern === undefined ? {} : { pattern }), ...(listeners.onAlarm === undefined ? {} : { alarms: true }) };
    const reply = (await this.#conn.request('watch', fields)) as unknown as Replies['watch'];
    // The snapshot's frames come before the reply: they are all here.
    const points = watch.snapshot ?? [];
    watch.snapshot = null;
    if (points.length !== reply.points) throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `watch: ${points.length} of ${reply.points} snapshot points arrived`);
    return points;
  }

  async unwatch(): Promise<void> {
    await this.#conn.request('unwatch');
    this.#watch = null;
  }

  /** Calls `listener` once when the connection fails (kicked, too slow, closed); returns a stop function. */
  onFailure(listener: (err: GridlinkError) => void): () => void {
    return this.#conn.onFailure(listener);
  }

  /** A connection-level failure (e.g. disconnected as a too-slow chat reader), once it happened. */
  get failure(): GridlinkError | null {
    return this.#conn.failure;
  }

  /** Closes the connection politely. */
  async close(): Promise<void> {
    await this.#conn.end();
  }

  /** Cuts the connection at once. */
  destroy(): void {
    this.#conn.destroy();
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
