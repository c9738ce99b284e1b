import type { Readable } from 'node:stream';

/** Wire limits of docs/protocol.md §1: the header length is 1..65536 bytes. */
export const MAX_HEADER_BYTES = 65_536;
/** Bytes of the int32 little-endian header-length prefix. */
export const LENGTH_PREFIX_BYTES = 4;

/** A decoded frame header: a JSON object with a string `cmd` (docs/protocol.md §1). */
export interface FrameHeader {
  readonly cmd: string;
  readonly [field: string]: unknown;
}

/** A header to send: any JSON object with a `cmd`; `size` announces a body. */
export interface OutgoingHeader {
  readonly cmd: string;
  readonly size?: number;
  readonly [field: string]: unknown;
}

/**
 * One decoded frame. `body` is present exactly when the header has a `size`
 * field; it streams the `size` bytes that follow and ends after them.
 */
export interface Frame {
  readonly header: FrameHeader;
  readonly body: Readable | null;
  /** Value of the header's `size` field (0 when there is no body). */
  readonly bodySize: number;
}

export interface DecoderLimits {
  /** Largest accepted header, at most {@link MAX_HEADER_BYTES}. */
  readonly maxHeaderBytes: number;
  /** Largest accepted body; checked against `size` before any body byte is read. */
  readonly maxBodyBytes: number;
}

export const DEFAULT_LIMITS: DecoderLimits = {
  maxHeaderBytes: MAX_HEADER_BYTES,
  maxBodyBytes: Number.MAX_SAFE_INTEGER,
};
