import { GridlinkError } from '../errors/index.js';
import { LENGTH_PREFIX_BYTES, MAX_HEADER_BYTES, type OutgoingHeader } from './frame.js';

/**
 * Encodes a frame header: int32 little-endian length, then UTF-8 JSON
 * (docs/protocol.md §1; Python's `struct.pack("i", n)` on x86). The body, if any, is
 * written by the caller right after, exactly `header.size` bytes.
 */
export function encodeHeader(header: OutgoingHeader): Buffer {
  const json = JSON.stringify(header);
  const length = Buffer.byteLength(json, 'utf8');
  if (length > MAX_HEADER_BYTES) {
    throw new GridlinkError('GL_ERR_FRAME_HEADER_LENGTH', `${length} bytes`);
  }
  const out = Buffer.allocUnsafe(LENGTH_PREFIX_BYTES + length);
  out.writeInt32LE(length, 0);
  out.write(json, LENGTH_PREFIX_BYTES, 'utf8');
  return out;
}

/** Encodes a whole frame whose body is already in memory (small bodies only). */
export function encodeFrame(header: OutgoingHeader, body?: Uint8Array): Buffer {
  if (body === undefined) return encodeHeader(header);
  return Buffer.concat([encodeHeader({ ...header, size: body.byteLength }), body]);
}
