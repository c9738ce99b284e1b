// Time-boxed property tests of the IEC 104 codec (docs/iec104.md "Codec"):
// any ASDU round-trips; any split of a valid stream decodes the same; no
// input makes the decoder throw anything but its own error type.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ApduSplitter,
  Iec104CodecError,
  MAX_IOA,
  TypeId,
  decodeApdu,
  decodeAsdu,
  encodeAsdu,
  encodeIFrame,
  encodeSFrame,
  encodeUFrame,
  isMonitoringTypeId,
  isValidCot,
  maxObjectsPerAsdu,
  packAsdus,
  type Apdu,
  type Asdu,
  type Cot,
  type InformationObject,
  type UFunction,
} from '../../src/iec104/codec/index.js';

const TIME_BOX = { interruptAfterTimeLimit: 4_000 } as const;

const bool = fc.boolean();
const pointQuality = fc.record({ iv: bool, nt: bool, sb: bool, bl: bool });
const quality = fc.record({ iv: bool, nt: bool, sb: bool, bl: bool, ov: bool });
const time = fc.record({
  milliseconds: fc.integer({ min: 0, max: 59_999 }),
  minute: fc.integer({ min: 0, max: 59 }),
  invalid: bool,
  hour: fc.integer({ min: 0, max: 23 }),
  summerTime: bool,
  day: fc.integer({ min: 1, max: 31 }),
  dayOfWeek: fc.integer({ min: 0, max: 7 }),
  month: fc.integer({ min: 1, max: 12 }),
  year: fc.integer({ min: 0, max: 99 }),
});
const normalized = fc.integer({ min: -32_768, max: 32_767 }).map((raw) => raw / 32_768);
const scaled = fc.integer({ min: -32_768, max: 32_767 });
const float = fc.float(); // 32-bit floats, NaN and infinities included
const dps = fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const);
const qu = fc.integer({ min: 0, max: 31 });
const ql = fc.integer({ min: 0, max: 127 });

/** The element fields of each type, without the IOA. */
const ELEMENT: Record<TypeId, fc.Arbitrary<Record<string, unknown>>> = {
  [TypeId.M_SP_NA_1]: fc.record({ value: bool, quality: pointQuality }),
  [TypeId.M_SP_TB_1]: fc.record({ value: bool, quality: pointQuality, time }),
  [TypeId.M_DP_NA_1]: fc.record({ value: dps, quality: pointQuality }),
  [TypeId.M_DP_TB_1]: fc.record({ value: dps, quality: pointQuality, time }),
  [TypeId.M_ME_NA_1]: fc.record({ value: normalized, quality }),
  [TypeId.M_ME_TD_1]: fc.record({ value: normalized, quality, time }),
  [TypeId.M_ME_NB_1]: fc.record({ value: scaled, quality }),
  [TypeId.M_ME_TE_1]: fc.record({ value: scaled, quality, time }),
  [TypeId.M_ME_NC_1]: fc.record({ value: float, quality }),
  [TypeId.M_ME_TF_1]: fc.record({ value: float, quality, time }),
  [TypeId.M_IT_NA_1]: fc.record({ value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), sequence: fc.integer({ min: 0, max: 31 }), carry: bool, adjusted: bool, invalid: bool }),
  [TypeId.C_SC_NA_1]: fc.record({ value: bool, select: bool, qualifier: qu }),
  [TypeId.C_DC_NA_1]: fc.record({ value: dps, select: bool, qualifier: qu }),
  [TypeId.C_SE_NA_1]: fc.record({ value: normalized, select: bool, qualifier: ql }),
  [TypeId.C_SE_NB_1]: fc.record({ value: scaled, select: bool, qualifier: ql }),
  [TypeId.C_SE_NC_1]: fc.record({ value: float, select: bool, qualifier: ql }),
  [TypeId.M_EI_NA_1]: fc.record({ coi: fc.integer({ min: 0, max: 127 }), parametersChanged: bool }),
  [TypeId.C_IC_NA_1]: fc.record({ qoi: fc.integer({ min: 0, max: 255 }) }),
  [TypeId.C_CI_NA_1]: fc.record({ request: fc.integer({ min: 0, max: 63 }), freeze: fc.integer({ min: 0, max: 3 }) }),
  [TypeId.C_CS_NA_1]: fc.record({ time }),
  [TypeId.C_TS_TA_1]: fc.record({ counter: fc.integer({ min: 0, max: 65_535 }), time }),
};

const cot: fc.Arbitrary<Cot> = fc.integer({ min: 1, max: 47 }).filter(isValidCot);

/** Any valid ASDU with 1..`maxCount` objects (capped to what fits). */
function asduArb(maxCount = 127): fc.Arbitrary<Asdu> {
  return fc.record({ typeId: fc.constantFrom(...Object.values(TypeId)), sequence: bool }).chain(({ typeId, sequence }) => {
    const fit = Math.min(maxCount, maxObjectsPerAsdu(typeId, sequence));
    const minIoa = isMonitoringTypeId(typeId) ? 1 : 0;
    const elements = fc.array(ELEMENT[typeId], { minLength: 1, maxLength: fit });
    const objects = sequence
      ? fc.tuple(elements, fc.integer({ min: minIoa, max: MAX_IOA })).map(([els, first]) => {
          const start = Math.min(first, MAX_IOA - els.length + 1);
          return els.map((e, i) => ({ ioa: start + i, ...e }));
        })
      : fc.array(fc.tuple(fc.integer({ min: minIoa, max: MAX_IOA }), ELEMENT[typeId]), { minLength: 1, maxLength: fit }).map((pairs) => pairs.map(([ioa, e]) => ({ ioa, ...e })));
    return fc.record({
      typeId: fc.constant(typeId),
      sequence: fc.constant(sequence),
      cause: cot,
      negative: bool,
      test: bool,
      originator: fc.integer({ min: 0, max: 255 }),
      commonAddress: fc.integer({ min: 0, max: 65_535 }),
      objects,
    }) as unknown as fc.Arbitrary<Asdu>;
  });
}

const seq = fc.integer({ min: 0, max: 32_767 });
const uFunction = fc.constantFrom<UFunction>('STARTDT_ACT', 'STARTDT_CON', 'STOPDT_ACT', 'STOPDT_CON', 'TESTFR_ACT', 'TESTFR_CON');
const apduArb: fc.Arbitrary<Apdu> = fc.oneof(
  fc.record({ format: fc.constant('I' as const), sendSeq: seq, recvSeq: seq, asdu: asduArb(20) }),
  fc.record({ format: fc.constant('S' as const), recvSeq: seq }),
  fc.record({ format: fc.constant('U' as const), fn: uFunction }),
);

/** Element sizes without the IOA, as the standard lays them out (docs/iec104.md "Supported types"). */
const ELEMENT_BYTES: Record<number, number> = { 1: 1, 3: 1, 9: 3, 11: 3, 13: 5, 15: 5, 30: 8, 31: 8, 34: 10, 35: 10, 36: 12, 45: 1, 46: 1, 48: 3, 49: 3, 50: 5, 70: 1, 100: 1, 101: 1, 103: 7, 107: 9 };

function encodeApdu(apdu: Apdu): Buffer {
  if (apdu.format === 'I') return encodeIFrame(apdu.sendSeq, apdu.recvSeq, apdu.asdu);
  return apdu.format === 'S' ? encodeSFrame(apdu.recvSeq) : encodeUFrame(apdu.fn);
}

function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    out.push(bytes.subarray(start, point));
    start = point;
  }
  out.push(bytes.subarray(start));
  return out;
}

/** Splits and decodes; the error must be the codec's own. */
function decodeAll(chunks: readonly Uint8Array[], maxIoa?: number): { apdus: Apdu[]; error: string | null } {
  const apdus: Apdu[] = [];
  const splitter = new ApduSplitter((a) => apdus.push(decodeApdu(a, { maxIoa })));
  try {
    for (const chunk of chunks) splitter.push(chunk);
    splitter.end();
  } catch (err) {
    if (!(err instanceof Iec104CodecError)) throw err;
    return { apdus, error: err.reason };
  }
  return { apdus, error: null };
}

describe('IEC 104 codec properties (time-boxed)', () => {
  it('element sizes agree with the standard layouts listed here', () => {
    for (const typeId of Object.values(TypeId)) {
      expect(maxObjectsPerAsdu(typeId, false), String(typeId)).toBe(Math.min(127, Math.floor(243 / (3 + ELEMENT_BYTES[typeId]!))));
    }
  });

  it('every valid ASDU encodes and decodes back to itself, and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(asduArb(), (asdu) => {
        const bytes = encodeAsdu(asdu);
        const decoded = decodeAsdu(bytes);
        expect(decoded).toEqual(asdu);
        expect(encodeAsdu(decoded)).toEqual(bytes);
      }),
      { ...TIME_BOX, numRuns: 3_000 },
    );
  });

  it('random splits of a valid stream decode to the same APDUs', () => {
    fc.assert(
      fc.property(fc.array(apduArb, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 40 }), (apdus, cuts) => {
        const wire = Buffer.concat(apdus.map(encodeApdu));
        const whole = decodeAll([wire]);
        expect(whole).toEqual({ apdus, error: null });
        expect(decodeAll(splitAt(wire, cuts))).toEqual(whole);
      }),
      { ...TIME_BOX, numRuns: 1_000 },
    );
  });

  it('random bytes end in an Iec104CodecError or clean APDUs, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
        decodeAll(splitAt(bytes, cuts));
      }),
      { ...TIME_BOX, numRuns: 5_000 },
    );
  });

  it('random ASDU bytes behind a valid APCI reach the ASDU decoder and end in its own errors only', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 249 }),
        fc.option(fc.integer({ min: 1, max: MAX_IOA }), { nil: undefined }),
        (asdu, maxIoa) => {
          const apdu = Buffer.concat([Buffer.from([0x68, asdu.length + 4, 0, 0, 0, 0]), asdu]);
          decodeAll([apdu], maxIoa);
        },
      ),
      { ...TIME_BOX, numRuns: 5_000 },
    );
  });

  it('random objects under a plausible header (known type, counted length) end in its own errors only', () => {
    const header = fc.record({
      typeId: fc.oneof(fc.constantFrom(...Object.values(TypeId)), fc.integer({ min: 0, max: 255 })),
      sequence: bool,
      count: fc.integer({ min: 0, max: 127 }),
      cot: fc.oneof(cot, fc.integer({ min: 0, max: 255 })),
      slack: fc.oneof(fc.constant(0), fc.integer({ min: -3, max: 3 })),
    });
    fc.assert(
      fc.property(header, fc.uint8Array({ minLength: 249, maxLength: 249 }), fc.option(fc.integer({ min: 1, max: MAX_IOA }), { nil: undefined }), (h, noise, maxIoa) => {
        const size = ELEMENT_BYTES[h.typeId] ?? 1;
        const length = 6 + (h.sequence ? 3 + h.count * size : h.count * (3 + size)) + h.slack;
        if (length < 0 || length > 249) return;
        const asdu = Buffer.from(noise.subarray(0, length));
        asdu.set([h.typeId, (h.sequence ? 0x80 : 0) | h.count, h.cot].slice(0, length), 0);
        decodeAll([Buffer.concat([Buffer.from([0x68, length + 4, 0, 0, 0, 0]), asdu])], maxIoa);
      }),
      { ...TIME_BOX, numRuns: 5_000 },
    );
  });

  it('a valid APDU with one byte changed decodes cleanly or with an Iec104CodecError', () => {
    fc.assert(
      fc.property(apduArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (apdu, where, byte) => {
        const wire = encodeApdu(apdu);
        wire[where % wire.length] = byte;
        decodeAll([wire]);
      }),
      { ...TIME_BOX, numRuns: 5_000 },
    );
  });

  it('packAsdus splits any list into ASDUs that decode back to the same objects, in order', () => {
    fc.assert(
      fc.property(asduArb(127), fc.integer({ min: 1, max: 6 }), (asdu, repeat) => {
        // Repeat the objects (shifted, so SQ runs may stay consecutive) to need several ASDUs.
        const n = asdu.objects.length;
        const objects = Array.from({ length: n * repeat }, (_, i) => {
          const o = asdu.objects[i % n]!;
          const ioa = Math.min(MAX_IOA, o.ioa + Math.floor(i / n) * n);
          return { ...o, ioa };
        });
        const long = { ...asdu, objects } as Asdu;
        let rest: unknown[];
        try {
          rest = packAsdus(long).flatMap((bytes): readonly InformationObject[] => {
            expect(bytes.length).toBeLessThanOrEqual(249);
            return decodeAsdu(bytes).objects;
          });
        } catch (err) {
          // Shifting can push an SQ run past 0xFFFFFF; that refusal is right.
          if (err instanceof Iec104CodecError && err.reason === 'ioa_out_of_range') return;
          throw err;
        }
        expect(rest).toEqual(objects);
      }),
      { ...TIME_BOX, numRuns: 500 },
    );
  });
});
