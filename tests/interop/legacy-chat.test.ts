import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import type { ChatEvent } from '../../src/protocol/v1.js';
import { PEERS_DIR, run } from '../helpers/python.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * docs/legacy-chat.md against an independent peer: tests/peers/legacy_chat.py was
 * written from the specification alone.
 */
describe('legacy UDP chat with the independent Python peer', () => {
  let server: TestServer;
  let port: number;
  const py = (...args: string[]) => run('python3', [join(PEERS_DIR, 'legacy_chat.py'), '--host', '127.0.0.1', '--port', String(port), ...args], { timeoutMs: 30_000 });

  beforeAll(async () => {
    server = await startTestServer({ legacyChat: { enabled: true }, chat: { allowAnonymous: true } });
    port = server.server.legacyChatAddress!.port;
  });
  afterAll(async () => {
    await server.stop();
  });

  it('logins, refusals (taken, 管理员), messages, notices and quit, byte for byte', async () => {
    const out = await py('scenario', 'basic');
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout) as { ok: boolean; received: Record<string, string[]> };
    expect(result.ok).toBe(true);
    expect(result.received['1:ann']).toEqual(['OK', '\n欢迎 ben 进入聊天室', '\nben 退出聊天室']);
    expect(result.received['2:ben']).toEqual(['OK', '\nann: hello', 'EXIT']);
  });

  it('C and Q for a name are accepted only from the address that logged in with it', async () => {
    const out = await py('scenario', 'spoof');
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
  });

  it('shares the room lobby with native members, and admin announcements reach legacy members', async () => {
    const listener = spawn('python3', [join(PEERS_DIR, 'legacy_chat.py'), '--host', '127.0.0.1', '--port', String(port), '--lenient', 'listen', 'udpuser', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    listener.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    listener.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const deadline = Date.now() + 10_000;
    while (!stderr.includes('listening as udpuser') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    const native = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    const seen: ChatEvent[] = [];
    const joined = await native.joinChat('lobby', 'operator1', (e) => seen.push(e));
    expect(joined.members).toEqual(['operator1', 'udpuser']);
    await native.say('lobby', '断路器 3 已分闸');
    expect(server.server.chat.announce('系统维护 5 分钟')).toBe(1);
    await new Promise<void>((resolve) => listener.once('exit', () => resolve()));
    const result = JSON.parse(stdout) as { ok: boolean; received: string[]; exit: boolean };
    expect(result.received).toEqual(['\n欢迎 operator1 进入聊天室', '\noperator1: 断路器 3 已分闸', '\n管理员: 系统维护 5 分钟']);
    expect(result.exit).toBe(true);
    // The native member saw the announcement and the legacy member leaving.
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.map((e) => [e.type, e.from])).toEqual([
      ['announce', '管理员'],
      ['left', 'udpuser'],
    ]);
    await native.close();
  });

  it('a legacy member\'s message reaches a native member in lobby', async () => {
    const native = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    const seen: ChatEvent[] = [];
    await native.joinChat('lobby', 'operator2', (e) => seen.push(e));
    const out = await py('--lenient', 'listen', 'fieldman', '1', '--say', '3号线路 正常');
    expect(out.code).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.map((e) => [e.type, e.from, e.text ?? null])).toEqual([
      ['joined', 'fieldman', null],
      ['message', 'fieldman', '3号线路 正常'],
      ['left', 'fieldman', null],
    ]);
    await native.close();
  });

  it.each([
    ['empty', ''],
    ['no space', Buffer.from('Lann').toString('hex')],
    ['unknown verb', Buffer.from('X ann hi').toString('hex')],
    ['invalid UTF-8', 'fffe20616e6e'],
    ['65,507 bytes', Buffer.alloc(65_507, 0x41).toString('hex')],
    ['a name with a control character', Buffer.from('L a\u0007b').toString('hex')],
  ])('a malformed datagram (%s) gets a clear refusal and the room keeps working', async (_label, hex) => {
    const out = await py('send', hex);
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout) as { decoded: string[] };
    expect(result.decoded).toHaveLength(1);
    expect(result.decoded[0]).toMatch(/^ERROR GL_ERR_CHAT_BAD_(MESSAGE|NAME): /u);
    const after = await py('scenario', 'basic');
    expect(after.code).toBe(0);
  });
});
