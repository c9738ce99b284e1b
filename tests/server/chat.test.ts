import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameConnection, GridlinkClient } from '../../src/client/index.js';
import { encodeHeader } from '../../src/codec/index.js';
import type { ChatEvent } from '../../src/protocol/v1.js';
import { openSocket } from '../helpers/raw-peer.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';
import { codeOf } from '../helpers/code-of.js';

describe('native chat (docs/protocol.md §3.4)', () => {
  let server: TestServer;
  const connect = () => GridlinkClient.connect({ host: '127.0.0.1', port: server.port });

  beforeAll(async () => {
    // 1,000 members connect from 127.0.0.1: lift the per-address cap meant for strangers.
    server = await startTestServer({ chat: { allowAnonymous: true }, native: { maxConnectionsPerAddress: 2_000 } });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('join/leave notices, messages to the others only, private messages, who', async () => {
    const ann = await connect();
    const ben = await connect();
    const annSaw: ChatEvent[] = [];
    const benSaw: ChatEvent[] = [];
    expect((await ann.joinChat('control', 'ann', (e) => annSaw.push(e))).members).toEqual(['ann']);
    expect((await ben.joinChat('control', 'ben', (e) => benSaw.push(e))).members).toEqual(['ann', 'ben']);
    await ann.say('control', 'feeder 3 tripped');
    await ben.whisper('control', 'ann', 'checking');
    expect(await ann.who('control')).toEqual(['ann', 'ben']);
    await ben.leaveChat('control');
    await until(() => annSaw.length >= 3);
    expect(annSaw.map((e) => [e.type, e.from, e.text ?? null])).toEqual([
      ['joined', 'ben', null],
      ['private', 'ben', 'checking'],
      ['left', 'ben', null],
    ]);
    expect(benSaw.map((e) => [e.type, e.from, e.text ?? null])).toEqual([['message', 'ann', 'feeder 3 tripped']]);
    await ann.close();
    await ben.close();
  });

  it('refuses a taken nickname, bad names, empty or oversized text, and acting in a room not joined', async () => {
    const a = await connect();
    const b = await connect();
    await a.joinChat('r1', 'same', () => undefined);
    expect(await codeOf(b.joinChat('r1', 'same', () => undefined))).toBe('GL_ERR_CHAT_NICK_TAKEN');
    expect(await codeOf(b.joinChat('r1', '管理员', () => undefined))).toBe('GL_ERR_CHAT_BAD_NAME');
    expect(await codeOf(b.joinChat('r1', 'with space', () => undefined))).toBe('GL_ERR_CHAT_BAD_NAME');
    expect(await codeOf(b.joinChat('r1', 'bell\u0007', () => undefined))).toBe('GL_ERR_CHAT_BAD_NAME');
    expect(await codeOf(b.joinChat('bad room', 'x', () => undefined))).toBe('GL_ERR_CHAT_BAD_NAME');
    expect(await codeOf(b.say('r1', 'not joined'))).toBe('GL_ERR_CHAT_NOT_MEMBER');
    expect(await codeOf(a.say('r1', ''))).toBe('GL_ERR_CHAT_BAD_MESSAGE');
    expect(await codeOf(a.whisper('r1', 'nobody', 'hi'))).toBe('GL_ERR_CHAT_NO_SUCH_MEMBER');
    const conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
    expect(await codeOf(conn.request('chat.say', { room: 'r1', text: 'x'.repeat(5000) }))).toBe('GL_ERR_PROTO_BAD_FIELD');
    expect(await codeOf(conn.request('chat.join', { room: 'r1' }))).toBe('GL_ERR_PROTO_BAD_FIELD');
    await conn.request('ping'); // still usable
    conn.destroy();
    // The nickname frees up when its connection goes away.
    a.destroy();
    await until(() => !server.server.chat.members('r1').includes('same'));
    await b.joinChat('r1', 'same', () => undefined);
    await b.close();
  });

  it('without allowAnonymous, chat needs a login', async () => {
    const locked = await startTestServer({ chat: { allowAnonymous: false } });
    try {
      const client = await GridlinkClient.connect({ host: '127.0.0.1', port: locked.port });
      expect(await codeOf(client.joinChat('lobby', 'x', () => undefined))).toBe('GL_ERR_AUTH_REQUIRED');
      await locked.server.users.add('nina', 'nina-password', 'viewer');
      await client.login('nina', 'nina-password');
      expect((await client.joinChat('lobby', 'nina', () => undefined)).members).toEqual(['nina']);
      await client.close();
    } finally {
      await locked.stop();
    }
  });

  it('1,000 members: every message reaches every other member exactly once, in order per sender', { timeout: 120_000 }, async () => {
    const members = await Promise.all(Array.from({ length: 1000 }, () => connect()));
    const seen = members.map(() => [] as string[]);
    for (const [i, client] of members.entries()) await client.joinChat('big', `m${i}`, (e) => void (e.type === 'message' && seen[i]!.push(`${e.from}:${e.text ?? ''}`)));
    const senders = [0, 1, 2];
    for (let n = 0; n < 20; n += 1) for (const s of senders) await members[s]!.say('big', String(n));
    const expectedFrom = (s: number) => Array.from({ length: 20 }, (_, n) => `m${s}:${n}`);
    await until(() => seen.every((list, i) => list.length === (senders.includes(i) ? 40 : 60)), 60_000);
    for (const [i, list] of seen.entries()) {
      for (const s of senders) {
        const fromS = list.filter((line) => line.startsWith(`m${s}:`));
        expect(fromS).toEqual(s === i ? [] : expectedFrom(s));
      }
    }
    await Promise.all(members.map((c) => c.close()));
  });

  it('gridlink admin announce reaches members; gridlink admin kick cuts the member off', async () => {
    const { run } = await import('../helpers/python.js');
    const { GRIDLINK_BIN } = await import('../helpers/server-process.js');
    const client = await connect();
    const seen: ChatEvent[] = [];
    await client.joinChat('ops', 'olga', (e) => seen.push(e));
    const announce = await run(process.execPath, [GRIDLINK_BIN, 'admin', '--data', server.dataDir, 'announce', 'grid', 'maintenance']);
    expect(announce.stderr).toBe('');
    expect(announce.stdout).toMatch(/announced to \d+ rooms?/u);
    await until(() => seen.some((e) => e.type === 'announce'));
    expect(seen.find((e) => e.type === 'announce')).toMatchObject({ from: '管理员', text: 'grid maintenance' });
    const kick = await run(process.execPath, [GRIDLINK_BIN, 'admin', '--data', server.dataDir, 'kick', 'olga']);
    expect(kick.code).toBe(0);
    await until(() => client.failure !== null);
    expect(client.failure?.code).toBe('GL_ERR_CHAT_KICKED');
    expect(server.server.chat.members('ops')).toEqual([]);
    const again = await run(process.execPath, [GRIDLINK_BIN, 'admin', '--data', server.dataDir, 'kick', 'olga']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('GL_ERR_CHAT_NO_SUCH_MEMBER');
    client.destroy();
  });

  it('a member that stops reading is disconnected when its queue overflows; the others get everything', { timeout: 60_000 }, async () => {
    const before = server.server.bus.metrics().disconnected;
    // A raw member that joins and then never reads its socket again.
    const stalled = await openSocket(server.port);
    stalled.write(encodeHeader({ v: 1, id: 1, cmd: 'chat.join', room: 'flood', nick: 'stalled' }));
    await until(() => server.server.chat.members('flood').includes('stalled'));
    stalled.pause();
    const reader = await connect();
    let got = 0;
    await reader.joinChat('flood', 'reader', (e) => void (e.type === 'message' && (got += 1)));
    const sender = await connect();
    await sender.joinChat('flood', 'sender', () => undefined);
    const text = 'x'.repeat(4000);
    for (let n = 0; n < 3000; n += 1) await sender.say('flood', text);
    await until(() => got === 3000, 30_000);
    await until(() => !server.server.chat.members('flood').includes('stalled'), 30_000);
    expect(server.server.bus.metrics().disconnected).toBe(before + 1);
    expect(server.server.chat.members('flood')).toEqual(['reader', 'sender']);
    stalled.destroy();
    await reader.close();
    await sender.close();
  });
});
