import { describe, expect, it } from 'vitest';
import type { BusMessage } from '../../src/bus/bus.js';
import { LocalBus } from '../../src/bus/local-bus.js';
import { GridlinkError } from '../../src/errors/index.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('LocalBus: topics and wildcards', () => {
  it.each([
    ['telemetry.s1.f1.voltage', 'telemetry.s1.f1.voltage', true],
    ['telemetry.*.f1.voltage', 'telemetry.s1.f1.voltage', true],
    ['telemetry.*.*.voltage', 'telemetry.s1.f1.voltage', true],
    ['telemetry.>', 'telemetry.s1.f1.voltage', true],
    ['telemetry.s1.>', 'telemetry.s1.f1.voltage', true],
    ['>', 'telemetry.s1', true],
    ['telemetry.>', 'telemetry', false], // > needs at least one more token
    ['telemetry.*', 'telemetry.s1.f1', false],
    ['telemetry.s2.>', 'telemetry.s1.f1', false],
    ['chat.lobby', 'chat.lobby2', false],
    ['*', 'chat', true],
    ['*', 'chat.lobby', false],
  ])('%s matches %s: %s', async (pattern, topic, expected) => {
    const bus = new LocalBus();
    const got: string[] = [];
    bus.subscribe(pattern, (m) => void got.push(m.topic), { maxQueued: 10, policy: 'drop-oldest' });
    bus.publish(topic, 1);
    await tick();
    expect(got.length === 1).toBe(expected);
  });

  it.each(['', 'a..b', '.a', 'a.', 'a b', 'a.*', 'a.>', 'ä', 'x'.repeat(300)])('publishing on %j is refused', (topic) => {
    const bus = new LocalBus();
    expect(() => bus.publish(topic, 1)).toThrow(GridlinkError);
  });

  it.each(['a.>.b', '>.a', 'a.b*', 'a.**', ''])('subscribing to %j is refused', (pattern) => {
    const bus = new LocalBus();
    expect(() => bus.subscribe(pattern, () => undefined, { maxQueued: 1, policy: 'drop-oldest' })).toThrow(GridlinkError);
  });

  it('unsubscribe stops delivery and prunes the trie', async () => {
    const bus = new LocalBus();
    const got: unknown[] = [];
    const sub = bus.subscribe('a.b.c', (m) => void got.push(m.payload), { maxQueued: 10, policy: 'drop-oldest' });
    bus.publish('a.b.c', 1);
    await tick();
    sub.unsubscribe();
    bus.publish('a.b.c', 2);
    await tick();
    expect(got).toEqual([1]);
    expect(bus.metrics().subscriptions).toBe(0);
  });
});

describe('LocalBus: remembered matches', () => {
  it('a subscription made or ended after a topic was published is honoured on the next publish', async () => {
    const bus = new LocalBus();
    const a: unknown[] = [];
    const b: unknown[] = [];
    expect(bus.hasSubscribers('points.s1.f1')).toBe(false);
    bus.publish('points.s1.f1', 0);
    const subA = bus.subscribe('points.>', (m) => void a.push(m.payload), { maxQueued: 10, policy: 'drop-oldest' });
    expect(bus.hasSubscribers('points.s1.f1')).toBe(true);
    bus.publish('points.s1.f1', 1);
    const subB = bus.subscribe('points.*.f1', (m) => void b.push(m.payload), { maxQueued: 10, policy: 'drop-oldest' });
    bus.publish('points.s1.f1', 2);
    await tick(); // delivered before the unsubscribe, which drops what is still queued
    subA.unsubscribe();
    bus.publish('points.s1.f1', 3);
    await tick();
    subB.unsubscribe();
    bus.publish('points.s1.f1', 4);
    await tick();
    expect(a).toEqual([1, 2]);
    expect(b).toEqual([2, 3]);
    expect(bus.hasSubscribers('points.s1.f1')).toBe(false);
  });

  it('a channel follows subscriptions made and ended after it was made, and the wildcards', async () => {
    const bus = new LocalBus();
    const channel = bus.channel('events.s1.f1.current');
    const other = bus.channel('events.s2.f1.current');
    expect(channel.topic).toBe('events.s1.f1.current');
    expect(channel.hasSubscribers()).toBe(false);
    channel.publish(0); // nobody: counted, delivered to none
    const all: unknown[] = [];
    const s1: unknown[] = [];
    const subAll = bus.subscribe('events.>', (m) => void all.push(m.payload), { maxQueued: 10, policy: 'drop-oldest' });
    expect(channel.hasSubscribers()).toBe(true);
    channel.publish(1);
    other.publish('x');
    const subS1 = bus.subscribe('events.s1.*.current', (m) => void s1.push(m.payload), { maxQueued: 10, policy: 'drop-oldest' });
    channel.publish(2);
    other.publish('y');
    await tick();
    subAll.unsubscribe();
    channel.publish(3);
    expect(other.hasSubscribers()).toBe(false);
    other.publish('z');
    await tick();
    subS1.unsubscribe();
    channel.publish(4);
    await tick();
    expect(all).toEqual([1, 'x', 2, 'y']);
    expect(s1).toEqual([2, 3]);
    expect(channel.hasSubscribers()).toBe(false);
    expect(bus.metrics()).toMatchObject({ published: 8, delivered: 6, subscriptions: 0 });
    // A channel and a plain publish on the same topic reach the same subscriptions, in publish order.
    const both: unknown[] = [];
    bus.subscribe('events.s1.f1.current', (m) => void both.push(m.payload), { maxQueued: 10, policy: 'drop-oldest' });
    channel.publish('a');
    bus.publish('events.s1.f1.current', 'b');
    channel.publish('c');
    await tick();
    expect(both).toEqual(['a', 'b', 'c']);
  });

  it('a channel\'s messages share one memo per topic; plain publishes carry none; memo slots never overlap', async () => {
    const bus = new LocalBus();
    const first = bus.memoSlots(2);
    const second = bus.memoSlots(1);
    expect(second).toBe(first + 2);
    const got: BusMessage[] = [];
    bus.subscribe('events.>', (m) => void got.push(m), { maxQueued: 10, policy: 'drop-oldest' });
    const a = bus.channel('events.a');
    const b = bus.channel('events.b');
    a.publish(1);
    a.publish(2);
    b.publish(3);
    bus.publish('events.a', 4);
    await tick();
    expect(got.map((m) => m.payload)).toEqual([1, 2, 3, 4]);
    const [m1, m2, m3, m4] = got;
    expect(m1!.memo).toBeDefined();
    expect(m2!.memo).toBe(m1!.memo);
    expect(m3!.memo).not.toBe(m1!.memo);
    expect(m4!.memo).toBeUndefined();
    m1!.memo![first] = 'kept';
    a.publish(5);
    await tick();
    expect(got[4]!.memo![first]).toBe('kept');
  });

  it.each(['', 'a..b', 'a.*', 'a.>', 'ä'])('a channel on %j is refused when it is made', (topic) => {
    const bus = new LocalBus();
    expect(() => bus.channel(topic)).toThrow(GridlinkError);
  });

  it('a bad topic is refused every time, not only the first', () => {
    const bus = new LocalBus();
    for (let i = 0; i < 3; i += 1) {
      expect(() => bus.publish('a..b', 1)).toThrow(GridlinkError);
      expect(() => bus.hasSubscribers('a..b')).toThrow(GridlinkError);
    }
  });
});

describe('LocalBus: fan-out', () => {
  it('1,000 subscribers each get every message exactly once, in order', async () => {
    const bus = new LocalBus();
    const received = Array.from({ length: 1000 }, () => [] as number[]);
    received.forEach((list, i) => bus.subscribe(i % 2 === 0 ? 'chat.lobby' : 'chat.*', (m) => void list.push(m.payload as number), { maxQueued: 1000, policy: 'disconnect' }));
    for (let n = 0; n < 500; n += 1) bus.publish('chat.lobby', n);
    for (let i = 0; i < 20; i += 1) await tick();
    const expected = Array.from({ length: 500 }, (_, n) => n);
    for (const list of received) expect(list).toEqual(expected);
    expect(bus.metrics()).toMatchObject({ published: 500, delivered: 500_000, dropped: 0, disconnected: 0 });
  });

  it('a subscriber that stops reading delays nobody and stays within its bound (drop oldest)', async () => {
    const bus = new LocalBus();
    const fast: number[] = [];
    bus.subscribe('telemetry.>', (m) => void fast.push(m.payload as number), { maxQueued: 100, policy: 'drop-oldest' });
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    const slow: number[] = [];
    const slowSub = bus.subscribe('telemetry.>', async (m) => {
      slow.push(m.payload as number);
      await stuck;
    }, { maxQueued: 100, policy: 'drop-oldest' });
    // A publisher that yields between batches of 50, as the acquisition loop does.
    let maxQueued = 0;
    for (let n = 0; n < 100_000; n += 1) {
      bus.publish('telemetry.s1.v', n);
      maxQueued = Math.max(maxQueued, slowSub.queued);
      if (n % 50 === 49) await tick();
    }
    await tick();
    // The fast subscriber got everything, in order, while the slow one was stuck.
    expect(fast).toEqual(Array.from({ length: 100_000 }, (_, i) => i));
    expect(maxQueued).toBe(100);
    release();
    for (let i = 0; i < 300; i += 1) await tick();
    // The slow one got the first message, then the newest 100: the oldest were dropped.
    expect(slow[0]).toBe(0);
    expect(slow.slice(1)).toEqual(Array.from({ length: 100 }, (_, i) => 99_900 + i));
    expect(bus.metrics().dropped).toBe(100_000 - 1 - 100);
  });

  it('a chat subscriber that overflows is disconnected once; the others go on', async () => {
    const bus = new LocalBus();
    const others: number[] = [];
    bus.subscribe('chat.lobby', (m) => void others.push(m.payload as number), { maxQueued: 10, policy: 'disconnect' });
    let disconnects = 0;
    const stuck = bus.subscribe('chat.lobby', () => new Promise<void>(() => undefined), { maxQueued: 10, policy: 'disconnect', onOverflow: () => (disconnects += 1) });
    for (let n = 0; n < 50; n += 1) {
      bus.publish('chat.lobby', n);
      await tick();
    }
    expect(disconnects).toBe(1);
    expect(stuck.queued).toBe(0);
    expect(others).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(bus.metrics()).toMatchObject({ disconnected: 1, subscriptions: 1 });
  });

  it('a failing sink ends its own subscription only', async () => {
    const bus = new LocalBus();
    const ok: BusMessage[] = [];
    bus.subscribe('x', () => {
      throw new Error('socket gone');
    }, { maxQueued: 10, policy: 'drop-oldest' });
    bus.subscribe('x', (m) => void ok.push(m), { maxQueued: 10, policy: 'drop-oldest' });
    bus.publish('x', 1);
    bus.publish('x', 2);
    await tick();
    expect(ok.map((m) => m.payload)).toEqual([1, 2]);
    expect(bus.metrics().subscriptions).toBe(1);
  });
});
