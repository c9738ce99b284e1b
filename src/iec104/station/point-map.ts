import {
  Cot,
  DoublePointState,
  TypeId,
  encodeAsdu,
  maxObjectsPerAsdu,
  pointQualityFromByte,
  qdsFromByte,
  type Asdu,
  type PointQuality,
  type Quality as Qds,
} from '../codec/index.js';
import { GridlinkError } from '../../errors/index.js';
import type { PointClass, PointSnapshot, Quality } from '../../protocol/scada.js';

/** How one gridlink point is sent (docs/iec104.md "Mapping"). */
export type Iec104Kind = 'single' | 'double' | 'float' | 'scaled' | 'normalized';

/** A point's `iec104` options from its configuration (src/config/scada-schema.ts). */
export interface Iec104PointOptions {
  readonly type?: Iec104Kind | undefined;
  readonly scaleFactor: number;
  readonly directExecute: boolean;
}

/** What a point's information object holds now, by kind (its address is the point's). */
interface SingleValue {
  value: boolean;
  quality: PointQuality;
}

interface DoubleValue {
  value: DoublePointState;
  quality: PointQuality;
}

interface MeasuredValue {
  value: number;
  quality: Qds;
}

interface PointBase {
  readonly name: string;
  readonly ioa: number;
  readonly pointClass: PointClass;
  /** status and control points carry 0/1. */
  readonly binary: boolean;
  readonly controllable: boolean;
  readonly directExecute: boolean;
  readonly scaleFactor: number;
  /** The point shows a substituted value now (an operator's): commands cannot be confirmed. */
  substituted: boolean;
  /** The interrogation ASDU that carries the point (set by {@link PointMap}); a change makes it encode again. */
  chunk: Chunk | null;
}

/**
 * One point as the station holds it: its address, type, and value and
 * quality as the station sends them, updated in place by every event. The
 * point is itself the information object the codec writes (ioa, value,
 * quality): an interrogation allocates no object per point, and an event
 * touches one object, not two.
 */
export type StationPoint =
  | (PointBase & { readonly kind: 'single' } & SingleValue)
  | (PointBase & { readonly kind: 'double' } & DoubleValue)
  | (PointBase & { readonly kind: 'float' | 'scaled' | 'normalized' } & MeasuredValue);

/** The monitoring type ids of each kind: without time (interrogation) and with CP56Time2a (spontaneous). */
export const KIND_TYPES = {
  single: { plain: TypeId.M_SP_NA_1, timed: TypeId.M_SP_TB_1 },
  double: { plain: TypeId.M_DP_NA_1, timed: TypeId.M_DP_TB_1 },
  normalized: { plain: TypeId.M_ME_NA_1, timed: TypeId.M_ME_TD_1 },
  scaled: { plain: TypeId.M_ME_NB_1, timed: TypeId.M_ME_TE_1 },
  float: { plain: TypeId.M_ME_NC_1, timed: TypeId.M_ME_TF_1 },
} as const satisfies Record<Iec104Kind, { plain: number; timed: number }>;

const KINDS: readonly Iec104Kind[] = ['single', 'double', 'normalized', 'scaled', 'float'];

// Quality bits (docs/iec104.md "Quality").
const OV = 0x01;
const SB = 0x20;
const NT = 0x40;
const IV = 0x80;
const FLOAT32_MAX = 3.4028234663852886e38;
const NORMALIZED_MAX = 32_767 / 32_768;

/**
 * gridlink quality → 104 quality bits (docs/iec104.md "Mapping"): invalid →
 * IV, substituted → SB, questionable → NT, a value never read → IV + NT.
 */
export function qualityBits(value: number | null, quality: Quality): number {
  if (value === null) return IV | NT;
  switch (quality) {
    case 'good':
      return 0;
    case 'invalid':
      return IV;
    case 'substituted':
      return SB;
    case 'questionable':
      return NT;
  }
}

/** The kind a point is sent as: its `iec104.type`, else double for controllable status points (breakers), single for other binary points, float otherwise. */
export function kindOf(snapshot: Pick<PointSnapshot, 'class' | 'controllable' | 'name'>, options: Iec104PointOptions | undefined): Iec104Kind {
  const binary = snapshot.class === 'status' || snapshot.class === 'control';
  const configured = options?.type;
  if (configured !== undefined) {
    const binaryKind = configured === 'single' || configured === 'double';
    if (binaryKind !== binary) throw new GridlinkError('GL_ERR_CONFIG_INVALID', `point ${snapshot.name}: a ${snapshot.class} point cannot be sent as ${configured} (iec104.type)`);
    return configured;
  }
  if (binary) return snapshot.controllable && snapshot.class === 'status' ? 'double' : 'single';
  return 'float';
}

/** Builds a station point from a snapshot and its options; `update` then sets its value. */
export function stationPoint(snapshot: PointSnapshot, options: Iec104PointOptions | undefined): StationPoint {
  const kind = kindOf(snapshot, options);
  const binaryKind = kind === 'single' || kind === 'double';
  // One literal with every field in one order, not `{ ...base, kind, value }`: V8 gave nearly every
  // point built by spreading a map of its own (19,986 maps for 20,000 points), so each access to a
  // point went through the megamorphic cache, some 120 ns a field write and 640 ns an update().
  const point = {
    name: snapshot.name,
    ioa: snapshot.ioa,
    pointClass: snapshot.class,
    binary: snapshot.class === 'status' || snapshot.class === 'control',
    controllable: snapshot.controllable,
    directExecute: options?.directExecute ?? false,
    scaleFactor: options?.scaleFactor ?? 1,
    substituted: false,
    chunk: null,
    kind,
    value: kind === 'single' ? false : kind === 'double' ? DoublePointState.Indeterminate : 0,
    quality: binaryKind ? pointQualityFromByte(IV | NT) : qdsFromByte(IV | NT),
  } as StationPoint;
  update(point, snapshot.value, snapshot.quality);
  return point;
}

/** Sets a point's information object from a gridlink value and quality (docs/iec104.md "Mapping"). */
export function update(point: StationPoint, value: number | null, quality: Quality): void {
  const bits = qualityBits(value, quality);
  point.substituted = quality === 'substituted';
  if (point.chunk !== null) point.chunk.encoded = null;
  switch (point.kind) {
    case 'single':
      point.value = value === 1;
      point.quality = pointQualityFromByte(bits);
      return;
    case 'double':
      point.value = value === null ? DoublePointState.Indeterminate : value === 1 ? DoublePointState.On : DoublePointState.Off;
      point.quality = pointQualityFromByte(bits);
      return;
    default:
      point.quality = qdsFromByte(bits | setMeasured(point, point.kind, point.scaleFactor, value));
  }
}

/**
 * Sets a measured value as its kind carries it, clamped to its range;
 * returns OV when it did not fit (0 otherwise). Called for every event: no
 * allocation.
 */
function setMeasured(object: MeasuredValue, kind: 'float' | 'scaled' | 'normalized', scaleFactor: number, value: number | null): number {
  let v = 0;
  let ov = 0;
  if (value === null) {
    v = 0;
  } else if (!Number.isFinite(value)) {
    ov = OV;
  } else if (kind === 'float') {
    v = value > FLOAT32_MAX ? FLOAT32_MAX : value < -FLOAT32_MAX ? -FLOAT32_MAX : value;
    if (v !== value) ov = OV;
  } else if (kind === 'scaled') {
    const raw = Math.round(value * scaleFactor);
    v = raw > 32_767 ? 32_767 : raw < -32_768 ? -32_768 : raw;
    if (v !== raw) ov = OV;
  } else {
    const raw = value * scaleFactor;
    v = raw > 1 ? NORMALIZED_MAX : raw < -1 ? -1 : raw;
    if (v !== raw) ov = OV;
  }
  object.value = v;
  return ov;
}

/**
 * An engineering value from a set-point command's value (the inverse of the
 * monitoring scaling): scaled and normalized are divided by the point's
 * scaleFactor, a short float is taken as it is.
 */
export function setpointValue(typeId: number, value: number, scaleFactor: number): number {
  return typeId === TypeId.C_SE_NC_1 ? value : value / scaleFactor;
}

/**
 * One ASDU of the interrogation answer: its points (each its own
 * information object, updated in place) and its encoding, kept until one of them changes. A
 * buffer once encoded is never written again (a master's queue may still
 * hold it); a change makes the next interrogation encode a new one.
 */
interface Chunk {
  readonly asdu: Asdu;
  encoded: Buffer | null;
}

/**
 * The station's points: by name (events), by IOA (commands), and the
 * answer to a general interrogation, planned once: per kind in IOA order,
 * long runs of consecutive addresses sent with SQ = 1 (more objects per
 * ASDU), the rest with SQ = 0, cut into ASDUs as full as they can be.
 */
export class PointMap {
  readonly #byName = new Map<string, StationPoint>();
  readonly #byIoa = new Map<number, StationPoint>();
  readonly #chunks: Chunk[] = [];
  readonly #commonAddress: number;

  constructor(snapshots: readonly PointSnapshot[], optionsOf: (name: string) => Iec104PointOptions | undefined, commonAddress: number) {
    this.#commonAddress = commonAddress;
    for (const snapshot of snapshots) {
      const point = stationPoint(snapshot, optionsOf(snapshot.name));
      this.#byName.set(point.name, point);
      this.#byIoa.set(point.ioa, point);
    }
    for (const kind of KINDS) {
      const points = [...this.#byName.values()].filter((p) => p.kind === kind).sort((a, b) => a.ioa - b.ioa);
      this.#plan(KIND_TYPES[kind].plain, points);
    }
  }

  get size(): number {
    return this.#byName.size;
  }

  byName(name: string): StationPoint | undefined {
    return this.#byName.get(name);
  }

  byIoa(ioa: number): StationPoint | undefined {
    return this.#byIoa.get(ioa);
  }

  /**
   * The ASDUs answering a station interrogation (COT 20), each an ASDU
   * ready for the link: those whose points did not change since the last
   * interrogation are the buffers encoded then, the others are encoded now
   * (docs/iec104.md "Interrogation"). Empty when the station has no points.
   */
  interrogationAsdus(originator: number): Buffer[] {
    const out = new Array<Buffer>(this.#chunks.length);
    for (let i = 0; i < this.#chunks.length; i++) {
      const chunk = this.#chunks[i]!;
      chunk.encoded ??= encodeAsdu(chunk.asdu);
      let asdu = chunk.encoded;
      if (originator !== 0) {
        asdu = Buffer.from(asdu);
        asdu[3] = originator;
      }
      out[i] = asdu;
    }
    return out;
  }

  #plan(typeId: number, points: readonly StationPoint[]): void {
    // A run of consecutive addresses at least as long as an SQ = 0 ASDU holds goes out with SQ = 1.
    const longRun = maxObjectsPerAsdu(typeId, false);
    let loose: StationPoint[] = [];
    const flushLoose = (): void => {
      if (loose.length > 0) this.#cut(typeId, false, loose);
      loose = [];
    };
    for (let start = 0; start < points.length; ) {
      let end = start + 1;
      while (end < points.length && points[end]!.ioa === points[end - 1]!.ioa + 1) end += 1;
      const run = points.slice(start, end);
      if (run.length >= longRun) {
        flushLoose();
        this.#cut(typeId, true, run);
      } else {
        loose.push(...run);
      }
      start = end;
    }
    flushLoose();
  }

  /** Cuts points of one type and SQ mode into ASDUs of as many objects as fit. */
  #cut(typeId: number, sequence: boolean, points: readonly StationPoint[]): void {
    const max = maxObjectsPerAsdu(typeId, sequence);
    for (let start = 0; start < points.length; start += max) {
      const members = points.slice(start, start + max);
      const asdu = { typeId, sequence, cause: Cot.InterrogatedByStation, negative: false, test: false, originator: 0, commonAddress: this.#commonAddress, objects: members } as Asdu;
      const chunk: Chunk = { asdu, encoded: null };
      for (const p of members) p.chunk = chunk;
      this.#chunks.push(chunk);
    }
  }
}
