import type { Iec104PointConfig } from '../../config/scada-schema.js';
import { GridlinkError } from '../../errors/index.js';
import { Cot, DoublePointState, TypeId, cp56ToEpochMs, type Asdu, type Cp56Time2a, type PointQuality, type Quality as Qds } from '../../iec104/codec/index.js';
import type { Quality } from '../../protocol/scada.js';

// How an IEC 104 station's information becomes gridlink's points and how
// gridlink's commands become ASDUs (docs/iec104.md "Controlling station").

/** The gridlink quality of a SIQ/DIQ/QDS: IV → invalid; NT, BL or OV → questionable; SB → substituted. */
export function qualityOf(q: PointQuality | Qds): Quality {
  if (q.iv) return 'invalid';
  if (q.nt || q.bl || ('ov' in q && q.ov)) return 'questionable';
  return q.sb ? 'substituted' : 'good';
}

/** A double point's raw value: OFF → 0, ON → 1; intermediate and indeterminate → NaN (no position). */
export function doublePointRaw(state: number): number {
  if (state === DoublePointState.On) return 1;
  return state === DoublePointState.Off ? 0 : Number.NaN;
}

/**
 * When a time tag says the value was produced: its instant, or `fallback`
 * (the receipt time) when the tag is marked invalid or names no instant.
 */
export function timeOf(time: Cp56Time2a, fallback: number): number {
  if (time.invalid) return fallback;
  try {
    return cp56ToEpochMs(time);
  } catch {
    return fallback;
  }
}

/** The kind of command a point takes, from its class and type hint. */
export type CommandType = typeof TypeId.C_SC_NA_1 | typeof TypeId.C_DC_NA_1 | typeof TypeId.C_SE_NA_1 | typeof TypeId.C_SE_NB_1 | typeof TypeId.C_SE_NC_1;

/** Status and control points: a double command when the point is a double point, else a single one; setpoints: a set-point of the point's type (short float unless scaled or normalized). */
export function commandTypeOf(point: Pick<Iec104PointConfig, 'class' | 'type'>): CommandType {
  if (point.class === 'status' || point.class === 'control') return point.type === 'double' ? TypeId.C_DC_NA_1 : TypeId.C_SC_NA_1;
  if (point.type === 'scaled') return TypeId.C_SE_NB_1;
  if (point.type === 'normalized') return TypeId.C_SE_NA_1;
  return TypeId.C_SE_NC_1;
}

/**
 * The command ASDU (select or execute, cause activation) that sets `point`
 * to the engineering `value`. Throws GL_ERR_SCADA_BAD_VALUE when the value
 * does not fit the command: a status takes 0 or 1; a set-point is
 * (value − offset) / scale, a short float, an integer −32768..32767
 * (scaled) or −1..1 (normalized).
 */
export function commandAsdu(point: Iec104PointConfig, value: number, select: boolean, commonAddress: number): Asdu {
  if (!Number.isFinite(value)) throw new GridlinkError('GL_ERR_SCADA_BAD_VALUE', `${value}`);
  const control = point.control!;
  const ioa = control.ioa ?? point.ioa;
  const header = { sequence: false, cause: Cot.Activation, negative: false, test: false, originator: 0, commonAddress } as const;
  const typeId = commandTypeOf(point);
  if (typeId === TypeId.C_SC_NA_1 || typeId === TypeId.C_DC_NA_1) {
    if (value !== 0 && value !== 1) throw new GridlinkError('GL_ERR_SCADA_BAD_VALUE', `${point.name} takes 0 or 1${point.states === undefined ? '' : ` (${point.states[0]} or ${point.states[1]})`}`);
    const qualifier = control.qualifier;
    if (typeId === TypeId.C_SC_NA_1) return { ...header, typeId, objects: [{ ioa, value: value === 1, qualifier, select }] };
    return { ...header, typeId, objects: [{ ioa, value: value === 1 ? DoublePointState.On : DoublePointState.Off, qualifier, select }] };
  }
  const raw = (value - point.offset) / point.scale;
  const qualifier = control.qualifier;
  if (typeId === TypeId.C_SE_NB_1) {
    const scaled = Math.round(raw);
    if (scaled < -32_768 || scaled > 32_767) throw new GridlinkError('GL_ERR_SCADA_BAD_VALUE', `${point.name}: ${value} is ${scaled} as a scaled value, outside -32768..32767`);
    return { ...header, typeId, objects: [{ ioa, value: scaled, qualifier, select }] };
  }
  if (typeId === TypeId.C_SE_NA_1) {
    if (raw < -1 || raw > 1) throw new GridlinkError('GL_ERR_SCADA_BAD_VALUE', `${point.name}: ${value} is ${raw} as a normalized value, outside -1..1`);
    return { ...header, typeId, objects: [{ ioa, value: raw, qualifier, select }] };
  }
  if (!Number.isFinite(Math.fround(raw))) throw new GridlinkError('GL_ERR_SCADA_BAD_VALUE', `${point.name}: ${value} does not fit a short float`);
  return { ...header, typeId, objects: [{ ioa, value: raw, qualifier, select }] };
}
