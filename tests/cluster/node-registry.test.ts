import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import type { ChatEvent } from '../../src/protocol/v1.js';
import type { ClusterStatus } from '../../src/protocol/server-status.js';
import { runNode, startClusterNodes, type ClusterNodes } from '../helpers/cluster-nodes.js';
import { startNats, type NatsSystem } from '../helpers/nats-server.js';
import { until } from '../helpers/until.js';

const clusterOf = async (node: { status(): Promise<Record<string, unknown>> }): Promise<ClusterStatus> => (await node.status())['cluster'] as ClusterStatus;

describe('nodes of a cluster: unique names, status, death and return', () => {
  let nats: NatsSystem;
  let cluster: ClusterNodes;
  const clients: GridlinkClient[] = [];

  beforeAll(async () => {
    nats = await startNats();
    cluster = await startClusterNodes({ nats: nats.urls, names: ['a', 'b', 'c'] });
  }, 90_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await cluster?.stop();
    await nats?.stop();
  }, 60_000);

  it('gridlink admin status shows the nodes and the NATS connection', async () => {
    const status = await clusterOf(cluster.nodes[1]!);
    expect(status.node).toBe('b');
    expect(status.nats).toMatchObject({ state: 'connected', server: expect.stringContaining('127.0.0.1') as unknown, failed: 0 });
    expect(status.nodes.map((n) => [n.node, n.self])).toEqual([
      ['a', false],
      ['b', true],
      ['c', false],
    ]);
  });

  it('a second node with a live name is refused with GL_ERR_CLUSTER_NODE_TAKEN and a non-zero exit status', async () => {
    const started = Date.now();
    const refused = await runNode(nats.urls, 'b');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('GL_ERR_CLUSTER_NODE_TAKEN');
    expect(refused.stderr).toContain('--node');
    // Told within about one heartbeat period (a third of the 3 s node timeout), not after the timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
    // The live node is untouched.
    expect((await clusterOf(cluster.nodes[1]!)).nats.state).toBe('connected');
  }, 30_000);

  it('refuses a bad --cluster or --node with a clear error', async () => {
    const bad = await runNode('http://127.0.0.1:1', 'x');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('GL_ERR_CONFIG_INVALID');
    const badName = await runNode(nats.urls, 'no/slash');
    expect(badName.code).not.toBe(0);
    expect(badName.stderr).toContain('GL_ERR_CONFIG_INVALID');
  }, 30_000);

  it('SIGKILL of a node: its chat members leave on the others (announced once), it is gone from status; restarted, it rejoins under its name', async () => {
    const onA = await GridlinkClient.connect({ host: '127.0.0.1', port: cluster.nodes[0]!.addresses.native });
    clients.push(onA);
    const seen: ChatEvent[] = [];
    await onA.joinChat('lobby', 'watcher', (e) => seen.push(e));
    const onC = await GridlinkClient.connect({ host: '127.0.0.1', port: cluster.nodes[2]!.addresses.native });
    clients.push(onC);
    await onC.joinChat('lobby', 'doomed', () => undefined);
    await until(() => seen.some((e) => e.type === 'joined' && e.from === 'doomed'), 10_000, 'doomed to join');

    const killedAt = Date.now();
    await cluster.nodes[2]!.stop('SIGKILL');
    await until(() => seen.some((e) => e.type === 'left' && e.from === 'doomed'), 15_000, 'the dead node\'s member to leave');
    // Within the node timeout (3 s) and a sweep, not minutes.
    expect(Date.now() - killedAt).toBeLessThan(8_000);
    await until(async () => (await clusterOf(cluster.nodes[0]!)).nodes.every((n) => n.node !== 'c'), 10_000, 'c to be gone from a\'s status');
    expect(seen.filter((e) => e.type === 'left' && e.from === 'doomed')).toHaveLength(1);
    // The name is free again on the cluster.
    const onB = await GridlinkClient.connect({ host: '127.0.0.1', port: cluster.nodes[1]!.addresses.native });
    clients.push(onB);
    await onB.joinChat('lobby', 'doomed', () => undefined);

    await cluster.nodes[2]!.restart();
    await until(async () => (await clusterOf(cluster.nodes[0]!)).nodes.some((n) => n.node === 'c'), 10_000, 'c to be back in a\'s status');
    const back = await GridlinkClient.connect({ host: '127.0.0.1', port: cluster.nodes[2]!.addresses.native });
    clients.push(back);
    await back.joinChat('lobby', 'returned', () => undefined);
    await until(() => seen.some((e) => e.type === 'joined' && e.from === 'returned'), 10_000, 'a member of the restarted node to reach a');
  }, 60_000);
});
