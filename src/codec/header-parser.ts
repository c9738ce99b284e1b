import { GridlinkError } from '../errors/index.js';
import type { DecoderLimits, FrameHeader } from './frame.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const MAX_CMD_LENGTH = 64;

/**
 * Validates a header length read from the wire, before any header byte is
 * buffered (a hostile peer cannot make us allocate more than the limit).
 */
export function checkHeaderLength(length: number, limits: DecoderLimits): void {
  if (length < 1 || length > limits.maxHeaderBytes) {
    throw new GridlinkError('GL_ERR_FRAME_HEADER_LENGTH', `got ${length}`);
  }
}

/**
 * Parses and checks a header: UTF-8 JSON object, string `cmd`, and a `size`
 * that is a safe non-negative integer within the body limit. Command-specific
 * fields are checked later by the command's own schema.
 */
export function parseHeader(bytes: Uint8Array, limits: DecoderLimits): FrameHeader {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch (cause) {
    throw new GridlinkError('GL_ERR_FRAME_BAD_JSON', undefined, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GridlinkError('GL_ERR_FRAME_NOT_OBJECT');
  }
  const header = value as Record<string, unknown>;
  const cmd = header['cmd'];
  if (typeof cmd !== 'string' || cmd.length === 0 || cmd.length > MAX_CMD_LENGTH) {
    throw new GridlinkError('GL_ERR_FRAME_NO_CMD');
  }
  if (Object.hasOwn(header, 'size')) {
    const size = header['size'];
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new GridlinkError('GL_ERR_FRAME_BAD_SIZE', `got ${JSON.stringify(size)}`);
    }
    if (size > limits.maxBodyBytes) {
      throw new GridlinkError('GL_ERR_FRAME_BODY_TOO_LARGE', `${size} > ${limits.maxBodyBytes} bytes`);
    }
  }
  return header as FrameHeader;
}
