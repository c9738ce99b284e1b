import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { UserActor } from '../../src/accounts/actor.js';
import type { ScadaService } from '../../src/scada/scada-service.js';
import { TYPE, startSlave, stopAllPeers, type CommandEvent, type Lib60870Slave } from '../helpers/lib60870.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';

/**
 * Commands from gridlink's controlling station to lib60870-C's controlled
 * station (docs/iec104.md "Controlling station"): select, then execute, each
 * confirmed (ACTCON), then the point's own value as the feedback, through the
 * same select-before-operate desk, audit and alarms as for Modbus devices.
 */

const BREAKER_IOA = 100_001;
const SINGLE_IOA = 2;
const SETPOINT_IOA = 200_002;

describe('gridlink operates a lib60870 controlled station', () => {
  let slave: Lib60870Slave;
  let server: TestServer;
  let scada: ScadaService;
  let n = 0;
  const operator = (): UserActor => ({ identity: { name: 'olga', role: 'operator' }, address: '127.0.0.1', front: 'native', connection: `test:${++n}` });
  const commands = (since: number): CommandEvent[] => slave.events.slice(since).filter((e): e is CommandEvent => e.event === 'command');

  beforeAll(async () => {
    slave = await startSlave({ points: 4, requireSelect: true });
    server = await startTestServer({
      http: { enabled: false },
      scada: {
        simulator: { enabled: false },
        devices: [
          {
            name: 'rtu2',
            protocol: 'iec104',
            host: '127.0.0.1',
            port: slave.port,
            commonAddress: 1,
            t1: 2_000,
            t2: 500,
            t3: 5_000,
            backoffMaxMs: 300,
            points: [
              { name: 'rtu2.f1.breaker', class: 'status', ioa: BREAKER_IOA, type: 'double', states: ['open', 'closed'], control: { timeoutMs: 2_000 } },
              { name: 'rtu2.f1.earth', class: 'status', ioa: SINGLE_IOA, control: { timeoutMs: 2_000 } },
              { name: 'rtu2.f1.setpoint', class: 'setpoint', ioa: SETPOINT_IOA, unit: 'kV', scale: 0.5, control: { timeoutMs: 2_000 } },
              { name: 'rtu2.f1.current', class: 'telemetry', ioa: 200_001 },
            ],
          },
        ],
      },
    });
    scada = server.server.scada!;
    await until(() => scada.points('rtu2.>').every((p) => p.quality === 'good'), 10_000, 'first interrogation');
  });

  afterEach(async () => {
    if (slave.exited === null) await slave.respond('normal');
  });

  afterAll(async () => {
    await server?.stop();
    await stopAllPeers();
  });

  it('closes a breaker by select + execute of a double command; the point follows and the command is confirmed', async () => {
    expect(scada.point('rtu2.f1.breaker')).toMatchObject({ value: 0, controllable: true }); // starts OFF
    const actor = operator();
    const since = slave.events.length;
    await scada.select(actor, 'rtu2.f1.breaker');
    const result = await scada.operate(actor, 'rtu2.f1.breaker', 1);
    expect(result).toMatchObject({ point: 'rtu2.f1.breaker', value: 1, confirmed: true });
    expect(scada.point('rtu2.f1.breaker')).toMatchObject({ value: 1, quality: 'good' });
    // The station saw a select, then an execute, of C_DC_NA_1 ON (2) at the breaker's address
    // (its stdout may come a moment after its ACTCON on the wire).
    await until(() => commands(since).length >= 2, 3_000, 'the station reports both commands');
    expect(commands(since).map((c) => [c.type, c.ioa, c.value, c.select, c.result])).toEqual([
      [TYPE.C_DC_NA_1, BREAKER_IOA, 2, true, 'selected'],
      [TYPE.C_DC_NA_1, BREAKER_IOA, 2, false, 'executed'],
    ]);
    expect(server.server.audit.recent(20).map((r) => r.event)).toEqual(expect.arrayContaining(['control.select', 'control.operate', 'control.confirmed']));

    // And open it again.
    await scada.select(actor, 'rtu2.f1.breaker');
    await scada.operate(actor, 'rtu2.f1.breaker', 0);
    expect(scada.point('rtu2.f1.breaker').value).toBe(0);
  });

  it('operates a single command and a short-float set-point, scaled back to the device\'s units', async () => {
    const actor = operator();
    const since = slave.events.length;
    await scada.select(actor, 'rtu2.f1.earth');
    await scada.operate(actor, 'rtu2.f1.earth', 1);
    await scada.select(actor, 'rtu2.f1.setpoint');
    await scada.operate(actor, 'rtu2.f1.setpoint', 10.5);
    expect(scada.point('rtu2.f1.setpoint')).toMatchObject({ value: 10.5, quality: 'good' });
    await until(() => commands(since).length >= 4, 3_000, 'the station reports the four commands');
    expect(commands(since).filter((c) => !c.select).map((c) => [c.type, c.ioa, c.value])).toEqual([
      [TYPE.C_SC_NA_1, SINGLE_IOA, true],
      [TYPE.C_SE_NC_1, SETPOINT_IOA, 21], // 10.5 kV / 0.5
    ]);
  });

  it('a value the command cannot carry is refused before anything is sent, and the selection is kept', async () => {
    const actor = operator();
    const since = slave.events.length;
    await scada.select(actor, 'rtu2.f1.breaker');
    await expect(scada.operate(actor, 'rtu2.f1.breaker', 2)).rejects.toMatchObject({ code: 'GL_ERR_SCADA_BAD_VALUE' });
    expect(commands(since)).toEqual([]);
    scada.deselect(actor, 'rtu2.f1.breaker');
  });

  it('a negative ACTCON fails the command with GL_ERR_SCADA_COMMAND_REFUSED, a commandFailed alarm and an audit entry', async () => {
    await slave.respond('negative');
    const actor = operator();
    const before = scada.point('rtu2.f1.breaker').value;
    await scada.select(actor, 'rtu2.f1.breaker');
    await expect(scada.operate(actor, 'rtu2.f1.breaker', 1)).rejects.toMatchObject({ code: 'GL_ERR_SCADA_COMMAND_REFUSED', message: /negative ACTCON to C_DC_NA_1 at IOA 100001/u });
    const alarm = scada.alarms().find((a) => a.source === 'rtu2.f1.breaker' && a.kind === 'commandFailed' && a.clearedAt === null);
    expect(alarm).toMatchObject({ severity: 'high', state: 'active' });
    expect(alarm!.message).toMatch(/was refused/u);
    expect(server.server.audit.recent(20).some((r) => r.event === 'control.failed' && /negative ACTCON/u.test(String(r.detail?.['reason'])))).toBe(true);
    expect(scada.point('rtu2.f1.breaker').value).toBe(before);
    // The desk is free again: a later command goes through (and clears the alarm).
    await slave.respond('normal');
    await scada.select(actor, 'rtu2.f1.breaker');
    await scada.operate(actor, 'rtu2.f1.breaker', 1);
    expect(scada.alarms().some((a) => a.source === 'rtu2.f1.breaker' && a.kind === 'commandFailed' && a.clearedAt === null)).toBe(false);
  });

  it('a station that never confirms: the command fails as undelivered after its timeout', async () => {
    await slave.respond('silent');
    const actor = operator();
    await scada.select(actor, 'rtu2.f1.earth');
    const started = Date.now();
    await expect(scada.operate(actor, 'rtu2.f1.earth', 0)).rejects.toMatchObject({ code: 'GL_ERR_SCADA_DEVICE_UNAVAILABLE', message: /no confirmation of the C_SC_NA_1 select of IOA 2 within 2000 ms/u });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
  });

  it('a station that is gone: the command fails at once as device unavailable', async () => {
    await slave.kill('SIGKILL');
    await until(() => !scada.devices()[0]!.online, 3_000, 'device lost');
    const actor = operator();
    await scada.select(actor, 'rtu2.f1.breaker');
    await expect(scada.operate(actor, 'rtu2.f1.breaker', 0)).rejects.toMatchObject({ code: 'GL_ERR_SCADA_DEVICE_UNAVAILABLE', message: /not connected/u });
  });
});
