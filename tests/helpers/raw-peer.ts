import { connect, type Socket } from 'node:net';
import { FrameDecoder, type FrameHeader } from '../../src/codec/index.js';

export interface RawResult {
  /** Headers of every frame received, in order (bodies are collected in `bodies`). */
  readonly frames: FrameHeader[];
  readonly bodies: Buffer[];
  /** True when the server closed its side (FIN or reset) within the wait. */
  readonly closed: boolean;
}

/**
 * A scriptable, misbehaving peer: opens a socket, writes the given byte
 * chunks (with optional pauses), then collects what the server sends until
 * it closes or `waitMs` passes. Nothing here trusts the server either.
 */
export async function rawExchange(
  port: number,
  chunks: readonly Uint8Array[],
  options: { waitMs?: number; endAfterWrite?: boolean; pauseMs?: number } = {},
): Promise<RawResult> {
  const socket = await openSocket(port);
  const frames: FrameHeader[] = [];
  const bodies: Buffer[] = [];
  const decoder = new FrameDecoder(
    (frame) => {
      frames.push(frame.header);
      if (frame.body !== null) {
        const parts: Buffer[] = [];
        frame.body.on('data', (c: Buffer) => parts.push(c));
        frame.body.on('end', () => bodies.push(Buffer.concat(parts)));
      }
    },
    undefined,
    true,
  );
  decoder.on('error', () => undefined);
  socket.pipe(decoder);
  const closed = new Promise<boolean>((resolve) => {
    socket.once('end', () => resolve(true));
    socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), options.waitMs ?? 3_000).unref();
  });
  socket.on('error', () => undefined);
  for (const chunk of chunks) {
    if (socket.destroyed) break;
    socket.write(chunk);
    if (options.pauseMs !== undefined) await new Promise((r) => setTimeout(r, options.pauseMs));
  }
  if (options.endAfterWrite === true) socket.end();
  const wasClosed = await closed;
  socket.destroy();
  return { frames, bodies, closed: wasClosed };
}

export function openSocket(port: number, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, allowHalfOpen: true });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Encodes a header the way the course's Python does: struct.pack("i", n) + JSON. */
export function rawHeader(json: string): Buffer {
  const bytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(4);
  prefix.writeInt32LE(bytes.length);
  return Buffer.concat([prefix, bytes]);
}

/** An int32 LE length prefix alone (to announce lengths that never come). */
export function lengthPrefix(n: number): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeInt32LE(n);
  return prefix;
}
