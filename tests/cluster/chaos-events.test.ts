import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import type { ClusterStatus } from '../../src/protocol/server-status.js';
import type { PointEvent } from '../../src/protocol/scada.js';
import type { SubstationSimulator } from '../../src/scada/simulator/substation-simulator.js';
import type { ClusterNodeProcess, ClusterNodes } from '../helpers/cluster-nodes.js';
import { addAccounts, agreedOwner, startSimulatorCluster } from '../helpers/simulator-cluster.js';
import { startNatsCluster, type NatsSystem } from '../helpers/nats-server.js';
import { until } from '../helpers/until.js';

const POLL_MS = 200;

const clusterOf = async (node: ClusterNodeProcess): Promise<ClusterStatus> => (await node.status())['cluster'] as ClusterStatus;

/** What identifies an event on every node (its sequence number is each node's own). */
const keyOf = (e: PointEvent): string => `${e.point}|${e.serverTime}|${e.sourceTime}|${e.kind}|${e.value}|${e.quality}`;

async function eventsOn(node: ClusterNodeProcess, since: number, to: number): Promise<string[]> {
  const client = await GridlinkClient.connect({ host: '127.0.0.1', port: node.addresses.native });
  try {
    await client.login('vic', 'vic-password-1');
    return (await client.events(since, { until: to, pattern: 'sub1.>', limit: 100_000 })).map(keyOf);
  } finally {
    await client.close();
  }
}

/**
 * Events through the loss of a NATS server (docs/cluster.md, "History"):
 * three gridlink nodes on a 3-server NATS cluster, one noisy Modbus device
 * polled fast by its owner, and the server the owner publishes through
 * SIGKILLed in the middle. Every event the owner recorded in that window
 * must be in each node's history exactly once.
 */
describe('events while a NATS server dies (3 routed nats-servers, 3 gridlink processes)', () => {
  let nats: NatsSystem;
  let simulator: SubstationSimulator;
  let cluster: ClusterNodes;

  beforeAll(async () => {
    nats = await startNatsCluster(3);
    ({ simulator, cluster } = await startSimulatorCluster({ nats: nats.urls, simulator: { feeders: 4, noise: true, breakerTravelMs: 50, updateMs: 100 }, pollMs: POLL_MS }));
    await addAccounts(cluster.nodes[0]!, [{ name: 'vic', password: 'vic-password-1', role: 'viewer' }]);
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    await simulator?.stop();
    await nats?.stop();
  });

  it('SIGKILL of the NATS server the owner uses: every event of the window is in every node\'s history exactly once', async () => {
    const owner = await agreedOwner(cluster.nodes, 20_000);
    const ownerNode = cluster.nodes.find((n) => n.name === owner)!;
    // The account reached every node before anyone reads through it.
    for (const node of cluster.nodes) await until(() => eventsOn(node, Date.now() - 1_000, Date.now()).catch(() => undefined), 15_000, `vic on ${node.name}`);

    const server = (await clusterOf(ownerNode)).nats.server!;
    const victim = nats.servers.find((s) => server.endsWith(`:${s.port}`))!;
    expect(victim).toBeDefined();

    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 1_500));
    await victim.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 3_000));
    const t1 = Date.now();

    // The owner's history read at once: it records before it publishes, so
    // every event it polled in the window is already there. If the NATS loss
    // moved the device to another node on a loaded machine, that node's events
    // of the window reach the old owner a little later: so the nodes are read
    // until all three hold the same set, which must contain the owner's.
    const ownEvents = await eventsOn(ownerNode, t0, t1);
    expect(ownEvents.length).toBeGreaterThan(50);
    const windows = await until(async () => {
      const all = await Promise.all(cluster.nodes.map((node) => eventsOn(node, t0, t1)));
      const first = [...all[0]!].sort().join('\n');
      return all.every((events) => [...events].sort().join('\n') === first) ? all : undefined;
    }, 30_000, 'every node to hold the same events of the window');
    for (const events of windows) {
      // Exactly once: no event twice on any node.
      expect(new Set(events).size).toBe(events.length);
      // Every event the owner recorded is there.
      const held = new Set(events);
      expect(ownEvents.filter((e) => !held.has(e))).toEqual([]);
    }
    // Nothing failed for good on the owner's link.
    expect((await clusterOf(ownerNode)).nats.failed).toBe(0);
  }, 120_000);
});
