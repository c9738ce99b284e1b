import { hostname } from 'node:os';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type PubAck } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { GridlinkError } from '../errors/index.js';

/**
 * The state of a node's link to NATS (docs/cluster.md, "Loss of NATS"):
 * `connected`; `reconnecting` after the connection dropped, while the client
 * dials again (publishes wait in its buffer or in the retry loop); `down`
 * once closed for good (the node stops, or it never connected).
 */
export type LinkState = 'connected' | 'reconnecting' | 'down';

/** The link's counters, shown by `gridlink admin status` and `/metrics`. */
export interface LinkCounters {
  /** Messages handed to NATS (core publishes and acknowledged JetStream publishes). */
  readonly published: number;
  /** JetStream publishes tried again after a failure or a timeout. */
  readonly retried: number;
  /** Publishes given up on after their retries (counted, logged, never silent). */
  readonly failed: number;
  /** Times the connection came back after a loss. */
  readonly reconnects: number;
}

export interface LinkStatus extends LinkCounters {
  readonly node: string;
  readonly servers: readonly string[];
  readonly state: LinkState;
  /** Milliseconds since the epoch when the link entered its state. */
  readonly since: number;
  /** The server the client is connected to now (null when not connected). */
  readonly server: string | null;
}

export interface ClusterLinkOptions {
  /** `nats://host:port` URLs; the client picks one and moves to another when it fails. */
  readonly servers: readonly string[];
  /** This node's name, unique in the cluster (docs/cluster.md); defaults to the host name. */
  readonly node?: string | undefined;
  readonly logger: Logger;
  /** How long the first connection may take before the start fails. */
  readonly connectTimeoutMs?: number;
}

/** Options of {@link ClusterLink.publishDurable}. */
export interface DurablePublishOptions {
  /** JetStream de-duplication id: a retried publish with the same id is stored once. */
  readonly msgID: string;
  /** Give up (count `failed`) after this long; 0 tries once. */
  readonly deadlineMs?: number;
}

const FIRST_CONNECT_MS = 10_000;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;
const DURABLE_DEADLINE_MS = 60_000;
/** Core publishes the client may buffer while NATS is away (it sends them once it is back). */
export const MAX_BUFFERED_WHILE_DOWN = 10_000;

/** Node names: what a NATS subject token and a KV key accept, and a host name. */
const NODE_NAME = /^[A-Za-z0-9_-]{1,64}$/u;

/** The node name of a host: its host name, with what a subject token refuses replaced. */
export function defaultNodeName(): string {
  const name = hostname().split('.')[0]!.replace(/[^A-Za-z0-9_-]/gu, '-').slice(0, 64);
  return name.length > 0 ? name : 'node';
}

/** Checks a node name given by `--node` or `cluster.node`. */
export function checkNodeName(name: string): string {
  if (!NODE_NAME.test(name)) {
    throw new GridlinkError('GL_ERR_CONFIG_INVALID', `cluster.node ${JSON.stringify(name.slice(0, 80))}: 1-64 letters, digits, "_" or "-"`);
  }
  return name;
}

/**
 * One node's connection to the NATS system of a cluster (docs/cluster.md):
 * the connection, JetStream and its managers, the node's name, the
 * connection's state and the publish counters. It reconnects forever with a
 * backoff that grows while NATS stays away (100 ms up to 5 s, with jitter),
 * so a node outlives any NATS outage and rejoins by itself.
 */
export class ClusterLink {
  readonly node: string;
  readonly servers: readonly string[];
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly kvm: Kvm;
  readonly #logger: Logger;
  readonly #counters = { published: 0, retried: 0, failed: 0, reconnects: 0 };
  #state: LinkState = 'connected';
  #since = Date.now();
  readonly #listeners = new Set<(state: LinkState) => void>();
  #closing = false;
  /** Core publishes handed to the client since the connection was lost. */
  #bufferedWhileDown = 0;
  #warnedFull = false;

  private constructor(node: string, servers: readonly string[], nc: NatsConnection, jsm: JetStreamManager, logger: Logger) {
    this.node = node;
    this.servers = servers;
    this.nc = nc;
    this.js = jetstream(nc);
    this.jsm = jsm;
    this.kvm = new Kvm(this.js);
    this.#logger = logger;
    void this.#watch();
    void nc.closed().then((err) => {
      this.#enter('down');
      if (err !== undefined && !this.#closing) this.#logger.error({ event: 'cluster.link_closed', err }, 'the NATS connection closed for good');
    });
  }

  /**
   * Connects (the first connection must succeed within `connectTimeoutMs`,
   * else GL_ERR_CLUSTER_UNREACHABLE) and checks that JetStream is on.
   */
  static async connect(options: ClusterLinkOptions): Promise<ClusterLink> {
    const node = checkNodeName(options.node ?? defaultNodeName());
    const servers = [...options.servers];
    if (servers.length === 0) throw new GridlinkError('GL_ERR_CONFIG_INVALID', 'cluster.nats: give at least one nats://HOST:PORT');
    let downSince = 0;
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers,
        name: `gridlink ${node}`,
        timeout: options.connectTimeoutMs ?? FIRST_CONNECT_MS,
        reconnect: true,
        maxReconnectAttempts: -1,
        // Called before every dial: the wait grows with the outage, so a long
        // one costs a dial every 5 s, not every 2 s per server forever.
        reconnectDelayHandler: () => {
          if (downSince === 0) downSince = Date.now();
          const grown = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS + (Date.now() - downSince) / 4);
          return Math.round(grown * (0.8 + Math.random() * 0.4));
        },
        pingInterval: 5_000,
        maxPingOut: 2,
      });
    } catch (err) {
      throw new GridlinkError('GL_ERR_CLUSTER_UNREACHABLE', `${servers.join(',')}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc, { timeout: options.connectTimeoutMs ?? FIRST_CONNECT_MS });
    } catch (err) {
      await nc.close();
      throw new GridlinkError('GL_ERR_CLUSTER_UNREACHABLE', `${servers.join(',')}: JetStream is not available (start nats-server with -js): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const link = new ClusterLink(node, servers, nc, jsm, options.logger);
    link.onState((state) => {
      if (state === 'connected') downSince = 0;
    });
    options.logger.info({ event: 'cluster.connected', node, server: nc.getServer() }, 'joined the NATS system');
    return link;
  }

  get state(): LinkState {
    return this.#state;
  }

  status(): LinkStatus {
    return {
      node: this.node,
      servers: this.servers,
      state: this.#state,
      since: this.#since,
      server: this.#state === 'connected' ? this.nc.getServer() : null,
      ...this.#counters,
    };
  }

  /** Calls `listener` on every change of state; returns a function that stops it. */
  onState(listener: (state: LinkState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * A core NATS publish (at most once): the client buffers it while it
   * reconnects, up to {@link MAX_BUFFERED_WHILE_DOWN} messages (its own
   * buffer has no bound); past that, and when the client refuses it (closed
   * connection), the publish is counted as failed and logged once per
   * outage, not thrown: the caller's local work goes on.
   */
  publish(subject: string, data: Uint8Array | string): boolean {
    if (this.#state !== 'connected') {
      if (this.#bufferedWhileDown >= MAX_BUFFERED_WHILE_DOWN) {
        this.#counters.failed += 1;
        if (!this.#warnedFull) {
          this.#warnedFull = true;
          this.#logger.warn({ event: 'cluster.publish_buffer_full', subject, buffered: this.#bufferedWhileDown }, 'NATS is away and its buffer is full: further publishes are counted as failed until it is back');
        }
        return false;
      }
      this.#bufferedWhileDown += 1;
    }
    try {
      this.nc.publish(subject, data);
      this.#counters.published += 1;
      return true;
    } catch (err) {
      this.#counters.failed += 1;
      this.#logger.warn({ event: 'cluster.publish_failed', subject, err }, 'a NATS publish was refused');
      return false;
    }
  }

  /**
   * A JetStream publish, retried with backoff until the stream acknowledges
   * it or the deadline passes. The message id makes the retries safe: the
   * stream stores a message once per id within its duplicate window. Resolves
   * with the ack, or null when it gave up (then `failed` is counted and logged).
   */
  async publishDurable(subject: string, data: Uint8Array | string, options: DurablePublishOptions): Promise<PubAck | null> {
    const deadline = Date.now() + (options.deadlineMs ?? DURABLE_DEADLINE_MS);
    let wait = BACKOFF_MIN_MS;
    for (let attempt = 0; ; attempt += 1) {
      try {
        const ack = await this.js.publish(subject, data, { msgID: options.msgID, timeout: 2_000 });
        this.#counters.published += 1;
        return ack;
      } catch (err) {
        if (this.#closing || Date.now() + wait > deadline) {
          this.#counters.failed += 1;
          this.#logger.warn({ event: 'cluster.publish_failed', subject, msgID: options.msgID, attempts: attempt + 1, err }, 'a JetStream publish was given up');
          return null;
        }
        this.#counters.retried += 1;
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(BACKOFF_MAX_MS, wait * 2);
      }
    }
  }

  /** Counts a publish that a caller gave up on by itself (its own retry loop). */
  countFailed(): void {
    this.#counters.failed += 1;
  }

  /** Drains the subscriptions and closes the connection. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    try {
      if (this.#state === 'connected') await this.nc.drain();
      else await this.nc.close();
    } catch {
      await this.nc.close().catch(() => undefined);
    }
    this.#enter('down');
  }

  async #watch(): Promise<void> {
    for await (const status of this.nc.status()) {
      switch (status.type) {
        case 'disconnect':
          this.#logger.warn({ event: 'cluster.disconnected', server: status.server }, 'lost NATS; serving locally and reconnecting');
          this.#enter('reconnecting');
          break;
        case 'reconnecting':
          this.#enter('reconnecting');
          break;
        case 'reconnect':
          this.#counters.reconnects += 1;
          this.#logger.info({ event: 'cluster.reconnected', server: status.server }, 'NATS is back');
          this.#enter('connected');
          break;
        case 'close':
          this.#enter('down');
          break;
        default:
          break;
      }
    }
  }

  #enter(state: LinkState): void {
    if (state === this.#state) return;
    if (state === 'connected') {
      this.#bufferedWhileDown = 0;
      this.#warnedFull = false;
    }
    this.#state = state;
    this.#since = Date.now();
    for (const listener of this.#listeners) listener(state);
  }
}
