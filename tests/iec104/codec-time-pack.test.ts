// CP56Time2a against JS time, quality descriptors, and packing many objects
// into as few APDUs as fit (docs/iec104.md "CP56Time2a", "Packing").
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Cot,
  GOOD_POINT_QUALITY,
  GOOD_QUALITY,
  Iec104CodecError,
  TypeId,
  cp56FromEpochMs,
  cp56ToEpochMs,
  decodeApdu,
  decodeAsdu,
  maxObjectsPerAsdu,
  packAsdus,
  pointQualityFromByte,
  qdsFromByte,
  qdsToByte,
  stampSequence,
  type Asdu,
  type Cp56Time2a,
  type InformationObject,
  type SinglePoint,
} from '../../src/iec104/codec/index.js';

function reasonOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    return err instanceof Iec104CodecError ? err.reason : `not an Iec104CodecError: ${String(err)}`;
  }
  return 'ok';
}

const time = (fields: Partial<Cp56Time2a>): Cp56Time2a => ({
  milliseconds: 0,
  minute: 0,
  invalid: false,
  hour: 0,
  summerTime: false,
  day: 1,
  dayOfWeek: 0,
  month: 1,
  year: 0,
  ...fields,
});

describe('CP56Time2a and JS time (UTC)', () => {
  it('names known instants', () => {
    const friday = Date.UTC(2024, 2, 15, 13, 45, 30, 250);
    expect(cp56FromEpochMs(friday)).toEqual(time({ milliseconds: 30_250, minute: 45, hour: 13, day: 15, dayOfWeek: 5, month: 3, year: 24 }));
    expect(cp56ToEpochMs(cp56FromEpochMs(friday))).toBe(friday);
    // 2000-01-01 was a Saturday (6); 2099-12-31 a Thursday (4).
    expect(cp56FromEpochMs(Date.UTC(2000, 0, 1))).toEqual(time({ dayOfWeek: 6 }));
    expect(cp56FromEpochMs(Date.UTC(2099, 11, 31, 23, 59, 59, 999))).toEqual(
      time({ milliseconds: 59_999, minute: 59, hour: 23, day: 31, dayOfWeek: 4, month: 12, year: 99 }),
    );
    // A Sunday is 7, not 0 (0 means "not used").
    expect(cp56FromEpochMs(Date.UTC(2024, 2, 17)).dayOfWeek).toBe(7);
  });

  it('carries the IV and SU flags it is given; toEpochMs ignores them and the day of week', () => {
    const t = cp56FromEpochMs(Date.UTC(2024, 5, 1, 12), { invalid: true, summerTime: true });
    expect([t.invalid, t.summerTime]).toEqual([true, true]);
    expect(cp56ToEpochMs({ ...t, dayOfWeek: 0 })).toBe(Date.UTC(2024, 5, 1, 12));
  });

  it('drops sub-millisecond fractions', () => {
    expect(cp56ToEpochMs(cp56FromEpochMs(Date.UTC(2030, 0, 1) + 0.9))).toBe(Date.UTC(2030, 0, 1));
  });

  it('knows leap years, and refuses days that do not exist', () => {
    expect(cp56ToEpochMs(time({ year: 24, month: 2, day: 29 }))).toBe(Date.UTC(2024, 1, 29));
    expect(cp56ToEpochMs(time({ year: 0, month: 2, day: 29 }))).toBe(Date.UTC(2000, 1, 29));
    expect(reasonOf(() => cp56ToEpochMs(time({ year: 23, month: 2, day: 29 })))).toBe('invalid_time');
    expect(reasonOf(() => cp56ToEpochMs(time({ month: 4, day: 31 })))).toBe('invalid_time');
  });

  it('refuses fields out of range and instants outside 2000..2099', () => {
    for (const bad of [{ month: 0 }, { month: 13 }, { day: 0 }, { hour: 24 }, { minute: 60 }, { milliseconds: 60_000 }, { year: 100 }, { dayOfWeek: 8 }, { minute: 1.5 }]) {
      expect(reasonOf(() => cp56ToEpochMs(time(bad))), JSON.stringify(bad)).toBe('invalid_time');
    }
    for (const ms of [Date.UTC(1999, 11, 31, 23, 59, 59, 999), Date.UTC(2100, 0, 1), NaN, Infinity]) {
      expect(reasonOf(() => cp56FromEpochMs(ms)), String(ms)).toBe('invalid_time');
    }
  });

  it('agrees with Date for any instant in 2000..2099 (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) - 1 }), (ms) => {
        const t = cp56FromEpochMs(ms);
        const d = new Date(ms);
        expect(t).toEqual(
          time({
            milliseconds: d.getUTCSeconds() * 1000 + d.getUTCMilliseconds(),
            minute: d.getUTCMinutes(),
            hour: d.getUTCHours(),
            day: d.getUTCDate(),
            dayOfWeek: d.getUTCDay() === 0 ? 7 : d.getUTCDay(),
            month: d.getUTCMonth() + 1,
            year: d.getUTCFullYear() - 2000,
          }),
        );
        expect(cp56ToEpochMs(t)).toBe(ms);
      }),
      { interruptAfterTimeLimit: 2_000, numRuns: 20_000 },
    );
  });
});

describe('quality descriptors', () => {
  it('map every QDS flag to its bit and back', () => {
    expect(qdsFromByte(0x00)).toBe(GOOD_QUALITY);
    expect(pointQualityFromByte(0x01)).toBe(GOOD_POINT_QUALITY);
    expect(qdsFromByte(0x81)).toEqual({ iv: true, nt: false, sb: false, bl: false, ov: true });
    expect(qdsFromByte(0x70)).toEqual({ iv: false, nt: true, sb: true, bl: true, ov: false });
    for (let b = 0; b < 256; b++) expect(qdsToByte(qdsFromByte(b))).toBe(b & 0xf1);
  });

  it('decode to shared frozen objects: no allocation per value', () => {
    expect(qdsFromByte(0x80)).toBe(qdsFromByte(0x8e)); // reserved bits 1..3 ignored
    expect(Object.isFrozen(qdsFromByte(0x80))).toBe(true);
    expect(pointQualityFromByte(0x91)).toBe(pointQualityFromByte(0x90));
    expect(pointQualityFromByte(0x91)).toEqual({ iv: true, nt: false, sb: false, bl: true });
  });
});

describe('packing many objects into APDUs', () => {
  const base = { negative: false, test: false, originator: 0, commonAddress: 7, cause: Cot.InterrogatedByStation } as const;
  const points = (ioas: readonly number[]): SinglePoint[] => ioas.map((ioa) => ({ ioa, value: ioa % 3 === 0, quality: GOOD_POINT_QUALITY }));
  const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  it('knows how many objects of each type fit', () => {
    expect(maxObjectsPerAsdu(TypeId.M_SP_NA_1, false)).toBe(60); // 243 / (3 + 1)
    expect(maxObjectsPerAsdu(TypeId.M_SP_NA_1, true)).toBe(127); // 240 / 1, capped by the 7-bit count
    expect(maxObjectsPerAsdu(TypeId.M_ME_NC_1, false)).toBe(30); // 243 / (3 + 5)
    expect(maxObjectsPerAsdu(TypeId.M_ME_NC_1, true)).toBe(48); // 240 / 5
    expect(maxObjectsPerAsdu(TypeId.M_ME_TF_1, false)).toBe(16); // 243 / (3 + 12)
    expect(maxObjectsPerAsdu(TypeId.M_ME_NA_1, true)).toBe(80); // 240 / 3
    expect(reasonOf(() => maxObjectsPerAsdu(2, false))).toBe('unknown_type');
  });

  it('answers a 20,000-point interrogation in full ASDUs, in order (SQ=0)', () => {
    const objects = points(range(1, 20_000));
    const asdus = packAsdus({ ...base, typeId: TypeId.M_SP_NA_1, sequence: false, objects });
    expect(asdus.length).toBe(Math.ceil(20_000 / 60));
    expect(asdus[0]!.length).toBe(6 + 60 * 4);
    const decoded = asdus.map((bytes) => decodeAsdu(bytes));
    expect(decoded.every((a) => a.typeId === TypeId.M_SP_NA_1 && a.cause === Cot.InterrogatedByStation && a.commonAddress === 7)).toBe(true);
    expect(decoded.flatMap((a): readonly InformationObject[] => a.objects)).toEqual(objects);
  });

  it('with SQ=1, also starts a new ASDU where the IOAs stop being consecutive', () => {
    const objects = points([...range(1, 200), ...range(301, 350), 400]);
    const asdus = packAsdus({ ...base, typeId: TypeId.M_SP_NA_1, sequence: true, objects }).map((b) => decodeAsdu(b));
    expect(asdus.map((a) => [a.sequence, a.objects[0]!.ioa, a.objects.length])).toEqual([
      [true, 1, 127],
      [true, 128, 73],
      [true, 301, 50],
      [true, 400, 1],
    ]);
    expect(asdus.flatMap((a): readonly InformationObject[] => a.objects)).toEqual(objects);
  });

  it('with apci, hands out whole I-format APDUs, numbered when stamped', () => {
    const objects = points(range(1, 130));
    const apdus = packAsdus({ ...base, typeId: TypeId.M_SP_NA_1, sequence: false, objects }, { apci: true });
    expect(apdus.length).toBe(3);
    apdus.forEach((apdu, i) => stampSequence(apdu, 100 + i, 9));
    const decoded = apdus.map((apdu) => decodeApdu(apdu));
    expect(decoded.map((d) => (d.format === 'I' ? [d.sendSeq, d.recvSeq, d.asdu.objects.length] : d.format))).toEqual([
      [100, 9, 60],
      [101, 9, 60],
      [102, 9, 10],
    ]);
  });

  it('refuses an empty list and a bad object the same way encodeAsdu does', () => {
    expect(reasonOf(() => packAsdus({ ...base, typeId: TypeId.M_SP_NA_1, sequence: false, objects: [] }))).toBe('zero_objects');
    const bad: Asdu = { ...base, typeId: TypeId.M_ME_NB_1, sequence: false, objects: [{ ioa: 1, value: 40_000, quality: GOOD_QUALITY }] };
    expect(reasonOf(() => packAsdus(bad))).toBe('invalid_value');
  });
});
