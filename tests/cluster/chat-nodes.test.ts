import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin/admin-client.js';
import { GridlinkClient } from '../../src/client/index.js';
import type { ChatEvent } from '../../src/protocol/v1.js';
import { startClusterNodes, type ClusterNodes } from '../helpers/cluster-nodes.js';
import { startNats, type NatsSystem } from '../helpers/nats-server.js';
import { until } from '../helpers/until.js';

/** A course-style UDP chat client: what it received, in order. */
async function udpMember(port: number): Promise<{ socket: Socket; received: string[]; send(text: string): void }> {
  const socket = createSocket('udp4');
  const received: string[] = [];
  socket.on('message', (data) => received.push(data.toString('utf8')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, received, send: (text) => socket.send(Buffer.from(text, 'utf8'), port, '127.0.0.1') };
}

describe('chat rooms across 3 gridlink nodes on NATS', () => {
  let nats: NatsSystem;
  let cluster: ClusterNodes;
  const clients: GridlinkClient[] = [];
  const sockets: Socket[] = [];
  const connect = async (node: number): Promise<GridlinkClient> => {
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: cluster.nodes[node]!.addresses.native });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    nats = await startNats();
    cluster = await startClusterNodes({ nats: nats.urls, names: ['a', 'b', 'c'] });
  }, 90_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    for (const s of sockets) s.close();
    await cluster?.stop();
    await nats?.stop();
  }, 60_000);

  it('a legacy UDP member on node a and a native member on node c chat in lobby', async () => {
    const udp = await udpMember(cluster.nodes[0]!.addresses.legacyChat);
    sockets.push(udp.socket);
    udp.send('L 老王');
    await until(() => udp.received.includes('OK'), 10_000, 'the UDP login');

    const native = await connect(2);
    const seen: ChatEvent[] = [];
    const joined = await native.joinChat('lobby', 'dispatcher', (e) => seen.push(e));
    expect(joined.members).toEqual(['dispatcher', '老王']);
    await until(() => udp.received.includes('\n欢迎 dispatcher 进入聊天室'), 10_000, 'the join notice on node a');

    await native.say('lobby', '断路器 3 已分闸');
    await until(() => udp.received.includes('\ndispatcher: 断路器 3 已分闸'), 10_000, 'the native line at the UDP member');
    udp.send('C 老王 收到');
    await until(() => seen.some((e) => e.type === 'message' && e.from === '老王' && e.text === '收到'), 10_000, 'the UDP line at the native member');

    udp.send('Q 老王');
    await until(() => seen.some((e) => e.type === 'left' && e.from === '老王'), 10_000, 'the leave notice on node c');
    expect(udp.received).toEqual(['OK', '\n欢迎 dispatcher 进入聊天室', '\ndispatcher: 断路器 3 已分闸', 'EXIT']);
    // Each event arrived once: nothing doubled by the hop through NATS.
    expect(seen.filter((e) => e.from === '老王').map((e) => e.type)).toEqual(['message', 'left']);
  }, 60_000);

  it('a nickname taken on node a is refused on node b (native and UDP), and free again once its holder leaves', async () => {
    const onA = await connect(0);
    await onA.joinChat('ops', 'ann', () => undefined);
    const onB = await connect(1);
    await expect(onB.joinChat('ops', 'ann', () => undefined)).rejects.toMatchObject({ code: 'GL_ERR_CHAT_NICK_TAKEN' });
    // The same name in another room is someone else.
    await onB.joinChat('other', 'ann', () => undefined);

    await onA.joinChat('lobby', 'ann', () => undefined);
    const udp = await udpMember(cluster.nodes[1]!.addresses.legacyChat);
    sockets.push(udp.socket);
    udp.send('L ann');
    await until(() => udp.received.length > 0, 10_000, 'the UDP refusal');
    expect(udp.received).toEqual(['该用户存在']);

    await onA.leaveChat('ops');
    await until(async () => {
      try {
        await onB.joinChat('ops', 'ann', () => undefined);
        return true;
      } catch {
        return false;
      }
    }, 10_000, 'the name to be free on node b');
  }, 60_000);

  it('a private message from node a reaches its addressee on node c only', async () => {
    const from = await connect(0);
    const seenC: ChatEvent[] = [];
    const seenB: ChatEvent[] = [];
    await from.joinChat('control', 'sender', () => undefined);
    await (await connect(2)).joinChat('control', 'addressee', (e) => seenC.push(e));
    await (await connect(1)).joinChat('control', 'bystander', (e) => seenB.push(e));
    await from.whisper('control', 'addressee', '只给你');
    await until(() => seenC.some((e) => e.type === 'private' && e.text === '只给你'), 10_000, 'the private line on node c');
    await from.say('control', 'for all');
    await until(() => seenB.some((e) => e.type === 'message' && e.text === 'for all'), 10_000, 'the room line on node b');
    expect(seenB.some((e) => e.type === 'private')).toBe(false);
    await expect(from.whisper('control', 'nobody', 'x')).rejects.toMatchObject({ code: 'GL_ERR_CHAT_NO_SUCH_MEMBER' });
  }, 60_000);

  it('99 members racing for one nickname on 3 nodes: exactly one gets it', async () => {
    const racers = await Promise.all(Array.from({ length: 99 }, (_, i) => connect(i % 3)));
    const results = await Promise.allSettled(racers.map((c) => c.joinChat('race', 'same', () => undefined)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'GL_ERR_CHAT_NICK_TAKEN' });
  }, 60_000);

  it('an announcement and a kick given on node b reach members on nodes a and c', async () => {
    const onA = await connect(0);
    const onC = await connect(2);
    const seenA: ChatEvent[] = [];
    await onA.joinChat('feeders', 'kate', (e) => seenA.push(e));
    await onC.joinChat('feeders', 'leo', () => undefined);
    const admin = await AdminClient.connect(join(cluster.nodes[1]!.dataDir, 'admin.sock'));
    try {
      expect(await admin.announce('系统维护 5 分钟')).toBeGreaterThanOrEqual(1);
      await until(() => seenA.some((e) => e.type === 'announce' && e.text === '系统维护 5 分钟'), 10_000, 'the announcement on node a');
      expect(await admin.kick('leo')).toBe(1);
    } finally {
      await admin.close();
    }
    await until(() => seenA.some((e) => e.type === 'left' && e.from === 'leo'), 10_000, 'leo to be kicked on node c');
    await expect(onC.say('feeders', 'still here?')).rejects.toBeDefined();
  }, 60_000);
});
