import type { KV, KvEntry } from '@nats-io/kv';
import type { Logger } from 'pino';
import { GridlinkError } from '../errors/index.js';
import type { NickRegistry } from '../services/chat/nick-registry.js';
import type { ClusterLink } from './cluster-link.js';
import { keyOf, openBucket, textOf } from './kv-buckets.js';
import type { NodeRegistry } from './node-registry.js';

/** The bucket of chat nicknames (docs/cluster.md, "Buckets"): key `<room>.<hex nick>`. */
export const NICKS_BUCKET = 'gridlink_nicks';

interface NickEntry {
  readonly node: string;
  readonly room: string;
  readonly nick: string;
  readonly at: number;
}

const CLAIM_TIMEOUT_MS = 5_000;
/** How often the mirror of the bucket is rebuilt from a listing. */
const RESYNC_MS = 30_000;

/**
 * Nicknames unique per room across the cluster (docs/cluster.md, "Chat rooms
 * across nodes"): a join is a KV `create` of `<room>.<nick>`, which exactly
 * one node wins; a leave deletes it. Each entry names its node, so when the
 * {@link NodeRegistry} reports a node dead every node tries to delete that
 * node's entries with the revision it saw, and the one whose delete lands
 * announces that the member left (once). Every node mirrors the bucket
 * through a watch, so `has` and `members` never wait for NATS.
 */
export class ClusterNicks implements NickRegistry {
  readonly #link: ClusterLink;
  readonly #kv: KV;
  readonly #logger: Logger;
  /** room → nick → entry with its revision: every node's members. */
  readonly #mirror = new Map<string, Map<string, NickEntry & { revision: number }>>();
  /** Releases that have not reached NATS yet (it was away): retried when it is back. */
  readonly #releases = new Map<string, number>();
  readonly #lost = new Set<(room: string, nick: string) => void>();
  /** This node's members by key: written again after an outage if a sweep removed them meanwhile. */
  readonly #own = new Map<string, NickEntry>();
  #stopWatch: (() => void) | null = null;
  #resyncing = false;
  #timer: NodeJS.Timeout | null = null;

  private constructor(link: ClusterLink, kv: KV, logger: Logger) {
    this.#link = link;
    this.#kv = kv;
    this.#logger = logger;
  }

  static async start(link: ClusterLink, nodes: NodeRegistry, options: { replicas: number; logger: Logger }): Promise<ClusterNicks> {
    const kv = await openBucket(link, NICKS_BUCKET, { history: 1, replicas: options.replicas }, options.logger);
    const nicks = new ClusterNicks(link, kv, options.logger);
    await nicks.#load();
    nodes.onNodeDown((node) => void nicks.#sweep(node));
    nicks.#timer = setInterval(() => void nicks.#resync(), RESYNC_MS).unref();
    link.onState((state) => {
      if (state === 'connected') void nicks.#retryReleases().then(() => nicks.#reassert()).then(() => nicks.#resync());
    });
    // Members of nodes that died while no node was watching, and of this node's previous run.
    for (const entry of nicks.#entries()) {
      if (entry.node === link.node || !nodes.isLive(entry.node)) void nicks.#remove(entry, true);
    }
    return nicks;
  }

  async claim(room: string, nick: string): Promise<void> {
    if (this.#link.state !== 'connected') {
      throw new GridlinkError('GL_ERR_CLUSTER_UNAVAILABLE', `NATS is ${this.#link.state}: nicknames cannot be checked across the cluster`);
    }
    const key = `${room}.${keyOf(nick)}`;
    const entry: NickEntry = { node: this.#link.node, room, nick, at: Date.now() };
    let revision: number;
    try {
      revision = await withTimeout(this.#kv.create(key, JSON.stringify(entry)), CLAIM_TIMEOUT_MS);
    } catch (err) {
      if (/wrong last sequence|key exists/iu.test(String(err))) throw new GridlinkError('GL_ERR_CHAT_NICK_TAKEN', `${nick} in ${room} (on another node)`);
      throw new GridlinkError('GL_ERR_CLUSTER_UNAVAILABLE', `claiming ${nick} in ${room}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    this.#own.set(key, entry);
    this.#set({ ...entry, revision });
  }

  release(room: string, nick: string): void {
    const entry = this.#mirror.get(room)?.get(nick);
    if (entry === undefined || entry.node !== this.#link.node) return;
    this.#unset(room, nick);
    const key = `${room}.${keyOf(nick)}`;
    this.#own.delete(key);
    this.#releases.set(key, entry.revision);
    void this.#release(key, entry.revision);
  }

  has(room: string, nick: string): boolean {
    return this.#mirror.get(room)?.has(nick) === true;
  }

  members(room: string): string[] {
    return [...(this.#mirror.get(room)?.keys() ?? [])].sort();
  }

  rooms(): Record<string, number> {
    return Object.fromEntries([...this.#mirror].map(([room, members]) => [room, members.size]));
  }

  onLost(listener: (room: string, nick: string) => void): void {
    this.#lost.add(listener);
  }

  /** Members of this node registered in the bucket (for status). */
  get ownMembers(): number {
    let count = 0;
    for (const entry of this.#entries()) if (entry.node === this.#link.node) count += 1;
    return count;
  }

  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#stopWatch?.();
  }

  /**
   * (Re)builds the mirror: watch first, then list, so an update between the
   * two is never missed (newer revisions win); entries the listing no longer
   * has and that are older than it were deleted while the watch was away.
   * Run at start, after every reconnect and every 30 s: a watch whose NATS
   * server died can stall without a word (docs/cluster.md).
   */
  async #load(): Promise<void> {
    this.#stopWatch?.();
    const watch = await this.#kv.watch({ include: 'updates' });
    this.#stopWatch = () => watch.stop();
    void (async () => {
      for await (const entry of watch) this.#apply(entry);
    })().catch((err: unknown) => this.#logger.warn({ event: 'cluster.nicks_watch_ended', err }));
    const before = (await this.#kv.status()).streamInfo.state.last_seq;
    const listed = new Set<string>();
    for await (const key of await this.#kv.keys()) {
      const entry = await this.#kv.get(key);
      if (entry === null) continue;
      listed.add(entry.key);
      this.#apply(entry);
    }
    for (const entry of [...this.#entries()]) {
      if (entry.revision <= before && !listed.has(`${entry.room}.${keyOf(entry.nick)}`)) this.#unset(entry.room, entry.nick);
    }
  }

  async #resync(): Promise<void> {
    if (this.#resyncing || this.#link.state !== 'connected') return;
    this.#resyncing = true;
    try {
      await this.#load();
      // JetStream may have refused the reassertion made at reconnect (it answers some time after the link is up).
      await this.#reassert();
    } catch (err) {
      this.#logger.debug({ event: 'cluster.nicks_resync_failed', err });
    } finally {
      this.#resyncing = false;
    }
  }

  #apply(entry: KvEntry): void {
    const dot = entry.key.indexOf('.');
    if (dot <= 0) return; // not a nickname's key
    const room = entry.key.slice(0, dot);
    const nick = textOf(entry.key.slice(dot + 1));
    const known = this.#mirror.get(room)?.get(nick);
    if (known !== undefined && known.revision >= entry.revision) return;
    if (entry.operation !== 'PUT') {
      this.#unset(room, nick);
      return;
    }
    let value: NickEntry;
    try {
      value = entry.json<NickEntry>();
    } catch {
      return; // not ours
    }
    // Only an entry that says what its key says, and names a node, is a member.
    if (typeof value !== 'object' || value === null || value.room !== room || value.nick !== nick || typeof value.node !== 'string') return;
    this.#set({ node: value.node, room, nick, at: Number(value.at), revision: entry.revision });
  }

  #set(entry: NickEntry & { revision: number }): void {
    let members = this.#mirror.get(entry.room);
    if (members === undefined) {
      members = new Map();
      this.#mirror.set(entry.room, members);
    }
    const known = members.get(entry.nick);
    if (known === undefined || known.revision < entry.revision) members.set(entry.nick, entry);
  }

  #unset(room: string, nick: string): void {
    const members = this.#mirror.get(room);
    if (members === undefined) return;
    members.delete(nick);
    if (members.size === 0) this.#mirror.delete(room);
  }

  *#entries(): Generator<NickEntry & { revision: number }> {
    for (const members of this.#mirror.values()) yield* members.values();
  }

  async #release(key: string, revision: number): Promise<void> {
    if (this.#link.state !== 'connected') return; // retried on reconnect
    try {
      await this.#kv.delete(key, { previousSeq: revision });
      this.#releases.delete(key);
    } catch (err) {
      // A newer revision means the name was swept and taken again: nothing of ours to release.
      if (/wrong last sequence/iu.test(String(err))) this.#releases.delete(key);
      else this.#logger.warn({ event: 'cluster.nick_release_failed', key, err }, 'a nickname release will be retried');
    }
  }

  /**
   * After an outage: this node's members whose entries another node swept
   * meanwhile (it took this node for dead) are written again; a name taken
   * by someone else in the gap stays theirs too, and is logged as a conflict.
   */
  async #reassert(): Promise<void> {
    for (const [key, entry] of [...this.#own]) {
      try {
        const current = await this.#kv.get(key);
        if (current !== null && current.operation === 'PUT') continue;
        const revision = await this.#kv.create(key, JSON.stringify(entry));
        this.#set({ ...entry, revision });
      } catch (err) {
        if (/wrong last sequence|key exists/iu.test(String(err))) {
          this.#logger.warn({ event: 'cluster.nick_conflict', room: entry.room, nick: entry.nick, err }, 'a member\'s name was taken on another node while NATS was away');
        } else {
          // JetStream not answering yet: the next resync tries again.
          this.#logger.debug({ event: 'cluster.nick_reassert_failed', room: entry.room, nick: entry.nick, err });
        }
      }
    }
  }

  async #retryReleases(): Promise<void> {
    for (const [key, revision] of [...this.#releases]) await this.#release(key, revision);
  }

  /** A dead node's members leave their rooms: each entry is removed, and announced, by the one node whose delete lands. */
  async #sweep(node: string): Promise<void> {
    const gone = [...this.#entries()].filter((entry) => entry.node === node);
    if (gone.length > 0) this.#logger.info({ event: 'cluster.nicks_sweep', node, members: gone.length }, 'the members of a dead node leave their rooms');
    for (const entry of gone) await this.#remove(entry, true);
  }

  async #remove(entry: NickEntry & { revision: number }, announce: boolean): Promise<void> {
    try {
      await this.#kv.delete(`${entry.room}.${keyOf(entry.nick)}`, { previousSeq: entry.revision });
    } catch {
      return; // another node removed it first (or it changed): that node announces it
    }
    this.#unset(entry.room, entry.nick);
    if (!announce) return;
    for (const listener of this.#lost) listener(entry.room, entry.nick);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from NATS within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
