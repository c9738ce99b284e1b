import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

import { FILE_IO_BYTES } from '../transport/buffer-sizes.js';

/**
 * Streams bytes [start, end) of an open file. Reads through the descriptor the
 * caller opened (and checked), so a path swapped meanwhile is never read; it
 * never closes the handle (the caller does), and each read is pulled on demand,
 * so a slow consumer holds at most one chunk.
 *
 * (fs streams made from a FileHandle hold a reference that keeps
 * `handle.close()` pending until the stream is closed, which `autoClose:false`
 * never does; reading with `handle.read` avoids that trap.)
 */
export function readRange(handle: FileHandle, start: number, end: number): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    let position = start;
    while (position < end) {
      const want = Math.min(FILE_IO_BYTES, end - position);
      const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(want), 0, want, position);
      if (bytesRead === 0) return; // file shrank: the writer detects the short body
      position += bytesRead;
      yield bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
    }
  }
  // highWaterMark 1 (object mode counts chunks): read at most one chunk ahead.
  return Readable.from(chunks(), { objectMode: true, highWaterMark: 1 });
}

/** fsync a file by path, so what was written survives a power cut. */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
