import { hostname } from 'node:os';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import { GridlinkError } from '../errors/index.js';
import type { ClusterLink } from './cluster-link.js';
import { openBucket } from './kv-buckets.js';

/** The bucket of live nodes (docs/cluster.md, "Buckets"). */
export const NODES_BUCKET = 'gridlink_nodes';

/** What a node writes about itself at each heartbeat. */
export interface NodeInfo {
  readonly node: string;
  readonly host: string;
  readonly pid: number;
  /** When this run of the node started (ms since the epoch): a restart is a new run. */
  readonly startedAt: number;
  /** When this heartbeat was written. */
  readonly beatAt: number;
}

export interface LiveNode {
  readonly node: string;
  readonly self: boolean;
  readonly startedAt: number;
  /** Local time the last heartbeat was seen. */
  readonly lastSeen: number;
}

export interface NodeRegistryOptions {
  /** A node silent for this long is dead; also the bucket's `max_age`. */
  readonly timeoutMs: number;
  readonly replicas: number;
  readonly logger: Logger;
}

type Listener = (node: string) => void;

/**
 * The registry of live nodes (docs/cluster.md, "Nodes"). nats-server 2.9 has
 * no per-key TTL, so the bucket's `max_age` is the node timeout and each
 * node rewrites its key every third of it: a key stops existing once its
 * node stopped writing it. Joining is a KV `create`, which exactly one of
 * any number of racing nodes wins; a name whose key is still written is
 * refused (GL_ERR_CLUSTER_NODE_TAKEN), one whose key only lingers after a
 * crash is taken once it expires.
 *
 * Every node watches the bucket and tells {@link onNodeDown} listeners when
 * another node leaves (its key deleted at a clean stop) or dies (no
 * heartbeat seen for the timeout and its key gone when asked). A node cut
 * off from NATS judges nobody: it asks the bucket before declaring a death.
 */
export class NodeRegistry {
  readonly node: string;
  readonly #link: ClusterLink;
  readonly #kv: KV;
  readonly #options: NodeRegistryOptions;
  readonly #info: Omit<NodeInfo, 'beatAt'>;
  readonly #live = new Map<string, { startedAt: number; lastSeen: number }>();
  readonly #down = new Set<Listener>();
  readonly #up = new Set<Listener>();
  readonly #timers: NodeJS.Timeout[] = [];
  #beating = false;
  #sweeping = false;
  #sweeps = 0;
  /**
   * Since when this node's heartbeats have landed without a failure, or null
   * while they fail. After an outage (ours or NATS's) the link is up before
   * JetStream answers again; the other nodes' keys may have expired meanwhile,
   * and they need one full timeout of a working JetStream to write them again
   * before anyone is judged.
   */
  #healthySince: number | null = Date.now();
  #closed = false;
  #stopWatch: (() => void) | null = null;

  private constructor(link: ClusterLink, kv: KV, options: NodeRegistryOptions) {
    this.node = link.node;
    this.#link = link;
    this.#kv = kv;
    this.#options = options;
    this.#info = { node: link.node, host: hostname(), pid: process.pid, startedAt: Date.now() };
  }

  /** Opens the bucket and claims this node's name; refuses a name a live node holds. */
  static async join(link: ClusterLink, options: NodeRegistryOptions): Promise<NodeRegistry> {
    const kv = await openBucket(link, NODES_BUCKET, { ttl: options.timeoutMs, history: 1, replicas: options.replicas }, options.logger);
    const registry = new NodeRegistry(link, kv, options);
    await registry.#claim();
    await registry.#start();
    return registry;
  }

  /** The live nodes as this node knows them, itself included, by name. */
  nodes(): LiveNode[] {
    return [...this.#live]
      .map(([node, seen]) => ({ node, self: node === this.node, startedAt: seen.startedAt, lastSeen: seen.lastSeen }))
      .sort((a, b) => a.node.localeCompare(b.node));
  }

  /** Is `node` alive as far as this node knows? */
  isLive(node: string): boolean {
    return this.#live.has(node);
  }

  /**
   * Calls `listener(node)` once each time another node leaves or dies
   * (docs/cluster.md, "When a node dies"); returns a function that stops it.
   */
  onNodeDown(listener: Listener): () => void {
    this.#down.add(listener);
    return () => this.#down.delete(listener);
  }

  /** Calls `listener(node)` when a node joins (or comes back); returns a function that stops it. */
  onNodeUp(listener: Listener): () => void {
    this.#up.add(listener);
    return () => this.#up.delete(listener);
  }

  /** Stops the heartbeats and deletes this node's key, so the others see it leave at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#stopWatch?.();
    if (this.#link.state === 'connected') await this.#kv.delete(this.node).catch(() => undefined);
  }

  #value(): string {
    return JSON.stringify({ ...this.#info, beatAt: Date.now() } satisfies NodeInfo);
  }

  async #claim(): Promise<void> {
    // A lingering key from a crash expires within the timeout; a live one is rewritten within a third of it.
    const deadline = Date.now() + this.#options.timeoutMs + 2_000;
    let seen: number | null = null;
    for (;;) {
      try {
        await this.#kv.create(this.node, this.#value());
        return;
      } catch (err) {
        if (!/wrong last sequence|key exists/iu.test(String(err))) throw err;
      }
      const entry = await this.#kv.get(this.node);
      if (entry !== null && entry.operation === 'PUT') {
        if (seen !== null && entry.revision !== seen) {
          const other = infoOf(entry) ?? { pid: 0, host: '?', startedAt: 0 };
          throw new GridlinkError('GL_ERR_CLUSTER_NODE_TAKEN', `${this.node} (pid ${other.pid} on ${other.host}, up since ${new Date(other.startedAt).toISOString()})`);
        }
        seen = entry.revision;
      }
      if (Date.now() > deadline) throw new GridlinkError('GL_ERR_CLUSTER_NODE_TAKEN', `${this.node}: its registry entry did not expire`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Watches the bucket (again: a watch whose NATS server died can stall silently), then lists it. */
  async #watchAndList(): Promise<void> {
    this.#stopWatch?.();
    const watch = await this.#kv.watch({ include: 'updates' });
    this.#stopWatch = () => watch.stop();
    void (async () => {
      for await (const entry of watch) {
        if (entry.operation === 'PUT') this.#saw(entry.key, infoOf(entry));
        else this.#gone(entry.key, 'left');
      }
    })().catch((err: unknown) => this.#options.logger.warn({ event: 'cluster.registry_watch_ended', err }));
    for await (const key of await this.#kv.keys()) {
      const entry = await this.#kv.get(key);
      if (entry?.operation === 'PUT') this.#saw(key, infoOf(entry));
    }
  }

  async #start(): Promise<void> {
    await this.#watchAndList();
    this.#link.onState((state) => {
      if (state !== 'connected') {
        this.#healthySince = null;
        return;
      }
      void this.#beat();
      void this.#watchAndList().catch((err: unknown) => this.#options.logger.debug({ event: 'cluster.registry_relist_failed', err }));
    });
    const every = Math.max(250, Math.floor(this.#options.timeoutMs / 3));
    this.#timers.push(setInterval(() => void this.#beat(), every).unref());
    this.#timers.push(setInterval(() => void this.#sweep(), Math.min(1_000, every)).unref());
  }

  #saw(node: string, info: NodeInfo | null): void {
    // Not a node's entry (written by something else on the bucket): ignored, not trusted.
    if (info === null) return;
    const known = this.#live.get(node);
    this.#live.set(node, { startedAt: info.startedAt, lastSeen: Date.now() });
    if (known === undefined) {
      this.#options.logger.info({ event: 'cluster.node_up', node }, 'a node joined the cluster');
      for (const listener of this.#up) listener(node);
    } else if (known.startedAt !== info.startedAt && node !== this.node) {
      // Restarted between two sweeps: its previous run's members and leases are gone all the same.
      this.#options.logger.info({ event: 'cluster.node_restarted', node });
      for (const listener of this.#down) listener(node);
      for (const listener of this.#up) listener(node);
    }
  }

  #gone(node: string, why: 'left' | 'died'): void {
    if (node === this.node || !this.#live.delete(node)) return;
    this.#options.logger.warn({ event: 'cluster.node_down', node, why }, why === 'left' ? 'a node left the cluster' : 'a node stopped answering: taken as dead');
    for (const listener of this.#down) {
      try {
        listener(node);
      } catch (err) {
        this.#options.logger.error({ event: 'cluster.node_down_listener_failed', node, err });
      }
    }
  }

  async #beat(): Promise<void> {
    if (this.#beating || this.#closed || this.#link.state !== 'connected') return;
    this.#beating = true;
    try {
      await this.#kv.put(this.node, this.#value());
      this.#healthySince ??= Date.now();
    } catch (err) {
      this.#healthySince = null;
      this.#options.logger.warn({ event: 'cluster.heartbeat_failed', err });
    } finally {
      this.#beating = false;
    }
  }

  async #sweep(): Promise<void> {
    if (this.#sweeping || this.#closed || this.#link.state !== 'connected') return;
    // Back from an outage (ours or NATS's): the keys of live nodes may have expired meanwhile; give them time to write again.
    if (this.#healthySince === null || Date.now() - this.#healthySince < this.#options.timeoutMs) return;
    this.#sweeping = true;
    try {
      this.#sweeps += 1;
      if (this.#sweeps % 10 === 0) {
        for await (const key of await this.#kv.keys()) {
          if (this.#live.has(key)) continue;
          const entry = await this.#kv.get(key);
          if (entry?.operation === 'PUT') this.#saw(key, infoOf(entry));
        }
      }
      const now = Date.now();
      for (const [node, seen] of [...this.#live]) {
        if (node === this.node || now - seen.lastSeen < this.#options.timeoutMs) continue;
        // Ask the bucket before judging: this node may have missed heartbeats, not the other node sent none.
        const entry = await this.#kv.get(node);
        if (entry === null || entry.operation !== 'PUT') this.#gone(node, 'died');
        else this.#saw(node, infoOf(entry));
      }
    } catch (err) {
      this.#options.logger.debug({ event: 'cluster.sweep_failed', err });
    } finally {
      this.#sweeping = false;
    }
  }
}

/** A registry entry's value, or null when it is not one (never throws: a bad entry must not end the watch). */
function infoOf(entry: { json<T>(): T }): NodeInfo | null {
  try {
    const info = entry.json<NodeInfo>();
    return typeof info === 'object' && info !== null && typeof info.startedAt === 'number' ? info : null;
  } catch {
    return null;
  }
}
