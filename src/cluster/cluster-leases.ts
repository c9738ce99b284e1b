import type { KV, KvEntry } from '@nats-io/kv';
import type { Logger } from 'pino';
import { GridlinkError } from '../errors/index.js';
import type { SharedLeases } from '../scada/control-desk.js';
import type { ClusterLink } from './cluster-link.js';
import { keyOf, openBucket } from './kv-buckets.js';

/** The bucket of select-before-operate leases (docs/cluster.md, "Select leases"). */
export const LEASES_BUCKET = 'gridlink_leases';

/** What a lease entry holds: who, on which node and connection, until when. */
export interface LeaseValue {
  readonly point: string;
  readonly holder: string;
  readonly node: string;
  readonly connection: string;
  /** Milliseconds since the epoch, by the holder's clock (the nodes keep NTP time, docs/cluster.md). */
  readonly expiresAt: number;
  /** `select` while an operator holds it, `command` while the command it was spent on runs. */
  readonly phase: 'select' | 'command';
}

export interface ClusterLeasesOptions {
  readonly replicas: number;
  readonly logger: Logger;
  /** Is that node alive? A dead node's lease may be taken before its expiry. */
  readonly isLive?: (node: string) => boolean;
  /** A KV request not answered by then fails (the select is refused, never granted on a guess). */
  readonly timeoutMs?: number;
}

/** No lease outlives this in the bucket, whatever its value says: the bucket's `max_age`. */
const BUCKET_MAX_AGE_MS = 15 * 60_000;
const REQUEST_TIMEOUT_MS = 3_000;
/** Races lost to another node's write of the same key before giving up (each retry re-reads the entry). */
const MAX_RACES = 5;

/**
 * Select leases across the nodes of a cluster (docs/cluster.md, "Select
 * leases"): one KV entry per held point. Taking a free point is a KV
 * `create`, and taking over an expired lease (or one of a node that died)
 * an `update` with the revision read: of any number of operators on any
 * nodes racing for a point, JetStream lets exactly one write through and
 * refuses the others (wrong last sequence), who then see the winner.
 * Spending the lease on a command is again an `update` with the revision
 * this node wrote, so a node whose lease expired and was taken elsewhere
 * cannot command on it. The bucket's `max_age` bounds every entry even if
 * nobody ever releases it.
 */
export class ClusterLeases implements SharedLeases {
  readonly #link: ClusterLink;
  readonly #kv: KV;
  readonly #options: ClusterLeasesOptions;
  /** The revision this node last wrote for each point it holds, by point. */
  readonly #mine = new Map<string, { connection: string; revision: number }>();
  #taken = 0;
  #refused = 0;

  private constructor(link: ClusterLink, kv: KV, options: ClusterLeasesOptions) {
    this.#link = link;
    this.#kv = kv;
    this.#options = options;
  }

  static async open(link: ClusterLink, options: ClusterLeasesOptions): Promise<ClusterLeases> {
    const kv = await openBucket(link, LEASES_BUCKET, { ttl: BUCKET_MAX_AGE_MS, history: 1, replicas: options.replicas }, options.logger);
    return new ClusterLeases(link, kv, options);
  }

  /** Leases taken and selections refused by this node (for status). */
  counts(): { taken: number; refused: number; held: number } {
    return { taken: this.#taken, refused: this.#refused, held: this.#mine.size };
  }

  /** The lease on `point` now, as the bucket has it (null when free or expired). */
  async holder(point: string): Promise<LeaseValue | null> {
    const entry = await this.#get(point);
    const lease = entry === null ? null : leaseOf(entry);
    return lease !== null && lease.expiresAt > Date.now() ? lease : null;
  }

  async take(point: string, holder: string, connection: string, expiresAt: number): Promise<void> {
    this.#needLink();
    const value: LeaseValue = { point, holder, node: this.#link.node, connection, expiresAt, phase: 'select' };
    const data = JSON.stringify(value);
    const key = keyOf(point);
    for (let race = 0; race < MAX_RACES; race += 1) {
      const entry = await this.#get(point);
      const lease = entry === null ? null : leaseOf(entry);
      try {
        let revision: number;
        if (entry === null) {
          revision = await this.#kv.create(key, data);
        } else if (lease === null || this.#free(lease) || (lease.node === this.#link.node && lease.connection === connection && lease.phase === 'select')) {
          revision = await this.#kv.update(key, data, entry.revision, this.#timeout());
        } else {
          this.#refused += 1;
          const seconds = Math.max(1, Math.ceil((lease.expiresAt - Date.now()) / 1000));
          const where = lease.node === this.#link.node ? '' : ` on node ${lease.node}`;
          throw new GridlinkError('GL_ERR_SCADA_SELECTED', lease.phase === 'command' ? `${point} has a command in progress (by ${lease.holder}${where})` : `${point} is held by ${lease.holder}${where} for ${seconds} s more`);
        }
        this.#mine.set(point, { connection, revision });
        this.#taken += 1;
        return;
      } catch (err) {
        if (err instanceof GridlinkError) throw err;
        if (!isRace(err)) throw unavailable(point, err);
        // Another node wrote the key between our read and our write: read it again and judge.
      }
    }
    this.#refused += 1;
    throw new GridlinkError('GL_ERR_SCADA_SELECTED', `${point} is being selected on another node`);
  }

  async spend(point: string, connection: string, until: number): Promise<boolean> {
    const mine = this.#mine.get(point);
    if (mine === undefined || mine.connection !== connection) return false;
    const entry = await this.#get(point).catch(() => null);
    if (entry === null || entry.revision !== mine.revision) {
      this.#mine.delete(point);
      return false;
    }
    const lease = leaseOf(entry)!;
    const spent: LeaseValue = { ...lease, expiresAt: until, phase: 'command' };
    try {
      mine.revision = await this.#kv.update(keyOf(point), JSON.stringify(spent), entry.revision, this.#timeout());
      return true;
    } catch (err) {
      this.#mine.delete(point);
      if (!isRace(err)) this.#options.logger.warn({ event: 'cluster.lease_spend_failed', point, err }, 'could not confirm the selection in the cluster: the command is refused');
      return false;
    }
  }

  release(point: string, connection: string): void {
    const mine = this.#mine.get(point);
    if (mine === undefined || mine.connection !== connection) return;
    this.#mine.delete(point);
    if (this.#link.state !== 'connected') return; // the entry ends at its expiry
    this.#kv.delete(keyOf(point), { previousSeq: mine.revision }).catch((err: unknown) => {
      // Taken over after it expired (a race), or NATS went away: either way it ends at its expiry.
      if (!isRace(err)) this.#options.logger.debug({ event: 'cluster.lease_release_failed', point, err });
    });
  }

  /** Forgets this node's leases (it stops); their entries end at their expiry unless released first. */
  close(): void {
    this.#mine.clear();
  }

  #free(lease: LeaseValue): boolean {
    if (lease.expiresAt <= Date.now()) return true;
    return lease.node !== this.#link.node && this.#options.isLive !== undefined && !this.#options.isLive(lease.node);
  }

  async #get(point: string): Promise<KvEntry | null> {
    try {
      // A deleted entry is returned too: taking the point then updates its revision.
      return await withTimeout(this.#kv.get(keyOf(point)), this.#timeout());
    } catch (err) {
      throw unavailable(point, err);
    }
  }

  #timeout(): number {
    return this.#options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  }

  #needLink(): void {
    if (this.#link.state !== 'connected') throw new GridlinkError('GL_ERR_CLUSTER_UNAVAILABLE', 'NATS is away: a selection needs the cluster to be exclusive');
  }
}

/** The lease in an entry; null for a deleted entry or one that does not parse. */
function leaseOf(entry: KvEntry): LeaseValue | null {
  if (entry.operation !== 'PUT') return null;
  try {
    const value = entry.json<LeaseValue>();
    return typeof value.expiresAt === 'number' && typeof value.node === 'string' ? value : null;
  } catch {
    return null;
  }
}

/** JetStream refused a write because the key changed since it was read (the CAS lost). */
export function isRace(err: unknown): boolean {
  return /wrong last sequence|key exists/iu.test(String(err));
}

function unavailable(point: string, err: unknown): GridlinkError {
  if (err instanceof GridlinkError) return err;
  return new GridlinkError('GL_ERR_CLUSTER_UNAVAILABLE', `select ${point}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from NATS within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
