import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import type { Alarm } from '../../src/protocol/scada.js';
import type { SubstationSimulator } from '../../src/scada/simulator/substation-simulator.js';
import type { ClusterNodes } from '../helpers/cluster-nodes.js';
import { addAccounts, agreedOwner, newSimulator, startSimulatorCluster } from '../helpers/simulator-cluster.js';
import { startNats, type NatsSystem } from '../helpers/nats-server.js';
import { until } from '../helpers/until.js';

const POLL_MS = 300;
const SOURCE = 'device:sub1';

/**
 * Alarms across the nodes: the device's owner raises a device-loss alarm
 * when the (test's own) Modbus device goes away; every node lists it under
 * one id; an operator on another node acknowledges it and the owner's node
 * shows it acknowledged; the device's return clears it everywhere.
 */
describe('alarms and selections across 3 gridlink processes (a real nats-server, one Modbus device)', () => {
  let nats: NatsSystem;
  let simulator: SubstationSimulator;
  let port: number;
  let cluster: ClusterNodes;
  const clients = new Map<string, GridlinkClient>();
  const settings = { feeders: 1, noise: false, breakerTravelMs: 50, updateMs: 200 };

  beforeAll(async () => {
    nats = await startNats();
    ({ simulator, port, cluster } = await startSimulatorCluster({
      nats: nats.urls,
      simulator: settings,
      pollMs: POLL_MS,
      device: (d) => ({ ...d, timeoutMs: 200, backoffMaxMs: 600 }),
    }));
    await addAccounts(cluster.nodes[1]!, [{ name: 'olga', password: 'olga-password-1', role: 'operator' }]);
    for (const node of cluster.nodes) {
      await until(async () => {
        try {
          const client = await GridlinkClient.connect({ host: '127.0.0.1', port: node.addresses.native });
          await client.login('olga', 'olga-password-1');
          clients.set(node.name, client);
          return true;
        } catch {
          return false;
        }
      }, 10_000, `olga's login on ${node.name}`);
    }
  }, 90_000);

  afterAll(async () => {
    for (const client of clients.values()) await client.close().catch(() => undefined);
    await cluster?.stop();
    await simulator?.stop();
    await nats?.stop();
  });

  it('a device-loss alarm raised by the owner is listed on every node under one id; acknowledged on another node, it is acknowledged on the owner; cleared everywhere when the device is back', async () => {
    const owner = await agreedOwner(cluster.nodes, 15_000);
    const ownerClient = clients.get(owner)!;
    const others = cluster.nodes.map((n) => n.name).filter((n) => n !== owner);
    await until(async () => (await ownerClient.points('sub1.f1.breaker'))[0]?.quality === 'good', 10_000, 'first poll');

    await simulator.stop();
    const lost = (alarms: Alarm[]): Alarm | undefined => alarms.find((a) => a.source === SOURCE && a.kind === 'deviceLost');
    const raised = await until(async () => lost(await ownerClient.alarms()), 10_000, 'the device-loss alarm on the owner');
    for (const name of others) {
      const seen = await until(async () => lost(await clients.get(name)!.alarms()), 5_000, `the alarm on ${name}`);
      expect(seen.id).toBe(raised.id);
      expect(seen.state).toBe('active');
    }

    // An operator on a node that does not own the device acknowledges it.
    const acker = others[0]!;
    const acked = await clients.get(acker)!.acknowledge(raised.id);
    expect(acked).toMatchObject({ id: raised.id, state: 'activeAcked', ackedBy: 'olga' });
    for (const name of [owner, others[1]!]) {
      const seen = await until(async () => {
        const alarm = lost(await clients.get(name)!.alarms());
        return alarm?.state === 'activeAcked' ? alarm : undefined;
      }, 5_000, `the acknowledgement on ${name}`);
      expect(seen.ackedBy).toBe('olga');
    }
    // Acknowledged twice (on the owner now): still one alarm, nothing changes.
    expect((await ownerClient.acknowledge(raised.id)).ackedBy).toBe('olga');

    simulator = newSimulator(port, settings);
    await simulator.start();
    // Back: cleared on the owner; cleared and acknowledged, it leaves every node's list.
    for (const node of cluster.nodes) {
      await until(async () => lost(await clients.get(node.name)!.alarms()) === undefined, 10_000, `the alarm to leave ${node.name}'s list`);
      const all = (await clients.get(node.name)!.alarms(true)).filter((a) => a.id === raised.id);
      expect(all).toHaveLength(1);
      expect(all[0]).toMatchObject({ state: 'clearedAcked', ackedBy: 'olga' });
    }
  }, 60_000);

  it('100 operators spread over the 3 processes select the same breaker at once: exactly one wins, the others get GL_ERR_SCADA_SELECTED', async () => {
    const operators = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const node = cluster.nodes[i % 3]!;
        const client = await GridlinkClient.connect({ host: '127.0.0.1', port: node.addresses.native });
        await client.login('olga', 'olga-password-1');
        return { node: node.name, client };
      }),
    );
    try {
      const results = await Promise.all(
        operators.map(({ node, client }) =>
          client.select('sub1.f1.breaker').then(
            () => ({ node, code: 'ok' }),
            (err: unknown) => ({ node, code: (err as { code?: string }).code ?? String(err) }),
          ),
        ),
      );
      expect(results.filter((r) => r.code === 'ok')).toHaveLength(1);
      const refused = results.filter((r) => r.code !== 'ok');
      expect(new Set(refused.map((r) => r.code))).toEqual(new Set(['GL_ERR_SCADA_SELECTED']));
      expect(new Set(refused.map((r) => r.node))).toEqual(new Set(['a', 'b', 'c']));
    } finally {
      // Closing the winner's connection releases its selection everywhere.
      await Promise.all(operators.map(({ client }) => client.close().catch(() => undefined)));
    }
    const again = clients.get('c')!;
    await until(async () => {
      try {
        await again.select('sub1.f1.breaker');
        return true;
      } catch {
        return false;
      }
    }, 5_000, 'the breaker free again once the winner left');
    await again.deselect('sub1.f1.breaker');
  }, 60_000);

  it('acknowledging an alarm id that no node raised is refused with GL_ERR_SCADA_NO_ALARM on every node', async () => {
    for (const client of clients.values()) await expect(client.acknowledge(987_654_321)).rejects.toMatchObject({ code: 'GL_ERR_SCADA_NO_ALARM' });
  });
});
