import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { COT, TYPE, ensureLib60870, isAsdu, slaveInitialValue, startMaster, startSlave, stopAllPeers, type AsduEvent, type PointKind } from '../helpers/lib60870.js';

/**
 * The IEC 60870-5-104 peers built from lib60870-C (tests/peers/iec104/) are
 * what gridlink's 104 tests and benchmarks are measured against. These tests
 * pin down their contract with each other, so a failure elsewhere is
 * gridlink's and not the harness's: the master against the slave.
 */

beforeAll(async () => {
  await ensureLib60870(); // a few seconds the first time, cached afterwards
}, 300_000);

afterEach(stopAllPeers);

const GOOD = { iv: false, nt: false, sb: false, bl: false, ov: false };

describe('lib60870-C peers: iec104_master against iec104_slave', () => {
  it('STARTDT, then a station interrogation returns every point between a positive ACTCON and ACTTERM', async () => {
    const slave = await startSlave({ points: 4 });
    expect(slave.port).toBeGreaterThan(0);
    expect(slave.pointCount).toBe(12);
    const master = await startMaster({ port: slave.port, startdt: true });
    await slave.next((e) => e.event === 'connection' && e.open);
    await slave.next((e) => e.event === 'activated');

    const gi = await master.interrogate();
    expect(gi.actcon).toMatchObject({ type: TYPE.C_IC_NA_1, cot: COT.ACTIVATION_CON, negative: false, ca: 1 });
    expect(gi.actterm).toMatchObject({ type: TYPE.C_IC_NA_1, cot: COT.ACTIVATION_TERMINATION, negative: false });
    expect(gi.done.objects).toBe(12);
    expect(gi.data.map((a) => a.type)).toEqual([TYPE.M_SP_NA_1, TYPE.M_DP_NA_1, TYPE.M_ME_NC_1]);

    const expected: { ioa: number; value: boolean | number }[] = [];
    for (const kind of ['single', 'double', 'float'] as PointKind[]) {
      for (let i = 0; i < 4; i++) expected.push({ ioa: slave.ioa(kind, i), value: slaveInitialValue(kind, i) });
    }
    expect(gi.objects.map((o) => ({ ioa: o.ioa, value: o.value }))).toEqual(expected);
    for (const o of gi.objects) expect(o).toMatchObject({ quality: GOOD, time: null });

    // ACTCON before the data, the data before ACTTERM, in the master's arrival order.
    const order = master.events.filter(isAsdu).map((a) => a.cot);
    expect(order).toEqual([COT.ACTIVATION_CON, 20, 20, 20, COT.ACTIVATION_TERMINATION]);
    expect(await slave.next((e) => e.event === 'gi')).toMatchObject({ qoi: 20, objects: 12, asdus: 3 });
  });

  it('a double command select + execute: ACTCON, ACTCON, the spontaneous change with a time tag, ACTTERM', async () => {
    const slave = await startSlave({ points: 3, requireSelect: true });
    const master = await startMaster({ port: slave.port, startdt: true });
    const breaker = slave.ioa('double', 0); // starts OFF (1)

    const selected = await master.command('dc', breaker, 2, { select: true });
    expect(selected).toMatchObject({ type: TYPE.C_DC_NA_1, cot: COT.ACTIVATION_CON, negative: false });
    expect(selected.objects[0]).toMatchObject({ ioa: breaker, value: 2, select: true });
    expect(await slave.next((e) => e.event === 'command')).toMatchObject({ type: TYPE.C_DC_NA_1, ioa: breaker, value: 2, select: true, result: 'selected' });

    const before = Date.now();
    const executed = await master.command('dc', breaker, 2);
    expect(executed).toMatchObject({ cot: COT.ACTIVATION_CON, negative: false });
    expect(executed.objects[0]).toMatchObject({ select: false });
    const { asdu: change, object } = await master.spontaneous(breaker);
    expect(change).toMatchObject({ type: TYPE.M_DP_TB_1, cot: COT.SPONTANEOUS });
    expect(object).toMatchObject({ value: 2, quality: GOOD, timeInvalid: false });
    expect(object.time).toBeGreaterThanOrEqual(before - 1_000);
    expect(object.time).toBeLessThanOrEqual(Date.now() + 1_000);
    const term = await master.commandTermination('dc', breaker);
    const at = (a: AsduEvent): number => master.events.indexOf(a);
    expect(at(executed)).toBeLessThan(at(change));
    expect(at(change)).toBeLessThan(at(term));
    expect(await slave.next((e) => e.event === 'command')).toMatchObject({ select: false, result: 'executed' });

    // Execute without select (--require-select), and an IOA the slave does not have: negative.
    expect(await master.command('dc', breaker, 1)).toMatchObject({ cot: COT.ACTIVATION_CON, negative: true });
    expect(await master.command('dc', 999, 2)).toMatchObject({ cot: COT.UNKNOWN_IOA, negative: true });
    // The execute took: a new interrogation sees the breaker ON.
    const gi = await master.interrogate();
    expect(gi.objects.find((o) => o.ioa === breaker)?.value).toBe(2);
  });

  it('clock sync, a set-point and a point changed on the slave reach the other side', async () => {
    const slave = await startSlave({ points: 2 });
    const master = await startMaster({ port: slave.port, startdt: true });

    await master.request('clock 1767225600123'); // 2026-01-01T00:00:00.123Z
    expect(await slave.next((e) => e.event === 'clock')).toMatchObject({ time: 1767225600123 });
    expect(await master.next((e) => isAsdu(e) && e.type === TYPE.C_CS_NA_1)).toMatchObject({ cot: COT.ACTIVATION_CON, negative: false });

    const setpoint = slave.ioa('float', 1);
    expect(await master.command('sef', setpoint, 12.25)).toMatchObject({ negative: false });
    expect((await master.spontaneous(setpoint)).object).toMatchObject({ value: 12.25 });

    await slave.set(slave.ioa('single', 0), true, ['iv']);
    const { asdu, object } = await master.spontaneous(slave.ioa('single', 0));
    expect(asdu.type).toBe(TYPE.M_SP_TB_1);
    expect(object).toMatchObject({ value: true, quality: { ...GOOD, iv: true } });
  });

  it('count-only mode counts a burst and a large interrogation for the benchmarks', async () => {
    const slave = await startSlave({ points: 1_000 });
    const master = await startMaster({ port: slave.port, startdt: true, countOnly: true, rateIntervalMs: 100 });
    const gi = await master.interrogate();
    expect(gi.done.objects).toBe(3_000);
    expect(gi.data).toEqual([]); // monitoring ASDUs are only counted

    const done = await slave.burst(2_000, 0);
    expect(done).toMatchObject({ changes: 2_000, stopped: false });
    await master.next((e) => e.event === 'rate' && e.total >= 5_000, 10_000);
    expect((await master.stats()).objects).toBe(5_000);
  });

  it('threadless (--tick-ms, as the acquisition benchmark runs it): interrogation, a command, a change and a burst all work', async () => {
    const slave = await startSlave({ points: 3, tickMs: 10 });
    const master = await startMaster({ port: slave.port, startdt: true });
    await slave.next((e) => e.event === 'activated');

    const gi = await master.interrogate();
    expect(gi.actterm).toMatchObject({ negative: false });
    expect(gi.done.objects).toBe(9);

    const breaker = slave.ioa('double', 0);
    expect(await master.command('dc', breaker, 2, { select: true })).toMatchObject({ cot: COT.ACTIVATION_CON, negative: false });
    expect(await master.command('dc', breaker, 2)).toMatchObject({ cot: COT.ACTIVATION_CON, negative: false });
    expect((await master.spontaneous(breaker)).object).toMatchObject({ value: 2 });

    await slave.set(slave.ioa('float', 2), 7.5);
    const { asdu, object } = await master.spontaneous(slave.ioa('float', 2));
    expect(asdu.type).toBe(TYPE.M_ME_TF_1);
    expect(object).toMatchObject({ value: 7.5, quality: GOOD });

    const done = await slave.burst(300, 0);
    expect(done).toMatchObject({ changes: 300, stopped: false });
    // burst_done means queued; the master counts monitoring objects as they arrive: 9 + 1 + 1 + 300.
    let objects = 0;
    for (let i = 0; i < 100 && objects < 311; i++) {
      objects = (await master.stats()).objects;
      if (objects < 311) await sleep(50);
    }
    expect(objects).toBe(311);
  });

  it('SIGKILL of the slave: the master reports the connection closed', async () => {
    const slave = await startSlave({ points: 1 });
    const master = await startMaster({ port: slave.port, startdt: true });
    expect((await slave.kill('SIGKILL')).signal).toBe('SIGKILL');
    await master.next((e) => e.event === 'closed', 5_000);
    await expect(master.request('gi')).rejects.toThrow(/not sent/);
  });
});
