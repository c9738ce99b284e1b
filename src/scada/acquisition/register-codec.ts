import type { PointConfig } from '../../config/scada-schema.js';

/** Registers a point's type occupies. */
export function registerCount(type: PointConfig['type']): number {
  return type === 'uint16' || type === 'int16' ? 1 : 2;
}

const scratch = new DataView(new ArrayBuffer(4));

/**
 * The raw number in `words` at `index` for a register type. 32-bit types
 * are big-endian word order (high word first), the Modbus convention.
 * Returns NaN when the block is too short (a truncated reply).
 */
export function decodeRegisters(words: ArrayLike<number>, index: number, type: PointConfig['type']): number {
  const hi = words[index];
  if (hi === undefined) return Number.NaN;
  if (type === 'uint16') return hi & 0xffff;
  if (type === 'int16') return (hi << 16) >> 16;
  const lo = words[index + 1];
  if (lo === undefined) return Number.NaN;
  scratch.setUint16(0, hi & 0xffff);
  scratch.setUint16(2, lo & 0xffff);
  if (type === 'uint32') return scratch.getUint32(0);
  if (type === 'int32') return scratch.getInt32(0);
  return scratch.getFloat32(0);
}

/** The words that write `raw` as `type` (for setpoints). Throws RangeError when it does not fit. */
export function encodeRegisters(raw: number, type: PointConfig['type']): number[] {
  const fits = (min: number, max: number): void => {
    if (!Number.isInteger(raw) || raw < min || raw > max) throw new RangeError(`${raw} does not fit ${type}`);
  };
  switch (type) {
    case 'uint16':
      fits(0, 0xffff);
      return [raw];
    case 'int16':
      fits(-0x8000, 0x7fff);
      return [raw & 0xffff];
    case 'uint32':
      fits(0, 0xffffffff);
      scratch.setUint32(0, raw);
      break;
    case 'int32':
      fits(-0x80000000, 0x7fffffff);
      scratch.setInt32(0, raw);
      break;
    case 'float32':
      if (!Number.isFinite(raw)) throw new RangeError(`${raw} is not a finite number`);
      scratch.setFloat32(0, raw);
      break;
  }
  return [scratch.getUint16(0), scratch.getUint16(2)];
}

/**
 * Engineering value of a raw value. From an integer register it
 * is rounded to the point's resolution (the decimals of its scale and
 * offset), so 4692 × 0.1 is 469.2 everywhere (CLI, page, history, IEC 104),
 * not 469.20000000000005; a float32 register keeps its own value.
 */
export function toEngineering(raw: number, point: Pick<PointConfig, 'scale' | 'offset'> & { readonly type?: string | undefined }): number {
  const value = raw * point.scale + point.offset;
  if (point.type !== undefined && FLOAT_TYPES.has(point.type)) return value;
  const digits = Math.max(decimalsOf(point.scale), decimalsOf(point.offset));
  return digits === 0 ? value : Number(value.toFixed(digits));
}

/** Raw values that are floating point already (Modbus float32; IEC 104 short floats and normalized values): not rounded. */
const FLOAT_TYPES: ReadonlySet<string> = new Set(['float32', 'float', 'normalized']);

/** Decimal places of a number as written (0.1 → 1, 0.025 → 3, 1e-7 → 7), at most 15. */
function decimalsOf(n: number): number {
  if (Number.isInteger(n)) return 0;
  const [mantissa = '', exponent] = Math.abs(n).toString().split('e');
  const dot = mantissa.indexOf('.');
  const places = (dot < 0 ? 0 : mantissa.length - dot - 1) - (exponent === undefined ? 0 : Number(exponent));
  return Math.min(15, Math.max(0, places));
}

/** Raw value that produces an engineering value (rounded for integer types). */
export function toRaw(value: number, point: Pick<PointConfig, 'scale' | 'offset' | 'type'>): number {
  const raw = (value - point.offset) / point.scale;
  return point.type === 'float32' ? raw : Math.round(raw);
}
