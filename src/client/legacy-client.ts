import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GridlinkError } from '../errors/index.js';
import { FrameConnection, type ConnectOptions } from './frame-connection.js';
import { localFileLength } from './local-files.js';
import type { ProgressListener } from './transfer-progress.js';

/**
 * `gridlink put|get --legacy`: the course's simulated-FTP protocol (docs/protocol.md §2),
 * for talking to a course-style server (or gridlink's anonymous area) without
 * login. The protocol has no checksums, no resume and no reply to `put`; a put
 * is known to have failed only if the server answers with an error frame.
 */
export async function legacyPut(options: ConnectOptions, local: string, name: string, onProgress?: ProgressListener): Promise<number> {
  const length = await localFileLength(local);
  const conn = await FrameConnection.connect(options, true);
  const id = conn.open();
  try {
    const source = createReadStream(local, { highWaterMark: 10_240 * 25 });
    const body = source.pipe(counter(length, onProgress));
    source.once('error', (err) => body.destroy(err));
    let cut: Error | null = null;
    try {
      await conn.send({ cmd: 'put', name, size: length }, body);
      // No reply on success: half-close and wait for the server to close.
      await conn.end();
    } catch (err) {
      cut = err instanceof Error ? err : new Error(String(err));
    }
    // An error frame from the server explains a refusal better than the cut.
    if (conn.takeQueued(id) !== undefined) throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', 'unexpected reply to a legacy put');
    if (cut !== null) throw cut;
    return length;
  } finally {
    conn.destroy();
  }
}

/** Downloads NAME with the legacy protocol into `local` (via a temporary `.gridlink-part`). */
export async function legacyGet(options: ConnectOptions, name: string, local: string, onProgress?: ProgressListener): Promise<number> {
  const conn = await FrameConnection.connect(options, true);
  const id = conn.open();
  const temp = `${local}.gridlink-part`;
  try {
    await conn.send({ cmd: 'get', name });
    const frame = await conn.receive(id);
    const size = frame.header['size'];
    if (frame.header.cmd !== 'get' || frame.body === null || typeof size !== 'number') {
      frame.body?.resume();
      throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `legacy get answered with ${JSON.stringify(frame.header).slice(0, 200)}`);
    }
    await pipeline(frame.body, counter(size, onProgress), createWriteStream(temp));
    await rename(temp, local);
    return size;
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  } finally {
    conn.destroy();
  }
}

function counter(total: number, onProgress: ProgressListener | undefined): Transform {
  let done = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      done += chunk.length;
      onProgress?.({ done, total, resumedFrom: 0 });
      callback(null, chunk);
    },
  });
}
