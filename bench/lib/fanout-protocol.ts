/**
 * What bench/chat-fanout.ts and bench/cluster.ts (the publisher) and their subscriber processes
 * (bench/lib/fanout-subscribers.ts) share: the message payload and the
 * messages they exchange over the IPC channel of `child_process.fork`.
 *
 * Clocks: send and receive times are `process.hrtime.bigint()`, which on
 * Linux is CLOCK_MONOTONIC, one clock for every process on the machine, so a
 * time taken in the publisher's process can be compared with one taken in a
 * subscriber's.
 */

/** The peers compared. */
export type FanoutPeer = 'gridlink' | 'mosquitto';

/** The gridlink chat room, and the MQTT topic. */
export const FANOUT_ROOM = 'bench';
/** The publisher's nickname in the room (subscribers are `sub<i>`). */
export const PUBLISHER_NICK = 'pub';
/** Every message is exactly this many bytes of ASCII (UTF-8 text for gridlink, the payload for MQTT). */
export const PAYLOAD_BYTES = 100;

/**
 * `<seq> <send time, ns> ` padded with dots to {@link PAYLOAD_BYTES}: the
 * sequence number lets a subscriber notice duplicates and reordering, the send
 * time its latency.
 */
export function encodePayload(seq: number, sentNs: bigint): string {
  const head = `${seq} ${sentNs} `;
  if (head.length > PAYLOAD_BYTES) throw new Error(`payload header of ${head.length} bytes`);
  return head.padEnd(PAYLOAD_BYTES, '.');
}

export interface DecodedPayload {
  readonly seq: number;
  readonly sentNs: number;
}

/** The inverse of {@link encodePayload}; null for anything else. */
export function decodePayload(text: string): DecodedPayload | null {
  const first = text.indexOf(' ');
  const second = first < 0 ? -1 : text.indexOf(' ', first + 1);
  if (second < 0 || text.length !== PAYLOAD_BYTES) return null;
  const seq = Number(text.slice(0, first));
  const sentNs = Number(text.slice(first + 1, second));
  return Number.isSafeInteger(seq) && Number.isFinite(sentNs) ? { seq, sentNs } : null;
}

// ---------------------------------------------------------------------------
// IPC: the publisher's process → a subscriber process

export interface StartCommand {
  readonly type: 'start';
  readonly peer: FanoutPeer;
  readonly host: string;
  /** Subscriber `sub<i>` connects to ports[i % ports.length] (several gridlink nodes of a cluster, or one server). */
  readonly ports: readonly number[];
  /** This process holds subscribers `sub<firstIndex>` … `sub<firstIndex + count - 1>`. */
  readonly firstIndex: number;
  readonly count: number;
  /** Messages the publisher will send: each subscriber expects all of them. */
  readonly messages: number;
}

export type ToSubscribers = StartCommand | { readonly type: 'report' } | { readonly type: 'close' };

// ---------------------------------------------------------------------------
// IPC: a subscriber process → the publisher's process

export interface SubscriberReport {
  readonly type: 'report';
  /** Deliveries of the publisher's messages, over all this process's subscribers. */
  readonly received: number;
  /** Deliveries whose sequence number was not above the subscriber's previous one. */
  readonly duplicatesOrReordered: number;
  /** Messages from the publisher that did not decode. */
  readonly malformed: number;
  /** Subscribers whose connection ended during the run. */
  readonly disconnected: number;
  /** Why they ended, with counts (e.g. GL_ERR_CHAT_TOO_SLOW). */
  readonly disconnectReasons: Record<string, number>;
  /** The fewest messages one subscriber received. */
  readonly minPerSubscriber: number;
  /** hrtime (ns) of the last delivery, null if none. */
  readonly lastReceiveNs: number | null;
  /** Send → receive of every delivery, microseconds. */
  readonly latenciesUs: Float64Array;
}

export type FromSubscribers =
  | { readonly type: 'ready'; readonly connectSeconds: number }
  | { readonly type: 'progress'; readonly received: number }
  | SubscriberReport
  | { readonly type: 'closed' }
  | { readonly type: 'failed'; readonly message: string };

/** A message from the other side, checked for its shape's tag (both sides are this code). */
export function isTagged(message: unknown): message is { readonly type: string } {
  return typeof message === 'object' && message !== null && 'type' in message && typeof message.type === 'string';
}
