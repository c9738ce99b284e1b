import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import type { SubstationSimulator } from '../../src/scada/simulator/substation-simulator.js';
import type { ClusterNodeProcess, ClusterNodes } from '../helpers/cluster-nodes.js';
import { addAccounts, agreedOwner, ownerSeenBy, startSimulatorCluster } from '../helpers/simulator-cluster.js';
import { startNats, type NatsSystem } from '../helpers/nats-server.js';
import { until } from '../helpers/until.js';

const POLL_MS = 1_000;
const DEVICE = 'sub1';
const BREAKER = 'sub1.f1.breaker';
// Feeder 2: its breaker stays closed (the first test operates feeder 1's), so its current keeps moving.
const CURRENT = 'sub1.f2.current';

async function login(node: ClusterNodeProcess): Promise<GridlinkClient> {
  const client = await GridlinkClient.connect({ host: '127.0.0.1', port: node.addresses.native });
  await client.login('olga', 'olga-password-1');
  return client;
}

/**
 * The field device is a Modbus TCP server of its own (gridlink's substation
 * simulator, run by the test, not by any node), so it keeps answering when
 * a node dies; all three nodes are configured with it.
 */
describe('device ownership and failover (3 gridlink processes, a real nats-server, one Modbus device)', () => {
  let nats: NatsSystem;
  let simulator: SubstationSimulator;
  let cluster: ClusterNodes;

  beforeAll(async () => {
    nats = await startNats();
    ({ simulator, cluster } = await startSimulatorCluster({
      nats: nats.urls,
      simulator: { feeders: 2, noise: true, breakerTravelMs: 100, updateMs: 200 },
      pollMs: POLL_MS,
      scada: { selectTimeoutMs: 10_000 },
      config: { http: { enabled: true, port: 0 } },
    }));
    await addAccounts(cluster.nodes[0]!, [{ name: 'olga', password: 'olga-password-1', role: 'operator' }]);
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    await simulator?.stop();
    await nats?.stop();
  });

  it('one owner for the device, known to every node; a command from a node that does not own it is executed by the owner', async () => {
    const owner = await agreedOwner(cluster.nodes, 15_000, DEVICE);
    expect(['a', 'b', 'c']).toContain(owner);
    // Exactly one node polls it.
    const polling = await Promise.all(
      cluster.nodes.map(async (node) => {
        const client = await login(node);
        try {
          return (await client.devices()).find((d) => d.name === DEVICE)!.polls;
        } finally {
          await client.close();
        }
      }),
    );
    expect(polling.filter((polls) => polls > 0)).toHaveLength(1);

    const other = cluster.nodes.find((n) => n.name !== owner)!;
    const client = await login(other);
    try {
      await until(async () => (await client.points(BREAKER))[0]?.quality === 'good', 10_000, 'the breaker value on a node that does not poll');
      const state = (await client.points(BREAKER))[0]!.value;
      await client.select(BREAKER);
      const result = await client.operate(BREAKER, state === 1 ? 0 : 1);
      expect(result.confirmed).toBe(true);
      // The device itself moved.
      await until(async () => (await client.points(BREAKER))[0]?.value === (state === 1 ? 0 : 1), 5_000, 'the new breaker state');
    } finally {
      await client.close();
    }
    // The owner wrote it, and its audit says which node asked.
    const ownerNode = cluster.nodes.find((n) => n.name === owner)!;
    await until(() => ownerNode.logs.some((l) => l['audit'] === 'control.routed' && l['actor'] === `node:${other.name}` && l['point'] === BREAKER), 5_000, 'the routed command in the owner\'s audit');

    // Hostile or misdirected requests on the command subject change nothing.
    const raw = await connect({ servers: nats.urls });
    try {
      const ask = async (subject: string, body: string): Promise<Record<string, unknown>> => (await raw.request(subject, body, { timeout: 5_000 })).json<Record<string, unknown>>();
      expect(await ask(`gl.scada.cmd.${owner}`, '{not json')).toMatchObject({ code: 'GL_ERR_PROTO_BAD_FIELD' });
      expect(await ask(`gl.scada.cmd.${owner}`, JSON.stringify({ device: DEVICE, point: BREAKER, value: 'open', node: 'x' }))).toMatchObject({ code: 'GL_ERR_PROTO_BAD_FIELD' });
      expect(await ask(`gl.scada.cmd.${owner}`, JSON.stringify({ device: DEVICE, point: BREAKER, value: 1, node: '../x' }))).toMatchObject({ code: 'GL_ERR_PROTO_BAD_FIELD' });
      // Sent to a node that does not own the device: refused, not executed.
      expect(await ask(`gl.scada.cmd.${other.name}`, JSON.stringify({ device: DEVICE, point: BREAKER, value: 1, node: 'x' }))).toMatchObject({ code: 'GL_ERR_SCADA_DEVICE_UNAVAILABLE' });
    } finally {
      await raw.close();
    }
  }, 60_000);

  it('SIGKILL of the owner: another node owns the device within 3 poll periods, the points keep updating on the survivors without a device-loss alarm; the killed node rejoins', async () => {
    const owner = (await ownerSeenBy(cluster.nodes[0]!, DEVICE))!;
    const victim = cluster.nodes.find((n) => n.name === owner)!;
    const survivors = cluster.nodes.filter((n) => n !== victim);
    const killedAt = Date.now();
    await victim.stop('SIGKILL');
    const successor = await until(async () => {
      const seen = await ownerSeenBy(survivors[0]!, DEVICE);
      return seen !== null && seen !== owner ? seen : undefined;
    }, 10_000, 'a new owner');
    const tookMs = Date.now() - killedAt;
    expect(survivors.map((n) => n.name)).toContain(successor);
    expect(tookMs).toBeLessThanOrEqual(3 * POLL_MS);
    // /metrics says so too.
    const metrics = await (await fetch(`http://127.0.0.1:${survivors[0]!.addresses.http}/metrics`)).text();
    expect(metrics).toContain(`gridlink_device_owner{device="${DEVICE}",node="${successor}"} 1`);

    // The values keep coming on both survivors: timestamps advance past the kill.
    for (const node of survivors) {
      const client = await login(node);
      try {
        await until(async () => {
          const point = (await client.points(CURRENT))[0];
          return point !== undefined && point.quality === 'good' && (point.serverTime ?? 0) > killedAt + 3 * POLL_MS;
        }, 10_000, `${CURRENT} updated on ${node.name} after the failover`);
        const alarms = await client.alarms(true);
        expect(alarms.filter((a) => a.kind === 'deviceLost')).toEqual([]);
      } finally {
        await client.close();
      }
    }

    await victim.restart();
    await until(async () => {
      const status = await victim.status();
      const nodes = (status['cluster'] as { nodes?: unknown[] } | null)?.nodes ?? [];
      return nodes.length === 3 && (await ownerSeenBy(victim, DEVICE)) === successor;
    }, 20_000, 'the killed node to rejoin and see the new owner');
    const client = await login(victim);
    try {
      const before = Date.now();
      await until(async () => ((await client.points(CURRENT))[0]?.serverTime ?? 0) > before, 10_000, 'values on the node that rejoined');
    } finally {
      await client.close();
    }
  }, 90_000);
});
