import { APCI_BYTES, writeIHeader } from './apci.js';
import { ASDU_HEADER_BYTES, IOA_BYTES, MAX_ASDU_BYTES, MAX_OBJECTS, encodeRangeInto, rangeLength } from './asdu.js';
import { elementCodec } from './elements.js';
import { Iec104CodecError } from './errors.js';
import type { Asdu } from './objects.js';
import { typeIdName } from './type-ids.js';

/**
 * How many objects of a type fit in one ASDU of at most 249 bytes (and 127
 * objects), e.g. 60 M_SP_NA_1 with SQ=0, 127 with SQ=1 (docs/iec104.md "Packing").
 */
export function maxObjectsPerAsdu(typeId: number, sequence: boolean): number {
  const codec = elementCodec(typeId);
  if (codec === undefined) throw new Iec104CodecError('unknown_type', `${typeIdName(typeId)} is not supported`);
  const room = MAX_ASDU_BYTES - ASDU_HEADER_BYTES;
  const fit = sequence ? Math.floor((room - IOA_BYTES) / codec.size) : Math.floor(room / (IOA_BYTES + codec.size));
  return Math.min(fit, MAX_OBJECTS);
}

export interface PackOptions {
  /**
   * Reserve and write an I-format APCI (N(S) = N(R) = 0) before each ASDU, so
   * every buffer is a whole APDU; number it with `stampSequence` when it is sent.
   */
  readonly apci?: boolean;
}

/**
 * Encodes any number of objects as few ASDUs as possible, each as full as
 * 249 bytes and 127 objects allow, in order; all take the header fields of
 * `asdu`. With `sequence`, an ASDU also ends where the IOAs stop being
 * consecutive, so any list can be sent with SQ=1. Each buffer is encoded in
 * place once, without an intermediate copy. Throws as `encodeAsdu`.
 */
export function packAsdus(asdu: Asdu, options: PackOptions = {}): Buffer[] {
  const objects = asdu.objects;
  const n = objects.length;
  if (n === 0) throw new Iec104CodecError('zero_objects', `${typeIdName(asdu.typeId)} with no objects`);
  const max = maxObjectsPerAsdu(asdu.typeId, asdu.sequence);
  const head = options.apci === true ? APCI_BYTES : 0;
  const out: Buffer[] = [];
  for (let start = 0; start < n; ) {
    let end = Math.min(n, start + max);
    if (asdu.sequence) {
      const first = objects[start]!.ioa;
      let next = start + 1;
      while (next < end && objects[next]!.ioa === first + (next - start)) next++;
      end = next;
    }
    const length = rangeLength(asdu, end - start);
    const buf = Buffer.allocUnsafe(head + length);
    encodeRangeInto(asdu, start, end, buf, head);
    if (head > 0) writeIHeader(buf, 0, 0, 0, length);
    out.push(buf);
    start = end;
  }
  return out;
}
