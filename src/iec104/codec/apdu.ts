import { APCI_BYTES, decodeApci, writeIHeader, type UFunction } from './apci.js';
import { decodeAsdu, encodeAsduInto, encodedAsduLength, type AsduDecodeOptions } from './asdu.js';
import type { Asdu } from './objects.js';

/** A whole APDU with its ASDU decoded. */
export type Apdu =
  | { readonly format: 'I'; readonly sendSeq: number; readonly recvSeq: number; readonly asdu: Asdu }
  | { readonly format: 'S'; readonly recvSeq: number }
  | { readonly format: 'U'; readonly fn: UFunction };

/**
 * Decodes an APDU and its ASDU in one call; throws as `decodeApci`, then as
 * `decodeAsdu`. Convenient for a master and for tests; a session that must
 * acknowledge an I-format APDU even when it refuses the ASDU uses
 * `decodeApci` and `decodeAsdu` apart.
 */
export function decodeApdu(apdu: Uint8Array, options?: AsduDecodeOptions): Apdu {
  const apci = decodeApci(apdu);
  if (apci.format !== 'I') return apci;
  return { format: 'I', sendSeq: apci.sendSeq, recvSeq: apci.recvSeq, asdu: decodeAsdu(apci.asdu, options) };
}

/**
 * An I-format APDU carrying an ASDU: given as an object, it is encoded in
 * place after the APCI (one buffer, no copy); given as bytes (from
 * `encodeAsdu`, `packAsdus` or `mirrorAsdu`), they are copied behind the APCI.
 */
export function encodeIFrame(sendSeq: number, recvSeq: number, asdu: Asdu | Uint8Array): Buffer {
  if (asdu instanceof Uint8Array) {
    const out = Buffer.allocUnsafe(APCI_BYTES + asdu.length);
    writeIHeader(out, 0, sendSeq, recvSeq, asdu.length);
    out.set(asdu, APCI_BYTES);
    return out;
  }
  const length = encodedAsduLength(asdu);
  const out = Buffer.allocUnsafe(APCI_BYTES + length);
  writeIHeader(out, 0, sendSeq, recvSeq, length);
  encodeAsduInto(asdu, out, APCI_BYTES);
  return out;
}
