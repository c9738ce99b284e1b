import {
  ASDU_HEADER_BYTES,
  CP56_BYTES,
  Cot,
  IOA_BYTES,
  cp56FromEpochMs,
  elementCodec,
  maxObjectsPerAsdu,
  writeAsduHeader,
  writeCp56,
  writeIoa,
  type AsduHeader,
  type ElementCodec,
  type InformationObject,
} from '../codec/index.js';
import { KIND_TYPES, type Iec104Kind, type StationPoint } from './point-map.js';

/** An ASDU and the number of events it carries. */
export interface EventAsdu {
  readonly asdu: Buffer;
  readonly events: number;
}

/**
 * How a kind's change is written: its time-tagged type, whose element is the
 * untimed element followed by a CP56Time2a (true of every type a station
 * sends spontaneously, checked here once), and how many fit in one ASDU.
 */
interface TimedLayout {
  readonly kind: Iec104Kind;
  readonly typeId: number;
  readonly plain: ElementCodec<InformationObject>;
  /** IOA, element and time. */
  readonly objectBytes: number;
  readonly maxPerAsdu: number;
}

const LAYOUTS: Readonly<Record<Iec104Kind, TimedLayout>> = (() => {
  const layout = (kind: Iec104Kind): TimedLayout => {
    const { plain, timed } = KIND_TYPES[kind];
    const plainCodec = elementCodec(plain)!;
    const timedCodec = elementCodec(timed)!;
    if (timedCodec.size !== plainCodec.size + CP56_BYTES) throw new Error(`type ${timed} is not type ${plain} followed by a CP56Time2a`);
    return { kind, typeId: timed, plain: plainCodec, objectBytes: IOA_BYTES + timedCodec.size, maxPerAsdu: maxObjectsPerAsdu(timed, false) };
  };
  return { single: layout('single'), double: layout('double'), normalized: layout('normalized'), scaled: layout('scaled'), float: layout('float') };
})();

/** Room the staged bytes start with; they grow by doubling and are kept from one batch to the next. */
const INITIAL_BYTES = 16 * 1024;

/**
 * The spontaneous changes (COT 3, with CP56Time2a) that arrived in one turn
 * of the event loop, in order, encoded once for every master
 * (docs/iec104.md "Spontaneous data"). Each change is written in its wire
 * form (IOA, element, time) as it arrives, from the point as it is then;
 * the ASDUs are cut from those bytes when the batch is sent: packed (as many
 * consecutive changes of one type per ASDU as fit) for masters with data
 * transfer started, one change per ASDU for stopped masters, whose queue
 * then holds exactly `maxQueued` events.
 *
 * The batch is used again after {@link clear}: the ASDUs it made are copies,
 * not views of its staging bytes.
 */
export class ChangeBatch {
  /** Each kind's data unit identifier (without the count). */
  readonly #headers: Readonly<Record<Iec104Kind, AsduHeader & { readonly typeId: number }>>;
  /** The changes' objects, one after the other. */
  #bytes = Buffer.allocUnsafe(INITIAL_BYTES);
  #at = 0;
  /** Each change's layout, in order: the first {@link size} entries (the array is kept, not shrunk, between batches). */
  readonly #layouts: TimedLayout[] = [];
  #count = 0;
  #packed: EventAsdu[] | null = null;
  #single: EventAsdu[] | null = null;
  /** The CP56Time2a of the last instant seen; the changes of one poll share theirs. */
  #lastMs = Number.NaN;
  readonly #time = Buffer.alloc(CP56_BYTES);

  constructor(commonAddress: number) {
    const header = (kind: Iec104Kind): AsduHeader & { readonly typeId: number } => ({
      typeId: LAYOUTS[kind].typeId,
      sequence: false,
      cause: Cot.Spontaneous,
      negative: false,
      test: false,
      originator: 0,
      commonAddress,
    });
    this.#headers = { single: header('single'), double: header('double'), normalized: header('normalized'), scaled: header('scaled'), float: header('float') };
  }

  get size(): number {
    return this.#count;
  }

  /** Adds a change of `point` (already updated) that happened at `sourceTime`. */
  add(point: StationPoint, sourceTime: number): void {
    const layout = LAYOUTS[point.kind];
    if (sourceTime !== this.#lastMs) this.#setTime(sourceTime);
    if (this.#at + layout.objectBytes > this.#bytes.length) this.#grow(layout.objectBytes);
    const b = this.#bytes;
    const at = this.#at;
    writeIoa(point.ioa, b, at);
    const timeAt = at + layout.objectBytes - CP56_BYTES;
    layout.plain.write(point, b, at + IOA_BYTES);
    const t = this.#time;
    b[timeAt] = t[0]!;
    b[timeAt + 1] = t[1]!;
    b[timeAt + 2] = t[2]!;
    b[timeAt + 3] = t[3]!;
    b[timeAt + 4] = t[4]!;
    b[timeAt + 5] = t[5]!;
    b[timeAt + 6] = t[6]!;
    this.#at = at + layout.objectBytes;
    this.#layouts[this.#count] = layout;
    this.#count += 1;
    this.#packed = null;
    this.#single = null;
  }

  /** Runs of one type, each in as few ASDUs as fit. */
  packed(): readonly EventAsdu[] {
    if (this.#packed !== null) return this.#packed;
    const layouts = this.#layouts;
    const n = this.#count;
    // Where each ASDU starts (index of its first change) and how many it holds.
    const cuts: number[] = [];
    let headers = 0;
    for (let start = 0; start < n; ) {
      const layout = layouts[start]!;
      let end = start + 1;
      while (end < n && end - start < layout.maxPerAsdu && layouts[end] === layout) end += 1;
      cuts.push(start, end - start);
      headers += 1;
      start = end;
    }
    const out = Buffer.allocUnsafe(headers * ASDU_HEADER_BYTES + this.#at);
    const asdus: EventAsdu[] = [];
    let from = 0;
    let to = 0;
    for (let i = 0; i < cuts.length; i += 2) {
      const layout = layouts[cuts[i]!]!;
      const count = cuts[i + 1]!;
      const bytes = count * layout.objectBytes;
      writeAsduHeader(out, to, this.#headers[layout.kind], count);
      out.set(this.#bytes.subarray(from, from + bytes), to + ASDU_HEADER_BYTES);
      asdus.push({ asdu: out.subarray(to, to + ASDU_HEADER_BYTES + bytes), events: count });
      from += bytes;
      to += ASDU_HEADER_BYTES + bytes;
    }
    this.#packed = asdus;
    return asdus;
  }

  /** One ASDU per change. */
  single(): readonly EventAsdu[] {
    if (this.#single !== null) return this.#single;
    const layouts = this.#layouts;
    const n = this.#count;
    const out = Buffer.allocUnsafe(n * ASDU_HEADER_BYTES + this.#at);
    const asdus: EventAsdu[] = [];
    let from = 0;
    let to = 0;
    for (let i = 0; i < n; i++) {
      const layout = layouts[i]!;
      const bytes = layout.objectBytes;
      writeAsduHeader(out, to, this.#headers[layout.kind], 1);
      out.set(this.#bytes.subarray(from, from + bytes), to + ASDU_HEADER_BYTES);
      asdus.push({ asdu: out.subarray(to, to + ASDU_HEADER_BYTES + bytes), events: 1 });
      from += bytes;
      to += ASDU_HEADER_BYTES + bytes;
    }
    this.#single = asdus;
    return asdus;
  }

  /** Empties the batch for the next turn (the ASDUs it made stay valid). */
  clear(): void {
    this.#at = 0;
    this.#count = 0;
    this.#packed = null;
    this.#single = null;
  }

  #grow(needed: number): void {
    let length = this.#bytes.length * 2;
    while (length < this.#at + needed) length *= 2;
    const bytes = Buffer.allocUnsafe(length);
    this.#bytes.copy(bytes, 0, 0, this.#at);
    this.#bytes = bytes;
  }

  #setTime(ms: number): void {
    try {
      writeCp56(cp56FromEpochMs(ms), this.#time, 0);
    } catch {
      // Outside 2000..2099 (a device clock gone wrong): now, flagged invalid.
      writeCp56(cp56FromEpochMs(Date.now(), { invalid: true }), this.#time, 0);
    }
    this.#lastMs = ms;
  }
}
