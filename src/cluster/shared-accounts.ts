import type { KV, KvEntry, KvWatchEntry } from '@nats-io/kv';
import type { Logger } from 'pino';
import { isRole } from '../accounts/roles.js';
import { checkUserName, type UserRecord, type UserStore } from '../accounts/user-store.js';
import type { ClusterLink } from './cluster-link.js';
import { followBucket, keyOf, openBucket, textOf } from './kv-buckets.js';

/** The bucket of accounts (docs/cluster.md, "Accounts"). */
export const ACCOUNTS_BUCKET = 'gridlink_accounts';

/** A user as the bucket holds it: the SQLite row, binary fields in base64, and who wrote it. */
interface AccountValue {
  readonly name: string;
  readonly role: string;
  readonly quotaBytes: number;
  readonly createdAt: number;
  readonly salt: string;
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly storedKey: string;
  readonly node: string;
  readonly at: number;
}

export interface SharedAccountsStatus {
  /** Changes of other nodes applied to this node's store. */
  readonly applied: number;
  /** Local changes shared with the bucket. */
  readonly shared: number;
  /** Local changes waiting for NATS to be shared. */
  readonly waiting: number;
  /** Bucket entries that did not parse or check (another program, corruption): skipped. */
  readonly refused: number;
}

const RETRY_MS = 1_000;
/** The largest scrypt cost an entry may carry (64 × the default, docs/security.md). */
const MAX_N = 1 << 20;
/** Users whose local changes may wait for NATS at once; beyond, the oldest waits are dropped (logged and counted). */
const MAX_WAITING = 10_000;

/**
 * Accounts shared by the nodes of a cluster (docs/cluster.md, "Accounts"):
 * each user is one entry of a KV bucket, keyed by name, holding the whole
 * row (role, quota, SCRAM salt and StoredKey; never a password). A change
 * made on a node (the admin socket) is written to its SQLite store first,
 * then put in the bucket; every node watches the bucket and writes each
 * entry into its own store, deletes included, so all stores converge on the
 * bucket's order of writes (the later write of one user wins). Sessions of
 * a user deleted anywhere end on every node, as the fronts check the local
 * store at each request.
 *
 * At start a node applies the bucket, deletes the users the bucket marks
 * deleted, and shares the local users it has never seen (a node joining
 * with its own accounts): `create`, so of two nodes seeding one name the
 * first wins. Changes made while NATS is away apply locally and are shared
 * when it is back.
 */
export class SharedAccounts {
  readonly #link: ClusterLink;
  readonly #kv: KV;
  readonly #users: UserStore;
  readonly #logger: Logger;
  /** Users changed here whose change has not reached the bucket yet, with a count of their changes. */
  readonly #waiting = new Map<string, number>();
  #revision = 0;
  #applied = 0;
  #shared = 0;
  #refused = 0;
  #closed = false;
  #stopFollowing: (() => void) | null = null;
  #retry: NodeJS.Timeout | null = null;
  #flushing = false;

  private constructor(link: ClusterLink, kv: KV, users: UserStore, logger: Logger) {
    this.#link = link;
    this.#kv = kv;
    this.#users = users;
    this.#logger = logger;
  }

  /** Opens the bucket, brings this node's store in line with it, and starts sharing. */
  static async start(link: ClusterLink, users: UserStore, options: { replicas: number; logger: Logger }): Promise<SharedAccounts> {
    const kv = await openBucket(link, ACCOUNTS_BUCKET, { history: 1, replicas: options.replicas }, options.logger);
    const shared = new SharedAccounts(link, kv, users, options.logger);
    await shared.#sync();
    users.onChange((name) => shared.#changed(name));
    shared.#stopFollowing = followBucket(kv, shared.#revision, (entry) => shared.#apply(entry), (err) =>
      options.logger.warn({ event: 'cluster.accounts_watch_failed', err }, 'the accounts watch stopped; starting again'),
    );
    shared.#retry = setInterval(() => void shared.#flush(), RETRY_MS).unref();
    link.onState((state) => {
      if (state === 'connected') void shared.#flush();
    });
    return shared;
  }

  status(): SharedAccountsStatus {
    return { applied: this.#applied, shared: this.#shared, waiting: this.#waiting.size, refused: this.#refused };
  }

  /** Resolves once no local change waits for the bucket (tests, shutdown); false after `timeoutMs`. */
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
    this.#users.onChange(null);
    this.#stopFollowing?.();
    if (this.#retry !== null) clearInterval(this.#retry);
    if (this.#waiting.size > 0) this.#logger.warn({ event: 'cluster.accounts_unshared', users: [...this.#waiting.keys()].slice(0, 20) }, 'account changes not shared before the stop: this node shares them at its next start');
  }

  async #sync(): Promise<void> {
    const status = await this.#kv.status();
    // Entries written from here on come through the watch, which starts after this revision.
    this.#revision = status.streamInfo.state.last_seq;
    const inBucket = new Set<string>();
    for await (const key of await this.#kv.keys()) {
      const entry = await this.#kv.get(key);
      if (entry === null) continue;
      inBucket.add(entry.key);
      this.#apply(entry);
    }
    for (const user of this.#users.list()) {
      const key = keyOf(user.name);
      if (inBucket.has(key)) continue;
      const entry = await this.#kv.get(key);
      if (entry !== null && entry.operation !== 'PUT') {
        this.#apply(entry); // deleted in the cluster while this node was away
        continue;
      }
      try {
        await this.#kv.create(key, this.#valueOf(this.#users.get(user.name)!));
        this.#shared += 1;
      } catch (err) {
        // Another node seeded the same name first: its account is the cluster's.
        const winner = await this.#kv.get(key);
        if (winner === null) throw err;
        this.#apply(winner);
      }
    }
  }


  #apply(entry: KvEntry | KvWatchEntry): void {
    let name: string;
    try {
      name = textOf(entry.key);
      checkUserName(name);
    } catch {
      this.#refused += 1;
      this.#logger.warn({ event: 'cluster.account_refused', key: entry.key.slice(0, 80) }, 'an accounts entry with a bad key was skipped');
      return;
    }
    // A change of this node still on its way: the bucket's older value must not undo it.
    if (this.#waiting.has(name)) return;
    if (entry.operation !== 'PUT') {
      if (this.#users.get(name) === undefined) return;
      this.#users.apply(name, null);
      this.#applied += 1;
      this.#logger.info({ event: 'cluster.account_deleted', user: name }, 'a user deleted on another node is deleted here');
      return;
    }
    const record = recordOf(name, entry);
    if (record === null) {
      this.#refused += 1;
      this.#logger.warn({ event: 'cluster.account_refused', user: name }, 'an accounts entry that does not check was skipped');
      return;
    }
    const local = this.#users.get(name);
    if (local !== undefined && sameRecord(local, record)) return;
    this.#users.apply(name, record);
    this.#applied += 1;
    this.#logger.info({ event: 'cluster.account_applied', user: name, role: record.role }, 'an account changed on another node is applied here');
  }

  #changed(name: string): void {
    if (!this.#waiting.has(name) && this.#waiting.size >= MAX_WAITING) {
      const oldest = this.#waiting.keys().next().value!;
      this.#waiting.delete(oldest);
      this.#link.countFailed();
      this.#logger.error({ event: 'cluster.account_unshared', user: oldest }, 'too many account changes wait for NATS: the oldest is not shared');
    }
    this.#waiting.set(name, (this.#waiting.get(name) ?? 0) + 1);
    void this.#flush();
  }

  /** Puts every waiting user's current state (or its deletion) in the bucket, in order of change. */
  async #flush(): Promise<void> {
    if (this.#flushing || this.#closed || this.#waiting.size === 0 || this.#link.state !== 'connected') return;
    this.#flushing = true;
    try {
      for (const [name, changes] of [...this.#waiting]) {
        const record = this.#users.get(name);
        const key = keyOf(name);
        if (record === undefined) await this.#kv.delete(key);
        else await this.#kv.put(key, this.#valueOf(record));
        // Changed again during the put: it stays waiting (and the bucket's echo of this put cannot undo the change).
        if (this.#waiting.get(name) === changes) this.#waiting.delete(name);
        this.#shared += 1;
      }
    } catch (err) {
      this.#logger.warn({ event: 'cluster.account_share_failed', waiting: this.#waiting.size, err }, 'an account change waits for NATS');
    } finally {
      this.#flushing = false;
    }
    // A change that arrived during this flush.
    if (this.#waiting.size > 0 && this.#link.state === 'connected' && !this.#closed) setImmediate(() => void this.#flush());
  }

  #valueOf(record: UserRecord): string {
    const c = record.credential;
    const value: AccountValue = {
      name: record.name,
      role: record.role,
      quotaBytes: record.quotaBytes,
      createdAt: record.createdAt,
      salt: c.salt.toString('base64'),
      N: c.N,
      r: c.r,
      p: c.p,
      storedKey: c.storedKey.toString('base64'),
      node: this.#link.node,
      at: Date.now(),
    };
    return JSON.stringify(value);
  }
}

/** The account in an entry, checked field by field; null when anything is off. */
function recordOf(name: string, entry: KvEntry | KvWatchEntry): UserRecord | null {
  let v: Partial<AccountValue>;
  try {
    v = entry.json<Partial<AccountValue>>();
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object' || v.name !== name || typeof v.role !== 'string' || !isRole(v.role)) return null;
  const ints = [v.quotaBytes, v.createdAt, v.N, v.r, v.p];
  if (!ints.every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)) return null;
  if (typeof v.salt !== 'string' || typeof v.storedKey !== 'string') return null;
  const salt = Buffer.from(v.salt, 'base64');
  const storedKey = Buffer.from(v.storedKey, 'base64');
  if (salt.length === 0 || salt.length > 64 || storedKey.length !== 32) return null;
  // A hostile cost would make every password login of this user burn the CPU (or memory) of every node.
  if (v.N! < 2 || v.N! > MAX_N || (v.N! & (v.N! - 1)) !== 0 || v.r! < 1 || v.r! > 32 || v.p! < 1 || v.p! > 16) return null;
  return { name, role: v.role, quotaBytes: v.quotaBytes!, createdAt: v.createdAt!, credential: { salt, N: v.N!, r: v.r!, p: v.p!, storedKey } };
}

function sameRecord(a: UserRecord, b: UserRecord): boolean {
  return (
    a.role === b.role &&
    a.quotaBytes === b.quotaBytes &&
    a.createdAt === b.createdAt &&
    a.credential.N === b.credential.N &&
    a.credential.r === b.credential.r &&
    a.credential.p === b.credential.p &&
    a.credential.salt.equals(b.credential.salt) &&
    a.credential.storedKey.equals(b.credential.storedKey)
  );
}
