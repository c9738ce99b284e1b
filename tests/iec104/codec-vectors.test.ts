// Every supported type, encoded and decoded whole, against bytes written by
// hand from the standard's octet layouts (docs/iec104.md "Supported types").
import { describe, expect, it } from 'vitest';
import {
  ApduSplitter,
  Cot,
  GOOD_POINT_QUALITY,
  GOOD_QUALITY,
  TypeId,
  decodeApci,
  decodeApdu,
  decodeAsdu,
  encodeAsdu,
  encodeIFrame,
  encodeSFrame,
  encodeUFrame,
  type Apci,
  type Asdu,
  type Cp56Time2a,
  type PointQuality,
  type Quality,
  type UFunction,
} from '../../src/iec104/codec/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/gu, ''), 'hex');

/** 2024-03-15 (a Friday) 13:45:30.250: 30250 ms = 0x762A, 45 = 0x2D, 13 = 0x0D, 15 | 5 << 5 = 0xAF, 3, 24 = 0x18. */
const T: Cp56Time2a = { milliseconds: 30_250, minute: 45, invalid: false, hour: 13, summerTime: false, day: 15, dayOfWeek: 5, month: 3, year: 24 };
const T_HEX = '2A 76 2D 0D AF 03 18';
/** The same with IV (minute byte bit 7) and SU (hour byte bit 7) set, and no day of week. */
const T_IV_SU: Cp56Time2a = { ...T, invalid: true, summerTime: true, dayOfWeek: 0 };
const T_IV_SU_HEX = '2A 76 AD 8D 0F 03 18';

const q = (flags: Partial<Quality> = {}): Quality => ({ ...GOOD_QUALITY, ...flags });
const pq = (flags: Partial<PointQuality> = {}): PointQuality => ({ ...GOOD_POINT_QUALITY, ...flags });

/** Header fields most cases share: SQ=0, positive, not test, originator 0, CA 1. */
const base = { sequence: false, negative: false, test: false, originator: 0, commonAddress: 1 } as const;

const cases: { name: string; asdu: Asdu; hex: string }[] = [
  {
    name: 'M_SP_NA_1, SQ=0, two points (ON; OFF with IV+BL)',
    asdu: {
      ...base,
      typeId: TypeId.M_SP_NA_1,
      cause: Cot.Spontaneous,
      objects: [
        { ioa: 1, value: true, quality: pq() },
        { ioa: 2, value: false, quality: pq({ iv: true, bl: true }) },
      ],
    },
    hex: '01 02 03 00 01 00  01 00 00 01  02 00 00 90',
  },
  {
    name: 'M_SP_NA_1, SQ=1 from IOA 100, answer to a station interrogation',
    asdu: {
      ...base,
      sequence: true,
      typeId: TypeId.M_SP_NA_1,
      cause: Cot.InterrogatedByStation,
      objects: [
        { ioa: 100, value: true, quality: pq() },
        { ioa: 101, value: false, quality: pq() },
        { ioa: 102, value: true, quality: pq({ nt: true }) },
        { ioa: 103, value: false, quality: pq({ sb: true }) },
      ],
    },
    hex: '01 84 14 00 01 00  64 00 00  01 00 41 20',
  },
  {
    name: 'M_SP_TB_1 at IOA 10000 with CP56Time2a',
    asdu: { ...base, typeId: TypeId.M_SP_TB_1, cause: Cot.Spontaneous, objects: [{ ioa: 10_000, value: true, quality: pq(), time: T }] },
    hex: `1E 01 03 00 01 00  10 27 00  01 ${T_HEX}`,
  },
  {
    name: 'M_SP_TB_1 with an invalid summer-time tag',
    asdu: { ...base, typeId: TypeId.M_SP_TB_1, cause: Cot.Spontaneous, objects: [{ ioa: 1, value: false, quality: pq({ iv: true }), time: T_IV_SU }] },
    hex: `1E 01 03 00 01 00  01 00 00  80 ${T_IV_SU_HEX}`,
  },
  {
    name: 'M_DP_NA_1, ON and intermediate+SB',
    asdu: {
      ...base,
      typeId: TypeId.M_DP_NA_1,
      cause: Cot.Spontaneous,
      objects: [
        { ioa: 5, value: 2, quality: pq() },
        { ioa: 6, value: 0, quality: pq({ sb: true }) },
      ],
    },
    hex: '03 02 03 00 01 00  05 00 00 02  06 00 00 20',
  },
  {
    name: 'M_DP_TB_1, OFF with CP56Time2a',
    asdu: { ...base, typeId: TypeId.M_DP_TB_1, cause: Cot.Spontaneous, objects: [{ ioa: 5, value: 1, quality: pq(), time: T }] },
    hex: `1F 01 03 00 01 00  05 00 00  01 ${T_HEX}`,
  },
  {
    name: 'M_ME_NA_1, periodic: 0.5 and -1 with OV',
    asdu: {
      ...base,
      typeId: TypeId.M_ME_NA_1,
      cause: Cot.Periodic,
      objects: [
        { ioa: 0x0701, value: 0.5, quality: q() },
        { ioa: 0x0702, value: -1, quality: q({ ov: true }) },
      ],
    },
    hex: '09 02 01 00 01 00  01 07 00 00 40 00  02 07 00 00 80 01',
  },
  {
    name: 'M_ME_TD_1, the largest normalized value (32767/32768)',
    asdu: { ...base, typeId: TypeId.M_ME_TD_1, cause: Cot.Spontaneous, objects: [{ ioa: 3, value: 32_767 / 32_768, quality: q(), time: T }] },
    hex: `22 01 03 00 01 00  03 00 00  FF 7F 00 ${T_HEX}`,
  },
  {
    name: 'M_ME_NB_1, SQ=1: 1234, -2 invalid',
    asdu: {
      ...base,
      sequence: true,
      typeId: TypeId.M_ME_NB_1,
      cause: Cot.InterrogatedByStation,
      objects: [
        { ioa: 2000, value: 1234, quality: q() },
        { ioa: 2001, value: -2, quality: q({ iv: true }) },
      ],
    },
    hex: '0B 82 14 00 01 00  D0 07 00  D2 04 00  FE FF 80',
  },
  {
    name: 'M_ME_TE_1, -32768 not topical',
    asdu: { ...base, typeId: TypeId.M_ME_TE_1, cause: Cot.Spontaneous, objects: [{ ioa: 9, value: -32_768, quality: q({ nt: true }), time: T }] },
    hex: `23 01 03 00 01 00  09 00 00  00 80 40 ${T_HEX}`,
  },
  {
    name: 'M_ME_NC_1, 230.5 (0x43668000) and 1.5 (0x3FC00000) substituted',
    asdu: {
      ...base,
      typeId: TypeId.M_ME_NC_1,
      cause: Cot.Spontaneous,
      objects: [
        { ioa: 0x030201, value: 230.5, quality: q() },
        { ioa: 0x030202, value: 1.5, quality: q({ sb: true }) },
      ],
    },
    hex: '0D 02 03 00 01 00  01 02 03 00 80 66 43 00  02 02 03 00 00 C0 3F 20',
  },
  {
    name: 'M_ME_TF_1, -0.5 (0xBF000000)',
    asdu: { ...base, typeId: TypeId.M_ME_TF_1, cause: Cot.Spontaneous, objects: [{ ioa: 1, value: -0.5, quality: q(), time: T }] },
    hex: `24 01 03 00 01 00  01 00 00  00 00 00 BF 00 ${T_HEX}`,
  },
  {
    name: 'M_IT_NA_1, counter interrogation: 100000 seq 5 carry; -1 seq 31 invalid adjusted',
    asdu: {
      ...base,
      typeId: TypeId.M_IT_NA_1,
      cause: Cot.RequestedByGeneralCounter,
      objects: [
        { ioa: 0x10, value: 100_000, sequence: 5, carry: true, adjusted: false, invalid: false },
        { ioa: 0x11, value: -1, sequence: 31, carry: false, adjusted: true, invalid: true },
      ],
    },
    hex: '0F 02 25 00 01 00  10 00 00 A0 86 01 00 25  11 00 00 FF FF FF FF DF',
  },
  {
    name: 'C_SC_NA_1, select ON (CA 0x1234, originator 5)',
    asdu: { ...base, originator: 5, commonAddress: 0x1234, typeId: TypeId.C_SC_NA_1, cause: Cot.Activation, objects: [{ ioa: 5000, value: true, select: true, qualifier: 0 }] },
    hex: '2D 01 06 05 34 12  88 13 00  81',
  },
  {
    name: 'C_SC_NA_1, execute OFF short pulse, negative confirmation',
    asdu: { ...base, negative: true, typeId: TypeId.C_SC_NA_1, cause: Cot.ActivationCon, objects: [{ ioa: 5000, value: false, select: false, qualifier: 1 }] },
    hex: '2D 01 47 00 01 00  88 13 00  04',
  },
  {
    name: 'C_DC_NA_1, select ON long pulse, test',
    asdu: { ...base, test: true, typeId: TypeId.C_DC_NA_1, cause: Cot.Activation, objects: [{ ioa: 6000, value: 2, select: true, qualifier: 2 }] },
    hex: '2E 01 86 00 01 00  70 17 00  8A',
  },
  {
    name: 'C_DC_NA_1, execute OFF persistent, activation termination',
    asdu: { ...base, typeId: TypeId.C_DC_NA_1, cause: Cot.ActivationTermination, objects: [{ ioa: 6000, value: 1, select: false, qualifier: 3 }] },
    hex: '2E 01 0A 00 01 00  70 17 00  0D',
  },
  {
    name: 'C_SE_NA_1, select 0.25',
    asdu: { ...base, typeId: TypeId.C_SE_NA_1, cause: Cot.Activation, objects: [{ ioa: 7000, value: 0.25, select: true, qualifier: 0 }] },
    hex: '30 01 06 00 01 00  58 1B 00  00 20 80',
  },
  {
    name: 'C_SE_NB_1, execute -100, QL 1',
    asdu: { ...base, typeId: TypeId.C_SE_NB_1, cause: Cot.Activation, objects: [{ ioa: 7001, value: -100, select: false, qualifier: 1 }] },
    hex: '31 01 06 00 01 00  59 1B 00  9C FF 01',
  },
  {
    name: 'C_SE_NC_1, select 50.0 (0x42480000), deactivation',
    asdu: { ...base, typeId: TypeId.C_SE_NC_1, cause: Cot.Deactivation, objects: [{ ioa: 7002, value: 50, select: true, qualifier: 0 }] },
    hex: '32 01 08 00 01 00  5A 1B 00  00 00 48 42 80',
  },
  {
    name: 'C_IC_NA_1, station interrogation activation for CA 1',
    asdu: { ...base, typeId: TypeId.C_IC_NA_1, cause: Cot.Activation, objects: [{ ioa: 0, qoi: 20 }] },
    hex: '64 01 06 00 01 00  00 00 00  14',
  },
  {
    name: 'C_IC_NA_1, group 1 interrogation confirmation to the global address',
    asdu: { ...base, commonAddress: 0xffff, typeId: TypeId.C_IC_NA_1, cause: Cot.ActivationCon, objects: [{ ioa: 0, qoi: 21 }] },
    hex: '64 01 07 00 FF FF  00 00 00  15',
  },
  {
    name: 'C_CI_NA_1, general counter request, freeze with reset',
    asdu: { ...base, typeId: TypeId.C_CI_NA_1, cause: Cot.Activation, objects: [{ ioa: 0, request: 5, freeze: 2 }] },
    hex: '65 01 06 00 01 00  00 00 00  85',
  },
  {
    name: 'C_CS_NA_1, clock synchronization',
    asdu: { ...base, typeId: TypeId.C_CS_NA_1, cause: Cot.Activation, objects: [{ ioa: 0, time: T }] },
    hex: `67 01 06 00 01 00  00 00 00  ${T_HEX}`,
  },
  {
    name: 'C_TS_TA_1, test command TSC 0x1234',
    asdu: { ...base, typeId: TypeId.C_TS_TA_1, cause: Cot.Activation, objects: [{ ioa: 0, counter: 0x1234, time: T }] },
    hex: `6B 01 06 00 01 00  00 00 00  34 12 ${T_HEX}`,
  },
  {
    name: 'M_EI_NA_1, local power on',
    asdu: { ...base, typeId: TypeId.M_EI_NA_1, cause: Cot.Initialized, objects: [{ ioa: 0, coi: 0, parametersChanged: false }] },
    hex: '46 01 04 00 01 00  00 00 00  00',
  },
  {
    name: 'M_EI_NA_1, remote reset after a change of local parameters',
    asdu: { ...base, typeId: TypeId.M_EI_NA_1, cause: Cot.Initialized, objects: [{ ioa: 0, coi: 2, parametersChanged: true }] },
    hex: '46 01 04 00 01 00  00 00 00  82',
  },
];

describe('IEC 104 ASDU vectors', () => {
  it('cover every supported type id', () => {
    expect(new Set(cases.map((c) => c.asdu.typeId))).toEqual(new Set(Object.values(TypeId)));
  });

  for (const c of cases) {
    it(`${c.name}: encodes to the hand-written bytes`, () => {
      expect(encodeAsdu(c.asdu).toString('hex')).toBe(hex(c.hex).toString('hex'));
    });

    it(`${c.name}: decodes back to the same object`, () => {
      expect(decodeAsdu(hex(c.hex))).toEqual(c.asdu);
    });

    it(`${c.name}: as an I-format APDU, whole and byte by byte`, () => {
      const asdu = hex(c.hex);
      const apdu = Buffer.concat([hex(`68 ${(asdu.length + 4).toString(16).padStart(2, '0')} 0A 00 06 00`), asdu]);
      expect(encodeIFrame(5, 3, c.asdu)).toEqual(apdu);
      for (const chunks of [[apdu], Array.from(apdu, (_, i) => apdu.subarray(i, i + 1))]) {
        const got: Buffer[] = [];
        const splitter = new ApduSplitter((a) => got.push(a));
        for (const chunk of chunks) splitter.push(chunk);
        splitter.end();
        expect(got).toEqual([apdu]);
        expect(decodeApdu(got[0]!)).toEqual({ format: 'I', sendSeq: 5, recvSeq: 3, asdu: c.asdu });
      }
    });
  }

  it('the C_IC_NA_1 activation for CA 1 is 68 0E 00 00 00 00 64 01 06 00 01 00 00 00 00 14', () => {
    const gi: Asdu = { ...base, typeId: TypeId.C_IC_NA_1, cause: Cot.Activation, objects: [{ ioa: 0, qoi: 20 }] };
    expect(encodeIFrame(0, 0, gi)).toEqual(hex('68 0E 00 00 00 00 64 01 06 00 01 00 00 00 00 14'));
    expect(encodeIFrame(0, 0, encodeAsdu(gi))).toEqual(hex('68 0E 00 00 00 00 64 01 06 00 01 00 00 00 00 14'));
  });
});

describe('IEC 104 APCI vectors', () => {
  const uFrames: [UFunction, string][] = [
    ['STARTDT_ACT', '68 04 07 00 00 00'],
    ['STARTDT_CON', '68 04 0B 00 00 00'],
    ['STOPDT_ACT', '68 04 13 00 00 00'],
    ['STOPDT_CON', '68 04 23 00 00 00'],
    ['TESTFR_ACT', '68 04 43 00 00 00'],
    ['TESTFR_CON', '68 04 83 00 00 00'],
  ];
  for (const [fn, bytes] of uFrames) {
    it(`U-format ${fn} is ${bytes}`, () => {
      expect(encodeUFrame(fn)).toEqual(hex(bytes));
      expect(decodeApci(hex(bytes))).toEqual({ format: 'U', fn });
    });
  }

  const sFrames: [number, string][] = [
    [0, '68 04 01 00 00 00'],
    [5, '68 04 01 00 0A 00'],
    [300, '68 04 01 00 58 02'],
    [32_767, '68 04 01 00 FE FF'],
  ];
  for (const [recvSeq, bytes] of sFrames) {
    it(`S-format N(R)=${recvSeq} is ${bytes}`, () => {
      expect(encodeSFrame(recvSeq)).toEqual(hex(bytes));
      expect(decodeApci(hex(bytes))).toEqual({ format: 'S', recvSeq });
    });
  }

  it('I-format N(S) and N(R) are 15 bits, shifted left by one in two octets each', () => {
    const asdu = hex('64 01 06 00 01 00 00 00 00 14');
    for (const [ns, nr, control] of [
      [0, 0, '00 00 00 00'],
      [1, 2, '02 00 04 00'],
      [300, 127, '58 02 FE 00'],
      [32_767, 32_767, 'FE FF FE FF'],
    ] as const) {
      const apdu = encodeIFrame(ns, nr, asdu);
      expect(apdu).toEqual(Buffer.concat([hex(`68 0E ${control}`), asdu]));
      const apci = decodeApci(apdu) as Extract<Apci, { format: 'I' }>;
      expect([apci.format, apci.sendSeq, apci.recvSeq]).toEqual(['I', ns, nr]);
      expect(apci.asdu).toEqual(asdu);
    }
  });
});

describe('ApduSplitter', () => {
  const stream = Buffer.concat([
    hex('68 04 07 00 00 00'),
    hex('68 0E 00 00 00 00 64 01 06 00 01 00 00 00 00 14'),
    hex('68 04 01 00 0A 00'),
    hex('68 04 43 00 00 00'),
  ]);

  it('hands out many APDUs from one chunk as views of it, without copying', () => {
    const got: Buffer[] = [];
    new ApduSplitter((a) => got.push(a)).push(stream);
    expect(got.map((a) => a.toString('hex'))).toEqual([
      '680407000000',
      '680e000000006401060001000000' + '0014',
      '680401000a00',
      '680443000000',
    ]);
    for (const a of got) expect(a.buffer).toBe(stream.buffer);
  });

  it('joins APDUs split at every possible pair of points', () => {
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j++) {
        const got: Buffer[] = [];
        const splitter = new ApduSplitter((a) => got.push(a));
        splitter.push(stream.subarray(0, i));
        splitter.push(stream.subarray(i, j));
        splitter.push(stream.subarray(j));
        splitter.end();
        expect(Buffer.concat(got)).toEqual(stream);
        expect(got.length).toBe(4);
      }
    }
  });

  it('a copied APDU does not change when the next one is assembled', () => {
    const got: Buffer[] = [];
    const splitter = new ApduSplitter((a) => got.push(a));
    for (const byte of stream) splitter.push(Buffer.from([byte]));
    expect(Buffer.concat(got)).toEqual(stream);
    expect(splitter.apduCount).toBe(4);
    expect(splitter.pending).toBe(0);
  });

  it('reports the bytes of an incomplete APDU as pending', () => {
    const splitter = new ApduSplitter(() => undefined);
    splitter.push(hex('68 0E 00 00'));
    expect(splitter.pending).toBe(4);
    splitter.push(Buffer.alloc(0));
    expect(splitter.pending).toBe(4);
  });
});
