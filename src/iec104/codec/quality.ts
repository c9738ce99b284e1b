/**
 * Quality descriptors (docs/iec104.md "Quality"): the flags of SIQ, DIQ and
 * QDS as a typed object. Decoding never allocates: every combination is built
 * once and frozen, and a decoded object is one of those.
 */

/** Flags shared by SIQ (single point) and DIQ (double point), bits 4..7. */
export interface PointQuality {
  /** IV: the value is invalid. */
  readonly iv: boolean;
  /** NT: not topical (the last update did not succeed in time). */
  readonly nt: boolean;
  /** SB: substituted by an operator or an automatic source. */
  readonly sb: boolean;
  /** BL: blocked for transmission. */
  readonly bl: boolean;
}

/** QDS, the quality of a measured value: {@link PointQuality} plus OV (bit 0). */
export interface Quality extends PointQuality {
  /** OV: overflow, the value is beyond its range. */
  readonly ov: boolean;
}

const OV = 0x01;
const BL = 0x10;
const SB = 0x20;
const NT = 0x40;
const IV = 0x80;

/** Every QDS, indexed by its byte with the reserved bits 1..3 cleared. */
const QDS_BY_BYTE: readonly Quality[] = Array.from({ length: 256 }, (_, b) =>
  Object.freeze({ iv: (b & IV) !== 0, nt: (b & NT) !== 0, sb: (b & SB) !== 0, bl: (b & BL) !== 0, ov: (b & OV) !== 0 }),
);
/** Every SIQ/DIQ quality, indexed by the byte's high nibble. */
const POINT_BY_NIBBLE: readonly PointQuality[] = Array.from({ length: 16 }, (_, n) => {
  const b = n << 4;
  return Object.freeze({ iv: (b & IV) !== 0, nt: (b & NT) !== 0, sb: (b & SB) !== 0, bl: (b & BL) !== 0 });
});

/** QDS with all flags clear: a good, topical measured value. */
export const GOOD_QUALITY: Quality = QDS_BY_BYTE[0]!;
/** SIQ/DIQ quality with all flags clear, as single and double points decode it. */
export const GOOD_POINT_QUALITY: PointQuality = POINT_BY_NIBBLE[0]!;

/** Reads a QDS byte; the reserved bits 1..3 are ignored. */
export function qdsFromByte(byte: number): Quality {
  return QDS_BY_BYTE[byte & (IV | NT | SB | BL | OV)]!;
}

/** The QDS byte of a quality (reserved bits 0). */
export function qdsToByte(q: Quality): number {
  return (q.iv ? IV : 0) | (q.nt ? NT : 0) | (q.sb ? SB : 0) | (q.bl ? BL : 0) | (q.ov ? OV : 0);
}

/** Reads the quality bits 4..7 of a SIQ or DIQ byte. */
export function pointQualityFromByte(byte: number): PointQuality {
  return POINT_BY_NIBBLE[(byte >> 4) & 0x0f]!;
}

/** The bits 4..7 of a SIQ or DIQ byte for a quality (an `ov` flag, if present, is not part of SIQ/DIQ). */
export function pointQualityToByte(q: PointQuality): number {
  return (q.iv ? IV : 0) | (q.nt ? NT : 0) | (q.sb ? SB : 0) | (q.bl ? BL : 0);
}
