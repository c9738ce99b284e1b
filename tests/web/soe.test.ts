import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserActor } from '../../src/accounts/actor.js';
import type { ScadaService } from '../../src/scada/scada-service.js';
import type { SoeEntry, SoePage } from '../../src/web/routes/soe.js';
import type { DecimatedHistory } from '../../src/web/routes/history-decimation.js';
import { until } from '../helpers/until.js';
import { as, login, send, type Login, startWebServer, type WebTestServer } from './web-client.js';

/** An IEC 104 master as the station's session names it (src/iec104/station/session.ts). */
const MASTER: UserActor = { identity: { name: 'iec104:127.0.0.1', role: 'operator' }, address: '127.0.0.1', front: 'iec104', connection: 'iec104:127.0.0.1:50999' };

describe('sequence of events, decimated history and chat rooms over HTTP (docs/http-api.md)', () => {
  let server: WebTestServer;
  let scada: ScadaService;
  let olga: Login;
  let vera: Login;
  let started = 0;
  const get = <T>(path: string, who: Login = vera) => send(server.httpPort, 'GET', path, { cookie: who.cookie }).then((r) => ({ status: r.status, body: r.json<T>() }));
  const post = (path: string, who: Login, body?: unknown) =>
    send(server.httpPort, 'POST', path, { ...as(who, server.httpPort), ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body === undefined ? undefined : JSON.stringify(body));
  const soe = (params: string) => get<SoePage>(`/api/soe?since=${started}&${params}`);

  beforeAll(async () => {
    started = Date.now() - 1_000;
    server = await startWebServer({ scada: { enabled: true, simulator: { pollMs: 100, breakerTravelMs: 50, feeders: 3 }, selectTimeoutMs: 2_000 } });
    scada = server.server.scada!;
    await server.server.users.add('olga', 'olga-password', 'operator');
    await server.server.users.add('vera', 'vera-password', 'viewer');
    [olga, vera] = await Promise.all([login(server.httpPort, 'olga', 'olga-password'), login(server.httpPort, 'vera', 'vera-password')]);
    await until(() => (scada.points('sub1.>').every((p) => p.quality === 'good') ? true : undefined), 5_000, 'first poll');
  });
  afterAll(async () => {
    await server.stop();
  });

  it('commands name who gave them and their outcome: a web operator and an IEC 104 master', async () => {
    expect((await post('/api/points/sub1.f2.breaker/select', olga)).status).toBe(200);
    const operated = await post('/api/points/sub1.f2.breaker/operate', olga, { value: 0 });
    expect(operated.status).toBe(200);
    await scada.select(MASTER, 'sub1.f2.breaker');
    await scada.operate(MASTER, 'sub1.f2.breaker', 1);
    // Refused: olga operates without selecting.
    expect((await post('/api/points/sub1.f3.breaker/operate', olga, { value: 0 })).status).toBe(409);

    const page = await soe('kinds=command');
    expect(page.status).toBe(200);
    const commands = page.body.entries;
    expect(commands.map((e) => [e.point, e.command?.by, e.command?.via, e.command?.value, e.command?.outcome])).toEqual([
      ['sub1.f3.breaker', 'olga', 'web', null, 'refused'],
      ['sub1.f2.breaker', 'iec104:127.0.0.1', 'iec104', 1, 'confirmed'],
      ['sub1.f2.breaker', 'olga', 'web', 0, 'confirmed'],
    ]);
    expect(commands[2]!.command!.tookMs).toBeGreaterThanOrEqual(0);
    expect(commands.every((e) => e.kind === 'command')).toBe(true);
    // Filtered by point.
    const f3 = await soe('kinds=command&pattern=sub1.f3.*');
    expect(f3.body.entries.map((e) => e.point)).toEqual(['sub1.f3.breaker']);
  }, 30_000);

  it('value changes of one point, newest first; the breaker change and its command in one list', async () => {
    // The history writer stores in batches: wait until the last of the two commanded changes (open, then close) is stored.
    const changes = await until(async () => {
      const entries = (await soe('kinds=change&pattern=sub1.f2.breaker')).body.entries;
      return entries.length >= 2 && entries[0]!.value === 1 && entries[1]!.value === 0 ? entries : undefined;
    }, 10_000, 'the open and the close stored, newest first');
    expect(changes.every((e) => e.point === 'sub1.f2.breaker' && e.kind === 'change')).toBe(true);
    expect(changes.slice(0, 2).map((e) => e.value)).toEqual([1, 0]);
    const both = (await soe('pattern=sub1.f2.breaker&kinds=change,command')).body.entries;
    const ats = both.map((e) => e.at);
    expect([...ats].sort((a, b) => b - a)).toEqual(ats);
    expect(new Set(both.map((e) => e.kind))).toEqual(new Set(['change', 'command']));
  }, 30_000);

  it('pages by cursor without losing or repeating an entry, and `after` gives only what is newer', async () => {
    // A range that ends well behind the history writer's batch (250 ms), so no
    // row of it arrives between the requests, and that already holds 40 entries.
    let until_ = 0;
    let whole: SoePage = { entries: [], next: null };
    await until(
      async () => {
        until_ = Date.now() - 2_000;
        whole = (await soe(`until=${until_}&limit=1000`)).body;
        return whole.entries.length >= 40 ? true : undefined;
      },
      15_000,
      '40 events older than 2 s',
    );
    expect(whole.next).toBeNull();
    const paged: SoeEntry[] = [];
    let next: string | null = null;
    for (let i = 0; i < 200; i += 1) {
      const page: { body: SoePage } = await soe(`until=${until_}&limit=7${next === null ? '' : `&before=${next}`}`);
      paged.push(...page.body.entries);
      next = page.body.next;
      if (next === null) break;
    }
    expect(paged.map((e) => e.cursor)).toEqual(whole.entries.map((e) => e.cursor));
    expect(new Set(paged.map((e) => e.cursor)).size).toBe(paged.length);

    const newest = whole.entries[0]!.cursor;
    await until(async () => ((await soe(`after=${newest}`)).body.entries.length > 0 ? true : undefined), 5_000, 'newer events');
    const newer = (await soe(`after=${newest}`)).body.entries;
    for (const entry of newer) expect(entry.at).toBeGreaterThanOrEqual(whole.entries[0]!.at);
    expect(newer.map((e) => e.cursor)).not.toContain(newest);
  }, 30_000);

  it('alarms: raised and acknowledged, with who acknowledged', async () => {
    const simulator = scada.simulator!;
    simulator.freeze(1, 0, { currentA: 650 }); // unit 1, feeder index 0 = sub1.f1
    try {
      await until(() => scada.alarms().find((a) => a.source === 'sub1.f1.current' && a.state === 'active'), 5_000, 'alarm');
      const alarm = scada.alarms().find((a) => a.source === 'sub1.f1.current')!;
      expect((await post(`/api/alarms/${alarm.id}/ack`, olga)).status).toBe(200);
      await until(async () => ((await soe('kinds=alarm&pattern=sub1.f1.current')).body.entries.length >= 2 ? true : undefined), 5_000, 'alarm entries');
      const entries = (await soe('kinds=alarm&pattern=sub1.f1.current')).body.entries;
      expect(entries.map((e) => [e.alarm?.action, e.alarm?.by])).toEqual([
        ['acked', 'olga'],
        ['raised', null],
      ]);
      expect((await soe('kinds=alarm&pattern=sub1.f2.*')).body.entries).toEqual([]);
    } finally {
      simulator.unfreeze(1, 0);
    }
  }, 30_000);

  it('refuses malformed, oversized and hostile queries with 400, never 500', async () => {
    const bad = [
      '/api/soe?since=abc',
      '/api/soe?since=-5',
      '/api/soe?until=99999999999999999',
      '/api/soe?until=9000000000000000',
      '/api/soe?since=2000&until=1000',
      '/api/soe?kinds=change,bogus',
      '/api/soe?kinds=',
      '/api/soe?pattern=a..b',
      '/api/soe?pattern=%3E.a',
      '/api/soe?pattern=sub1.f1.current%00',
      `/api/soe?pattern=${'*.'.repeat(200)}x`,
      '/api/soe?pattern=$(rm%20-rf)',
      "/api/soe?pattern=x'%20OR%201=1--",
      '/api/soe?before=1.2',
      '/api/soe?before=1.2.3&after=1.2.3',
      '/api/soe?before=99999999999999999.1.1',
      '/api/soe?limit=1e3',
      '/api/soe?since=1&since=2',
      '/api/history?point=sub1.f1.current&buckets=0',
      '/api/history?point=sub1.f1.current&buckets=10001',
      '/api/history?point=sub1.f1.current&buckets=many',
      '/api/history?point=sub1.f1.current&offset=1000001',
      '/api/history?point=sub1.f1.current&since=5&until=5&buckets=10',
      '/api/history?point=sub1.f1.current&until=9000000000000000',
      '/api/events?offset=-1',
      `/api/history?point=${'x'.repeat(300)}&buckets=10`,
    ];
    for (const path of bad) {
      const res = await get<{ error: { code: string } }>(path);
      // `kinds=` is empty, i.e. absent: all kinds.
      if (path.endsWith('kinds=')) {
        expect(res.status, path).toBe(200);
        continue;
      }
      expect(res.status, path).toBe(400);
      expect(res.body.error.code, path).toMatch(/^GL_ERR_(HTTP_BAD_REQUEST|SCADA_BAD_RANGE|BUS_BAD_TOPIC)$/);
    }
    // Oversized but valid: capped, answered.
    const wide = await get<SoePage>('/api/soe?since=0&until=8640000000000000&limit=100000');
    expect(wide.status).toBe(200);
    expect(wide.body.entries.length).toBeLessThanOrEqual(1_000);
    const history = await get<DecimatedHistory>('/api/history?point=sub1.f1.current&since=0&until=8640000000000000&buckets=10000');
    expect(history.status).toBe(200);
    expect(history.body.complete).toBe(true);
    // A pattern that is valid but matches nothing: an empty list.
    expect((await get<SoePage>('/api/soe?pattern=no.such.point')).body).toEqual({ entries: [], next: null });
    expect((await send(server.httpPort, 'GET', '/api/soe')).status).toBe(401);
  }, 30_000);

  it('history with buckets: the range decimated, with the count read; without, pages by offset', async () => {
    const since = started;
    const until_ = Date.now();
    const whole = await get<Array<{ sourceTime: number }>>(`/api/history?point=sub1.f1.voltage&since=${since}&until=${until_}&limit=10000`);
    expect(whole.status).toBe(200);
    const decimated = await get<DecimatedHistory>(`/api/history?point=sub1.f1.voltage&since=${since}&until=${until_}&buckets=2`);
    expect(decimated.body).toMatchObject({ point: 'sub1.f1.voltage', since, until: until_, buckets: 2, scanned: whole.body.length, complete: true });
    expect(decimated.body.samples.length).toBeLessThanOrEqual(12);
    const second = await get<Array<{ sourceTime: number }>>(`/api/history?point=sub1.f1.voltage&since=${since}&until=${until_}&limit=3&offset=3`);
    expect(second.body).toEqual(whole.body.slice(3, 6));
    expect((await get(`/api/history?point=no.such&buckets=10`)).status).toBe(404);
  }, 30_000);

  it('chat rooms: GET /api/chat/rooms lists the rooms with members; a socket joins several rooms and leaves one', async () => {
    expect((await get<unknown[]>('/api/chat/rooms')).body).toEqual([]);
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/api/live`, { headers: { cookie: vera.cookie, origin: `http://127.0.0.1:${server.httpPort}` } });
    const messages: Array<Record<string, unknown>> = [];
    ws.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      ws.send(JSON.stringify({ op: 'join', room: 'lobby', nick: 'vera' }));
      ws.send(JSON.stringify({ op: 'join', room: 'shift-b', nick: 'vera' }));
      await until(() => (messages.filter((m) => m['type'] === 'joined').length === 2 ? true : undefined), 5_000, 'joined twice');
      expect((await get('/api/chat/rooms')).body).toEqual([
        { room: 'lobby', members: 1 },
        { room: 'shift-b', members: 1 },
      ]);
      // Two rooms: a message must name its room.
      ws.send(JSON.stringify({ op: 'say', text: 'hello' }));
      await until(() => messages.find((m) => m['type'] === 'error' && m['code'] === 'GL_ERR_CHAT_NOT_MEMBER'), 5_000, 'refused');
      ws.send(JSON.stringify({ op: 'say', room: 'shift-b', text: 'hello' }));
      ws.send(JSON.stringify({ op: 'join', room: 'lobby', nick: 'vera' }));
      await until(() => messages.find((m) => m['type'] === 'error' && m['code'] === 'GL_ERR_CHAT_NICK_TAKEN'), 5_000, 'already in');
      ws.send(JSON.stringify({ op: 'leave', room: 'shift-b' }));
      await until(() => messages.find((m) => m['type'] === 'left' && m['room'] === 'shift-b'), 5_000, 'left');
      expect((await get('/api/chat/rooms')).body).toEqual([{ room: 'lobby', members: 1 }]);
      ws.send(JSON.stringify({ op: 'leave', room: 'nowhere' }));
      await until(() => messages.filter((m) => m['code'] === 'GL_ERR_CHAT_NOT_MEMBER').length === 2 ? true : undefined, 5_000, 'not a member');
      for (let i = 0; i < 8; i += 1) ws.send(JSON.stringify({ op: 'join', room: `r${i}`, nick: 'vera' }));
      await until(() => messages.find((m) => m['type'] === 'error' && String(m['message']).includes('at most 8 rooms')), 5_000, 'room limit');
    } finally {
      ws.close();
    }
    await until(async () => ((await get<unknown[]>('/api/chat/rooms')).body.length === 0 ? true : undefined), 5_000, 'rooms empty');
  }, 30_000);
});
