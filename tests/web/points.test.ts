import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScadaService } from '../../src/scada/scada-service.js';
import type { Alarm, DeviceStatus, PointEvent, PointSnapshot, SelectLease } from '../../src/protocol/scada.js';
import { as, login, send, startWebServer, type Login, type WebTestServer } from './web-client.js';
import { until } from '../helpers/until.js';


describe('points, history, events, alarms and control over HTTP (docs/protocol.md §3.6, docs/http-api.md)', () => {
  let server: WebTestServer;
  let scada: ScadaService;
  let olga: Login;
  let otto: Login;
  let vera: Login;
  const get = <T>(path: string, who: Login = vera) => send(server.httpPort, 'GET', path, { cookie: who.cookie }).then((r) => ({ status: r.status, body: r.json<T>() }));
  const post = (path: string, who: Login, body?: unknown) =>
    send(server.httpPort, 'POST', path, { ...as(who, server.httpPort), ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body === undefined ? undefined : JSON.stringify(body));

  beforeAll(async () => {
    server = await startWebServer({ scada: { enabled: true, simulator: { noise: false, pollMs: 100, breakerTravelMs: 50, feeders: 3 }, selectTimeoutMs: 800 } });
    scada = server.server.scada!;
    await server.server.users.add('olga', 'olga-password', 'operator');
    await server.server.users.add('otto', 'otto-password', 'operator');
    await server.server.users.add('vera', 'vera-password', 'viewer');
    [olga, otto, vera] = await Promise.all([login(server.httpPort, 'olga', 'olga-password'), login(server.httpPort, 'otto', 'otto-password'), login(server.httpPort, 'vera', 'vera-password')]);
    await until(() => (scada.points('sub1.>').every((p) => p.quality === 'good') ? true : undefined), 5_000, 'first poll');
  });
  afterAll(async () => {
    await server.stop();
  });

  it('points, filtered by pattern; devices', async () => {
    const all = await get<PointSnapshot[]>('/api/points');
    expect(all.status).toBe(200);
    expect(all.body.length).toBe(18);
    const feeder = await get<PointSnapshot[]>('/api/points?pattern=sub1.f1.*');
    expect(feeder.body.map((p) => p.name).sort()).toEqual(['sub1.f1.activePower', 'sub1.f1.breaker', 'sub1.f1.current', 'sub1.f1.frequency', 'sub1.f1.reactivePower', 'sub1.f1.voltage']);
    expect(feeder.body.find((p) => p.name === 'sub1.f1.voltage')).toMatchObject({ class: 'telemetry', quality: 'good', unit: 'kV' });
    const devices = await get<DeviceStatus[]>('/api/devices');
    expect(devices.body[0]).toMatchObject({ online: true });
    expect((await get('/api/points?pattern=a..b')).status).toBe(400);
  });

  it('history and events, with bad parameters refused (400)', async () => {
    await new Promise((r) => setTimeout(r, 300));
    const history = await get<{ value: number }[]>(`/api/history?point=sub1.f1.voltage&since=0&until=${Date.now()}&limit=5`);
    expect(history.status).toBe(200);
    expect(history.body.length).toBeGreaterThan(0);
    expect(history.body.length).toBeLessThanOrEqual(5);
    const events = await get<PointEvent[]>('/api/events?since=0&limit=10');
    expect(events.status).toBe(200);
    expect(Array.isArray(events.body)).toBe(true);
    expect((await get('/api/history')).status).toBe(400);
    expect((await get('/api/history?point=sub1.f1.voltage&since=-5')).status).toBe(400);
    expect((await get('/api/events?limit=abc')).status).toBe(400);
  });

  it('select-before-operate: a viewer is refused (403), one operator holds the lease (409 for the other), operate changes the breaker', async () => {
    expect((await post('/api/points/sub1.f2.breaker/select', vera)).status).toBe(403);
    const lease = await post('/api/points/sub1.f2.breaker/select', olga);
    expect(lease.status).toBe(200);
    expect(lease.json<SelectLease>()).toMatchObject({ point: 'sub1.f2.breaker' });
    const taken = await post('/api/points/sub1.f2.breaker/select', otto);
    expect(taken.status).toBe(409);
    expect(taken.json()).toMatchObject({ error: { code: 'GL_ERR_SCADA_SELECTED' } });
    const notHolder = await post('/api/points/sub1.f2.breaker/operate', otto, { value: 0 });
    expect(notHolder.status).toBe(409);
    const bad = await post('/api/points/sub1.f2.breaker/operate', olga, { value: 'open' });
    expect(bad.status).toBe(400);
    const done = await post('/api/points/sub1.f2.breaker/operate', olga, { value: 0 });
    expect(done.status).toBe(200);
    expect(done.json()).toMatchObject({ point: 'sub1.f2.breaker', value: 0, confirmed: true });
    expect(scada.points('sub1.f2.breaker')[0]!.value).toBe(0);
    const audit = server.server.audit.recent(50).filter((e) => e.event.startsWith('control.'));
    expect(audit.some((e) => e.actor === 'olga')).toBe(true);
    // Close it again.
    await post('/api/points/sub1.f2.breaker/select', olga);
    expect((await post('/api/points/sub1.f2.breaker/operate', olga, { value: 1 })).status).toBe(200);
  });

  it('unknown point 404, not controllable 400, deselect frees the lease for the other operator', async () => {
    expect((await post('/api/points/sub9.f1.breaker/select', olga)).status).toBe(404);
    expect((await post('/api/points/sub1.f1.voltage/select', olga)).status).toBe(400);
    expect((await post('/api/points/sub1.f3.breaker/select', olga)).status).toBe(200);
    expect((await post('/api/points/sub1.f3.breaker/deselect', olga)).status).toBe(204);
    expect((await post('/api/points/sub1.f3.breaker/select', otto)).status).toBe(200);
    expect((await post('/api/points/sub1.f3.breaker/deselect', otto)).status).toBe(204);
  });

  it('logout releases the session’s leases at once', async () => {
    const temp = await login(server.httpPort, 'olga', 'olga-password');
    expect((await post('/api/points/sub1.f1.breaker/select', temp)).status).toBe(200);
    expect((await post('/api/points/sub1.f1.breaker/select', otto)).status).toBe(409);
    expect((await post('/api/logout', temp)).status).toBe(204);
    expect((await post('/api/points/sub1.f1.breaker/select', otto)).status).toBe(200);
    expect((await post('/api/points/sub1.f1.breaker/deselect', otto)).status).toBe(204);
  });

  it('alarms: raised, listed, a viewer cannot ack (403), an operator can; unknown alarm 404', async () => {
    scada.simulator!.freeze(1, 2, { voltageKv: 11.2 });
    const alarm = await until(async () => (await get<Alarm[]>('/api/alarms')).body.find((a) => a.source === 'sub1.f3.voltage'), 3_000, 'high alarm');
    expect(alarm).toMatchObject({ kind: 'high', state: 'active' });
    expect((await post(`/api/alarms/${alarm.id}/ack`, vera)).status).toBe(403);
    const acked = await post(`/api/alarms/${alarm.id}/ack`, olga);
    expect(acked.status).toBe(200);
    expect(acked.json()).toMatchObject({ state: 'activeAcked', ackedBy: 'olga' });
    expect((await post('/api/alarms/999999/ack', olga)).status).toBe(404);
    expect((await post('/api/alarms/abc/ack', olga)).status).toBe(400);
    scada.simulator!.unfreeze(1, 2);
    await until(async () => ((await get<Alarm[]>('/api/alarms')).body.some((a) => a.id === alarm.id) ? undefined : true), 3_000, 'alarm cleared');
    expect((await get<Alarm[]>('/api/alarms?all=1')).body.some((a) => a.id === alarm.id)).toBe(true);
  });
});

describe('SCADA off: the data endpoints answer 503 GL_ERR_SCADA_DISABLED', () => {
  it('points and select', async () => {
    const server = await startWebServer({ scada: { enabled: false } });
    try {
      await server.server.users.add('olga', 'olga-password', 'operator');
      const olga = await login(server.httpPort, 'olga', 'olga-password');
      const res = await send(server.httpPort, 'GET', '/api/points', { cookie: olga.cookie });
      expect(res.status).toBe(503);
      expect(res.json()).toMatchObject({ error: { code: 'GL_ERR_SCADA_DISABLED' } });
      expect((await send(server.httpPort, 'POST', '/api/points/x/select', as(olga, server.httpPort))).status).toBe(503);
    } finally {
      await server.stop();
    }
  });
});
