import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusMessage } from '../../src/bus/bus.js';
import { ClusterLink } from '../../src/cluster/cluster-link.js';
import { NatsBus } from '../../src/cluster/nats-bus.js';
import { createLogger } from '../../src/log/logger.js';
import { startNats, type NatsSystem } from '../helpers/nats-server.js';
import { until } from '../helpers/until.js';

const logger = createLogger('silent');
const telemetry = { maxQueued: 10_000, policy: 'drop-oldest' as const };

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('NatsBus: the bus of three nodes in one process, on a real nats-server', () => {
  let nats: NatsSystem;
  const links: ClusterLink[] = [];
  const buses: NatsBus[] = [];

  beforeAll(async () => {
    nats = await startNats();
    for (const node of ['n1', 'n2', 'n3']) {
      const link = await ClusterLink.connect({ servers: [nats.urls], node, logger });
      links.push(link);
      buses.push(await NatsBus.start({ link, logger, replicas: 1 }));
    }
  }, 30_000);
  afterAll(async () => {
    for (const bus of buses) await bus.close();
    for (const link of links) await link.close();
    await nats.stop();
  });

  it('a point value published on one node reaches pattern subscribers on every node once, its own node at once', async () => {
    const got: BusMessage[][] = [[], [], []];
    const subs = buses.map((bus, i) => bus.subscribe('points.sub1.>', (m) => void got[i]!.push(m), telemetry));
    buses[0]!.publish('points.sub1.f1.current', { value: 42 });
    // The publishing node's subscribers get it without waiting for NATS.
    expect(got[0]!.map((m) => m.payload)).toEqual([{ value: 42 }]);
    await until(() => got[1]!.length === 1 && got[2]!.length === 1, 5_000, 'the other nodes');
    expect(got[1]![0]).toMatchObject({ topic: 'points.sub1.f1.current', payload: { value: 42 } });
    buses[1]!.publish('points.sub2.f1.current', { value: 1 }); // another substation: nobody here listens
    await new Promise((r) => setTimeout(r, 200));
    // Its own echo is skipped: still one each.
    expect(got.map((g) => g.length)).toEqual([1, 1, 1]);
    for (const s of subs) s.unsubscribe();
  });

  it('a channel publishes like publish: its own node at once, the other nodes through NATS', async () => {
    const got: BusMessage[][] = [[], [], []];
    const subs = buses.map((bus, i) => bus.subscribe('events.sub1.>', (m) => void got[i]!.push(m), telemetry));
    const channel = buses[2]!.channel('events.sub1.f2.current');
    expect(channel.hasSubscribers()).toBe(true);
    channel.publish({ value: 7 });
    channel.publish({ value: 8 });
    await tick();
    expect(got[2]!.map((m) => m.payload)).toEqual([{ value: 7 }, { value: 8 }]);
    await until(() => got[0]!.length === 2 && got[1]!.length === 2, 5_000, 'the other nodes');
    expect(got[0]!.map((m) => m.payload)).toEqual([{ value: 7 }, { value: 8 }]);
    expect(got[1]![1]).toMatchObject({ topic: 'events.sub1.f2.current', payload: { value: 8 } });
    for (const s of subs) s.unsubscribe();
  });

  it('fans out per node: 300 subscribers on a node cost NATS one message per publish there', async () => {
    const counts = [0, 0, 0];
    const subs = buses.flatMap((bus, i) => Array.from({ length: 100 }, () => bus.subscribe('alarms.>', () => void (counts[i]! += 1), telemetry)));
    const before = buses[2]!.status().received;
    for (let i = 0; i < 50; i += 1) buses[0]!.publish('alarms.sub1.f2', { id: i });
    await until(() => counts.every((c) => c === 5_000), 5_000, '5,000 deliveries on each node');
    expect(buses[2]!.status().received - before).toBe(50);
    for (const s of subs) s.unsubscribe();
  });

  it('chat goes through the stream: each line once on every other node, in order, none to its sender node twice', async () => {
    const got: unknown[][] = [[], [], []];
    const subs = buses.map((bus, i) => bus.subscribe('chat.room.lobby', (m) => void got[i]!.push((m.payload as { n: number }).n), { maxQueued: 10_000, policy: 'disconnect' }));
    for (let n = 0; n < 2_000; n += 1) buses[n % 3]!.publish('chat.room.lobby', { n });
    expect(await buses[0]!.flushed()).toBe(true);
    await until(() => got.every((g) => g.length === 2_000), 10_000, 'every line on every node');
    await new Promise((r) => setTimeout(r, 200));
    for (const g of got) {
      expect(new Set(g).size).toBe(2_000);
      expect(g).toHaveLength(2_000);
    }
    // Lines of one sender keep their order on another node.
    const fromN1 = got[1]!.filter((n) => (n as number) % 3 === 0);
    expect(fromN1).toEqual([...fromN1].sort((a, b) => (a as number) - (b as number)));
    expect(links.every((l) => l.status().failed === 0)).toBe(true);
    for (const s of subs) s.unsubscribe();
  });

  it('a hostile message on the bus subjects (not JSON, not an envelope, a bad topic) is ignored', async () => {
    const got: BusMessage[] = [];
    const sub = buses[1]!.subscribe('points.>', (m) => void got.push(m), telemetry);
    links[0]!.nc.publish('gl.bus.points.x', 'not json');
    links[0]!.nc.publish('gl.bus.points.x', '{"no":"envelope"');
    links[0]!.nc.publish('gl.bus.points.x', '{"p":"no node"}');
    links[0]!.nc.publish('gl.bus.points.*', JSON.stringify({ o: 'n9', p: 1 }));
    links[0]!.nc.publish('gl.bus.points.y', JSON.stringify({ o: 'n9', p: 2 }));
    await until(() => got.length === 1, 5_000, 'the one good message');
    expect(got[0]).toMatchObject({ topic: 'points.y', payload: 2 });
    sub.unsubscribe();
  });
});
