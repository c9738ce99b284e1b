import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

const WRITE_CHUNK_BYTES = 8 * MiB;

/**
 * Writes `bytes` of random data (incompressible, so no peer gains from
 * compression) and returns its SHA-256 in hex.
 */
export async function writeRandomFile(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
  const handle = await open(path, 'wx');
  try {
    for (let written = 0; written < bytes; ) {
      const piece = chunk.subarray(0, Math.min(WRITE_CHUNK_BYTES, bytes - written));
      randomFillSync(piece);
      hash.update(piece);
      // write() may store fewer bytes than asked; loop until the piece is out.
      for (let offset = 0; offset < piece.length; ) {
        offset += (await handle.write(piece, offset, piece.length - offset)).bytesWritten;
      }
      written += piece.length;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** SHA-256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: WRITE_CHUNK_BYTES })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
