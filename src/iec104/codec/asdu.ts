import { isValidCot } from './cause.js';
import { elementCodec } from './elements.js';
import { Iec104CodecError, type RefusedAsduHeader } from './errors.js';
import type { Asdu, AsduHeader, InformationObject } from './objects.js';
import { isMonitoringTypeId, typeIdName } from './type-ids.js';

/** Data unit identifier: type id, VSQ, COT (2 bytes with the originator), common address (2). */
export const ASDU_HEADER_BYTES = 6;
/** Information object addresses are 3 bytes in IEC 104. */
export const IOA_BYTES = 3;
/** Largest ASDU an APDU can carry: 253 - 4 control octets (docs/iec104.md "APCI"). */
export const MAX_ASDU_BYTES = 249;
/** The VSQ's number of objects is 7 bits. */
export const MAX_OBJECTS = 127;
/** Largest address 3 bytes can hold. */
export const MAX_IOA = 0xff_ffff;

export interface AsduDecodeOptions {
  /**
   * Largest information object address accepted, 1..0xFFFFFF (the default).
   * A station configured with fewer points refuses the rest as `ioa_out_of_range`.
   */
  readonly maxIoa?: number;
}

/**
 * Decodes one ASDU (the bytes after the APCI of an I-format APDU). Every
 * byte is checked before use; the result is a fresh object that does not
 * refer to `bytes`. Throws {@link Iec104CodecError}, in this order:
 * `truncated` (fewer than 6 bytes), `unknown_type`, `unknown_cause`,
 * `zero_objects`, `truncated` (not one whole object), `object_count_mismatch`,
 * `ioa_out_of_range`. All but the first carry the data unit identifier in
 * `header`, so a station can answer the refused ASDU (see {@link mirrorAsdu}).
 */
export function decodeAsdu(bytes: Uint8Array, options?: AsduDecodeOptions): Asdu {
  const b = asBuffer(bytes);
  const length = b.length;
  if (length < ASDU_HEADER_BYTES) {
    throw new Iec104CodecError('truncated', `an ASDU has at least ${ASDU_HEADER_BYTES} bytes, got ${length}`);
  }
  const maxIoa = checkMaxIoa(options?.maxIoa);
  const typeId = b[0]!;
  const vsq = b[1]!;
  const sequence = (vsq & 0x80) !== 0;
  const count = vsq & 0x7f;
  const cot = b[2]!;
  const cause = cot & 0x3f;

  const codec = elementCodec(typeId);
  if (codec === undefined) throw new Iec104CodecError('unknown_type', `type id ${typeId} is not supported`, refusedHeader(b));
  if (!isValidCot(cause)) throw new Iec104CodecError('unknown_cause', `cause of transmission ${cause} is not defined`, refusedHeader(b));
  if (count === 0) throw new Iec104CodecError('zero_objects', `${typeIdName(typeId)} with no objects`, refusedHeader(b));

  const size = codec.size;
  const expected = ASDU_HEADER_BYTES + (sequence ? IOA_BYTES + count * size : count * (IOA_BYTES + size));
  if (length < ASDU_HEADER_BYTES + IOA_BYTES + size) {
    throw new Iec104CodecError('truncated', `${typeIdName(typeId)} needs ${ASDU_HEADER_BYTES + IOA_BYTES + size} bytes for one object, got ${length}`, refusedHeader(b));
  }
  if (length !== expected) {
    throw new Iec104CodecError(
      'object_count_mismatch',
      `${typeIdName(typeId)} with SQ=${sequence ? 1 : 0} and ${count} objects is ${expected} bytes, got ${length}`,
      refusedHeader(b),
    );
  }

  const minIoa = isMonitoringTypeId(typeId) ? 1 : 0;
  const objects: InformationObject[] = new Array<InformationObject>(count);
  if (sequence) {
    const first = readIoa(b, ASDU_HEADER_BYTES);
    if (first < minIoa || first + count - 1 > maxIoa) throw ioaError(b, first, count, minIoa, maxIoa);
    let at = ASDU_HEADER_BYTES + IOA_BYTES;
    for (let i = 0; i < count; i++, at += size) objects[i] = codec.read(b, at, first + i);
  } else {
    let at = ASDU_HEADER_BYTES;
    for (let i = 0; i < count; i++, at += IOA_BYTES + size) {
      const ioa = readIoa(b, at);
      if (ioa < minIoa || ioa > maxIoa) throw ioaError(b, ioa, 1, minIoa, maxIoa);
      objects[i] = codec.read(b, at + IOA_BYTES, ioa);
    }
  }
  return {
    typeId,
    sequence,
    cause,
    negative: (cot & 0x40) !== 0,
    test: (cot & 0x80) !== 0,
    originator: b[3]!,
    commonAddress: b[4]! | (b[5]! << 8),
    objects,
  } as Asdu;
}

/** Bytes {@link encodeAsdu} will write for this ASDU (without checking it). */
export function encodedAsduLength(asdu: Asdu): number {
  return rangeLength(asdu, asdu.objects.length);
}

/** Encodes an ASDU into a new buffer. Throws {@link Iec104CodecError} as {@link encodeAsduInto}. */
export function encodeAsdu(asdu: Asdu): Buffer {
  const out = Buffer.allocUnsafe(encodedAsduLength(asdu));
  encodeAsduInto(asdu, out, 0);
  return out;
}

/**
 * Encodes an ASDU at `offset` of `target` (which must have room for
 * {@link encodedAsduLength} bytes) and returns the offset after it. Every
 * field is checked, so what is sent is what {@link decodeAsdu} accepts:
 * `unknown_type`, `unknown_cause`, `zero_objects`, `asdu_too_long` (more than
 * 127 objects or 249 bytes), `ioa_out_of_range` (above 0xFFFFFF, 0 for a
 * monitoring type, or not consecutive with `sequence`), `invalid_value`,
 * `invalid_time`. On a throw, the bytes written so far are garbage.
 */
export function encodeAsduInto(asdu: Asdu, target: Buffer, offset: number): number {
  return encodeRangeInto(asdu, 0, asdu.objects.length, target, offset);
}

/** Bytes of an ASDU holding `count` objects of this ASDU's type and SQ. */
export function rangeLength(asdu: Pick<Asdu, 'typeId' | 'sequence'>, count: number): number {
  const codec = elementCodec(asdu.typeId);
  const size = codec === undefined ? 0 : codec.size;
  return ASDU_HEADER_BYTES + (asdu.sequence ? IOA_BYTES + count * size : count * (IOA_BYTES + size));
}

/**
 * Encodes the header of `asdu` with only its objects `start..end-1` (for
 * {@link packAsdus}, which splits one long list without copying it).
 */
export function encodeRangeInto(asdu: Asdu, start: number, end: number, target: Buffer, offset: number): number {
  const { typeId, objects, sequence } = asdu;
  const codec = elementCodec(typeId);
  if (codec === undefined) throw new Iec104CodecError('unknown_type', `type id ${String(typeId)} is not supported`);
  if (!isValidCot(asdu.cause)) throw new Iec104CodecError('unknown_cause', `cause of transmission ${String(asdu.cause)} is not defined`);
  const count = end - start;
  if (count <= 0) throw new Iec104CodecError('zero_objects', `${typeIdName(typeId)} with no objects`);
  const length = rangeLength(asdu, count);
  if (count > MAX_OBJECTS || length > MAX_ASDU_BYTES) {
    throw new Iec104CodecError(
      'asdu_too_long',
      `${count} ${typeIdName(typeId)} objects take ${length} bytes; at most ${MAX_OBJECTS} objects and ${MAX_ASDU_BYTES} bytes fit (see packAsdus)`,
    );
  }
  if (offset < 0 || offset + length > target.length) throw new RangeError(`no room for ${length} bytes at offset ${offset}`);
  checkUint(asdu.originator, 0xff, 'originator address');
  checkUint(asdu.commonAddress, 0xffff, 'common address');

  const b = target;
  writeAsduHeader(b, offset, asdu, count);

  const minIoa = isMonitoringTypeId(typeId) ? 1 : 0;
  const size = codec.size;
  let at = offset + ASDU_HEADER_BYTES;
  if (sequence) {
    const first = objects[start]!.ioa;
    checkIoa(first, minIoa);
    checkIoa(first + count - 1, minIoa);
    writeIoa(first, b, at);
    at += IOA_BYTES;
    for (let i = start; i < end; i++, at += size) {
      const o = objects[i]!;
      if (o.ioa !== first + (i - start)) {
        throw new Iec104CodecError('ioa_out_of_range', `with SQ=1, object ${i} must have IOA ${first + (i - start)}, has ${o.ioa}`);
      }
      codec.write(o, b, at);
    }
  } else {
    for (let i = start; i < end; i++, at += IOA_BYTES + size) {
      const o = objects[i]!;
      checkIoa(o.ioa, minIoa);
      writeIoa(o.ioa, b, at);
      codec.write(o, b, at + IOA_BYTES);
    }
  }
  return at;
}

/**
 * Writes the data unit identifier (type id, VSQ with `count` objects, cause
 * with its P/N and T bits, originator, common address) at `offset`; the
 * caller has checked every field (see {@link encodeRangeInto}).
 */
export function writeAsduHeader(b: Uint8Array, offset: number, header: AsduHeader & { readonly typeId: number }, count: number): void {
  b[offset] = header.typeId;
  b[offset + 1] = count | (header.sequence ? 0x80 : 0);
  b[offset + 2] = header.cause | (header.negative ? 0x40 : 0) | (header.test ? 0x80 : 0);
  b[offset + 3] = header.originator;
  b[offset + 4] = header.commonAddress & 0xff;
  b[offset + 5] = header.commonAddress >> 8;
}

/**
 * A copy of a received ASDU with its cause of transmission replaced and the
 * P/N bit set (or cleared), the T bit and everything else kept: the answer a
 * controlled station gives to an ASDU it refuses, e.g. cause 44 for an
 * unknown type id, which it cannot decode (docs/iec104.md "Errors").
 */
export function mirrorAsdu(bytes: Uint8Array, cause: number, negative = true): Buffer {
  if (bytes.length < ASDU_HEADER_BYTES) {
    throw new Iec104CodecError('truncated', `an ASDU has at least ${ASDU_HEADER_BYTES} bytes, got ${bytes.length}`);
  }
  if (!isValidCot(cause)) throw new Iec104CodecError('unknown_cause', `cause of transmission ${cause} is not defined`);
  const out = Buffer.from(bytes);
  out[2] = cause | (negative ? 0x40 : 0) | (bytes[2]! & 0x80);
  return out;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkMaxIoa(maxIoa: number | undefined): number {
  if (maxIoa === undefined) return MAX_IOA;
  if (!Number.isInteger(maxIoa) || maxIoa < 1 || maxIoa > MAX_IOA) throw new RangeError(`maxIoa must be an integer in 1..${MAX_IOA}, got ${maxIoa}`);
  return maxIoa;
}

function refusedHeader(b: Buffer): RefusedAsduHeader {
  return {
    typeId: b[0]!,
    sequence: (b[1]! & 0x80) !== 0,
    count: b[1]! & 0x7f,
    cause: b[2]! & 0x3f,
    negative: (b[2]! & 0x40) !== 0,
    test: (b[2]! & 0x80) !== 0,
    originator: b[3]!,
    commonAddress: b[4]! | (b[5]! << 8),
  };
}

function ioaError(b: Buffer, ioa: number, count: number, minIoa: number, maxIoa: number): Iec104CodecError {
  const what = count === 1 ? `IOA ${ioa}` : `IOAs ${ioa}..${ioa + count - 1}`;
  return new Iec104CodecError('ioa_out_of_range', `${what} of ${typeIdName(b[0]!)} outside ${minIoa}..${maxIoa}`, refusedHeader(b));
}

function readIoa(b: Buffer, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
}

/** Writes an information object address (3 bytes, little-endian) at `at`; the caller has checked it is in range. */
export function writeIoa(ioa: number, b: Uint8Array, at: number): void {
  b[at] = ioa & 0xff;
  b[at + 1] = (ioa >> 8) & 0xff;
  b[at + 2] = ioa >> 16;
}

function checkIoa(ioa: number, minIoa: number): void {
  if (!Number.isInteger(ioa) || ioa < minIoa || ioa > MAX_IOA) {
    throw new Iec104CodecError('ioa_out_of_range', `IOA ${String(ioa)} is outside ${minIoa}..${MAX_IOA}`);
  }
}

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new Iec104CodecError('invalid_value', `${what} ${String(v)} is outside 0..${max}`);
}
