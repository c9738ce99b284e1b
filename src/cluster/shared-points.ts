import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { PointEvent } from '../protocol/scada.js';
import type { LatestValues } from '../scada/scada-cluster.js';
import type { ClusterLink } from './cluster-link.js';
import { openBucket } from './kv-buckets.js';

/** The bucket of the point table's latest values (docs/cluster.md, "The point table"). */
export const POINTS_BUCKET = 'gridlink_points';

/** Latest values are written at most this often per point (coalesced: the newest wins). */
const FLUSH_MS = 250;
/** Points waiting for the next flush at most; beyond, the flush runs at once. */
const MAX_DIRTY = 20_000;

/**
 * The point table's latest values in a KV bucket (docs/cluster.md, "The
 * point table"): the owner of a device writes each of its points' last
 * event (coalesced, at most every 250 ms per point), so a node that starts
 * late, or comes back, shows current values at once instead of waiting for
 * the next change (a breaker may not move for months). Keys are point
 * names, which are valid KV keys (docs/configuration.md). The live stream
 * of values stays on the bus; this is only the starting point.
 */
export class SharedPoints implements LatestValues {
  readonly #link: ClusterLink;
  readonly #kv: KV;
  readonly #logger: Logger;
  readonly #dirty = new Map<string, PointEvent>();
  #timer: NodeJS.Timeout | null = null;
  #flushing = false;
  #written = 0;

  private constructor(link: ClusterLink, kv: KV, logger: Logger) {
    this.#link = link;
    this.#kv = kv;
    this.#logger = logger;
  }

  static async open(link: ClusterLink, options: { replicas: number; logger: Logger }): Promise<SharedPoints> {
    const kv = await openBucket(link, POINTS_BUCKET, { history: 1, replicas: options.replicas }, options.logger);
    return new SharedPoints(link, kv, options.logger);
  }

  get written(): number {
    return this.#written;
  }

  record(event: PointEvent): void {
    this.#dirty.delete(event.point); // keep the map in order of last change
    this.#dirty.set(event.point, event);
    if (this.#dirty.size >= MAX_DIRTY) void this.#flush();
    else this.#timer ??= setTimeout(() => void this.#flush(), FLUSH_MS);
  }

  async load(): Promise<PointEvent[]> {
    const out: PointEvent[] = [];
    for await (const key of await this.#kv.keys()) {
      const entry = await this.#kv.get(key);
      if (entry?.operation !== 'PUT') continue;
      try {
        out.push(entry.json<PointEvent>());
      } catch {
        // not ours, or damaged: the next change of the point replaces it
      }
    }
    return out;
  }

  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  async #flush(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#flushing) return;
    if (this.#link.state !== 'connected') {
      // Kept (the newest per point) until NATS is back.
      this.#timer = setTimeout(() => void this.#flush(), 1_000);
      return;
    }
    this.#flushing = true;
    const batch = [...this.#dirty.values()];
    this.#dirty.clear();
    try {
      await Promise.all(batch.map((event) => this.#kv.put(event.point, JSON.stringify(event)).then(() => void (this.#written += 1))));
    } catch (err) {
      this.#logger.warn({ event: 'cluster.points_put_failed', points: batch.length, err }, 'latest values not written; trying again');
      for (const event of batch) if (!this.#dirty.has(event.point)) this.#dirty.set(event.point, event);
    } finally {
      this.#flushing = false;
    }
    if (this.#dirty.size > 0) this.#timer ??= setTimeout(() => void this.#flush(), FLUSH_MS);
  }
}
