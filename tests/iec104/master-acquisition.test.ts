import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Subscription } from '../../src/bus/bus.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { ScadaService } from '../../src/scada/scada-service.js';
import { SCADA_TOPICS, type PointEvent } from '../../src/protocol/scada.js';
import { slaveInitialValue, startSlave, stopAllPeers, type Lib60870Slave } from '../helpers/lib60870.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';

/**
 * gridlink as an IEC 104 controlling station (docs/iec104.md "Controlling
 * station") acquiring lib60870-C's controlled station (tests/helpers/
 * lib60870.ts), an implementation we did not write: general interrogation,
 * spontaneous data with the station's CP56Time2a, qualities, device loss
 * (SIGKILL, SIGSTOP, a closed connection) within the configured times and
 * recovery without a restart.
 */

/** Small timers so loss is found quickly: t1 1 s, t3 1 s (a silent station: t3 + t1). */
const T1_MS = 1_000;
const T3_MS = 1_000;
const BACKOFF_MAX_MS = 300;
/** The link checks its timers every 100 ms; the event loop and the slave's own 100 ms select add a little. */
const SLACK_MS = 400;
const POINTS = 4;

type DeviceInput = NonNullable<NonNullable<ConfigInput['scada']>['devices']>[number];
type Iec104PointInput = Extract<DeviceInput, { protocol: 'iec104' }>['points'][number];

function deviceConfig(port: number): DeviceInput {
  const points: Iec104PointInput[] = [];
  // Singles 1..3 (IOA 4 is left out: the station sends it, gridlink ignores it and counts it).
  for (let i = 0; i < POINTS - 1; i++) points.push({ name: `rtu1.s${i}`, class: 'status', ioa: 1 + i, type: 'single' });
  for (let i = 0; i < POINTS; i++) points.push({ name: `rtu1.d${i}`, class: 'status', ioa: 100_001 + i, type: 'double', states: ['open', 'closed'] });
  for (let i = 0; i < POINTS; i++) points.push({ name: `rtu1.f${i}`, class: 'telemetry', ioa: 200_001 + i, unit: 'A', scale: i === 3 ? 10 : 1 });
  return { name: 'rtu1', protocol: 'iec104', host: '127.0.0.1', port, commonAddress: 1, t1: T1_MS, t2: 500, t3: T3_MS, backoffMaxMs: BACKOFF_MAX_MS, giIntervalMs: 60_000, clockSync: true, points };
}

describe('gridlink acquires a lib60870 controlled station', () => {
  let slave: Lib60870Slave;
  let server: TestServer;
  let scada: ScadaService;
  const subscriptions: Subscription[] = [];

  const deviceLost = (): boolean => scada.alarms().some((a) => a.source === 'device:rtu1' && a.kind === 'deviceLost' && a.clearedAt === null);
  const allQuality = (quality: string): boolean => scada.points('rtu1.>').every((p) => p.quality === quality);
  const recovered = async (timeoutMs: number): Promise<number> => {
    const started = Date.now();
    await until(() => allQuality('good') && !deviceLost() && scada.devices()[0]!.online, timeoutMs, 'recovery: every point good, alarm cleared');
    return Date.now() - started;
  };
  /** Collects the events of points matching `pattern` from the bus, as a watching client would get them. */
  const watch = (pattern: string): PointEvent[] => {
    const events: PointEvent[] = [];
    subscriptions.push(server.server.bus.subscribe(SCADA_TOPICS.event(pattern), (m) => void events.push(m.payload as PointEvent), { maxQueued: 10_000, policy: 'drop-oldest' }));
    return events;
  };

  beforeAll(async () => {
    slave = await startSlave({ points: POINTS });
    server = await startTestServer({ http: { enabled: false }, scada: { simulator: { enabled: false }, devices: [deviceConfig(slave.port)] } });
    scada = server.server.scada!;
    await recovered(10_000);
  });

  afterEach(() => {
    for (const s of subscriptions.splice(0)) s.unsubscribe();
  });

  afterAll(async () => {
    await server?.stop();
    await stopAllPeers();
  });

  it('takes every point of the general interrogation with its value, and ignores and counts an address no point has', async () => {
    // STARTDT, clock sync and GI, in that order, all seen by the station.
    await slave.next((e) => e.event === 'activated', 5_000);
    const clock = await slave.next((e) => e.event === 'clock', 5_000);
    expect(Math.abs((clock as { time: number }).time - Date.now())).toBeLessThan(5_000);
    await slave.next((e) => e.event === 'gi' && (e as { qoi: number }).qoi === 20, 5_000);
    for (let i = 0; i < POINTS - 1; i++) expect(scada.point(`rtu1.s${i}`)).toMatchObject({ value: slaveInitialValue('single', i) ? 1 : 0, quality: 'good' });
    for (let i = 0; i < POINTS; i++) expect(scada.point(`rtu1.d${i}`)).toMatchObject({ value: slaveInitialValue('double', i) === 2 ? 1 : 0, quality: 'good', states: ['open', 'closed'] });
    for (let i = 0; i < POINTS; i++) {
      const raw = slaveInitialValue('float', i) as number;
      expect(scada.point(`rtu1.f${i}`)).toMatchObject({ value: i === 3 ? raw * 10 : raw, quality: 'good', unit: 'A' });
    }
    // An interrogated object has no time tag: its time is when gridlink received it.
    const p = scada.point('rtu1.f0');
    expect(p.sourceTime).toBe(p.serverTime);
    expect(scada.metrics().unknownObjects).toBeGreaterThanOrEqual(1);
    expect(scada.devices()[0]).toMatchObject({ name: 'rtu1', online: true, address: `127.0.0.1:${slave.port}/1`, lastError: null });
    expect(scada.devices()[0]!.polls).toBeGreaterThanOrEqual(1);
  });

  it('takes spontaneous changes with the station\'s CP56Time2a and its quality bits', async () => {
    const events = watch('rtu1.>');
    const before = Date.now();
    await slave.set(slave.ioa('float', 1), 42.25);
    await slave.set(slave.ioa('double', 0), 2);
    await slave.set(slave.ioa('single', 0), true);
    const after = Date.now();
    const byPoint = async (name: string): Promise<PointEvent> => until(() => events.find((e) => e.point === name), 3_000, `event of ${name}`);
    const float = await byPoint('rtu1.f1');
    expect(float).toMatchObject({ value: 42.25, quality: 'good', kind: 'change' });
    // The time is the station's tag (set between before and after), not the receipt.
    expect(float.sourceTime).toBeGreaterThanOrEqual(before);
    expect(float.sourceTime).toBeLessThanOrEqual(after);
    expect(float.serverTime).toBeGreaterThanOrEqual(float.sourceTime);
    expect(await byPoint('rtu1.d0')).toMatchObject({ value: 1, quality: 'good' });
    expect(await byPoint('rtu1.s0')).toMatchObject({ value: 1, quality: 'good' });

    // Quality bits: IV → invalid, NT → questionable, SB → substituted; the value is kept, flagged.
    for (const [flag, quality] of [['iv', 'invalid'], ['nt', 'questionable'], ['sb', 'substituted'], ['ov', 'questionable']] as const) {
      await slave.set(slave.ioa('float', 2), 7.5, [flag]);
      await until(() => scada.point('rtu1.f2').quality === quality, 3_000, `${flag} → ${quality}`);
      expect(scada.point('rtu1.f2').value).toBe(7.5);
    }
    await slave.set(slave.ioa('float', 2), 7.5);
    await until(() => scada.point('rtu1.f2').quality === 'good', 3_000, 'good again');
    // A double point between positions (0, intermediate) is questionable, its last position kept.
    await slave.set(slave.ioa('double', 1), 0);
    await until(() => scada.point('rtu1.d1').quality === 'questionable', 3_000, 'intermediate → questionable');
    await slave.set(slave.ioa('double', 1), 1);
    await until(() => scada.point('rtu1.d1').quality === 'good' && scada.point('rtu1.d1').value === 0, 3_000, 'off again');
  });

  it('a station closing the connection: device lost, then reconnected and interrogated again', async () => {
    const gis = slave.events.filter((e) => e.event === 'gi').length;
    await slave.closeConnections();
    await until(() => deviceLost() && allQuality('invalid'), 2_000, 'points invalid and device alarm');
    await recovered(5_000);
    await until(() => slave.events.filter((e) => e.event === 'gi').length > gis, 3_000, 'the station reports a new interrogation');
  });

  it('a station that stops answering (SIGSTOP): lost within t3 + t1; answering again (SIGCONT): recovered', async () => {
    const stoppedAt = Date.now();
    slave.child.kill('SIGSTOP');
    try {
      await until(() => deviceLost() && allQuality('invalid'), T3_MS + T1_MS + 2_000, 'silent station lost');
      const detectedMs = Date.now() - stoppedAt;
      expect(detectedMs).toBeLessThanOrEqual(T3_MS + T1_MS + SLACK_MS);
      expect(detectedMs).toBeGreaterThanOrEqual(T3_MS);
      expect(scada.devices()[0]!.lastError).toMatch(/t1 expired/u);
    } finally {
      slave.child.kill('SIGCONT');
    }
    await recovered(5_000);
  });

  it('SIGKILL of the station: points invalid and deviceLost within t1 + one poll; restarted on the same port: recovered without a restart', async () => {
    const port = slave.port;
    const valueBefore = scada.point('rtu1.f0').value;
    const killedAt = Date.now();
    await slave.kill('SIGKILL');
    await until(() => deviceLost() && allQuality('invalid'), T1_MS + 2_000, 'points invalid and device alarm');
    expect(Date.now() - killedAt).toBeLessThanOrEqual(T1_MS + SLACK_MS);
    const alarm = scada.alarms().find((a) => a.source === 'device:rtu1' && a.clearedAt === null)!;
    expect(alarm).toMatchObject({ kind: 'deviceLost', severity: 'high', state: 'active' });
    expect(scada.devices()[0]).toMatchObject({ online: false });
    // The last values are kept, flagged invalid.
    expect(scada.point('rtu1.f0').value).toBe(valueBefore);

    // Down for several backoff rounds (refused connections: still lost, one alarm), then back on the same port.
    const failures = scada.devices()[0]!.failures;
    await new Promise((r) => setTimeout(r, 1_000));
    expect(deviceLost()).toBe(true);
    expect(scada.devices()[0]!.failures).toBeGreaterThan(failures);
    expect(scada.devices()[0]!.lastError).toMatch(/ECONNREFUSED/u);
    expect(scada.alarms().filter((a) => a.source === 'device:rtu1' && a.clearedAt === null)).toHaveLength(1);
    slave = await startSlave({ points: POINTS, port });
    const tookMs = await recovered(5_000);
    expect(tookMs).toBeLessThan(BACKOFF_MAX_MS + 2_000);
    expect(scada.alarms({ includeCleared: true }).find((a) => a.id === alarm.id)!.clearedAt).not.toBeNull();
    expect(scada.devices()[0]).toMatchObject({ online: true, lastError: null });
    expect(scada.point('rtu1.f0')).toMatchObject({ value: slaveInitialValue('float', 0), quality: 'good' });
  });
});
