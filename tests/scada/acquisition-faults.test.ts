import type { UserActor } from '../../src/accounts/actor.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ScadaService } from '../../src/scada/scada-service.js';
import { ModbusPeer } from '../helpers/modbus-peer.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';

/**
 * Acquisition from a Modbus device gridlink did not write: tests/peers/
 * modbus_server.py on pymodbus (Debian's python3-pymodbus). The device is
 * killed, restarted, made to answer exceptions, garbage, or nothing; gridlink
 * must mark its points invalid and raise an alarm within two poll periods,
 * and recover by itself when the device is healthy again.
 */

const POLL_MS = 400;
const peers: ModbusPeer[] = [];


describe('acquisition from an independent Modbus device (pymodbus)', () => {
  let peer: ModbusPeer;
  let server: TestServer;
  let scada: ScadaService;

  const deviceLost = (): boolean => scada.alarms().some((a) => a.source === 'device:rtu7' && a.kind === 'deviceLost' && a.clearedAt === null);
  const allQuality = (quality: string): boolean => scada.points('rtu7.>').every((p) => p.quality === quality);

  /** Waits until the device's points are good and its loss alarm cleared; returns how long it took. */
  const recovered = async (timeoutMs: number): Promise<number> => {
    const started = Date.now();
    await until(() => (allQuality('good') && !deviceLost() ? true : undefined), timeoutMs, 'recovery');
    return Date.now() - started;
  };

  beforeAll(async () => {
    peer = await ModbusPeer.start(peers, 'normal');
    await peer.command('set 0 1050');
    await peer.command('set 1 2345');
    await peer.command('set 2 65436'); // -100 as int16
    await peer.command('set 3 1');
    server = await startTestServer({
      scada: {
        simulator: { enabled: false },
        devices: [
          {
            name: 'rtu7',
            host: '127.0.0.1',
            port: peer.port,
            unitId: 1,
            pollMs: POLL_MS,
            timeoutMs: 200,
            backoffMaxMs: 600,
            points: [
              { name: 'rtu7.bus.voltage', class: 'telemetry', address: 0, scale: 0.01, unit: 'kV', deadband: 0.01, limits: { high: 11, highHigh: 11.5 } },
              { name: 'rtu7.feeder.current', class: 'telemetry', address: 1, scale: 0.1, unit: 'A' },
              { name: 'rtu7.feeder.power', class: 'telemetry', address: 2, type: 'int16', unit: 'kW' },
              // Its command goes to coil 0, but this device never moves register 3: no feedback.
              { name: 'rtu7.feeder.breaker', class: 'status', address: 3, states: ['open', 'closed'], control: { target: 'coil', address: 0, timeoutMs: 1_000 } },
            ],
          },
        ],
      },
    });
    scada = server.server.scada!;
    expect(scada.simulator).toBeNull();
    await recovered(5_000);
  });

  afterEach(async () => {
    // Every test leaves the device healthy (or restarts it).
    if (peer.child.exitCode === null && peer.child.signalCode === null) await peer.command('mode normal');
  });

  afterAll(async () => {
    await server?.stop();
    await Promise.all(peers.map((p) => p.stop()));
  });

  it('reads and scales what the device serves, and sees a change', async () => {
    const byName = new Map(scada.points('rtu7.>').map((p) => [p.name, p]));
    expect(byName.get('rtu7.bus.voltage')).toMatchObject({ value: 10.5, unit: 'kV', quality: 'good' });
    expect(byName.get('rtu7.feeder.current')!.value).toBeCloseTo(234.5, 6);
    expect(byName.get('rtu7.feeder.power')!.value).toBe(-100);
    expect(byName.get('rtu7.feeder.breaker')!.value).toBe(1);
    await peer.command('set 3 0');
    await until(() => (scada.point('rtu7.feeder.breaker').value === 0 ? true : undefined), 3 * POLL_MS, 'breaker change');
    await peer.command('set 3 1');
    await peer.command('set 0 1120');
    const alarm = await until(() => scada.alarms().find((a) => a.source === 'rtu7.bus.voltage' && a.clearedAt === null), 3 * POLL_MS, 'limit alarm');
    expect(alarm.kind).toBe('high');
    await peer.command('set 0 1050');
    await until(() => (scada.alarms().some((a) => a.source === 'rtu7.bus.voltage' && a.clearedAt === null) ? undefined : true), 3 * POLL_MS, 'limit alarm cleared');
  });

  it('a killed device: points invalid and an alarm within two poll periods; restarted: good again, alarm cleared, no gridlink restart', async () => {
    const port = peer.port;
    const killedAt = Date.now();
    peer.child.kill('SIGKILL');
    await until(() => (allQuality('invalid') && deviceLost() ? true : undefined), 4 * POLL_MS, 'points invalid and device alarm');
    const detectedMs = Date.now() - killedAt;
    expect(detectedMs).toBeLessThanOrEqual(2 * POLL_MS);
    const alarm = scada.alarms().find((a) => a.source === 'device:rtu7' && a.clearedAt === null)!;
    expect(alarm).toMatchObject({ kind: 'deviceLost', severity: 'high', state: 'active' });
    expect(scada.devices()[0]).toMatchObject({ online: false });
    // The values are kept, flagged invalid: an operator still sees the last known state.
    expect(scada.point('rtu7.bus.voltage').value).toBe(10.5);

    // Down for a while (several backoff rounds), then back on the same port.
    await new Promise((r) => setTimeout(r, 1_500));
    peer = await ModbusPeer.start(peers, 'normal', ['--port', String(port)]).catch(async () => ModbusPeer.start(peers, 'normal', ['--port', String(port)]));
    for (const [addr, value] of [[0, 1050], [1, 2345], [2, 65436], [3, 1]] as const) await peer.command(`set ${addr} ${value}`);
    const tookMs = await recovered(5_000);
    // Backoff is capped at 600 ms here: recovery comes within a cap plus a poll.
    expect(tookMs).toBeLessThan(600 + 2 * POLL_MS + 500);
    const cleared = scada.alarms({ includeCleared: true }).find((a) => a.id === alarm.id)!;
    expect(cleared.clearedAt).not.toBeNull();
    expect(scada.devices()[0]).toMatchObject({ online: true, lastError: null });
  });

  it('a command the device takes but the feedback never confirms is reported failed, with an alarm and an audit entry', async () => {
    const actor: UserActor = { identity: { name: 'olga', role: 'operator' }, address: '127.0.0.1', front: 'native', connection: 'test:1' };
    await scada.select(actor, 'rtu7.feeder.breaker');
    const started = Date.now();
    await expect(scada.operate(actor, 'rtu7.feeder.breaker', 0)).rejects.toMatchObject({ code: 'GL_ERR_SCADA_COMMAND_FAILED' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    // The write reached the device: its coil 0 is off now.
    expect(((await peer.command('coils')) as { coils: boolean[] }).coils[0]).toBe(false);
    const alarm = scada.alarms().find((a) => a.source === 'rtu7.feeder.breaker' && a.kind === 'commandFailed');
    expect(alarm).toMatchObject({ severity: 'high', state: 'active' });
    expect(alarm!.message).toMatch(/not confirmed within 1000 ms/u);
    expect(server.server.audit.recent(20).map((r) => r.event)).toEqual(expect.arrayContaining(['control.select', 'control.operate', 'control.failed']));
    expect(scada.point('rtu7.feeder.breaker').value).toBe(1);
  });

  it('a command to a device that refuses it is reported as device unavailable', async () => {
    const actor: UserActor = { identity: { name: 'olga', role: 'operator' }, address: '127.0.0.1', front: 'native', connection: 'test:2' };
    await peer.command('mode exception');
    await until(() => (allQuality('invalid') ? true : undefined), 4 * POLL_MS, 'device refusing');
    await scada.select(actor, 'rtu7.feeder.breaker');
    await expect(scada.operate(actor, 'rtu7.feeder.breaker', 0)).rejects.toMatchObject({ code: 'GL_ERR_SCADA_DEVICE_UNAVAILABLE' });
    expect(server.server.audit.recent(20).some((r) => r.event === 'control.failed' && typeof r.detail?.['reason'] === 'string')).toBe(true);
    await peer.command('mode normal');
    await recovered(5_000);
  });

  for (const mode of ['exception', 'garbage', 'silent'] as const) {
    it(`a device answering ${mode === 'silent' ? 'nothing' : mode === 'garbage' ? 'garbage' : 'Modbus exceptions'}: invalid + alarm within two poll periods, nothing crashes, recovers when healthy`, async () => {
      const started = Date.now();
      expect(await peer.command(`mode ${mode}`)).toMatchObject({ ok: true, mode });
      await until(() => (allQuality('invalid') && deviceLost() ? true : undefined), 4 * POLL_MS, `${mode}: invalid + alarm`);
      expect(Date.now() - started).toBeLessThanOrEqual(2 * POLL_MS);
      // A few more rounds of bad answers: still alive, still invalid.
      await new Promise((r) => setTimeout(r, 3 * POLL_MS));
      expect(allQuality('invalid')).toBe(true);
      expect(scada.devices()[0]!.lastError).not.toBeNull();
      await peer.command('mode normal');
      await recovered(5_000);
    });
  }
});
