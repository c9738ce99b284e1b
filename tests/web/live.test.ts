import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { GridlinkClient } from '../../src/client/index.js';
import type { ScadaService } from '../../src/scada/scada-service.js';
import { as, login, send, startWebServer, type Login, type WebTestServer } from './web-client.js';

interface Message {
  readonly type: string;
  readonly [key: string]: unknown;
}

/** A /api/live client that records every message. */
class LiveClient {
  readonly ws: WebSocket;
  readonly messages: Message[] = [];
  closed: { code: number; reason: string } | null = null;

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer) => this.messages.push(JSON.parse(data.toString('utf8')) as Message));
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  async waitFor(predicate: (m: Message) => boolean, what: string, timeoutMs = 5_000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(predicate);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async waitClosed(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (this.closed === null) {
      if (Date.now() > deadline) throw new Error('socket not closed');
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closed;
  }
}

/** Opens /api/live; resolves to the client, or to the HTTP status that refused the upgrade. */
function openLive(port: number, headers: Record<string, string>): Promise<LiveClient | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/live`, { headers });
    const client = new LiveClient(ws);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

describe('WebSocket /api/live (docs/http-api.md)', () => {
  let server: WebTestServer;
  let scada: ScadaService;
  let vera: Login;
  const open = async (who: Login, extra: Record<string, string> = {}): Promise<LiveClient> => {
    const client = await openLive(server.httpPort, { cookie: who.cookie, origin: server.origin, ...extra });
    if (typeof client === 'number') throw new Error(`upgrade refused: ${client}`);
    return client;
  };

  beforeAll(async () => {
    server = await startWebServer({ scada: { enabled: true, simulator: { noise: false, pollMs: 100, breakerTravelMs: 50, feeders: 2 } } });
    scada = server.server.scada!;
    await server.server.users.add('vera', 'vera-password', 'viewer');
    await server.server.users.add('olga', 'olga-password', 'operator');
    vera = await login(server.httpPort, 'vera', 'vera-password');
  });
  afterAll(async () => {
    await server.stop();
  });

  it('needs a session (401) and the server’s own Origin (403); header tricks grant nothing', async () => {
    expect(await openLive(server.httpPort, { origin: server.origin })).toBe(401);
    expect(await openLive(server.httpPort, { origin: server.origin, 'x-forwarded-for': '127.0.0.1', 'x-remote-user': 'vera' })).toBe(401);
    expect(await openLive(server.httpPort, { cookie: vera.cookie, origin: 'http://evil.example' })).toBe(403);
    expect(await openLive(server.httpPort, { cookie: vera.cookie, origin: 'null' })).toBe(403);
  });

  it('subscribe: a snapshot of every matching point, then live updates', async () => {
    const live = await open(vera);
    live.send({ op: 'subscribe', points: 'sub1.f1.*' });
    await live.waitFor(() => live.messages.filter((m) => m.type === 'point').length >= 6, 'snapshot of 6 points');
    const names = new Set(live.messages.filter((m) => m.type === 'point').map((m) => (m['point'] as { name: string }).name));
    expect([...names].every((n) => n.startsWith('sub1.f1.'))).toBe(true);
    const before = live.messages.length;
    scada.simulator!.freeze(1, 0, { voltageKv: 10.7 });
    await live.waitFor((m) => m.type === 'point' && (m['point'] as { name: string; value: number }).name === 'sub1.f1.voltage' && Math.abs((m['point'] as { value: number }).value - 10.7) < 1e-6, 'live update');
    expect(live.messages.length).toBeGreaterThan(before);
    expect(live.messages.every((m) => m.type !== 'point' || (m['point'] as { name: string }).name.startsWith('sub1.f1.'))).toBe(true);
    scada.simulator!.unfreeze(1, 0);
    live.ws.close();
  });

  it('alarms: raise events arrive', async () => {
    const live = await open(vera);
    live.send({ op: 'alarms' });
    await new Promise((r) => setTimeout(r, 50));
    scada.simulator!.freeze(1, 1, { voltageKv: 11.3 });
    const event = await live.waitFor((m) => m.type === 'alarm' && (m['alarm'] as { source: string }).source === 'sub1.f2.voltage', 'alarm');
    expect(event['alarm']).toMatchObject({ kind: 'high' });
    scada.simulator!.unfreeze(1, 1);
    live.ws.close();
  });

  it('chat: join, messages both ways with a native member, members listed over REST, nickname taken refused', async () => {
    const live = await open(vera);
    live.send({ op: 'join', room: 'lobby', nick: 'vera-web' });
    await live.waitFor((m) => m.type === 'joined', 'joined');
    const members = await send(server.httpPort, 'GET', '/api/chat/lobby/members', { cookie: vera.cookie });
    expect(members.json()).toContain('vera-web');
    const native = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    await native.login('olga', 'olga-password');
    const heard: string[] = [];
    await native.joinChat('lobby', 'olga', (event) => {
      if (event.type === 'message') heard.push(`${event.from}: ${event.text}`);
    });
    await native.say('lobby', 'hello from native');
    const got = await live.waitFor((m) => m.type === 'chat' && (m['event'] as { type: string }).type === 'message', 'chat message');
    expect(got['event']).toMatchObject({ from: 'olga', text: 'hello from native', room: 'lobby' });
    live.send({ op: 'say', text: 'hello from the web' });
    const deadline = Date.now() + 3_000;
    while (heard.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(heard).toEqual(['vera-web: hello from the web']);
    const second = await open(vera);
    second.send({ op: 'join', room: 'lobby', nick: 'olga' });
    const refused = await second.waitFor((m) => m.type === 'error', 'nick taken');
    expect(refused['code']).toBe('GL_ERR_CHAT_NICK_TAKEN');
    await native.close();
    live.ws.close();
    second.ws.close();
  });

  it('bad messages get an error and the socket stays usable', async () => {
    const live = await open(vera);
    live.send('not json');
    live.send({ op: 'launch-missiles' });
    live.send({ op: 'say', text: 'not in a room' });
    live.send({ op: 'subscribe', points: 'a..b' });
    live.send({ op: 'ping' });
    await live.waitFor((m) => m.type === 'pong', 'pong');
    const codes = live.messages.filter((m) => m.type === 'error').map((m) => m['code']);
    expect(codes).toEqual(['GL_ERR_HTTP_BAD_REQUEST', 'GL_ERR_HTTP_BAD_REQUEST', 'GL_ERR_CHAT_NOT_MEMBER', 'GL_ERR_BUS_BAD_TOPIC']);
    live.ws.close();
  });

  it('logout closes the session’s sockets (4401); a deleted account’s sockets close too', async () => {
    const temp = await login(server.httpPort, 'vera', 'vera-password');
    const live = await open(temp);
    expect((await send(server.httpPort, 'POST', '/api/logout', as(temp, server.httpPort))).status).toBe(204);
    expect((await live.waitClosed()).code).toBe(4401);

    await server.server.users.add('gone', 'gone-password', 'viewer');
    const gone = await login(server.httpPort, 'gone', 'gone-password');
    const goneLive = await open(gone);
    server.server.users.delete('gone');
    expect((await goneLive.waitClosed()).code).toBe(4401);
  });

  it('a client that stops reading fills only its own bounded queue: updates are dropped (oldest first), the server stays responsive', async () => {
    const slow = await open(vera);
    slow.send({ op: 'subscribe', points: 'bench.>' });
    await new Promise((r) => setTimeout(r, 100));
    slow.ws.pause();
    const droppedBefore = server.server.bus.metrics().dropped;
    const padding = 'x'.repeat(2_000);
    for (let i = 0; i < 5_000; i += 1) server.server.bus.publish('points.bench.p1', { name: 'bench.p1', value: i, padding });
    await new Promise((r) => setTimeout(r, 300));
    expect(server.server.bus.metrics().dropped).toBeGreaterThan(droppedBefore);
    // Another client is served at once.
    expect((await send(server.httpPort, 'GET', '/api/session', { cookie: vera.cookie })).status).toBe(200);
    slow.ws.resume();
    await slow.waitFor((m) => m.type === 'point' && (m['point'] as { value: number }).value === 4_999, 'the newest update', 10_000);
    slow.ws.close();
  });
});
