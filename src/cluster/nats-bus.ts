import { randomBytes } from 'node:crypto';
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Msg, Subscription as NatsSubscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Bus, BusMetrics, Channel, Sink, SubscribeOptions, Subscription } from '../bus/bus.js';
import { LocalBus } from '../bus/local-bus.js';
import type { ClusterLink } from './cluster-link.js';

/** Core NATS subjects of bus topics: `gl.bus.<topic>` (docs/cluster.md, "Subjects"). */
export const BUS_SUBJECT = 'gl.bus';
/** JetStream subjects of durable topics (chat): `gl.chat.<topic>`, stored in {@link CHAT_STREAM}. */
export const CHAT_SUBJECT = 'gl.chat';
export const CHAT_STREAM = 'GL_CHAT';

export interface NatsBusOptions {
  readonly link: ClusterLink;
  readonly logger: Logger;
  readonly replicas: number;
  /** Topics published through JetStream (stored, de-duplicated, replayed after a failover): chat by default. */
  readonly durablePrefixes?: readonly string[];
  /** Durable publishes waiting for their ack at most; past it a publish is counted as failed. */
  readonly maxPending?: number;
  /** Durable publishes on the wire at once. */
  readonly window?: number;
  /** A durable publish not acknowledged by then is given up (counted, logged). */
  readonly deadlineMs?: number;
}

/** What travels on NATS: the publishing node (so it skips its own echo) and the payload. */
interface Envelope {
  readonly o: string;
  readonly p: unknown;
}

export interface NatsBusStatus {
  /** Durable publishes waiting for an ack now (queued or on the wire). */
  readonly pending: number;
  /** Messages from other nodes delivered into this node's bus. */
  readonly received: number;
  /** The last chat stream sequence this node consumed. */
  readonly chatSeq: number;
  /** Times the chat consumer was started again (after a NATS server's loss). */
  readonly consumerRestarts: number;
}

const MAX_PENDING = 100_000;
const WINDOW = 256;
const DEADLINE_MS = 60_000;
/** How often a node checks that its chat consumer keeps up with the stream. */
const WATCHDOG_MS = 2_000;

/**
 * The {@link Bus} of a cluster node (docs/cluster.md, "The bus"). Subscribers
 * live in this node's {@link LocalBus}; NATS carries one message per publish
 * to each node, whose local bus fans it out, so a room of 1,000 members on
 * three nodes costs NATS three deliveries, not 1,000.
 *
 * A publish is delivered to this node's subscribers at once (even when NATS
 * is away) and sent to the others:
 * - telemetry, events, alarms: core NATS (`gl.bus.<topic>`), at most once,
 *   buffered by the client while it reconnects — the newest value matters;
 * - chat (`chat.*`): JetStream (`gl.chat.<topic>` in stream GL_CHAT), each
 *   publish with a unique message id and retried until acknowledged, so the
 *   stream stores it exactly once even when a NATS server dies mid-publish;
 *   each node reads the stream with an ordered consumer that resumes from
 *   the last sequence it saw, so it misses and repeats nothing.
 */
export class NatsBus implements Bus {
  readonly #local = new LocalBus();
  readonly #link: ClusterLink;
  readonly #logger: Logger;
  readonly #durable: readonly string[];
  readonly #maxPending: number;
  readonly #window: number;
  readonly #deadlineMs: number;
  /** Unique per run of the node: message ids never repeat across restarts. */
  readonly #run = randomBytes(6).toString('hex');
  #next = 0;
  readonly #queue: { subject: string; data: string; id: string }[] = [];
  #queueHead = 0;
  #inFlight = 0;
  #received = 0;
  #chatSeq = 0;
  #consumerRestarts = 0;
  #core: NatsSubscription | null = null;
  #consumer: ConsumerMessages | null = null;
  #closed = false;
  readonly #idle = new Set<() => void>();
  #watchdog: NodeJS.Timeout | null = null;
  /** The chat sequence at the watchdog's previous look. */
  #watchedSeq = -1;
  #watching = false;

  private constructor(options: NatsBusOptions) {
    this.#link = options.link;
    this.#logger = options.logger;
    this.#durable = options.durablePrefixes ?? ['chat.'];
    this.#maxPending = options.maxPending ?? MAX_PENDING;
    this.#window = options.window ?? WINDOW;
    this.#deadlineMs = options.deadlineMs ?? DEADLINE_MS;
  }

  /** Creates the chat stream if missing, subscribes this node, and returns the bus. */
  static async start(options: NatsBusOptions): Promise<NatsBus> {
    const bus = new NatsBus(options);
    await bus.#ensureStream(options.replicas);
    bus.#core = options.link.nc.subscribe(`${BUS_SUBJECT}.>`, { callback: (err, msg) => (err === null ? bus.#fromCore(msg) : undefined) });
    const info = await options.link.jsm.streams.info(CHAT_STREAM);
    // Only what is published from now on: a node that starts has no members to replay to.
    bus.#chatSeq = info.state.last_seq;
    void bus.#consumeChat();
    // After the client reconnects its consumer may be gone with the server it was on: start a fresh one at once.
    options.link.onState((state) => {
      if (state === 'connected') bus.#restartConsumer('reconnected');
    });
    bus.#watchdog = setInterval(() => void bus.#watch(), WATCHDOG_MS).unref();
    return bus;
  }

  publish(topic: string, payload: unknown): void {
    this.#local.publish(topic, payload);
    this.#remote(topic, payload);
  }

  #remote(topic: string, payload: unknown): void {
    const envelope: Envelope = { o: this.#link.node, p: payload };
    const data = JSON.stringify(envelope);
    if (this.#isDurable(topic)) this.#enqueue(`${CHAT_SUBJECT}.${topic}`, data);
    else this.#link.publish(`${BUS_SUBJECT}.${topic}`, data);
  }

  /** Remote nodes may listen to anything while NATS is there; without it, only local subscribers count. */
  hasSubscribers(topic: string): boolean {
    return this.#local.hasSubscribers(topic) || this.#link.state === 'connected';
  }

  memoSlots(count: number): number {
    return this.#local.memoSlots(count);
  }

  /** The local part through the local bus's channel; every publish also goes to the other nodes. */
  channel(topic: string): Channel {
    const local = this.#local.channel(topic);
    return {
      topic,
      publish: (payload) => {
        local.publish(payload);
        this.#remote(topic, payload);
      },
      hasSubscribers: () => local.hasSubscribers() || this.#link.state === 'connected',
    };
  }

  subscribe(pattern: string, sink: Sink, options: SubscribeOptions): Subscription {
    return this.#local.subscribe(pattern, sink, options);
  }

  metrics(): BusMetrics {
    return this.#local.metrics();
  }

  status(): NatsBusStatus {
    return { pending: this.#pendingCount(), received: this.#received, chatSeq: this.#chatSeq, consumerRestarts: this.#consumerRestarts };
  }

  /** Resolves once every durable publish so far was acknowledged or given up (tests, shutdown). */
  async flushed(timeoutMs = 10_000): Promise<boolean> {
    if (this.#pendingCount() === 0) return true;
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#idle.delete(done);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#idle.delete(done);
        resolve(false);
      }, timeoutMs);
      this.#idle.add(done);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Give queued chat lines a moment to reach the stream before the link closes.
    await this.flushed(2_000);
    this.#closed = true;
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    this.#core?.unsubscribe();
    await this.#consumer?.close().catch(() => undefined);
    await this.#local.close();
  }

  #isDurable(topic: string): boolean {
    return this.#durable.some((prefix) => topic.startsWith(prefix));
  }

  #pendingCount(): number {
    return this.#queue.length - this.#queueHead + this.#inFlight;
  }

  #enqueue(subject: string, data: string): void {
    if (this.#closed || this.#pendingCount() >= this.#maxPending) {
      this.#link.countFailed();
      this.#logger.warn({ event: 'cluster.publish_dropped', subject, pending: this.#pendingCount() }, 'too many chat publishes wait for NATS: this one is counted as failed');
      return;
    }
    this.#next += 1;
    this.#queue.push({ subject, data, id: `${this.#link.node}.${this.#run}.${this.#next}` });
    this.#pump();
  }

  /** Keeps up to `window` durable publishes on the wire, in order; each retries until its deadline. */
  #pump(): void {
    while (this.#inFlight < this.#window && this.#queueHead < this.#queue.length) {
      const item = this.#queue[this.#queueHead]!;
      this.#queueHead += 1;
      if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#queueHead);
        this.#queueHead = 0;
      }
      this.#inFlight += 1;
      void this.#link.publishDurable(item.subject, item.data, { msgID: item.id, deadlineMs: this.#deadlineMs }).finally(() => {
        this.#inFlight -= 1;
        this.#pump();
        if (this.#pendingCount() === 0) for (const done of [...this.#idle]) done();
      });
    }
  }

  #fromCore(msg: Msg): void {
    let envelope: Envelope;
    try {
      envelope = msg.json<Envelope>();
    } catch {
      return; // not ours: another program on the same subjects
    }
    if (!isEnvelope(envelope) || envelope.o === this.#link.node) return;
    this.#received += 1;
    try {
      this.#local.publish(msg.subject.slice(BUS_SUBJECT.length + 1), envelope.p);
    } catch (err) {
      this.#logger.debug({ event: 'cluster.bad_message', subject: msg.subject, err });
    }
  }

  #fromChat(msg: JsMsg): void {
    // The stream's sequence orders everything: what was seen is never delivered twice, even across consumers.
    if (msg.seq <= this.#chatSeq) return;
    this.#chatSeq = msg.seq;
    let envelope: Envelope;
    try {
      envelope = msg.json<Envelope>();
    } catch {
      return;
    }
    if (!isEnvelope(envelope) || envelope.o === this.#link.node) return;
    this.#received += 1;
    try {
      this.#local.publish(msg.subject.slice(CHAT_SUBJECT.length + 1), envelope.p);
    } catch (err) {
      this.#logger.debug({ event: 'cluster.bad_message', subject: msg.subject, err });
    }
  }

  /**
   * Reads the chat stream with an ordered consumer (it recreates itself from
   * the last sequence after a server's loss); should it stop anyway, a new
   * one starts from the sequence after the last one seen.
   */
  async #consumeChat(): Promise<void> {
    while (!this.#closed) {
      try {
        const consumer = await this.#link.js.consumers.get(CHAT_STREAM, {
          filter_subjects: `${CHAT_SUBJECT}.>`,
          deliver_policy: 'by_start_sequence',
          opt_start_seq: this.#chatSeq + 1,
        });
        const messages = await consumer.consume({ max_messages: 1_000, expires: 10_000, idle_heartbeat: 1_000, callback: (m) => this.#fromChat(m) });
        this.#consumer = messages;
        // The server holding this (one-copy) consumer may be the one that died, and the
        // client's own recovery can wait on it: after 3 missed heartbeats, start a new one.
        void (async () => {
          for await (const note of messages.status()) {
            if (note.type === 'heartbeats_missed' && note.count >= 3) {
              this.#logger.warn({ event: 'cluster.chat_consumer_stalled', seq: this.#chatSeq }, 'the chat consumer stopped hearing from NATS; starting a new one');
              messages.stop();
              return;
            }
          }
        })().catch(() => undefined);
        await messages.closed();
      } catch (err) {
        if (this.#closed) return;
        this.#logger.warn({ event: 'cluster.chat_consumer_failed', seq: this.#chatSeq, err }, 'the chat consumer stopped; starting again');
      }
      if (this.#closed) return;
      this.#consumerRestarts += 1;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  #restartConsumer(why: string): void {
    if (this.#closed || this.#consumer === null) return;
    this.#logger.info({ event: 'cluster.chat_consumer_restart', why, seq: this.#chatSeq }, 'starting a new chat consumer from the last sequence seen');
    this.#consumer.stop();
  }

  /**
   * Progress check, whatever the client library noticed: when the stream
   * holds lines past the last one this node read and that sequence has not
   * moved since the previous look, the consumer is stuck; start a new one.
   */
  async #watch(): Promise<void> {
    if (this.#watching || this.#closed || this.#link.state !== 'connected') return;
    this.#watching = true;
    try {
      const info = await this.#link.jsm.streams.info(CHAT_STREAM);
      const stuck = info.state.last_seq > this.#chatSeq && this.#chatSeq === this.#watchedSeq;
      this.#watchedSeq = this.#chatSeq;
      if (stuck) this.#restartConsumer('no progress');
    } catch (err) {
      this.#logger.debug({ event: 'cluster.chat_watch_failed', err });
    } finally {
      this.#watching = false;
    }
  }

  async #ensureStream(replicas: number): Promise<void> {
    const config = {
      name: CHAT_STREAM,
      subjects: [`${CHAT_SUBJECT}.>`],
      storage: 'file' as const,
      num_replicas: replicas,
      // Chat is not replayed to new members: the stream only has to outlast a failover and its retries.
      max_age: 10 * 60 * 1e9,
      max_bytes: 512 * 1024 * 1024,
      discard: 'old' as const,
      duplicate_window: 2 * 60 * 1e9,
    };
    try {
      await this.#link.jsm.streams.add(config);
    } catch (err) {
      const text = String(err);
      if (replicas > 1 && /insufficient|no suitable peers|replicas/iu.test(text)) {
        this.#logger.warn({ event: 'cluster.stream_one_replica', stream: CHAT_STREAM, asked: replicas }, 'fewer NATS servers than cluster.replicas: the chat stream keeps one copy');
        await this.#ensureStream(1);
        return;
      }
      if (!/already in use/iu.test(text)) throw err;
    }
  }
}

/** Only what a node published: an object naming its node and carrying a payload. */
function isEnvelope(value: unknown): value is Envelope {
  return typeof value === 'object' && value !== null && typeof (value as { o?: unknown }).o === 'string' && 'p' in value;
}
