import { randomBytes } from 'node:crypto';
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { PointEvent } from '../protocol/scada.js';
import type { RemoteEvent } from '../scada/history-store.js';
import type { EventHistory } from '../scada/scada-cluster.js';
import type { ClusterLink } from './cluster-link.js';

/** The stream of point events every node's historian reads (docs/cluster.md, "History"). */
export const EVENTS_STREAM = 'GL_EVENTS';
/** Subjects `gl.events.<node>`: the node that recorded the event first (its device's owner). */
export const EVENTS_SUBJECT = 'gl.events';

export interface EventStreamOptions {
  readonly replicas: number;
  readonly logger: Logger;
  /** How long the stream keeps events: a node down for longer misses the older ones. */
  readonly retentionMs?: number;
}

const RETENTION_MS = 24 * 3_600_000;
const MAX_BYTES = 1024 * 1024 * 1024;
/** Publishes on the wire at once, and waiting at most (beyond: counted as failed, logged). */
const WINDOW = 256;
const MAX_PENDING = 100_000;
/** Received events are stored (one transaction) and acknowledged this often, or per this many. */
const BATCH_MS = 100;
const BATCH_MAX = 500;

/**
 * Point events through JetStream (docs/cluster.md, "History"): the owner of
 * a device publishes each event it recorded to `gl.events.<node>` with a
 * message id (`<node>.<run>.<seq>`), retried until stored, so the stream
 * holds it once; every node reads the stream with its own durable consumer
 * (`history-<node>`), stores the other nodes' events in its history in one
 * transaction per batch, and only then acknowledges them. A node that was
 * down resumes where its consumer stopped; an event redelivered after a
 * crash between the store and the ack is skipped by its origin and number.
 * So each event is stored once in every node's history, none lost while a
 * node was down within the stream's retention (24 h).
 */
export class EventStream implements EventHistory {
  readonly #link: ClusterLink;
  readonly #logger: Logger;
  readonly #run = randomBytes(6).toString('hex');
  readonly #origin: string;
  readonly #queue: PointEvent[] = [];
  #head = 0;
  #inFlight = 0;
  #messages: ConsumerMessages | null = null;
  #batch: { remote: RemoteEvent[]; msgs: JsMsg[] } = { remote: [], msgs: [] };
  #timer: NodeJS.Timeout | null = null;
  #sink: ((events: readonly RemoteEvent[]) => number) | null = null;
  #closed = false;
  #stored = 0;
  #published = 0;

  private constructor(link: ClusterLink, logger: Logger) {
    this.#link = link;
    this.#logger = logger;
    this.#origin = `${link.node}:${this.#run}`;
  }

  static async open(link: ClusterLink, options: EventStreamOptions): Promise<EventStream> {
    await ensureStream(link, options.replicas, options.retentionMs ?? RETENTION_MS, options.logger);
    return new EventStream(link, options.logger);
  }

  status(): { published: number; pending: number; stored: number } {
    return { published: this.#published, pending: this.#queue.length - this.#head + this.#inFlight, stored: this.#stored };
  }

  publish(event: PointEvent): void {
    if (this.#closed) return;
    if (this.#queue.length - this.#head >= MAX_PENDING) {
      this.#link.countFailed();
      this.#logger.warn({ event: 'cluster.event_dropped', point: event.point, seq: event.seq }, 'too many events wait for NATS: this one is not in the other nodes\' history');
      return;
    }
    this.#queue.push(event);
    this.#pump();
  }

  async follow(sink: (events: readonly RemoteEvent[]) => number): Promise<void> {
    this.#sink = sink;
    const durable = `history-${this.#link.node}`;
    try {
      await this.#link.jsm.consumers.info(EVENTS_STREAM, durable);
    } catch {
      // A node's first start: it reads what the stream still holds (its history starts with the cluster's).
      await this.#link.jsm.consumers.add(EVENTS_STREAM, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: 5_000, ack_wait: 30e9 });
    }
    void this.#consume(durable);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#store();
    await this.#messages?.close().catch(() => undefined);
  }

  #pump(): void {
    while (this.#inFlight < WINDOW && this.#head < this.#queue.length) {
      const event = this.#queue[this.#head]!;
      this.#head += 1;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      this.#inFlight += 1;
      void this.#link
        .publishDurable(`${EVENTS_SUBJECT}.${this.#link.node}`, JSON.stringify({ o: this.#origin, e: event }), { msgID: `${this.#link.node}.${this.#run}.${event.seq}` })
        .then((ack) => {
          if (ack !== null) this.#published += 1;
        })
        .finally(() => {
          this.#inFlight -= 1;
          this.#pump();
        });
    }
  }

  async #consume(durable: string): Promise<void> {
    while (!this.#closed) {
      try {
        const consumer = await this.#link.js.consumers.get(EVENTS_STREAM, durable);
        const messages = await consumer.consume({ max_messages: 1_000, expires: 10_000, idle_heartbeat: 2_000, callback: (m) => this.#received(m) });
        this.#messages = messages;
        await messages.closed();
      } catch (err) {
        if (this.#closed) return;
        this.#logger.warn({ event: 'cluster.history_consumer_failed', err }, 'the history consumer stopped; starting again');
      }
      if (this.#closed) return;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  #received(msg: JsMsg): void {
    const remote = remoteOf(msg);
    // This node's own events are in its history already (recorded first, then published).
    if (remote === null || remote.origin.split(':')[0] === this.#link.node) {
      if (remote === null) this.#logger.warn({ event: 'cluster.event_refused', seq: msg.seq }, 'an event in the stream that does not check was skipped');
      msg.ack();
      return;
    }
    this.#batch.remote.push(remote);
    this.#batch.msgs.push(msg);
    if (this.#batch.msgs.length >= BATCH_MAX) this.#store();
    else this.#timer ??= setTimeout(() => this.#store(), BATCH_MS);
  }

  /** Stores the batch, then acknowledges it: a crash in between redelivers events the store then skips. */
  #store(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const { remote, msgs } = this.#batch;
    if (msgs.length === 0 || this.#sink === null) return;
    this.#batch = { remote: [], msgs: [] };
    try {
      this.#stored += this.#sink(remote);
    } catch (err) {
      // Not acknowledged: redelivered after ack_wait.
      this.#logger.error({ event: 'cluster.history_store_failed', events: remote.length, err }, 'events of other nodes could not be stored; they come again');
      return;
    }
    for (const msg of msgs) msg.ack();
  }
}

function remoteOf(msg: JsMsg): RemoteEvent | null {
  let body: { o?: unknown; e?: Partial<PointEvent> };
  try {
    body = msg.json<typeof body>();
  } catch {
    return null;
  }
  const e = body?.e;
  if (typeof body?.o !== 'string' || body.o.length > 200 || e === null || typeof e !== 'object') return null;
  if (typeof e.seq !== 'number' || !Number.isSafeInteger(e.seq) || typeof e.point !== 'string' || e.point.length > 600) return null;
  if ((e.kind !== 'change' && e.kind !== 'quality') || typeof e.quality !== 'string' || e.quality.length > 20) return null;
  if ((e.value !== null && typeof e.value !== 'number') || typeof e.sourceTime !== 'number' || typeof e.serverTime !== 'number') return null;
  return { origin: body.o, event: { seq: e.seq, point: e.point, kind: e.kind, value: e.value, quality: e.quality, sourceTime: e.sourceTime, serverTime: e.serverTime } };
}

async function ensureStream(link: ClusterLink, replicas: number, retentionMs: number, logger: Logger): Promise<void> {
  const config = {
    name: EVENTS_STREAM,
    subjects: [`${EVENTS_SUBJECT}.>`],
    storage: 'file' as const,
    num_replicas: replicas,
    max_age: retentionMs * 1e6,
    max_bytes: MAX_BYTES,
    discard: 'old' as const,
    duplicate_window: 2 * 60 * 1e9,
  };
  try {
    await link.jsm.streams.add(config);
  } catch (err) {
    const text = String(err);
    if (replicas > 1 && /insufficient|no suitable peers|replicas/iu.test(text)) {
      logger.warn({ event: 'cluster.stream_one_replica', stream: EVENTS_STREAM, asked: replicas }, 'fewer NATS servers than cluster.replicas: the events stream keeps one copy');
      await ensureStream(link, 1, retentionMs, logger);
      return;
    }
    if (!/already in use/iu.test(text)) throw err;
  }
}
