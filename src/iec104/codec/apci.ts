import { Iec104CodecError } from './errors.js';

/** First byte of every APDU. */
export const START_BYTE = 0x68;
/** Start byte, length octet and the four control octets. */
export const APCI_BYTES = 6;
/** The length octet counts the control octets and the ASDU: 4..253. */
export const MIN_APDU_LENGTH = 4;
export const MAX_APDU_LENGTH = 253;
/** Largest whole APDU on the wire: 2 + 253. */
export const MAX_APDU_BYTES = 2 + MAX_APDU_LENGTH;
/** N(S) and N(R) count modulo 2^15. */
export const SEQUENCE_MODULO = 32_768;

/** The six U-format functions, each with its control octet 1. */
export const UFunction = {
  STARTDT_ACT: 0x07,
  STARTDT_CON: 0x0b,
  STOPDT_ACT: 0x13,
  STOPDT_CON: 0x23,
  TESTFR_ACT: 0x43,
  TESTFR_CON: 0x83,
} as const;

export type UFunction = keyof typeof UFunction;

const U_BY_OCTET = new Map<number, UFunction>(Object.entries(UFunction).map(([name, octet]) => [octet, name as UFunction]));

/**
 * A decoded APCI (docs/iec104.md "APCI"). An I-format APDU keeps its ASDU as
 * raw bytes (a view of the APDU): the session counts N(S) before it decodes
 * the ASDU, so an ASDU it refuses is still acknowledged.
 */
export type Apci =
  | { readonly format: 'I'; readonly sendSeq: number; readonly recvSeq: number; readonly asdu: Buffer }
  | { readonly format: 'S'; readonly recvSeq: number }
  | { readonly format: 'U'; readonly fn: UFunction };

/**
 * Decodes one whole APDU, as {@link ApduSplitter} hands them out. Throws
 * {@link Iec104CodecError}: `bad_start_byte`, `truncated` (fewer bytes than
 * the length octet says), `bad_length` (the length octet outside 4..253, or
 * bytes after the APDU), `bad_control_field`
 * (an I-format without an ASDU or with bit 0 of octet 3 set; an S-format
 * with other bits than its own; a U-format that is not exactly one of the
 * six functions; an S or U format carrying an ASDU).
 */
export function decodeApci(apdu: Uint8Array): Apci {
  if (apdu.length === 0) throw new Iec104CodecError('truncated', 'empty APDU');
  if (apdu[0] !== START_BYTE) throw new Iec104CodecError('bad_start_byte', `0x${hex(apdu[0]!)} instead of 0x68`);
  if (apdu.length < 2) throw new Iec104CodecError('truncated', 'APDU without its length octet');
  const length = apdu[1]!;
  if (length < MIN_APDU_LENGTH || length > MAX_APDU_LENGTH) {
    throw new Iec104CodecError('bad_length', `length octet ${length} is outside ${MIN_APDU_LENGTH}..${MAX_APDU_LENGTH}`);
  }
  if (length + 2 > apdu.length) throw new Iec104CodecError('truncated', `length octet ${length} for ${apdu.length} bytes`);
  if (length + 2 < apdu.length) throw new Iec104CodecError('bad_length', `length octet ${length} for ${apdu.length} bytes`);
  const c1 = apdu[2]!;
  const c2 = apdu[3]!;
  const c3 = apdu[4]!;
  const c4 = apdu[5]!;
  if ((c1 & 0x01) === 0) {
    if ((c3 & 0x01) !== 0) throw new Iec104CodecError('bad_control_field', 'I-format with bit 0 of control octet 3 set');
    if (length === MIN_APDU_LENGTH) throw new Iec104CodecError('bad_control_field', 'I-format without an ASDU');
    const b = Buffer.isBuffer(apdu) ? apdu : Buffer.from(apdu.buffer, apdu.byteOffset, apdu.byteLength);
    return { format: 'I', sendSeq: (c1 >> 1) | (c2 << 7), recvSeq: (c3 >> 1) | (c4 << 7), asdu: b.subarray(APCI_BYTES) };
  }
  if (length !== MIN_APDU_LENGTH) throw new Iec104CodecError('bad_control_field', `${(c1 & 0x03) === 0x01 ? 'S' : 'U'}-format with ${length - 4} bytes of ASDU`);
  if ((c1 & 0x03) === 0x01) {
    if (c1 !== 0x01 || c2 !== 0 || (c3 & 0x01) !== 0) throw new Iec104CodecError('bad_control_field', `S-format with reserved bits set: ${hex(c1)} ${hex(c2)} ${hex(c3)}`);
    return { format: 'S', recvSeq: (c3 >> 1) | (c4 << 7) };
  }
  const fn = U_BY_OCTET.get(c1);
  if (fn === undefined || c2 !== 0 || c3 !== 0 || c4 !== 0) {
    throw new Iec104CodecError('bad_control_field', `U-format control field ${hex(c1)} ${hex(c2)} ${hex(c3)} ${hex(c4)}`);
  }
  return { format: 'U', fn };
}

/** A U-format APDU, e.g. `encodeUFrame('STARTDT_ACT')` is 68 04 07 00 00 00. */
export function encodeUFrame(fn: UFunction): Buffer {
  const octet = UFunction[fn] as number | undefined;
  if (octet === undefined) throw new Iec104CodecError('invalid_value', `unknown U function ${String(fn)}`);
  return Buffer.from([START_BYTE, MIN_APDU_LENGTH, octet, 0, 0, 0]);
}

/** An S-format APDU acknowledging every I-format APDU before `recvSeq`. */
export function encodeSFrame(recvSeq: number): Buffer {
  checkSeq(recvSeq, 'N(R)');
  return Buffer.from([START_BYTE, MIN_APDU_LENGTH, 0x01, 0x00, (recvSeq << 1) & 0xff, recvSeq >> 7]);
}

/**
 * Writes the 6-byte APCI of an I-format APDU at `offset`, for an ASDU of
 * `asduLength` bytes that follows it (1..249).
 */
export function writeIHeader(target: Buffer, offset: number, sendSeq: number, recvSeq: number, asduLength: number): void {
  if (!Number.isInteger(asduLength) || asduLength < 1 || asduLength > MAX_APDU_LENGTH - MIN_APDU_LENGTH) {
    throw new Iec104CodecError('asdu_too_long', `an ASDU of ${asduLength} bytes does not fit an APDU (1..249)`);
  }
  target[offset] = START_BYTE;
  target[offset + 1] = MIN_APDU_LENGTH + asduLength;
  stampSequence(target, sendSeq, recvSeq, offset);
}

/**
 * Sets N(S) and N(R) of an I-format APDU in place, so APDUs can be encoded
 * ahead (a general interrogation's answer) and numbered when they are sent.
 */
export function stampSequence(apdu: Buffer, sendSeq: number, recvSeq: number, offset = 0): void {
  checkSeq(sendSeq, 'N(S)');
  checkSeq(recvSeq, 'N(R)');
  apdu[offset + 2] = (sendSeq << 1) & 0xff;
  apdu[offset + 3] = sendSeq >> 7;
  apdu[offset + 4] = (recvSeq << 1) & 0xff;
  apdu[offset + 5] = recvSeq >> 7;
}

function checkSeq(seq: number, what: string): void {
  if (!Number.isInteger(seq) || seq < 0 || seq >= SEQUENCE_MODULO) {
    throw new Iec104CodecError('invalid_value', `${what} ${String(seq)} is outside 0..${SEQUENCE_MODULO - 1}`);
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
