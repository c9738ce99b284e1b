import type { KV, KvEntry, KvWatchEntry } from '@nats-io/kv';
import type { Logger } from 'pino';
import { ALARM_KINDS, type Alarm } from '../protocol/scada.js';
import type { ClusterAlarms } from '../scada/scada-cluster.js';
import type { ClusterLink } from './cluster-link.js';
import { isRace } from './cluster-leases.js';
import { followBucket, openBucket } from './kv-buckets.js';

/** The bucket of alarms (docs/cluster.md, "Alarms"). */
export const ALARMS_BUCKET = 'gridlink_alarms';
const IDS_KEY = 'ids';
/** Alarm ids a node reserves at once; it reserves the next block when half of one is used. */
const ID_BLOCK = 10_000;
/** An alarm entry lives this long after its last change (an alarm open longer is still in every node's history). */
const MAX_AGE_MS = 30 * 24 * 3_600_000;
const MAX_RACES = 10;
const RETRY_MS = 1_000;
/** Alarm changes waiting for NATS at most; past it the oldest are dropped (counted as failed, logged). */
const MAX_WAITING = 10_000;

type Row = Omit<Alarm, 'state'>;

/**
 * Alarms shared by the nodes (docs/cluster.md, "Alarms"): every alarm is a
 * KV entry keyed by its id, which is unique across the cluster (each node
 * reserves blocks of ids with a CAS on one counter entry). The node that
 * raises an alarm (the owner of the device, or the operator's node for a
 * failed command) writes it; any node that clears or acknowledges it writes
 * the change. The clear and the acknowledgement only go from unset to set,
 * so a write merges with the entry it replaces (update at the revision read,
 * again on a race) and none is lost whatever the order. Every node watches
 * the bucket and applies each entry to its own alarm book and history, so
 * an alarm acknowledged on B is acknowledged on A, in A's database too.
 */
export class SharedAlarms implements ClusterAlarms {
  readonly #link: ClusterLink;
  readonly #kv: KV;
  readonly #logger: Logger;
  #next = 0;
  #end = 0;
  #reserving: Promise<void> | null = null;
  readonly #waiting = new Map<number, Row>();
  #flushing = false;
  #revision = 0;
  #apply: ((alarm: Row) => void) | null = null;
  #stopFollowing: (() => void) | null = null;
  #retry: NodeJS.Timeout | null = null;
  #closed = false;

  private constructor(link: ClusterLink, kv: KV, logger: Logger) {
    this.#link = link;
    this.#kv = kv;
    this.#logger = logger;
  }

  static async open(link: ClusterLink, options: { replicas: number; logger: Logger }): Promise<SharedAlarms> {
    const kv = await openBucket(link, ALARMS_BUCKET, { history: 1, ttl: MAX_AGE_MS, replicas: options.replicas }, options.logger);
    return new SharedAlarms(link, kv, options.logger);
  }

  async follow(localMaxId: number, apply: (alarm: Row) => void): Promise<void> {
    await this.#reserve(localMaxId);
    this.#apply = apply;
    const status = await this.#kv.status();
    this.#revision = status.streamInfo.state.last_seq;
    for await (const key of await this.#kv.keys()) {
      if (key === IDS_KEY) continue;
      const entry = await this.#kv.get(key);
      if (entry !== null) this.#deliver(entry);
    }
    this.#stopFollowing = followBucket(this.#kv, this.#revision, (entry) => this.#deliver(entry), (err) =>
      this.#logger.warn({ event: 'cluster.alarms_watch_failed', err }, 'the alarms watch stopped; starting again'),
    );
    this.#retry = setInterval(() => void this.#flush(), RETRY_MS).unref();
    this.#link.onState((state) => {
      if (state === 'connected') void this.#flush();
    });
  }

  nextId(): number | undefined {
    if (this.#end - this.#next < ID_BLOCK / 2 && this.#reserving === null) {
      this.#reserving = this.#reserve(0)
        .catch((err: unknown) => this.#logger.warn({ event: 'cluster.alarm_ids_unavailable', err }, 'could not reserve alarm ids; trying at the next alarm'))
        .finally(() => (this.#reserving = null));
    }
    if (this.#next >= this.#end) {
      this.#logger.error({ event: 'cluster.alarm_ids_exhausted' }, 'no alarm id reserved in the cluster (NATS away for long): the alarm takes a local id');
      return undefined;
    }
    const id = this.#next;
    this.#next += 1;
    return id;
  }

  changed(alarm: Alarm): void {
    const { state: _state, ...row } = alarm;
    if (!this.#waiting.has(row.id) && this.#waiting.size >= MAX_WAITING) {
      const oldest = this.#waiting.keys().next().value!;
      this.#waiting.delete(oldest);
      this.#link.countFailed();
      this.#logger.error({ event: 'cluster.alarm_unshared', alarm: oldest }, 'too many alarm changes wait for NATS: the oldest is not shared');
    }
    this.#waiting.set(row.id, merge(this.#waiting.get(row.id) ?? null, row));
    void this.#flush();
  }

  /** Resolves once no change waits for the bucket; false after `timeoutMs`. */
  async settled(timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#waiting.size > 0 || this.#flushing) {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return true;
  }

  close(): void {
    this.#closed = true;
    this.#stopFollowing?.();
    if (this.#retry !== null) clearInterval(this.#retry);
  }

  /** Takes the next block of ids from the counter entry, above `floor` (the ids this node's history already has). */
  async #reserve(floor: number): Promise<void> {
    for (let race = 0; race < MAX_RACES; race += 1) {
      const entry = await this.#kv.get(IDS_KEY);
      const current = entry?.operation === 'PUT' ? Number(entry.string()) : 0;
      const start = Math.max(Number.isSafeInteger(current) ? current : 0, floor + 1, this.#end, 1);
      const end = start + ID_BLOCK;
      try {
        if (entry === null) await this.#kv.create(IDS_KEY, String(end));
        else await this.#kv.update(IDS_KEY, String(end), entry.revision);
      } catch (err) {
        if (isRace(err)) continue;
        throw err;
      }
      // The rest of an older block is given up: ids only grow.
      this.#next = start;
      this.#end = end;
      return;
    }
    throw new Error('alarm ids: too many nodes reserving at once');
  }

  async #flush(): Promise<void> {
    if (this.#flushing || this.#closed || this.#waiting.size === 0 || this.#link.state !== 'connected') return;
    this.#flushing = true;
    try {
      for (const [id, row] of [...this.#waiting]) {
        await this.#write(row);
        if (this.#waiting.get(id) === row) this.#waiting.delete(id);
      }
    } catch (err) {
      this.#logger.warn({ event: 'cluster.alarm_share_failed', waiting: this.#waiting.size, err }, 'an alarm change waits for NATS');
    } finally {
      this.#flushing = false;
    }
    if (this.#waiting.size > 0 && this.#link.state === 'connected' && !this.#closed) setImmediate(() => void this.#flush());
  }

  /** Writes `row` merged with the entry it replaces, at that entry's revision (again after a race). */
  async #write(row: Row): Promise<void> {
    const key = String(row.id);
    for (let race = 0; race < MAX_RACES; race += 1) {
      const entry = await this.#kv.get(key);
      const stored = entry?.operation === 'PUT' ? rowOf(entry) : null;
      const value = JSON.stringify(merge(stored, row));
      try {
        if (entry === null) await this.#kv.create(key, value);
        else await this.#kv.update(key, value, entry.revision);
        return;
      } catch (err) {
        if (!isRace(err)) throw err;
      }
    }
    throw new Error(`alarm ${row.id}: too many writers at once`);
  }


  #deliver(entry: KvEntry | KvWatchEntry): void {
    if (entry.key === IDS_KEY || entry.operation !== 'PUT') return;
    const row = rowOf(entry);
    if (row === null || String(row.id) !== entry.key) {
      this.#logger.warn({ event: 'cluster.alarm_refused', key: entry.key.slice(0, 40) }, 'an alarms entry that does not check was skipped');
      return;
    }
    try {
      this.#apply?.(row);
    } catch (err) {
      this.#logger.error({ event: 'cluster.alarm_apply_failed', alarm: row.id, err });
    }
  }
}

/** The newer knowledge of an alarm: clear and acknowledgement kept from whichever copy has them. */
function merge(stored: Row | null, row: Row): Row {
  if (stored === null) return row;
  return {
    ...row,
    clearedAt: stored.clearedAt ?? row.clearedAt,
    ackedAt: stored.ackedAt ?? row.ackedAt,
    ackedBy: stored.ackedBy ?? row.ackedBy,
  };
}

const KINDS: ReadonlySet<string> = new Set(ALARM_KINDS);
const time = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);

/** The alarm in an entry, checked field by field; null when anything is off. */
function rowOf(entry: KvEntry | KvWatchEntry): Row | null {
  let v: Partial<Row>;
  try {
    v = entry.json<Partial<Row>>();
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object') return null;
  if (typeof v.id !== 'number' || !Number.isSafeInteger(v.id) || v.id < 1) return null;
  if (typeof v.source !== 'string' || v.source.length > 200 || typeof v.kind !== 'string' || !KINDS.has(v.kind)) return null;
  if ((v.severity !== 'low' && v.severity !== 'high') || typeof v.message !== 'string' || v.message.length > 1_000) return null;
  if (typeof v.raisedAt !== 'number' || !time(v.raisedAt) || !time(v.clearedAt) || !time(v.ackedAt)) return null;
  if (v.ackedBy !== null && (typeof v.ackedBy !== 'string' || v.ackedBy.length > 64)) return null;
  return { id: v.id, source: v.source, kind: v.kind, severity: v.severity, message: v.message, raisedAt: v.raisedAt, clearedAt: v.clearedAt ?? null, ackedAt: v.ackedAt ?? null, ackedBy: v.ackedBy ?? null };
}
