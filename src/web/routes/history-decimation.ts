import type { ScadaApi } from '../../protocol/scada.js';

/** One recorded value of a point (`GET /api/history`, docs/http-api.md). */
export interface Sample {
  readonly value: number | null;
  readonly quality: 'good' | 'invalid' | 'questionable' | 'substituted';
  readonly sourceTime: number;
  readonly serverTime: number;
}

/** What `GET /api/history?…&buckets=N` answers. */
export interface DecimatedHistory {
  readonly point: string;
  readonly since: number;
  readonly until: number;
  readonly buckets: number;
  /** Samples recorded in the range that were read. */
  readonly scanned: number;
  /** False when the range held more than {@link MAX_SCAN} samples: the answer ends at the last one read. */
  readonly complete: boolean;
  /** True when samples were left out (more than fit the buckets); false when every sample read is here. */
  readonly decimated: boolean;
  readonly samples: Sample[];
}

/** Largest `buckets` (a chart is a few thousand pixels wide at most). */
export const MAX_BUCKETS = 10_000;
/** Samples read per call of the data plane; the event loop is given back between calls. */
export const CHUNK = 10_000;
/** Samples one request reads at most (a few hundred ms of work, spread over turns of the event loop). */
export const MAX_SCAN = 2_000_000;
/** Up to this many samples per bucket are kept (first, min, max, last, first and last gap). */
const KEEP_PER_BUCKET = 6;

/** A sample that breaks the line: no value, or a value the device marked invalid. */
export function isGap(sample: Sample): boolean {
  return sample.value === null || sample.quality === 'invalid';
}

/**
 * The history of one point over [since, until) reduced to what a chart of
 * `buckets` columns draws (docs/http-api.md "Points, history, alarms,
 * control"): each bucket keeps its first, lowest, highest and last sample
 * and its first and last gap (invalid or null), in time order, so peaks and
 * quality gaps survive any zoom level (the M4 reduction, plus gaps). A range
 * with no more than `KEEP_PER_BUCKET × buckets` samples comes back whole.
 *
 * The samples are read through the data plane's history in chunks of
 * {@link CHUNK}, by source time (a cursor of time and offset within that
 * millisecond), yielding to the event loop between chunks so that a request
 * for millions of samples does not stall the server's other work.
 */
export async function decimatedHistory(scada: Pick<ScadaApi, 'history'>, point: string, since: number, until: number, buckets: number, maxScan = MAX_SCAN): Promise<DecimatedHistory> {
  const reducer = new Reducer(since, (until - since) / buckets, buckets);
  const raw: Sample[] = [];
  let exact = true;
  let scanned = 0;
  let cursor = since;
  /** Samples at `cursor`'s millisecond already read. */
  let atCursor = 0;
  let complete = true;
  for (;;) {
    const chunk = scada.history(point, cursor, until, CHUNK, atCursor) as Sample[];
    for (const sample of chunk) {
      if (exact) {
        raw.push(sample);
        if (raw.length > KEEP_PER_BUCKET * buckets) {
          exact = false;
          for (const s of raw) reducer.add(s);
          raw.length = 0;
        }
      } else {
        reducer.add(sample);
      }
    }
    scanned += chunk.length;
    if (chunk.length < CHUNK) break;
    const last = chunk[chunk.length - 1]!.sourceTime;
    let same = 0;
    for (let i = chunk.length - 1; i >= 0 && chunk[i]!.sourceTime === last; i -= 1) same += 1;
    atCursor = last === cursor ? atCursor + same : same;
    cursor = last;
    if (scanned >= maxScan) {
      complete = false;
      break;
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { point, since, until, buckets, scanned, complete, decimated: !exact, samples: exact ? raw : reducer.finish() };
}

/**
 * The bucket being filled; samples arrive in time order, so buckets fill one
 * after the other and each is written out when the next one starts.
 */
class Reducer {
  readonly #out: Sample[] = [];
  readonly #since: number;
  readonly #width: number;
  readonly #last: number;
  #bucket = -1;
  #first: Sample | null = null;
  #min: Sample | null = null;
  #max: Sample | null = null;
  #lastGood: Sample | null = null;
  #firstGap: Sample | null = null;
  #lastGap: Sample | null = null;

  constructor(since: number, width: number, buckets: number) {
    this.#since = since;
    this.#width = width;
    this.#last = buckets - 1;
  }

  add(sample: Sample): void {
    const bucket = Math.min(this.#last, Math.floor((sample.sourceTime - this.#since) / this.#width));
    if (bucket !== this.#bucket) {
      this.#flush();
      this.#bucket = bucket;
      this.#first = sample;
    }
    if (isGap(sample)) {
      this.#firstGap ??= sample;
      this.#lastGap = sample;
      return;
    }
    if (this.#min === null || sample.value! < this.#min.value!) this.#min = sample;
    if (this.#max === null || sample.value! > this.#max.value!) this.#max = sample;
    this.#lastGood = sample;
  }

  finish(): Sample[] {
    this.#flush();
    return this.#out;
  }

  /** Writes the bucket's chosen samples in the order they were read (time order). */
  #flush(): void {
    if (this.#first === null) return;
    const chosen = new Set<Sample>();
    for (const s of [this.#first, this.#min, this.#max, this.#lastGood, this.#firstGap, this.#lastGap]) if (s !== null) chosen.add(s);
    // Samples of one bucket were read in time order; equal times keep their reading order (stable sort).
    this.#out.push(...[...chosen].sort((a, b) => a.sourceTime - b.sourceTime));
    this.#first = this.#min = this.#max = this.#lastGood = this.#firstGap = this.#lastGap = null;
  }
}
