// Malformed input, each case asserting its specific reason (docs/iec104.md
// "Errors"); and values the encoder must refuse rather than send.
import { describe, expect, it } from 'vitest';
import {
  ApduSplitter,
  Cot,
  GOOD_POINT_QUALITY,
  GOOD_QUALITY,
  Iec104CodecError,
  TypeId,
  decodeApci,
  decodeApdu,
  decodeAsdu,
  encodeAsdu,
  encodeIFrame,
  encodeSFrame,
  mirrorAsdu,
  stampSequence,
  type Asdu,
  type AsduDecodeOptions,
  type Iec104CodecErrorReason,
} from '../../src/iec104/codec/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/gu, ''), 'hex');

/** The reason a call fails with, 'ok' when it does not, or what else it threw. */
function reasonOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    return err instanceof Iec104CodecError ? err.reason : `not an Iec104CodecError: ${String(err)}`;
  }
  return 'ok';
}

/** Splits the stream, then decodes every APDU with its ASDU, as a session would. */
function decodeStream(chunks: readonly Buffer[], options?: AsduDecodeOptions): void {
  const splitter = new ApduSplitter((apdu) => decodeApdu(apdu, options));
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
}

/** An I-format APDU around an ASDU given in hex (N(S) = N(R) = 0). */
const iFrame = (asdu: string): Buffer => {
  const body = hex(asdu);
  return Buffer.concat([Buffer.from([0x68, body.length + 4, 0, 0, 0, 0]), body]);
};

const GOOD_FRAME = '68 04 07 00 00 00';

const malformed: { name: string; bytes: Buffer; reason: Iec104CodecErrorReason; options?: AsduDecodeOptions }[] = [
  // framing
  { name: 'wrong start byte', bytes: hex('69 04 07 00 00 00'), reason: 'bad_start_byte' },
  { name: 'wrong start byte after a good APDU', bytes: hex(`${GOOD_FRAME} 00 68 04 07 00 00 00`), reason: 'bad_start_byte' },
  { name: 'length 0', bytes: hex('68 00'), reason: 'bad_length' },
  { name: 'length 1', bytes: hex('68 01 07'), reason: 'bad_length' },
  { name: 'length 2', bytes: hex('68 02 07 00'), reason: 'bad_length' },
  { name: 'length 3', bytes: hex('68 03 07 00 00'), reason: 'bad_length' },
  { name: 'length 254', bytes: Buffer.concat([hex('68 FE'), Buffer.alloc(254)]), reason: 'bad_length' },
  { name: 'length 255', bytes: Buffer.concat([hex('68 FF'), Buffer.alloc(255)]), reason: 'bad_length' },
  { name: 'stream ends inside an APDU', bytes: hex('68 0E 00 00 00 00 64 01'), reason: 'truncated' },
  { name: 'stream ends after the start byte', bytes: hex(`${GOOD_FRAME} 68`), reason: 'truncated' },
  // control field
  { name: 'U-format with no function', bytes: hex('68 04 03 00 00 00'), reason: 'bad_control_field' },
  { name: 'U-format with two functions', bytes: hex('68 04 0F 00 00 00'), reason: 'bad_control_field' },
  { name: 'U-format with a non-zero octet 3', bytes: hex('68 04 07 00 01 00'), reason: 'bad_control_field' },
  { name: 'U-format carrying an ASDU', bytes: hex('68 05 07 00 00 00 01'), reason: 'bad_control_field' },
  { name: 'S-format with reserved bits', bytes: hex('68 04 05 00 02 00'), reason: 'bad_control_field' },
  { name: 'S-format carrying an ASDU', bytes: hex('68 05 01 00 02 00 01'), reason: 'bad_control_field' },
  { name: 'I-format without an ASDU', bytes: hex('68 04 00 00 00 00'), reason: 'bad_control_field' },
  { name: 'I-format with bit 0 of octet 3 set', bytes: hex('68 0E 00 00 01 00 64 01 06 00 01 00 00 00 00 14'), reason: 'bad_control_field' },
  // ASDU
  { name: 'ASDU shorter than its data unit identifier', bytes: iFrame('64 01 06 00 01'), reason: 'truncated' },
  { name: 'truncated ASDU (C_IC_NA_1 without its QOI)', bytes: iFrame('64 01 06 00 01 00 00 00 00'), reason: 'truncated' },
  { name: 'truncated ASDU (M_ME_NC_1 cut inside the float)', bytes: iFrame('0D 01 03 00 01 00 01 00 00 00 00'), reason: 'truncated' },
  { name: 'SQ with too many objects (10 announced, 3 sent)', bytes: iFrame('01 8A 14 00 01 00 64 00 00 01 00 01'), reason: 'object_count_mismatch' },
  { name: 'SQ with 127 objects announced, 1 sent', bytes: iFrame('01 FF 14 00 01 00 64 00 00 01'), reason: 'object_count_mismatch' },
  { name: 'SQ=0 with too many objects (3 announced, 2 sent)', bytes: iFrame('01 03 03 00 01 00 01 00 00 01 02 00 00 00'), reason: 'object_count_mismatch' },
  { name: 'SQ=0 with a byte left over', bytes: iFrame('01 01 03 00 01 00 01 00 00 01 FF'), reason: 'object_count_mismatch' },
  { name: 'SQ=1 length read as SQ=0 (flag missing)', bytes: iFrame('01 03 14 00 01 00 64 00 00 01 00 01'), reason: 'object_count_mismatch' },
  { name: 'zero objects', bytes: iFrame('01 00 03 00 01 00 01 00 00 01'), reason: 'zero_objects' },
  { name: 'unknown type 0', bytes: iFrame('00 01 03 00 01 00 01 00 00 01'), reason: 'unknown_type' },
  { name: 'unknown type 2 (M_SP_TA_1, not supported)', bytes: iFrame('02 01 03 00 01 00 01 00 00 01 00 00 00'), reason: 'unknown_type' },
  { name: 'unknown type 58 (C_SC_TA_1, not supported)', bytes: iFrame('3A 01 06 00 01 00 01 00 00 01'), reason: 'unknown_type' },
  { name: 'unknown type 255', bytes: iFrame('FF 01 03 00 01 00 01 00 00 01'), reason: 'unknown_type' },
  { name: 'unknown COT 0', bytes: iFrame('64 01 00 00 01 00 00 00 00 14'), reason: 'unknown_cause' },
  { name: 'unknown COT 14 (reserved)', bytes: iFrame('64 01 0E 00 01 00 00 00 00 14'), reason: 'unknown_cause' },
  { name: 'unknown COT 19 (reserved)', bytes: iFrame('64 01 13 00 01 00 00 00 00 14'), reason: 'unknown_cause' },
  { name: 'unknown COT 42 (reserved)', bytes: iFrame('64 01 2A 00 01 00 00 00 00 14'), reason: 'unknown_cause' },
  { name: 'unknown COT 43 (reserved)', bytes: iFrame('64 01 2B 00 01 00 00 00 00 14'), reason: 'unknown_cause' },
  { name: 'unknown COT 48 (private range)', bytes: iFrame('64 01 30 00 01 00 00 00 00 14'), reason: 'unknown_cause' },
  { name: 'unknown COT 63, negative and test', bytes: iFrame('64 01 FF 00 01 00 00 00 00 14'), reason: 'unknown_cause' },
  { name: 'IOA above the configured maximum', bytes: iFrame('01 01 03 00 01 00 E9 03 00 01'), reason: 'ioa_out_of_range', options: { maxIoa: 1000 } },
  { name: 'SQ run crossing the configured maximum', bytes: iFrame('01 83 14 00 01 00 E7 03 00 01 01 01'), reason: 'ioa_out_of_range', options: { maxIoa: 1000 } },
  { name: 'SQ run beyond 0xFFFFFF', bytes: iFrame('01 82 14 00 01 00 FF FF FF 01 01'), reason: 'ioa_out_of_range' },
  { name: 'IOA 0 for a monitoring object', bytes: iFrame('01 01 03 00 01 00 00 00 00 01'), reason: 'ioa_out_of_range' },
  { name: 'IOA 0 inside an SQ=0 list of measurands', bytes: iFrame('0B 02 03 00 01 00 01 00 00 01 00 00 00 00 00 02 00 00'), reason: 'ioa_out_of_range' },
];

describe('IEC 104 malformed input', () => {
  for (const c of malformed) {
    for (const [mode, chunks] of [
      ['whole', [c.bytes]],
      ['byte by byte', Array.from(c.bytes, (_, i) => c.bytes.subarray(i, i + 1))],
    ] as const) {
      it(`${c.name} — ${mode} → ${c.reason}`, () => {
        expect(reasonOf(() => decodeStream(chunks, c.options))).toBe(c.reason);
      });
    }
  }

  it('the bounds themselves are accepted: length 4 and 253, maxIoa itself, IOA 0 for system objects, COT 13/20/41/44/47', () => {
    expect(reasonOf(() => decodeStream([hex(GOOD_FRAME)]))).toBe('ok');
    const biggest = iFrame(`01 ${(0x80 | 127).toString(16)} 14 00 01 00 01 00 00 ${'01'.repeat(127)}`);
    expect(biggest[1]).toBe(4 + 6 + 3 + 127);
    expect(reasonOf(() => decodeStream([biggest]))).toBe('ok');
    // 80 normalized values with SQ: 6 + 3 + 80 * 3 = 249 bytes of ASDU.
    const full = iFrame(`09 D0 14 00 01 00 01 00 00 ${'00 00 00 '.repeat(80)}`);
    expect(full[1]).toBe(253);
    expect(reasonOf(() => decodeStream([full]))).toBe('ok');
    expect(reasonOf(() => decodeStream([iFrame('01 01 03 00 01 00 E8 03 00 01')], { maxIoa: 1000 }))).toBe('ok');
    expect(reasonOf(() => decodeStream([iFrame('01 01 03 00 01 00 FF FF FF 01')]))).toBe('ok');
    for (const cot of [1, 13, 20, 41, 44, 47]) {
      expect(reasonOf(() => decodeStream([iFrame(`64 01 ${cot.toString(16).padStart(2, '0')} 00 01 00 00 00 00 14`)]))).toBe('ok');
    }
  });

  it('a refused ASDU carries its data unit identifier, and mirrorAsdu answers it', () => {
    const unknown = hex('02 01 06 07 34 12 01 00 00 01 00 00 00');
    let error: Iec104CodecError | undefined;
    try {
      decodeAsdu(unknown);
    } catch (err) {
      error = err as Iec104CodecError;
    }
    expect(error?.header).toEqual({ typeId: 2, sequence: false, count: 1, cause: 6, negative: false, test: false, originator: 7, commonAddress: 0x1234 });
    expect(mirrorAsdu(unknown, Cot.UnknownTypeId)).toEqual(hex('02 01 6C 07 34 12 01 00 00 01 00 00 00'));
    expect(unknown[2]).toBe(0x06); // the received bytes are not touched
    expect(mirrorAsdu(hex('64 01 86 00 01 00 00 00 00 14'), Cot.ActivationCon, false)).toEqual(hex('64 01 87 00 01 00 00 00 00 14'));
    expect(reasonOf(() => mirrorAsdu(hex('64 01 06'), Cot.UnknownCause))).toBe('truncated');
  });

  it('decodeApci refuses an APDU whose length octet does not match the bytes given', () => {
    expect(reasonOf(() => decodeApci(hex('68 05 07 00 00 00')))).toBe('truncated');
    expect(reasonOf(() => decodeApci(hex('68 04 07 00 00 00 00')))).toBe('bad_length');
    expect(reasonOf(() => decodeApci(hex('')))).toBe('truncated');
    expect(reasonOf(() => decodeApci(hex('68')))).toBe('truncated');
  });

  it('after a framing error the splitter keeps failing, and keeps what it delivered before', () => {
    const seen: Buffer[] = [];
    const splitter = new ApduSplitter((a) => seen.push(a));
    expect(reasonOf(() => splitter.push(hex(`${GOOD_FRAME} 42`)))).toBe('bad_start_byte');
    expect(seen).toEqual([hex(GOOD_FRAME)]);
    expect(reasonOf(() => splitter.push(hex(GOOD_FRAME)))).toBe('bad_start_byte');
    expect(reasonOf(() => splitter.end())).toBe('bad_start_byte');
    expect(seen.length).toBe(1);
  });

  it('an error thrown by the consumer fails the splitter too', () => {
    const splitter = new ApduSplitter(() => {
      throw new Error('consumer broke');
    });
    expect(() => splitter.push(hex(GOOD_FRAME))).toThrow('consumer broke');
    expect(() => splitter.push(hex(GOOD_FRAME))).toThrow('consumer broke');
  });
});

describe('IEC 104 encoder refuses what it cannot send', () => {
  const base = { sequence: false, negative: false, test: false, originator: 0, commonAddress: 1 } as const;
  const sp = (ioa: number) => ({ ioa, value: true, quality: GOOD_POINT_QUALITY });
  const cases: { name: string; asdu: Asdu; reason: Iec104CodecErrorReason }[] = [
    { name: 'no objects', asdu: { ...base, typeId: TypeId.M_SP_NA_1, cause: Cot.Spontaneous, objects: [] }, reason: 'zero_objects' },
    { name: '128 objects with SQ', asdu: { ...base, sequence: true, typeId: TypeId.M_SP_NA_1, cause: Cot.Spontaneous, objects: Array.from({ length: 128 }, (_, i) => sp(i + 1)) }, reason: 'asdu_too_long' },
    { name: '61 points without SQ (250 bytes)', asdu: { ...base, typeId: TypeId.M_SP_NA_1, cause: Cot.Spontaneous, objects: Array.from({ length: 61 }, (_, i) => sp(i + 1)) }, reason: 'asdu_too_long' },
    { name: 'an unknown type', asdu: { ...base, typeId: 2, cause: Cot.Spontaneous, objects: [sp(1)] } as unknown as Asdu, reason: 'unknown_type' },
    { name: 'cause 0', asdu: { ...base, typeId: TypeId.M_SP_NA_1, cause: 0, objects: [sp(1)] } as unknown as Asdu, reason: 'unknown_cause' },
    { name: 'IOA 0 for a point', asdu: { ...base, typeId: TypeId.M_SP_NA_1, cause: Cot.Spontaneous, objects: [sp(0)] }, reason: 'ioa_out_of_range' },
    { name: 'IOA 2^24', asdu: { ...base, typeId: TypeId.M_SP_NA_1, cause: Cot.Spontaneous, objects: [sp(0x1000000)] }, reason: 'ioa_out_of_range' },
    { name: 'IOA 1.5', asdu: { ...base, typeId: TypeId.M_SP_NA_1, cause: Cot.Spontaneous, objects: [sp(1.5)] }, reason: 'ioa_out_of_range' },
    { name: 'SQ with a gap', asdu: { ...base, sequence: true, typeId: TypeId.M_SP_NA_1, cause: Cot.Spontaneous, objects: [sp(1), sp(3)] }, reason: 'ioa_out_of_range' },
    { name: 'SQ run past 0xFFFFFF', asdu: { ...base, sequence: true, typeId: TypeId.M_SP_NA_1, cause: Cot.Spontaneous, objects: [sp(0xffffff), sp(0x1000000)] }, reason: 'ioa_out_of_range' },
    { name: 'originator 256', asdu: { ...base, originator: 256, typeId: TypeId.M_SP_NA_1, cause: Cot.Spontaneous, objects: [sp(1)] }, reason: 'invalid_value' },
    { name: 'common address 65536', asdu: { ...base, commonAddress: 65_536, typeId: TypeId.M_SP_NA_1, cause: Cot.Spontaneous, objects: [sp(1)] }, reason: 'invalid_value' },
    { name: 'normalized 1.01', asdu: { ...base, typeId: TypeId.M_ME_NA_1, cause: Cot.Spontaneous, objects: [{ ioa: 1, value: 1.01, quality: GOOD_QUALITY }] }, reason: 'invalid_value' },
    { name: 'normalized NaN', asdu: { ...base, typeId: TypeId.M_ME_NA_1, cause: Cot.Spontaneous, objects: [{ ioa: 1, value: NaN, quality: GOOD_QUALITY }] }, reason: 'invalid_value' },
    { name: 'scaled 32768', asdu: { ...base, typeId: TypeId.M_ME_NB_1, cause: Cot.Spontaneous, objects: [{ ioa: 1, value: 32_768, quality: GOOD_QUALITY }] }, reason: 'invalid_value' },
    { name: 'scaled 1.5', asdu: { ...base, typeId: TypeId.M_ME_NB_1, cause: Cot.Spontaneous, objects: [{ ioa: 1, value: 1.5, quality: GOOD_QUALITY }] }, reason: 'invalid_value' },
    { name: 'scaled set-point -32769', asdu: { ...base, typeId: TypeId.C_SE_NB_1, cause: Cot.Activation, objects: [{ ioa: 1, value: -32_769, select: false, qualifier: 0 }] }, reason: 'invalid_value' },
    { name: 'counter 2^31', asdu: { ...base, typeId: TypeId.M_IT_NA_1, cause: Cot.Spontaneous, objects: [{ ioa: 1, value: 2 ** 31, sequence: 0, carry: false, adjusted: false, invalid: false }] }, reason: 'invalid_value' },
    { name: 'BCR sequence 32', asdu: { ...base, typeId: TypeId.M_IT_NA_1, cause: Cot.Spontaneous, objects: [{ ioa: 1, value: 0, sequence: 32, carry: false, adjusted: false, invalid: false }] }, reason: 'invalid_value' },
    { name: 'QU 32', asdu: { ...base, typeId: TypeId.C_SC_NA_1, cause: Cot.Activation, objects: [{ ioa: 1, value: true, select: false, qualifier: 32 }] }, reason: 'invalid_value' },
    { name: 'DCS 4', asdu: { ...base, typeId: TypeId.C_DC_NA_1, cause: Cot.Activation, objects: [{ ioa: 1, value: 4, select: false, qualifier: 0 }] } as unknown as Asdu, reason: 'invalid_value' },
    { name: 'QL 128', asdu: { ...base, typeId: TypeId.C_SE_NC_1, cause: Cot.Activation, objects: [{ ioa: 1, value: 1, select: false, qualifier: 128 }] }, reason: 'invalid_value' },
    { name: 'QOI 256', asdu: { ...base, typeId: TypeId.C_IC_NA_1, cause: Cot.Activation, objects: [{ ioa: 0, qoi: 256 }] }, reason: 'invalid_value' },
    { name: 'RQT 64', asdu: { ...base, typeId: TypeId.C_CI_NA_1, cause: Cot.Activation, objects: [{ ioa: 0, request: 64, freeze: 0 }] }, reason: 'invalid_value' },
    { name: 'FRZ 4', asdu: { ...base, typeId: TypeId.C_CI_NA_1, cause: Cot.Activation, objects: [{ ioa: 0, request: 5, freeze: 4 }] }, reason: 'invalid_value' },
    { name: 'COI 128', asdu: { ...base, typeId: TypeId.M_EI_NA_1, cause: Cot.Initialized, objects: [{ ioa: 0, coi: 128, parametersChanged: false }] }, reason: 'invalid_value' },
    { name: 'TSC 65536', asdu: { ...base, typeId: TypeId.C_TS_TA_1, cause: Cot.Activation, objects: [{ ioa: 0, counter: 65_536, time: { milliseconds: 0, minute: 0, invalid: false, hour: 0, summerTime: false, day: 1, dayOfWeek: 0, month: 1, year: 0 } }] }, reason: 'invalid_value' },
    { name: 'a time with month 13', asdu: { ...base, typeId: TypeId.C_CS_NA_1, cause: Cot.Activation, objects: [{ ioa: 0, time: { milliseconds: 0, minute: 0, invalid: false, hour: 0, summerTime: false, day: 1, dayOfWeek: 0, month: 13, year: 0 } }] }, reason: 'invalid_time' },
    { name: 'a time with 60000 ms', asdu: { ...base, typeId: TypeId.C_CS_NA_1, cause: Cot.Activation, objects: [{ ioa: 0, time: { milliseconds: 60_000, minute: 0, invalid: false, hour: 0, summerTime: false, day: 1, dayOfWeek: 0, month: 1, year: 0 } }] }, reason: 'invalid_time' },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.reason}`, () => {
      expect(reasonOf(() => encodeAsdu(c.asdu))).toBe(c.reason);
      expect(reasonOf(() => encodeIFrame(0, 0, c.asdu))).toBe(c.reason);
    });
  }

  it('sequence numbers are 15 bits', () => {
    expect(reasonOf(() => encodeSFrame(32_768))).toBe('invalid_value');
    expect(reasonOf(() => encodeSFrame(-1))).toBe('invalid_value');
    expect(reasonOf(() => stampSequence(Buffer.alloc(16), 0, 40_000))).toBe('invalid_value');
  });

  it('an ASDU over 249 bytes does not fit an I-format APDU', () => {
    expect(reasonOf(() => encodeIFrame(0, 0, Buffer.alloc(250)))).toBe('asdu_too_long');
    expect(reasonOf(() => encodeIFrame(0, 0, Buffer.alloc(0)))).toBe('asdu_too_long');
    expect(encodeIFrame(0, 0, Buffer.alloc(249))[1]).toBe(253);
  });
});
