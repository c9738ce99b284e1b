import { FrameDecoder, type DecoderLimits, type FrameHeader } from '../../src/codec/index.js';
import { GridlinkError } from '../../src/errors/index.js';

export interface Decoded {
  readonly header: FrameHeader;
  readonly body: Buffer | null;
}

export interface DecodeOutcome {
  readonly frames: Decoded[];
  /** The error code the decoder failed with, if any. */
  readonly error: string | null;
}

/**
 * Feeds chunks to a server-mode decoder, reading every body completely and
 * releasing each frame after it, as the session does; ends the input at the end.
 */
export async function decodeChunks(chunks: readonly Uint8Array[], limits?: DecoderLimits): Promise<DecodeOutcome> {
  const frames: Decoded[] = [];
  let error: string | null = null;
  const decoder: FrameDecoder = new FrameDecoder((frame) => {
    if (frame.body === null) {
      frames.push({ header: frame.header, body: null });
      queueMicrotask(() => decoder.release());
      return;
    }
    const parts: Buffer[] = [];
    frame.body.on('data', (chunk: Buffer) => parts.push(Buffer.from(chunk)));
    frame.body.on('end', () => {
      frames.push({ header: frame.header, body: Buffer.concat(parts) });
      decoder.release();
    });
  }, limits);
  const done = new Promise<void>((resolve) => {
    decoder.on('error', (err) => {
      error = err instanceof GridlinkError ? err.code : `non-gridlink error: ${err.message}`;
      resolve();
    });
    decoder.on('finish', () => resolve());
  });
  for (const chunk of chunks) decoder.write(Buffer.from(chunk));
  decoder.end();
  await done;
  return { frames, error };
}

/** Splits bytes into one chunk per byte. */
export function byteByByte(bytes: Uint8Array): Uint8Array[] {
  return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}

/** Splits bytes at the given cut points (sorted, deduplicated, within range). */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(bytes.length, c))))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    out.push(bytes.subarray(start, point));
    start = point;
  }
  out.push(bytes.subarray(start));
  return out;
}
