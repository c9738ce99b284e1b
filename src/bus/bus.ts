/**
 * The message bus of docs/protocol.md §3.4: rooms, telemetry and events are published on
 * topics that subscribers match with wildcards. It is an interface: the
 * embedded default ({@link LocalBus}) lives in this process; a NATS JetStream
 * adapter will let several gridlink nodes share it, so nothing may assume a
 * single process owns a topic. Topics follow NATS subjects: dot-separated
 * tokens; in patterns `*` matches one token and `>` one or more at the end.
 */
export interface BusMessage {
  readonly topic: string;
  /** JSON-serialisable content. */
  readonly payload: unknown;
  /**
   * On messages published through a {@link Channel}: the same small array
   * for every message of its topic, where a subscriber may keep what it
   * worked out from the topic (the record it would otherwise look up by
   * name on every message), in the slots {@link Bus.memoSlots} gave it and
   * no others. Undefined on other messages: a subscriber must not depend on it.
   */
  readonly memo: unknown[] | undefined;
}

/**
 * What happens when a subscriber's queue is full (docs/protocol.md §3.4): telemetry drops
 * the oldest queued message (the newest value matters most); chat disconnects
 * the subscriber (a chat that silently loses lines is worse than none).
 */
export type OverflowPolicy = 'drop-oldest' | 'disconnect';

export interface SubscribeOptions {
  /** Messages that may wait for this subscriber; the bound on its memory. */
  readonly maxQueued: number;
  readonly policy: OverflowPolicy;
  /** Called once when the 'disconnect' policy removes the subscription. */
  readonly onOverflow?: () => void;
}

/** Delivers one message; the next waits until a returned promise settles. */
export type Sink = (message: BusMessage) => void | Promise<void>;

export interface Subscription {
  readonly pattern: string;
  /** Messages waiting for the sink now. */
  readonly queued: number;
  unsubscribe(): void;
}

export interface BusMetrics {
  readonly published: number;
  readonly delivered: number;
  /** Messages dropped by the drop-oldest policy. */
  readonly dropped: number;
  /** Subscriptions removed by the disconnect policy. */
  readonly disconnected: number;
  readonly subscriptions: number;
}

/**
 * One topic prepared for a publisher that uses it over and over (a point's
 * events): the same as {@link Bus.publish} and {@link Bus.hasSubscribers}
 * on that topic, without finding its subscriptions again each time while
 * none came or went.
 */
export interface Channel {
  readonly topic: string;
  publish(payload: unknown): void;
  hasSubscribers(): boolean;
}

export interface Bus {
  /** Hands a message to every matching subscription; never waits for a subscriber. */
  publish(topic: string, payload: unknown): void;
  /** True when a publish on `topic` would reach someone (lets a publisher skip building a costly payload). */
  hasSubscribers(topic: string): boolean;
  /** `topic` (checked now) prepared for repeated publishing. */
  channel(topic: string): Channel;
  /** Reserves `count` slots in every channel's {@link BusMessage.memo}; returns the first. */
  memoSlots(count: number): number;
  subscribe(pattern: string, sink: Sink, options: SubscribeOptions): Subscription;
  metrics(): BusMetrics;
  close(): Promise<void>;
}
