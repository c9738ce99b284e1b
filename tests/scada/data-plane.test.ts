import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import { GridlinkError } from '../../src/errors/index.js';
import type { ScadaService } from '../../src/scada/scada-service.js';
import type { PointEvent, PointSnapshot, SelectLease } from '../../src/protocol/scada.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';
import { codeOf } from '../helpers/code-of.js';

const POLL_MS = 200;

describe('SCADA data plane over the native protocol, polling the built-in simulator', () => {
  let server: TestServer;
  let scada: ScadaService;
  const clients: GridlinkClient[] = [];
  const connect = async (user?: string, password?: string): Promise<GridlinkClient> => {
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    clients.push(client);
    if (user !== undefined) await client.login(user, password!);
    return client;
  };

  beforeAll(async () => {
    server = await startTestServer({ scada: { simulator: { noise: false, pollMs: POLL_MS, breakerTravelMs: 50, feeders: 3 }, selectTimeoutMs: 800 } });
    scada = server.server.scada!;
    await server.server.users.add('olga', 'olga-password', 'operator');
    await server.server.users.add('vera', 'vera-password', 'viewer');
    await until(() => (scada.points('sub1.>').every((p) => p.quality === 'good') ? true : undefined), 5_000, 'first poll');
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await server?.stop();
  });

  it('lists points with value, quality, unit and timestamps; patterns filter', async () => {
    const client = await connect('vera', 'vera-password');
    const all = await client.points();
    expect(all).toHaveLength(18);
    const feeder = await client.points('sub1.f1.*');
    expect(feeder.map((p) => p.name).sort()).toEqual(['sub1.f1.activePower', 'sub1.f1.breaker', 'sub1.f1.current', 'sub1.f1.frequency', 'sub1.f1.reactivePower', 'sub1.f1.voltage']);
    const breaker = feeder.find((p) => p.name === 'sub1.f1.breaker')!;
    expect(breaker).toMatchObject({ class: 'status', value: 1, quality: 'good', controllable: true, states: ['open', 'closed'], device: 'sub1' });
    const voltage = feeder.find((p) => p.name === 'sub1.f1.voltage')!;
    expect(voltage.unit).toBe('kV');
    expect(voltage.value).toBeGreaterThan(9.5);
    expect(voltage.value).toBeLessThan(11.5);
    expect(voltage.sourceTime).toBeGreaterThan(Date.now() - 60_000);
    expect(voltage.serverTime).toBeGreaterThanOrEqual(voltage.sourceTime!);
    expect((await client.points('*.*.breaker')).length).toBe(3);
    expect(await codeOf(client.points('sub1..x'))).toBe('GL_ERR_BUS_BAD_TOPIC');
    const devices = await client.devices();
    expect(devices).toEqual([expect.objectContaining({ name: 'sub1', online: true, failures: 0 })]);
  });

  it('refuses every SCADA command before login', async () => {
    const client = await connect();
    for (const call of [client.points(), client.alarms(), client.select('sub1.f1.breaker'), client.history('sub1.f1.voltage', 0), client.watch(undefined, { onEvent: () => undefined })]) {
      expect(await codeOf(call)).toBe('GL_ERR_AUTH_REQUIRED');
    }
  });

  it('operates a breaker: the simulator, the status point and the feeder current change, and a watcher sees the events in order', async () => {
    const watcher = await connect('vera', 'vera-password');
    const events: PointEvent[] = [];
    const snapshot = await watcher.watch('sub1.f2.*', { onEvent: (e) => events.push(e) });
    expect(snapshot).toHaveLength(6);
    const operator = await connect('olga', 'olga-password');
    const lease = await operator.select('sub1.f2.breaker');
    expect(lease).toMatchObject({ point: 'sub1.f2.breaker', holder: 'olga' });
    expect(lease.expiresAt).toBeGreaterThan(Date.now());
    const result = await operator.operate('sub1.f2.breaker', 0);
    expect(result).toMatchObject({ point: 'sub1.f2.breaker', value: 0, confirmed: true });
    expect(scada.simulator!.breaker(1, 1)).toBe(false);
    expect(scada.point('sub1.f2.breaker').value).toBe(0);
    await until(() => (scada.point('sub1.f2.current').value === 0 ? true : undefined), 2_000, 'current to drop');
    const seen = await until(() => (events.some((e) => e.point === 'sub1.f2.current' && e.value === 0) ? events.slice() : undefined), 2_000, 'current event');
    const breakerEvent = seen.find((e) => e.point === 'sub1.f2.breaker' && e.value === 0);
    expect(breakerEvent).toBeDefined();
    const currentEvent = seen.find((e) => e.point === 'sub1.f2.current' && e.value === 0)!;
    expect(seen.find((e) => e.point === 'sub1.f2.activePower' && e.value === 0)).toBeDefined();
    expect(breakerEvent!.seq).toBeLessThan(currentEvent.seq + 1);
    // Delivered in sequence order, with no gaps in what this watcher saw from one source.
    for (let i = 1; i < seen.length; i += 1) expect(seen[i]!.seq).toBeGreaterThan(seen[i - 1]!.seq);
    // The command is in the audit log, step by step.
    const audit = server.server.audit.recent(50).map((r) => r.event);
    expect(audit).toEqual(expect.arrayContaining(['control.select', 'control.operate', 'control.confirmed']));
    // Close it again; the current comes back.
    await operator.select('sub1.f2.breaker');
    await operator.operate('sub1.f2.breaker', 1);
    await until(() => ((scada.point('sub1.f2.current').value ?? 0) > 0 ? true : undefined), 2_000, 'current to return');
  });

  it('select-before-operate: viewers cannot select, operate needs the selection, one selection serves one command', async () => {
    const viewer = await connect('vera', 'vera-password');
    expect(await codeOf(viewer.select('sub1.f3.breaker'))).toBe('GL_ERR_AUTH_FORBIDDEN');
    expect(await codeOf(viewer.operate('sub1.f3.breaker', 0))).toBe('GL_ERR_AUTH_FORBIDDEN');
    const operator = await connect('olga', 'olga-password');
    expect(await codeOf(operator.operate('sub1.f3.breaker', 0))).toBe('GL_ERR_SCADA_NOT_SELECTED');
    expect(await codeOf(operator.select('sub1.f3.voltage'))).toBe('GL_ERR_SCADA_NOT_CONTROLLABLE');
    expect(await codeOf(operator.select('sub9.f1.breaker'))).toBe('GL_ERR_SCADA_NO_POINT');
    await operator.select('sub1.f3.breaker');
    expect(await codeOf(operator.operate('sub1.f3.breaker', 2))).toBe('GL_ERR_SCADA_BAD_VALUE');
    expect(await codeOf(operator.operate('sub1.f3.breaker', 0.5))).toBe('GL_ERR_SCADA_BAD_VALUE');
    await operator.operate('sub1.f3.breaker', 1);
    expect(await codeOf(operator.operate('sub1.f3.breaker', 1))).toBe('GL_ERR_SCADA_NOT_SELECTED');
    expect(scada.simulator!.breaker(1, 2)).toBe(true);
  });

  it('100 operators race for one breaker: exactly one holds it; a lease expires on time; a disconnect releases it', async () => {
    const racers = await Promise.all(Array.from({ length: 100 }, () => connect('olga', 'olga-password')));
    const outcomes = await Promise.allSettled(racers.map((c) => c.select('sub1.f1.breaker')));
    const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const o of outcomes) {
      if (o.status === 'rejected') {
        expect(o.reason).toBeInstanceOf(GridlinkError);
        expect((o.reason as GridlinkError).code).toBe('GL_ERR_SCADA_SELECTED');
        expect((o.reason as GridlinkError).message).toMatch(/held by olga/);
      }
    }
    const holder = racers[winners[0]!]!;
    const lease = (outcomes[winners[0]!] as PromiseFulfilledResult<SelectLease>).value;
    expect(lease.expiresAt - Date.now()).toBeLessThanOrEqual(800);
    // Everyone else's operate is refused while it is held.
    const others = racers.filter((c) => c !== holder);
    const refused = await Promise.all(others.slice(0, 20).map((c) => codeOf(c.operate('sub1.f1.breaker', 0))));
    expect(new Set(refused)).toEqual(new Set(['GL_ERR_SCADA_NOT_SELECTED']));
    expect(scada.simulator!.breaker(1, 0)).toBe(true);

    // The lease (800 ms in this test) expires on time: before it nobody else gets it, after it someone does.
    expect(await codeOf(others[0]!.select('sub1.f1.breaker'))).toBe('GL_ERR_SCADA_SELECTED');
    const next = await until(async () => {
      try {
        return await others[1]!.select('sub1.f1.breaker');
      } catch {
        return undefined;
      }
    }, 3_000, 'lease expiry');
    expect(Date.now()).toBeGreaterThanOrEqual(lease.expiresAt);
    expect(Date.now() - lease.expiresAt).toBeLessThan(1_000);
    expect(next.holder).toBe('olga');
    expect(await codeOf(holder.operate('sub1.f1.breaker', 0))).toBe('GL_ERR_SCADA_NOT_SELECTED');

    // The new holder disconnects: the selection is released at once.
    others[1]!.destroy();
    await until(async () => {
      try {
        return await others[2]!.select('sub1.f1.breaker');
      } catch {
        return undefined;
      }
    }, 2_000, 'release on disconnect');
    expect(server.server.audit.recent(400).map((r) => r.event)).toEqual(expect.arrayContaining(['control.expired', 'control.released', 'control.select.refused']));
    await others[2]!.deselect('sub1.f1.breaker');
    for (const c of racers) c.destroy();
  });

  it('raises a limit alarm, refuses a viewer ack, takes an operator ack, clears it when the value returns', async () => {
    const operator = await connect('olga', 'olga-password');
    const viewer = await connect('vera', 'vera-password');
    const alarmsSeen: string[] = [];
    await viewer.watch('sub1.f3.voltage', { onEvent: () => undefined, onAlarm: (a) => alarmsSeen.push(`${a.kind}:${a.state}`) });
    scada.simulator!.freeze(1, 2, { voltageKv: 11.2 });
    const alarm = await until(async () => (await operator.alarms()).find((a) => a.source === 'sub1.f3.voltage'), 3_000, 'high alarm');
    expect(alarm).toMatchObject({ kind: 'high', state: 'active', severity: 'low' });
    expect(alarm.message).toMatch(/above its high limit 11/);
    expect((await operator.points('sub1.f3.voltage'))[0]!.alarm).toBe('active');
    expect(await codeOf(viewer.acknowledge(alarm.id))).toBe('GL_ERR_AUTH_FORBIDDEN');
    expect(await codeOf(operator.acknowledge(999_999))).toBe('GL_ERR_SCADA_NO_ALARM');
    expect(await operator.acknowledge(alarm.id)).toMatchObject({ state: 'activeAcked', ackedBy: 'olga' });
    // Escalates to high-high.
    scada.simulator!.freeze(1, 2, { voltageKv: 11.8 });
    await until(async () => (await operator.alarms()).find((a) => a.source === 'sub1.f3.voltage' && a.kind === 'highHigh'), 3_000, 'high-high alarm');
    scada.simulator!.unfreeze(1, 2);
    await until(async () => ((await operator.alarms()).some((a) => a.source === 'sub1.f3.voltage' && a.clearedAt === null) ? undefined : true), 3_000, 'alarm to clear');
    const list = await operator.alarms();
    // The acknowledged high alarm left the list; the high-high one is cleared but waits for its ack.
    expect(list.find((a) => a.id === alarm.id)).toBeUndefined();
    const hh = list.find((a) => a.source === 'sub1.f3.voltage' && a.kind === 'highHigh')!;
    expect(hh.state).toBe('cleared');
    await operator.acknowledge(hh.id);
    expect((await operator.alarms()).find((a) => a.id === hh.id)).toBeUndefined();
    expect((await operator.alarms(true)).find((a) => a.id === hh.id)).toMatchObject({ state: 'clearedAcked' });
    await until(() => (alarmsSeen.includes('highHigh:clearedAcked') ? true : undefined), 2_000, 'alarm events');
    expect(alarmsSeen.slice(0, 2)).toEqual(['high:active', 'high:activeAcked']);
  });

  it('an operator substitutes a value: shown with quality substituted, device changes held back, control refused; released, the device value returns', async () => {
    const viewer = await connect('vera', 'vera-password');
    const operator = await connect('olga', 'olga-password');
    expect(await codeOf(viewer.substitute('sub1.f3.current', 123))).toBe('GL_ERR_AUTH_FORBIDDEN');
    expect(await codeOf(operator.substitute('sub1.f3.breaker', 2))).toBe('GL_ERR_SCADA_BAD_VALUE');
    expect(await codeOf(operator.substitute('nope.x', 1))).toBe('GL_ERR_SCADA_NO_POINT');
    const events: PointEvent[] = [];
    await viewer.watch('sub1.f3.*', { onEvent: (e) => events.push(e) });
    const shown = await operator.substitute('sub1.f3.current', 123.4);
    expect(shown).toMatchObject({ name: 'sub1.f3.current', value: 123.4, quality: 'substituted', substitutedBy: 'olga' });
    await until(() => events.some((e) => e.point === 'sub1.f3.current' && e.quality === 'substituted' && e.value === 123.4), 2_000, 'substituted event');
    // The device moves; the point keeps showing the substitute and makes no event.
    scada.simulator!.freeze(1, 2, { currentA: 250 });
    await new Promise((r) => setTimeout(r, 3 * POLL_MS));
    expect(scada.point('sub1.f3.current')).toMatchObject({ value: 123.4, quality: 'substituted' });
    expect(events.filter((e) => e.point === 'sub1.f3.current').map((e) => e.quality)).toEqual(['substituted']);
    // A selected point cannot be substituted under its holder.
    await operator.select('sub1.f3.breaker');
    expect(await codeOf(viewer.substitute('sub1.f3.breaker', 0))).toBe('GL_ERR_AUTH_FORBIDDEN');
    const other = await connect('olga', 'olga-password');
    expect(await codeOf(other.substitute('sub1.f3.breaker', 0))).toBe('GL_ERR_SCADA_SELECTED');
    await operator.deselect('sub1.f3.breaker');
    // A substituted status cannot be controlled: its feedback would not be the device's.
    await operator.substitute('sub1.f3.breaker', 0);
    expect(await codeOf(operator.select('sub1.f3.breaker'))).toBe('GL_ERR_SCADA_SUBSTITUTED');
    await operator.substitute('sub1.f3.breaker', null);
    const released = await operator.substitute('sub1.f3.current', null);
    expect(released).toMatchObject({ value: 250, quality: 'good' });
    expect(released.substitutedBy).toBeUndefined();
    await until(() => events.some((e) => e.point === 'sub1.f3.current' && e.quality === 'good' && e.value === 250), 2_000, 'released event');
    scada.simulator!.unfreeze(1, 2);
    expect(server.server.audit.recent(50).map((r) => r.event)).toEqual(expect.arrayContaining(['point.substitute', 'point.unsubstitute']));
    await viewer.unwatch();
  });

  it('answers history and event queries by point and time range; refuses bad ranges and unknown points', async () => {
    const client = await connect('vera', 'vera-password');
    const samples = await until(async () => {
      const s = await client.history('sub1.f2.breaker', 0);
      return s.length >= 3 ? s : undefined;
    }, 3_000, 'breaker history');
    expect(samples.map((s) => s.value)).toEqual([1, 0, 1]);
    for (let i = 1; i < samples.length; i += 1) expect(samples[i]!.sourceTime).toBeGreaterThanOrEqual(samples[i - 1]!.sourceTime);
    const middle = samples[1]!.sourceTime;
    expect((await client.history('sub1.f2.breaker', middle, middle + 1)).map((s) => s.value)).toEqual([0]);
    expect(await client.history('sub1.f2.breaker', 0, 1)).toEqual([]);
    expect(await codeOf(client.history('sub1.f2.breaker', 10, 5))).toBe('GL_ERR_SCADA_BAD_RANGE');
    expect(await codeOf(client.history('nope.point', 0))).toBe('GL_ERR_SCADA_NO_POINT');
    const events = await client.events(0, { pattern: 'sub1.f2.breaker' });
    expect(events.map((e) => e.value)).toEqual([1, 0, 1]);
    expect((await client.events(0, { limit: 2 })).length).toBe(2);
  });
});

describe('listings larger than one frame', () => {
  it('points, watch snapshots and events come a page at a time and arrive whole', async () => {
    // 12 units × 6 feeders × 6 points = 432 snapshots: about 95 KB of JSON, more than a 64 KiB header.
    const server = await startTestServer({ scada: { simulator: { noise: false, pollMs: 200, units: 12, feeders: 6 } } });
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    try {
      await client.login('admin', server.server.initialAdminPassword!);
      await until(() => (server.server.scada!.points().every((p) => p.quality === 'good') ? true : undefined), 10_000, 'all points good');
      const points = await client.points();
      expect(points).toHaveLength(432);
      expect(new Set(points.map((p) => p.name)).size).toBe(432);
      expect(JSON.stringify(points).length).toBeGreaterThan(70_000);
      const events: PointEvent[] = [];
      const snapshot = await client.watch(undefined, { onEvent: (e) => events.push(e) });
      expect(snapshot.map((p) => p.name).sort()).toEqual(points.map((p) => p.name).sort());
      const history = await client.events(0);
      expect(history.length).toBeGreaterThanOrEqual(432);
      for (let i = 1; i < history.length; i += 1) expect(history[i]!.seq).toBeGreaterThan(history[i - 1]!.seq);
      const limited = await client.events(0, { limit: 300 });
      expect(limited).toEqual(history.slice(0, 300));
      server.server.scada!.simulator!.setBreaker(12, 5, false);
      await until(() => (events.some((e) => e.point === 'sub12.f6.breaker' && e.value === 0) ? true : undefined), 3_000, 'event after a big snapshot');
    } finally {
      client.destroy();
      await server.stop();
    }
  });
});

describe('points published on the bus', () => {
  it('are a PointSnapshot per change on points.<name>', async () => {
    const server = await startTestServer({ scada: { simulator: { noise: false, pollMs: 50, feeders: 1 } } });
    try {
      const got: PointSnapshot[] = [];
      const sub = server.server.bus.subscribe('points.sub1.f1.breaker', (m) => void got.push(m.payload as PointSnapshot), { maxQueued: 100, policy: 'drop-oldest' });
      server.server.scada!.simulator!.setBreaker(1, 0, false);
      await until(() => (got.some((p) => p.value === 0) ? true : undefined), 3_000, 'breaker snapshot');
      expect(got.at(-1)).toMatchObject({ name: 'sub1.f1.breaker', value: 0, quality: 'good' });
      sub.unsubscribe();
    } finally {
      await server.stop();
    }
  });
});
