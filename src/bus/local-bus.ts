import type { Bus, BusMessage, BusMetrics, Channel, Sink, SubscribeOptions, Subscription } from './bus.js';
import { checkPattern, checkTopic } from './topics.js';

/** One subscriber: a bounded FIFO drained in order by a single pump. */
class Subscriber implements Subscription {
  readonly pattern: string;
  readonly #sink: Sink;
  readonly #options: SubscribeOptions;
  readonly #bus: LocalBus;
  #queue: BusMessage[] = [];
  #head = 0;
  #pumping = false;
  #closed = false;

  constructor(bus: LocalBus, pattern: string, sink: Sink, options: SubscribeOptions) {
    this.#bus = bus;
    this.pattern = pattern;
    this.#sink = sink;
    this.#options = options;
  }

  get queued(): number {
    return this.#queue.length - this.#head;
  }

  get closed(): boolean {
    return this.#closed;
  }

  offer(message: BusMessage): void {
    if (this.#closed) return;
    if (this.queued >= this.#options.maxQueued) {
      if (this.#options.policy === 'disconnect') {
        this.#bus.count('disconnected');
        this.unsubscribe();
        this.#options.onOverflow?.();
        return;
      }
      this.#head += 1; // drop the oldest
      this.#bus.count('dropped');
    }
    this.#queue.push(message);
    if (!this.#pumping) void this.#pump();
  }

  unsubscribe(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    this.#bus.remove(this);
  }

  /**
   * Delivers the queue in order. The first message goes to the sink at once
   * (inside `publish`); the pump then yields one microtask, so what the
   * publisher publishes next in the same synchronous run is delivered after
   * it, and drains the rest in that one microtask, waiting only on a sink
   * that returns a promise (a microtask per message was a tenth of the cost
   * of 20,000 events a second).
   */
  async #pump(): Promise<void> {
    this.#pumping = true;
    let yielded = false;
    try {
      while (!this.#closed && this.queued > 0) {
        const message = this.#queue[this.#head]!;
        this.#head += 1;
        // Compact now and then so the array does not grow without bound.
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#head);
          this.#head = 0;
        }
        try {
          const pending = this.#sink(message);
          if (pending !== undefined) await pending;
          else if (!yielded) await Promise.resolve();
          yielded = true;
          this.#bus.count('delivered');
        } catch {
          // A failing sink (its connection went away) ends the subscription.
          this.unsubscribe();
        }
      }
    } finally {
      this.#pumping = false;
    }
  }
}

interface TrieNode {
  readonly children: Map<string, TrieNode>;
  /** Subscriptions whose pattern ends at this node. */
  readonly exact: Set<Subscriber>;
  /** Subscriptions whose pattern ends with `>` after this node. */
  readonly rest: Set<Subscriber>;
}

const node = (): TrieNode => ({ children: new Map(), exact: new Set(), rest: new Set() });

/**
 * The in-process {@link Bus}: patterns in a token trie (matching costs the
 * topic's length, not the number of subscriptions), and each subscriber its
 * own bounded queue and pump, so a slow one never delays the others nor
 * grows memory past its bound.
 */
/** Topics whose subscriber lists are remembered at most. */
const ROUTED_TOPICS = 100_000;

export class LocalBus implements Bus {
  readonly #root = node();
  readonly #counters = { published: 0, delivered: 0, dropped: 0, disconnected: 0 };
  #subscriptions = 0;
  /** Each topic published lately and the subscriptions it reaches, until a subscription comes or goes. */
  readonly #routes = new Map<string, readonly Subscriber[]>();
  /** Changes with every subscribe and unsubscribe: a channel's list of subscriptions is good while it is the same. */
  #generation = 0;
  #memoSlots = 0;

  publish(topic: string, payload: unknown): void {
    this.deliver(topic, this.#subscribersOf(topic), payload, undefined);
  }

  memoSlots(count: number): number {
    const first = this.#memoSlots;
    this.#memoSlots += count;
    return first;
  }

  channel(topic: string): Channel {
    checkTopic(topic);
    return new LocalChannel(this, topic);
  }

  /** @internal The subscriptions of `topic` now, and the generation they belong to. */
  resolve(topic: string): { readonly subscribers: readonly Subscriber[]; readonly generation: number } {
    return { subscribers: this.#subscribersOf(topic), generation: this.#generation };
  }

  /** @internal Memo slots handed out so far: a channel's memo is made that long at once. */
  get memoLength(): number {
    return this.#memoSlots;
  }

  /** @internal */
  get generation(): number {
    return this.#generation;
  }

  /** @internal Hands a message to subscriptions already found. */
  deliver(topic: string, subscribers: readonly Subscriber[], payload: unknown, memo: unknown[] | undefined): void {
    this.#counters.published += 1;
    if (subscribers.length === 0) return;
    const message: BusMessage = { topic, payload, memo };
    for (const subscriber of subscribers) subscriber.offer(message);
  }

  hasSubscribers(topic: string): boolean {
    return this.#subscribersOf(topic).length > 0;
  }

  /**
   * The subscriptions a topic reaches, remembered until the next subscribe
   * or unsubscribe: telemetry publishes the same topics over and over (20,000
   * points a second), and walking the trie each time costs more than the
   * delivery. The memo is bounded; a full one starts over.
   */
  #subscribersOf(topic: string): readonly Subscriber[] {
    let subscribers = this.#routes.get(topic);
    if (subscribers === undefined) {
      subscribers = [...this.#match(checkTopic(topic))];
      if (this.#routes.size >= ROUTED_TOPICS) this.#routes.clear();
      this.#routes.set(topic, subscribers);
    }
    return subscribers;
  }

  subscribe(pattern: string, sink: Sink, options: SubscribeOptions): Subscription {
    const tokens = checkPattern(pattern);
    const subscriber = new Subscriber(this, pattern, sink, options);
    let at = this.#root;
    const last = tokens.at(-1);
    for (const token of last === '>' ? tokens.slice(0, -1) : tokens) {
      let next = at.children.get(token);
      if (next === undefined) {
        next = node();
        at.children.set(token, next);
      }
      at = next;
    }
    (last === '>' ? at.rest : at.exact).add(subscriber);
    this.#subscriptions += 1;
    this.#subscriptionsChanged();
    return subscriber;
  }

  metrics(): BusMetrics {
    return { ...this.#counters, subscriptions: this.#subscriptions };
  }

  close(): Promise<void> {
    for (const subscriber of [...this.#match([], true)]) subscriber.unsubscribe();
    return Promise.resolve();
  }

  /** A subscription came or went: every topic's route is found again, and every channel's. */
  #subscriptionsChanged(): void {
    this.#routes.clear();
    this.#generation += 1;
  }

  /** @internal */
  count(counter: 'delivered' | 'dropped' | 'disconnected'): void {
    this.#counters[counter] += 1;
  }

  /** @internal */
  remove(subscriber: Subscriber): void {
    const tokens = subscriber.pattern.split('.');
    const rest = tokens.at(-1) === '>';
    const path: TrieNode[] = [this.#root];
    for (const token of rest ? tokens.slice(0, -1) : tokens) {
      const next = path.at(-1)!.children.get(token);
      if (next === undefined) return;
      path.push(next);
    }
    const end = path.at(-1)!;
    if ((rest ? end.rest : end.exact).delete(subscriber)) this.#subscriptions -= 1;
    this.#subscriptionsChanged();
    // Prune empty branches so churn does not leave dead nodes behind.
    for (let i = path.length - 1; i > 0; i -= 1) {
      const n = path[i]!;
      if (n.children.size > 0 || n.exact.size > 0 || n.rest.size > 0) break;
      const token = (rest ? tokens.slice(0, -1) : tokens)[i - 1]!;
      path[i - 1]!.children.delete(token);
    }
  }

  /** Subscriptions matching a topic (or, with `all`, every subscription). */
  *#match(tokens: readonly string[], all = false): Generator<Subscriber> {
    const walk = function* (at: TrieNode, i: number): Generator<Subscriber> {
      if (all) {
        yield* at.exact;
        yield* at.rest;
        for (const child of at.children.values()) yield* walk(child, i);
        return;
      }
      // `>` needs at least one more token.
      if (i < tokens.length) yield* at.rest;
      if (i === tokens.length) {
        yield* at.exact;
        return;
      }
      const exact = at.children.get(tokens[i]!);
      if (exact !== undefined) yield* walk(exact, i + 1);
      const star = at.children.get('*');
      if (star !== undefined) yield* walk(star, i + 1);
    };
    yield* walk(this.#root, 0);
  }
}

/**
 * A topic of the {@link LocalBus} prepared for repeated publishing: its
 * subscriptions are found once and kept until one is added or removed
 * anywhere on the bus (the bus's generation moves on). A point's events are
 * published 20,000 times a second over 20,000 topics; finding each in the
 * bus's map of routes was most of the cost of a publish (every lookup a cache
 * miss in a map that size).
 */
class LocalChannel implements Channel {
  readonly topic: string;
  readonly #bus: LocalBus;
  readonly #memo: unknown[];
  #subscribers: readonly Subscriber[] = [];
  #generation = -1;

  constructor(bus: LocalBus, topic: string) {
    this.#bus = bus;
    this.topic = topic;
    // Its slots made now, beside the channel in memory: an array that grows at a subscriber's first
    // write gets its slots from wherever the heap is then, a cache miss on every message (a third of
    // the IEC 104 station's time per event). Slots given out later still work, as the array grows.
    this.#memo = new Array<unknown>(bus.memoLength).fill(undefined);
  }

  publish(payload: unknown): void {
    this.#bus.deliver(this.topic, this.#current(), payload, this.#memo);
  }

  hasSubscribers(): boolean {
    return this.#current().length > 0;
  }

  #current(): readonly Subscriber[] {
    if (this.#generation !== this.#bus.generation) {
      const { subscribers, generation } = this.#bus.resolve(this.topic);
      this.#subscribers = subscribers;
      this.#generation = generation;
    }
    return this.#subscribers;
  }
}
