import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import type { PointEvent } from '../../src/protocol/scada.js';
import type { SubstationSimulator } from '../../src/scada/simulator/substation-simulator.js';
import type { ClusterNodeProcess, ClusterNodes } from '../helpers/cluster-nodes.js';
import { addAccounts, agreedOwner, startSimulatorCluster } from '../helpers/simulator-cluster.js';
import { startNats, type NatsSystem } from '../helpers/nats-server.js';
import { until } from '../helpers/until.js';

const POLL_MS = 300;

/** What identifies an event on every node (its sequence number is each node's own). */
const keyOf = (e: PointEvent): string => `${e.point}|${e.serverTime}|${e.sourceTime}|${e.kind}|${e.value}|${e.quality}`;

async function eventsOn(node: ClusterNodeProcess, since: number, until: number): Promise<string[]> {
  const client = await GridlinkClient.connect({ host: '127.0.0.1', port: node.addresses.native });
  try {
    await client.login('olga', 'olga-password-1');
    return (await client.events(since, { until, pattern: 'sub1.>' })).map(keyOf);
  } finally {
    await client.close();
  }
}

/**
 * History across the nodes: the owner of the (test's own) Modbus device
 * records its events and publishes them to the events stream; every other
 * node's historian stores them from its durable consumer. Each node's
 * history must then hold every event exactly once, also one that was down
 * for a while.
 */
describe('history across 3 gridlink processes (a real nats-server, one Modbus device with noise)', () => {
  let nats: NatsSystem;
  let simulator: SubstationSimulator;
  let cluster: ClusterNodes;

  beforeAll(async () => {
    nats = await startNats();
    ({ simulator, cluster } = await startSimulatorCluster({ nats: nats.urls, simulator: { feeders: 2, noise: true, breakerTravelMs: 50, updateMs: 150 }, pollMs: POLL_MS }));
    await addAccounts(cluster.nodes[2]!, [{ name: 'olga', password: 'olga-password-1', role: 'viewer' }]);
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    await simulator?.stop();
    await nats?.stop();
  });

  it('every event published while all nodes were up is in each node\'s history exactly once; a node down meanwhile stores the events it missed once it is back', async () => {
    const owner = await agreedOwner(cluster.nodes, 15_000);
    const ownerNode = cluster.nodes.find((n) => n.name === owner)!;
    await until(async () => (await eventsOn(ownerNode, Date.now() - 2_000, Date.now())).length > 0, 10_000, 'events on the owner');

    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 3_000));
    const t1 = Date.now();
    const reference = await eventsOn(ownerNode, t0, t1);
    expect(reference.length).toBeGreaterThan(10);
    expect(new Set(reference).size).toBe(reference.length);
    for (const node of cluster.nodes) {
      const seen = await until(async () => {
        const events = await eventsOn(node, t0, t1);
        return events.length >= reference.length ? events : undefined;
      }, 10_000, `the events on ${node.name}`);
      expect([...seen].sort()).toEqual([...reference].sort());
    }

    // A node that does not own the device dies and misses events for a while.
    const victim = cluster.nodes.find((n) => n !== ownerNode)!;
    await victim.stop('SIGKILL');
    const t2 = Date.now();
    await new Promise((r) => setTimeout(r, 2_000));
    const t3 = Date.now();
    await victim.restart();
    const missed = await eventsOn(ownerNode, t2, t3);
    expect(missed.length).toBeGreaterThan(5);
    const caught = await until(async () => {
      const events = await eventsOn(victim, t2, t3);
      return events.length >= missed.length ? events : undefined;
    }, 20_000, `the events ${victim.name} missed while it was down`);
    expect([...caught].sort()).toEqual([...missed].sort());
    // And what it had before is still there once, not again after the restart.
    expect((await eventsOn(victim, t0, t1)).sort()).toEqual([...reference].sort());
  }, 90_000);
});
