import {
  Cot,
  cp56FromEpochMs,
  encodeAsdu,
  maxObjectsPerAsdu,
  packAsdus,
  type Asdu,
  type Cp56Time2a,
  type InformationObject,
} from '../codec/index.js';
import { KIND_TYPES, type StationPoint } from './point-map.js';

/** One spontaneous change: the point's information object as it is now, with the time of the change. */
interface Change {
  readonly typeId: number;
  readonly object: InformationObject;
}

/** An ASDU and the number of events it carries. */
export interface EventAsdu {
  readonly asdu: Buffer;
  readonly events: number;
}

/**
 * The spontaneous changes (COT 3, with CP56Time2a) that arrived in one turn
 * of the event loop, in order, encoded once for every master: packed (as
 * many consecutive changes of one type per ASDU as fit) for masters with data
 * transfer started, one change per ASDU for stopped masters, whose queue
 * then holds exactly `maxQueued` events (docs/iec104.md "Spontaneous data").
 */
export class ChangeBatch {
  readonly #changes: Change[] = [];
  readonly #commonAddress: number;
  #packed: EventAsdu[] | null = null;
  #single: EventAsdu[] | null = null;
  #lastMs = Number.NaN;
  #lastTime: Cp56Time2a | null = null;

  constructor(commonAddress: number) {
    this.#commonAddress = commonAddress;
  }

  get size(): number {
    return this.#changes.length;
  }

  /** Adds a change of `point` (already updated) that happened at `sourceTime`. */
  add(point: StationPoint, sourceTime: number): void {
    const time = this.#time(sourceTime);
    const o = point.object;
    this.#changes.push({ typeId: KIND_TYPES[point.kind].timed, object: { ioa: o.ioa, value: o.value, quality: o.quality, time } });
  }

  /** Runs of one type, each in as few ASDUs as fit. */
  packed(): readonly EventAsdu[] {
    if (this.#packed !== null) return this.#packed;
    const out: EventAsdu[] = [];
    const changes = this.#changes;
    for (let start = 0; start < changes.length; ) {
      const typeId = changes[start]!.typeId;
      let end = start + 1;
      while (end < changes.length && changes[end]!.typeId === typeId) end += 1;
      const objects = new Array<InformationObject>(end - start);
      for (let i = start; i < end; i++) objects[i - start] = changes[i]!.object;
      const max = maxObjectsPerAsdu(typeId, false);
      let left = objects.length;
      for (const asdu of packAsdus(this.#asdu(typeId, objects))) {
        out.push({ asdu, events: Math.min(max, left) });
        left -= max;
      }
      start = end;
    }
    this.#packed = out;
    return out;
  }

  /** One ASDU per change. */
  single(): readonly EventAsdu[] {
    if (this.#single !== null) return this.#single;
    this.#single = this.#changes.map((c) => ({ asdu: encodeAsdu(this.#asdu(c.typeId, [c.object])), events: 1 }));
    return this.#single;
  }

  #asdu(typeId: number, objects: readonly InformationObject[]): Asdu {
    return { typeId, sequence: false, cause: Cot.Spontaneous, negative: false, test: false, originator: 0, commonAddress: this.#commonAddress, objects } as Asdu;
  }

  /** CP56Time2a of an instant; the changes of one poll share theirs. */
  #time(ms: number): Cp56Time2a {
    if (ms === this.#lastMs && this.#lastTime !== null) return this.#lastTime;
    let time: Cp56Time2a;
    try {
      time = cp56FromEpochMs(ms);
    } catch {
      // Outside 2000..2099 (a device clock gone wrong): now, flagged invalid.
      time = cp56FromEpochMs(Date.now(), { invalid: true });
    }
    this.#lastMs = ms;
    this.#lastTime = time;
    return time;
  }
}
