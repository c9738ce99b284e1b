import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import { legacyGet, legacyPut } from '../../src/client/legacy-client.js';
import type { ChatEvent } from '../../src/protocol/v1.js';
import type { ClusterStatus } from '../../src/protocol/server-status.js';
import { startClusterNodes, type ClusterNodes } from '../helpers/cluster-nodes.js';
import { startNatsCluster, type NatsSystem } from '../helpers/nats-server.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

const MESSAGES = 30_000;
/** Chat lines on the wire at once from the publisher (the protocol pipelines requests). */
const WINDOW = 64;

const clusterOf = async (node: { status(): Promise<Record<string, unknown>> }): Promise<ClusterStatus> => (await node.status())['cluster'] as ClusterStatus;

/** Counts the lines `m<i>` a member received: how many distinct, how many in all. */
function counter(): { onEvent: (e: ChatEvent) => void; distinct: () => number; total: () => number; has: (text: string) => boolean } {
  const seen = new Set<string>();
  let total = 0;
  return {
    onEvent: (e) => {
      if (e.type !== 'message' || e.text === undefined) return;
      total += 1;
      seen.add(e.text);
    },
    distinct: () => seen.size,
    total: () => total,
    has: (text) => seen.has(text),
  };
}

describe('chaos: gridlink nodes on a 3-server NATS cluster', () => {
  let nats: NatsSystem;
  let cluster: ClusterNodes;
  const clients: GridlinkClient[] = [];
  const metrics = async (node: number): Promise<string> => (await fetch(`http://127.0.0.1:${cluster.nodes[node]!.addresses.http}/metrics`)).text();
  const connect = async (node: number): Promise<GridlinkClient> => {
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: cluster.nodes[node]!.addresses.native, idleTimeoutMs: 120_000 });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    nats = await startNatsCluster(3);
    cluster = await startClusterNodes({ nats: nats.urls, names: ['a', 'b', 'c'], config: { anonymous: { enabled: true, writable: true }, http: { enabled: true, port: 0 } } });
  }, 120_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await cluster?.stop();
    await nats?.stop();
  }, 60_000);

  it(`SIGKILL of one NATS server during ${MESSAGES.toLocaleString('en')} chat lines: every member on every node gets each exactly once`, async () => {
    const receivers = [counter(), counter(), counter()];
    // A member on each node; the publisher is on node a.
    for (const [i, r] of receivers.entries()) await (await connect(i)).joinChat('storm', `rx${i}`, r.onEvent);
    const publisher = await connect(0);
    await publisher.joinChat('storm', 'tx', () => undefined);
    await until(async () => (await clusterOf(cluster.nodes[1]!)).nodes.length === 3, 10_000, 'all nodes to see each other');

    // The server node a talks to: losing it makes a's publishes fail over mid-flight.
    const server = (await clusterOf(cluster.nodes[0]!)).nats.server!;
    const victim = nats.servers.find((s) => server.endsWith(`:${s.port}`))!;
    expect(victim).toBeDefined();

    const started = Date.now();
    let next = 0;
    const kills: Promise<void>[] = [];
    const send = async (): Promise<void> => {
      while (next < MESSAGES) {
        const i = next;
        next += 1;
        if (i === MESSAGES / 3) kills.push(victim.kill('SIGKILL'));
        await publisher.say('storm', `m${i}`);
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, send));
    await Promise.all(kills);
    expect(kills).toHaveLength(1);
    const sentMs = Date.now() - started;

    await until(() => receivers.every((r) => r.distinct() === MESSAGES), 60_000, 'every line at every member').catch(async (err: unknown) => {
      const statuses = await Promise.all(cluster.nodes.map((n) => clusterOf(n).catch(() => null)));
      throw new Error(`${String(err)}; received ${JSON.stringify(receivers.map((r) => [r.distinct(), r.total()]))}; nodes ${JSON.stringify(statuses)}`);
    });
    // Let late duplicates, if any, arrive before they are counted.
    await new Promise((r) => setTimeout(r, 1_000));
    const counts = receivers.map((r) => ({ distinct: r.distinct(), total: r.total() }));
    console.log(`chaos: ${MESSAGES} lines sent in ${sentMs} ms, all received after ${Date.now() - started} ms; per member ${JSON.stringify(counts)}`);
    for (const c of counts) expect(c).toEqual({ distinct: MESSAGES, total: MESSAGES });
    const status = await clusterOf(cluster.nodes[0]!);
    expect(status.nats.failed).toBe(0);
    expect(status.nats.state).toBe('connected');
    await victim.restart();
  }, 180_000);

  it('SIGKILL of every NATS server: each node keeps serving its own clients, says so, and recovers when NATS is back', async () => {
    const local = counter();
    const remote = counter();
    const onA1 = await connect(0);
    const onA2 = await connect(0);
    const onB = await connect(1);
    await onA1.joinChat('blackout', 'a1', () => undefined);
    await onA2.joinChat('blackout', 'a2', local.onEvent);
    await onB.joinChat('blackout', 'b1', remote.onEvent);

    await Promise.all(nats.servers.map((s) => s.kill('SIGKILL')));
    await until(async () => (await clusterOf(cluster.nodes[0]!)).nats.state === 'reconnecting', 15_000, 'node a to notice');
    for (const node of cluster.nodes) expect((await clusterOf(node)).nats.state).toBe('reconnecting');
    expect(await metrics(0)).toContain('gridlink_cluster_nats_state{state="reconnecting"} 1');

    // Members on the same node still talk, at once.
    await onA1.say('blackout', 'during');
    await until(() => local.has('during'), 5_000, 'the local line');
    // Files are served as ever.
    const temp = await makeTempDir();
    try {
      await writeFile(join(temp.path, 'in.txt'), 'still serving');
      const address = { host: '127.0.0.1', port: cluster.nodes[0]!.addresses.native };
      await legacyPut(address, join(temp.path, 'in.txt'), 'blackout.txt');
      await legacyGet(address, 'blackout.txt', join(temp.path, 'out.txt'));
      expect(await readFile(join(temp.path, 'out.txt'), 'utf8')).toBe('still serving');
    } finally {
      await temp.cleanup();
    }
    // A new name cannot be promised unique now: refused with a clear reason, not a hang.
    await expect(onA2.joinChat('elsewhere', 'late', () => undefined)).rejects.toMatchObject({ code: 'GL_ERR_CLUSTER_UNAVAILABLE' });
    expect(remote.has('during')).toBe(false);

    // Together: one server alone cannot elect a JetStream meta leader.
    await Promise.all(nats.servers.map((s) => s.restart()));
    await until(async () => (await clusterOf(cluster.nodes[0]!)).nats.state === 'connected', 30_000, 'node a to reconnect');
    // The line published during the blackout was kept and retried: it reaches node b now.
    await until(() => remote.has('during'), 60_000, 'the blackout line at node b');
    expect(remote.total()).toBe(1);
    await onA1.say('blackout', 'after');
    await until(() => remote.has('after') && local.has('after'), 20_000, 'a line after the recovery on both nodes');
    await until(async () => (await clusterOf(cluster.nodes[2]!)).nodes.length === 3, 20_000, 'the registry to list 3 nodes again');
    const status = await clusterOf(cluster.nodes[0]!);
    expect(status.nats.failed).toBe(0);
    expect(status.nats.reconnects).toBeGreaterThanOrEqual(1);
    const text = await metrics(0);
    expect(text).toContain('gridlink_cluster_nats_state{state="connected"} 1');
    expect(text).toContain('gridlink_cluster_publishes_total{result="failed"} 0');
    // Nobody was taken for dead: the members are still listed across the cluster.
    expect(await onB.who('blackout')).toEqual(['a1', 'a2', 'b1']);
    for (const node of cluster.nodes) expect(node.logs.filter((line) => line['event'] === 'cluster.node_down')).toEqual([]);
  }, 180_000);
});
