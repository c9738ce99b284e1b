import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runCommand } from './processes.js';

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

/**
 * Copies `source` into `dir` `copies` times and deletes the copies, before
 * any transfer is timed. On these machines (virtual machines) the page cache
 * grows slowly into memory the guest has not used lately: the first `dd` of
 * a 1 GiB file into a fresh file took 1.7 s of system time here, the same
 * `dd` right after 0.21 s. Without this, whichever target runs first pays
 * that cost for everyone; a server that has been running a while, as any
 * real one has, does not pay it at all.
 */
export async function warmPageCache(source: string, dir: string, copies = 2): Promise<void> {
  const chunk = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
  const input = await open(source, 'r');
  try {
    for (let copy = 0; copy < copies; copy++) {
      const path = join(dir, `.warm-${copy}`);
      const output = await open(path, 'w');
      try {
        for (let position = 0; ; ) {
          const { bytesRead } = await input.read(chunk, 0, chunk.length, position);
          if (bytesRead === 0) break;
          for (let offset = 0; offset < bytesRead; ) offset += (await output.write(chunk, offset, bytesRead - offset)).bytesWritten;
          position += bytesRead;
        }
      } finally {
        await output.close();
      }
    }
  } finally {
    await input.close();
    for (let copy = 0; copy < copies; copy++) await rm(join(dir, `.warm-${copy}`), { force: true });
  }
}

/**
 * Seconds `action` takes, after flushing dirty pages first: an upload that
 * was not fsync'ed leaves its data to the kernel's writeback, which would
 * otherwise slow whichever transfer runs next and charge one server's cost
 * to another.
 */
export async function timedTransfer(action: () => Promise<unknown>): Promise<number> {
  await runCommand('sync', []);
  const start = performance.now();
  await action();
  return (performance.now() - start) / 1000;
}

/** Fails unless `path` holds `bytes` bytes (a broken peer must not look fast). */
export async function expectSize(path: string, bytes: number, what: string): Promise<void> {
  const actual = (await stat(path)).size;
  if (actual !== bytes) throw new Error(`${what}: ${path} has ${actual} bytes, expected ${bytes}`);
}
