import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { NICKS_BUCKET } from '../../src/cluster/cluster-nicks.js';
import { NODES_BUCKET } from '../../src/cluster/node-registry.js';
import { createLogger } from '../../src/log/logger.js';
import { startNats, type NatsSystem } from '../helpers/nats-server.js';
import { until } from '../helpers/until.js';

const logger = createLogger('silent');
const config = (node: string) => ({ nats: [] as string[], node, nodeTimeoutMs: 3_000, replicas: 1 });

describe('cluster buckets with entries gridlink did not write', () => {
  let nats: NatsSystem;
  const nodes: ClusterNode[] = [];

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    for (const node of nodes) await node.close();
    await nats.stop();
  });

  it('garbage in the node and nickname buckets is ignored; the registry and the nicknames keep working', async () => {
    const p = await ClusterNode.start({ ...config('p'), nats: [nats.urls] }, logger);
    nodes.push(p);
    const nodesKv = await p.link.kvm.open(NODES_BUCKET);
    const nicksKv = await p.link.kvm.open(NICKS_BUCKET);
    // Before and after the watches start: listing and watching must both survive it.
    await nodesKv.put('evil', 'not json');
    await nicksKv.put('nodot', 'x');
    await nicksKv.put('lobby.6d616c6c6f7279', '{"bad":1}');
    await nicksKv.put('lobby.6c696172', JSON.stringify({ node: 'p', room: 'other', nick: 'liar', at: 0 }));
    const q = await ClusterNode.start({ ...config('q'), nats: [nats.urls] }, logger);
    nodes.push(q);
    await nodesKv.put('evil2', '{"startedAt":"soon"}');
    await until(() => p.registry.nodes().map((n) => n.node).join() === 'p,q', 10_000, 'p to see q');
    expect(q.registry.nodes().map((n) => n.node)).toEqual(['p', 'q']);
    expect(q.nicks.rooms()).toEqual({});
    await p.nicks.claim('lobby', 'trent');
    await expect(q.nicks.claim('lobby', 'trent')).rejects.toMatchObject({ code: 'GL_ERR_CHAT_NICK_TAKEN' });
    await until(() => q.nicks.members('lobby').join() === 'trent', 5_000, 'q to mirror p\'s member');
  }, 30_000);
});
