import { CP56_BYTES, readCp56, writeCp56 } from './cp56time.js';
import { Iec104CodecError } from './errors.js';
import type { InformationObject, ObjectOfType } from './objects.js';
import { pointQualityFromByte, pointQualityToByte, qdsFromByte, qdsToByte } from './quality.js';
import { TypeId } from './type-ids.js';

/**
 * How one type's information element sits on the wire (docs/iec104.md
 * "Supported types"): its fixed size, and a reader and a writer working in
 * place on the APDU's buffer, so neither side allocates per byte.
 */
export interface ElementCodec<O> {
  /** Bytes of the element, without the 3-byte IOA. */
  readonly size: number;
  /** Reads the element at `at`; the caller has checked `size` bytes are there. Never throws. */
  read(b: Buffer, at: number, ioa: number): O;
  /** Writes the element at `at`; throws `invalid_value` for a field it cannot carry. */
  write(o: O, b: Buffer, at: number): void;
}

function checkInt(v: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new Iec104CodecError('invalid_value', `${what} ${String(v)} is not an integer in ${min}..${max}`);
  }
  return v;
}

function readInt16(b: Buffer, at: number): number {
  return ((b[at]! | (b[at + 1]! << 8)) << 16) >> 16;
}

function writeInt16(v: number, b: Buffer, at: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >> 8) & 0xff;
}

/** NVA: the value times 2^15 as int16. 1.0 itself is sent as 32767, the largest step below it. */
function normalizedToRaw(v: number): number {
  if (!(v >= -1 && v <= 1)) throw new Iec104CodecError('invalid_value', `normalized value ${String(v)} is outside -1..1`);
  const raw = Math.round(v * 32_768);
  return raw > 32_767 ? 32_767 : raw;
}

// --- monitor direction ---

const singlePoint: ElementCodec<ObjectOfType<typeof TypeId.M_SP_NA_1>> = {
  size: 1,
  read: (b, at, ioa) => ({ ioa, value: (b[at]! & 0x01) !== 0, quality: pointQualityFromByte(b[at]!) }),
  write: (o, b, at) => {
    b[at] = (o.value ? 1 : 0) | pointQualityToByte(o.quality);
  },
};

const singlePointWithTime: ElementCodec<ObjectOfType<typeof TypeId.M_SP_TB_1>> = {
  size: 1 + CP56_BYTES,
  read: (b, at, ioa) => ({ ioa, value: (b[at]! & 0x01) !== 0, quality: pointQualityFromByte(b[at]!), time: readCp56(b, at + 1) }),
  write: (o, b, at) => {
    b[at] = (o.value ? 1 : 0) | pointQualityToByte(o.quality);
    writeCp56(o.time, b, at + 1);
  },
};

const doublePoint: ElementCodec<ObjectOfType<typeof TypeId.M_DP_NA_1>> = {
  size: 1,
  read: (b, at, ioa) => ({ ioa, value: (b[at]! & 0x03) as 0 | 1 | 2 | 3, quality: pointQualityFromByte(b[at]!) }),
  write: (o, b, at) => {
    b[at] = checkInt(o.value, 0, 3, 'DPI') | pointQualityToByte(o.quality);
  },
};

const doublePointWithTime: ElementCodec<ObjectOfType<typeof TypeId.M_DP_TB_1>> = {
  size: 1 + CP56_BYTES,
  read: (b, at, ioa) => ({ ioa, value: (b[at]! & 0x03) as 0 | 1 | 2 | 3, quality: pointQualityFromByte(b[at]!), time: readCp56(b, at + 1) }),
  write: (o, b, at) => {
    b[at] = checkInt(o.value, 0, 3, 'DPI') | pointQualityToByte(o.quality);
    writeCp56(o.time, b, at + 1);
  },
};

const normalized: ElementCodec<ObjectOfType<typeof TypeId.M_ME_NA_1>> = {
  size: 3,
  read: (b, at, ioa) => ({ ioa, value: readInt16(b, at) / 32_768, quality: qdsFromByte(b[at + 2]!) }),
  write: (o, b, at) => {
    writeInt16(normalizedToRaw(o.value), b, at);
    b[at + 2] = qdsToByte(o.quality);
  },
};

const normalizedWithTime: ElementCodec<ObjectOfType<typeof TypeId.M_ME_TD_1>> = {
  size: 3 + CP56_BYTES,
  read: (b, at, ioa) => ({ ioa, value: readInt16(b, at) / 32_768, quality: qdsFromByte(b[at + 2]!), time: readCp56(b, at + 3) }),
  write: (o, b, at) => {
    writeInt16(normalizedToRaw(o.value), b, at);
    b[at + 2] = qdsToByte(o.quality);
    writeCp56(o.time, b, at + 3);
  },
};

const scaled: ElementCodec<ObjectOfType<typeof TypeId.M_ME_NB_1>> = {
  size: 3,
  read: (b, at, ioa) => ({ ioa, value: readInt16(b, at), quality: qdsFromByte(b[at + 2]!) }),
  write: (o, b, at) => {
    writeInt16(checkInt(o.value, -32_768, 32_767, 'scaled value'), b, at);
    b[at + 2] = qdsToByte(o.quality);
  },
};

const scaledWithTime: ElementCodec<ObjectOfType<typeof TypeId.M_ME_TE_1>> = {
  size: 3 + CP56_BYTES,
  read: (b, at, ioa) => ({ ioa, value: readInt16(b, at), quality: qdsFromByte(b[at + 2]!), time: readCp56(b, at + 3) }),
  write: (o, b, at) => {
    writeInt16(checkInt(o.value, -32_768, 32_767, 'scaled value'), b, at);
    b[at + 2] = qdsToByte(o.quality);
    writeCp56(o.time, b, at + 3);
  },
};

const float: ElementCodec<ObjectOfType<typeof TypeId.M_ME_NC_1>> = {
  size: 5,
  read: (b, at, ioa) => ({ ioa, value: b.readFloatLE(at), quality: qdsFromByte(b[at + 4]!) }),
  write: (o, b, at) => {
    b.writeFloatLE(o.value, at);
    b[at + 4] = qdsToByte(o.quality);
  },
};

const floatWithTime: ElementCodec<ObjectOfType<typeof TypeId.M_ME_TF_1>> = {
  size: 5 + CP56_BYTES,
  read: (b, at, ioa) => ({ ioa, value: b.readFloatLE(at), quality: qdsFromByte(b[at + 4]!), time: readCp56(b, at + 5) }),
  write: (o, b, at) => {
    b.writeFloatLE(o.value, at);
    b[at + 4] = qdsToByte(o.quality);
    writeCp56(o.time, b, at + 5);
  },
};

const integratedTotal: ElementCodec<ObjectOfType<typeof TypeId.M_IT_NA_1>> = {
  size: 5,
  read: (b, at, ioa) => {
    const flags = b[at + 4]!;
    return {
      ioa,
      value: b.readInt32LE(at),
      sequence: flags & 0x1f,
      carry: (flags & 0x20) !== 0,
      adjusted: (flags & 0x40) !== 0,
      invalid: (flags & 0x80) !== 0,
    };
  },
  write: (o, b, at) => {
    b.writeInt32LE(checkInt(o.value, -2_147_483_648, 2_147_483_647, 'counter reading'), at);
    b[at + 4] = checkInt(o.sequence, 0, 31, 'BCR sequence number') | (o.carry ? 0x20 : 0) | (o.adjusted ? 0x40 : 0) | (o.invalid ? 0x80 : 0);
  },
};

const endOfInitialization: ElementCodec<ObjectOfType<typeof TypeId.M_EI_NA_1>> = {
  size: 1,
  read: (b, at, ioa) => ({ ioa, coi: b[at]! & 0x7f, parametersChanged: (b[at]! & 0x80) !== 0 }),
  write: (o, b, at) => {
    b[at] = checkInt(o.coi, 0, 127, 'COI') | (o.parametersChanged ? 0x80 : 0);
  },
};

// --- control direction ---

const singleCommand: ElementCodec<ObjectOfType<typeof TypeId.C_SC_NA_1>> = {
  size: 1,
  read: (b, at, ioa) => ({ ioa, value: (b[at]! & 0x01) !== 0, qualifier: (b[at]! >> 2) & 0x1f, select: (b[at]! & 0x80) !== 0 }),
  write: (o, b, at) => {
    b[at] = (o.value ? 1 : 0) | (checkInt(o.qualifier, 0, 31, 'QU') << 2) | (o.select ? 0x80 : 0);
  },
};

const doubleCommand: ElementCodec<ObjectOfType<typeof TypeId.C_DC_NA_1>> = {
  size: 1,
  read: (b, at, ioa) => ({ ioa, value: (b[at]! & 0x03) as 0 | 1 | 2 | 3, qualifier: (b[at]! >> 2) & 0x1f, select: (b[at]! & 0x80) !== 0 }),
  write: (o, b, at) => {
    b[at] = checkInt(o.value, 0, 3, 'DCS') | (checkInt(o.qualifier, 0, 31, 'QU') << 2) | (o.select ? 0x80 : 0);
  },
};

function qosByte(qualifier: number, select: boolean): number {
  return checkInt(qualifier, 0, 127, 'QL') | (select ? 0x80 : 0);
}

const setpointNormalized: ElementCodec<ObjectOfType<typeof TypeId.C_SE_NA_1>> = {
  size: 3,
  read: (b, at, ioa) => ({ ioa, value: readInt16(b, at) / 32_768, qualifier: b[at + 2]! & 0x7f, select: (b[at + 2]! & 0x80) !== 0 }),
  write: (o, b, at) => {
    writeInt16(normalizedToRaw(o.value), b, at);
    b[at + 2] = qosByte(o.qualifier, o.select);
  },
};

const setpointScaled: ElementCodec<ObjectOfType<typeof TypeId.C_SE_NB_1>> = {
  size: 3,
  read: (b, at, ioa) => ({ ioa, value: readInt16(b, at), qualifier: b[at + 2]! & 0x7f, select: (b[at + 2]! & 0x80) !== 0 }),
  write: (o, b, at) => {
    writeInt16(checkInt(o.value, -32_768, 32_767, 'scaled set-point'), b, at);
    b[at + 2] = qosByte(o.qualifier, o.select);
  },
};

const setpointFloat: ElementCodec<ObjectOfType<typeof TypeId.C_SE_NC_1>> = {
  size: 5,
  read: (b, at, ioa) => ({ ioa, value: b.readFloatLE(at), qualifier: b[at + 4]! & 0x7f, select: (b[at + 4]! & 0x80) !== 0 }),
  write: (o, b, at) => {
    b.writeFloatLE(o.value, at);
    b[at + 4] = qosByte(o.qualifier, o.select);
  },
};

const interrogation: ElementCodec<ObjectOfType<typeof TypeId.C_IC_NA_1>> = {
  size: 1,
  read: (b, at, ioa) => ({ ioa, qoi: b[at]! }),
  write: (o, b, at) => {
    b[at] = checkInt(o.qoi, 0, 255, 'QOI');
  },
};

const counterInterrogation: ElementCodec<ObjectOfType<typeof TypeId.C_CI_NA_1>> = {
  size: 1,
  read: (b, at, ioa) => ({ ioa, request: b[at]! & 0x3f, freeze: b[at]! >> 6 }),
  write: (o, b, at) => {
    b[at] = checkInt(o.request, 0, 63, 'RQT') | (checkInt(o.freeze, 0, 3, 'FRZ') << 6);
  },
};

const clockSync: ElementCodec<ObjectOfType<typeof TypeId.C_CS_NA_1>> = {
  size: CP56_BYTES,
  read: (b, at, ioa) => ({ ioa, time: readCp56(b, at) }),
  write: (o, b, at) => writeCp56(o.time, b, at),
};

const testCommand: ElementCodec<ObjectOfType<typeof TypeId.C_TS_TA_1>> = {
  size: 2 + CP56_BYTES,
  read: (b, at, ioa) => ({ ioa, counter: b[at]! | (b[at + 1]! << 8), time: readCp56(b, at + 2) }),
  write: (o, b, at) => {
    const tsc = checkInt(o.counter, 0, 65_535, 'TSC');
    b[at] = tsc & 0xff;
    b[at + 1] = tsc >> 8;
    writeCp56(o.time, b, at + 2);
  },
};

const BY_TYPE: { readonly [T in TypeId]: ElementCodec<ObjectOfType<T>> } = {
  [TypeId.M_SP_NA_1]: singlePoint,
  [TypeId.M_SP_TB_1]: singlePointWithTime,
  [TypeId.M_DP_NA_1]: doublePoint,
  [TypeId.M_DP_TB_1]: doublePointWithTime,
  [TypeId.M_ME_NA_1]: normalized,
  [TypeId.M_ME_TD_1]: normalizedWithTime,
  [TypeId.M_ME_NB_1]: scaled,
  [TypeId.M_ME_TE_1]: scaledWithTime,
  [TypeId.M_ME_NC_1]: float,
  [TypeId.M_ME_TF_1]: floatWithTime,
  [TypeId.M_IT_NA_1]: integratedTotal,
  [TypeId.C_SC_NA_1]: singleCommand,
  [TypeId.C_DC_NA_1]: doubleCommand,
  [TypeId.C_SE_NA_1]: setpointNormalized,
  [TypeId.C_SE_NB_1]: setpointScaled,
  [TypeId.C_SE_NC_1]: setpointFloat,
  [TypeId.M_EI_NA_1]: endOfInitialization,
  [TypeId.C_IC_NA_1]: interrogation,
  [TypeId.C_CI_NA_1]: counterInterrogation,
  [TypeId.C_CS_NA_1]: clockSync,
  [TypeId.C_TS_TA_1]: testCommand,
};

/** Element codecs indexed by type id (a flat array: one load per ASDU, no hashing). */
const ELEMENTS: readonly (ElementCodec<InformationObject> | undefined)[] = (() => {
  const table: (ElementCodec<InformationObject> | undefined)[] = new Array<undefined>(256).fill(undefined);
  for (const [id, codec] of Object.entries(BY_TYPE)) table[Number(id)] = codec;
  return table;
})();

/** The element codec of a type id, or undefined for a type the codec does not support. */
export function elementCodec(typeId: number): ElementCodec<InformationObject> | undefined {
  return ELEMENTS[typeId];
}
