import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin/admin-client.js';
import { GridlinkClient } from '../../src/client/index.js';
import { GridlinkError } from '../../src/errors/index.js';
import type { SubstationSimulator } from '../../src/scada/simulator/substation-simulator.js';
import type { ClusterNodes } from '../helpers/cluster-nodes.js';
import { addAccounts, startSimulatorCluster } from '../helpers/simulator-cluster.js';
import { startNats, type NatsSystem } from '../helpers/nats-server.js';
import { until } from '../helpers/until.js';

const BREAKER = 'sub1.f1.breaker';
const OPERATORS = 100;
const password = (i: number): string => `operator-password-${i}`;

/**
 * Select-before-operate across real gridlink processes (docs/cluster.md,
 * "Leases"): 100 operators, each with an account of their own added on
 * node a and shared through NATS, logged in over the native protocol to the
 * three nodes in turn, select the same breaker at once.
 */
describe('100 operators on 3 gridlink processes select one breaker (a real nats-server)', () => {
  let nats: NatsSystem;
  let simulator: SubstationSimulator;
  let cluster: ClusterNodes;
  const clients: GridlinkClient[] = [];

  beforeAll(async () => {
    nats = await startNats();
    ({ simulator, cluster } = await startSimulatorCluster({
      nats: nats.urls,
      simulator: { feeders: 1, noise: false, breakerTravelMs: 100, updateMs: 1_000 },
      pollMs: 1_000,
      scada: { selectTimeoutMs: 30_000 },
      // 100 connections from one address: lift the per-address cap meant for strangers.
      config: { native: { port: 0, maxConnectionsPerAddress: 1_000 } },
    }));
    await addAccounts(
      cluster.nodes[0]!,
      Array.from({ length: OPERATORS }, (_, i) => ({ name: `op${i}`, password: password(i), role: 'operator' as const })),
    );
    // Every account reached every node (asked of each node's admin socket, not by
    // logging in early: failed logins would throttle the address), and the breaker reads on each.
    for (const node of cluster.nodes) {
      await until(async () => {
        const local = await AdminClient.connect(join(node.dataDir, 'admin.sock'));
        try {
          const names = new Set((await local.listUsers()).map((u) => u.name));
          return Array.from({ length: OPERATORS }, (_, i) => `op${i}`).every((n) => names.has(n));
        } finally {
          await local.close();
        }
      }, 30_000, `every account on node ${node.name}`);
    }
    for (let i = 0; i < OPERATORS; i++) {
      const node = cluster.nodes[i % 3]!;
      const client = await GridlinkClient.connect({ host: '127.0.0.1', port: node.addresses.native });
      clients.push(client);
      await client.login(`op${i}`, password(i));
    }
    await until(async () => (await clients[0]!.points(BREAKER))[0]?.quality === 'good', 15_000, 'the breaker value');
  }, 180_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await cluster?.stop();
    await simulator?.stop();
    await nats?.stop();
  });

  it('exactly one wins; the 99 others, on every node, are told the point is selected; once released another operator gets it', async () => {
    const results = await Promise.all(
      clients.map((client, i) =>
        client.select(BREAKER).then(
          (lease) => ({ i, holder: lease.holder, code: null }),
          (err: unknown) => ({ i, holder: null, code: err instanceof GridlinkError ? err.code : `not a GridlinkError: ${String(err)}` }),
        ),
      ),
    );
    const winners = results.filter((r) => r.code === null);
    expect(winners).toHaveLength(1);
    const winner = winners[0]!;
    expect(winner.holder).toBe(`op${winner.i}`);
    const losers = results.filter((r) => r.code !== null);
    expect(new Set(losers.map((r) => r.code))).toEqual(new Set(['GL_ERR_SCADA_SELECTED']));
    expect(new Set(losers.map((r) => r.i % 3))).toEqual(new Set([0, 1, 2]));

    // Released by its holder: an operator on another node takes it.
    await clients[winner.i]!.deselect(BREAKER);
    const next = (winner.i + 1) % OPERATORS;
    const lease = await until(() => clients[next]!.select(BREAKER).catch(() => undefined), 10_000, 'a select after the release');
    expect(lease.holder).toBe(`op${next}`);
    await clients[next]!.deselect(BREAKER);
  }, 60_000);
});
