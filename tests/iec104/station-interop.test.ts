import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { UserActor } from '../../src/accounts/actor.js';
import type { PointSnapshot } from '../../src/protocol/scada.js';
import { COT, TYPE, ensureLib60870, isAsdu, startMaster, stopAllPeers, type AsduEvent, type InfoObject, type Lib60870Master } from '../helpers/lib60870.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';

/**
 * gridlink's controlled station against lib60870-C's master (the reference
 * implementation, tests/helpers/lib60870.ts): interrogation, spontaneous
 * data, select + execute of a simulator breaker, and two masters at once
 * (docs/iec104.md "Controlled station").
 */

const POLL_MS = 100;
const GOOD = { iv: false, nt: false, sb: false, bl: false, ov: false };

let server: TestServer | null = null;

beforeAll(async () => {
  await ensureLib60870();
}, 300_000);

afterEach(async () => {
  await stopAllPeers();
  await server?.stop();
  server = null;
});

/** A server with the simulator (noise off, fast polls) and the station on a free loopback port. */
async function startStation(iec104: Record<string, unknown> = {}): Promise<{ server: TestServer; port: number }> {
  server = await startTestServer({
    http: { enabled: false },
    scada: { simulator: { noise: false, pollMs: POLL_MS, breakerTravelMs: 50, feeders: 4 }, selectTimeoutMs: 5_000 },
    iec104: { enabled: true, ...iec104 },
  });
  const scada = server.server.scada!;
  await until(() => scada.points().every((p) => p.quality === 'good'), 30_000);
  return { server, port: server.server.iec104Address!.port };
}

const operator: UserActor = { identity: { name: 'op', role: 'operator' }, address: '127.0.0.1', front: 'native', connection: 'native:test' };

/** What a master must receive for a gridlink point in a general interrogation. */
function expectedObject(p: PointSnapshot): { type: number; value: boolean | number } {
  if (p.class === 'status') return p.controllable ? { type: TYPE.M_DP_NA_1, value: p.value === 1 ? 2 : 1 } : { type: TYPE.M_SP_NA_1, value: p.value === 1 };
  return { type: TYPE.M_ME_NC_1, value: Math.fround(p.value!) };
}

describe('IEC 104 controlled station against a lib60870 master', () => {
  it('a general interrogation returns every point with its type, value, quality and IOA, between ACTCON and ACTTERM', async () => {
    const { server: s, port } = await startStation();
    const master = await startMaster({ port, startdt: true });
    const gi = await master.interrogate();
    expect(gi.actcon).toMatchObject({ type: TYPE.C_IC_NA_1, cot: COT.ACTIVATION_CON, negative: false, ca: 1 });
    expect(gi.actterm).toMatchObject({ cot: COT.ACTIVATION_TERMINATION, negative: false });

    const points = s.server.scada!.points();
    expect(points.length).toBe(24);
    expect(gi.done.objects).toBe(points.length);
    const received = new Map<number, { type: number; object: InfoObject }>();
    for (const asdu of gi.data) {
      expect(asdu).toMatchObject({ cot: COT.INTERROGATED_BY_STATION, ca: 1, negative: false });
      for (const object of asdu.objects) received.set(object.ioa, { type: asdu.type, object });
    }
    expect(received.size).toBe(points.length);
    for (const p of points) {
      const got = received.get(p.ioa);
      const want = expectedObject(p);
      expect(got?.type, p.name).toBe(want.type);
      expect(typeof want.value === 'number' ? Math.fround(got!.object.value as number) : got!.object.value, p.name).toBe(want.value);
      expect(got!.object.quality, p.name).toEqual(GOOD);
      expect(got!.object.time).toBeNull();
    }
    // ACTCON first, ACTTERM last, the data in between.
    const causes = master.events.filter(isAsdu).map((a) => a.cot);
    expect(causes[0]).toBe(COT.ACTIVATION_CON);
    expect(causes.at(-1)).toBe(COT.ACTIVATION_TERMINATION);
    expect(causes.slice(1, -1).every((c) => c === COT.INTERROGATED_BY_STATION)).toBe(true);
  });

  it('a breaker tripped at the simulator reaches the master spontaneously with a CP56Time2a within one poll', async () => {
    const { server: s, port } = await startStation();
    const master = await startMaster({ port, startdt: true });
    const breaker = s.server.scada!.points().find((p) => p.name === 'sub1.f2.breaker')!;
    expect(breaker.value).toBe(1);
    const before = Date.now();
    s.server.scada!.simulator!.setBreaker(1, 1, false);
    const { asdu, object } = await master.spontaneous(breaker.ioa, 5_000);
    const took = Date.now() - before;
    expect(asdu).toMatchObject({ type: TYPE.M_DP_TB_1, cot: COT.SPONTANEOUS, ca: 1 });
    expect(object).toMatchObject({ value: 1, quality: GOOD, timeInvalid: false });
    // The time tag is the reply of the poll that saw the change: within one poll period of it.
    expect(object.time).toBeGreaterThanOrEqual(before - 1);
    expect(object.time! - before).toBeLessThanOrEqual(POLL_MS + 100);
    // And it reached the master right after (a loose bound: the machine may be busy).
    expect(took).toBeLessThan(POLL_MS + 1_000);
  });

  it('select + execute of a double command opens a simulator breaker: ACTCON, ACTCON, the change, ACTTERM', async () => {
    const { server: s, port } = await startStation();
    const scada = s.server.scada!;
    const breaker = scada.points().find((p) => p.name === 'sub1.f1.breaker')!;
    const master = await startMaster({ port, startdt: true });
    expect((await master.interrogate()).objects.find((o) => o.ioa === breaker.ioa)?.value).toBe(2);

    const selected = await master.command('dc', breaker.ioa, 1, { select: true });
    expect(selected).toMatchObject({ type: TYPE.C_DC_NA_1, cot: COT.ACTIVATION_CON, negative: false });
    expect(selected.objects[0]).toMatchObject({ ioa: breaker.ioa, value: 1, select: true });

    const executed = await master.command('dc', breaker.ioa, 1);
    expect(executed).toMatchObject({ cot: COT.ACTIVATION_CON, negative: false });
    expect(executed.objects[0]).toMatchObject({ select: false });
    const { object } = await master.spontaneous(breaker.ioa, 10_000);
    expect(object.value).toBe(1); // OFF: open
    const term = await master.commandTermination('dc', breaker.ioa, 10_000);
    expect(term).toMatchObject({ negative: false });
    const at = (a: AsduEvent): number => master.events.indexOf(a);
    expect(at(executed)).toBeLessThan(at(term));
    expect(scada.points().find((p) => p.name === 'sub1.f1.breaker')!.value).toBe(0);
    expect(scada.simulator!.breaker(1, 0)).toBe(false);
    // The next interrogation shows it open too (its ASDU was encoded again after the change).
    expect((await master.interrogate()).objects.find((o) => o.ioa === breaker.ioa)?.value).toBe(1);
  });

  it('a second master selecting a breaker the first holds gets a negative ACTCON; the first still operates it', async () => {
    const { server: s, port } = await startStation();
    const breaker = s.server.scada!.points().find((p) => p.name === 'sub1.f3.breaker')!;
    const main = await startMaster({ port, startdt: true });
    const backup = await startMaster({ port, startdt: true });
    expect(await main.command('dc', breaker.ioa, 1, { select: true })).toMatchObject({ cot: COT.ACTIVATION_CON, negative: false });
    expect(await backup.command('dc', breaker.ioa, 1, { select: true })).toMatchObject({ cot: COT.ACTIVATION_CON, negative: true });
    // An operator cannot take it either: the lease is the first master's.
    expect(() => s.server.scada!.select(operator, breaker.name)).toThrow(/held by iec104:127\.0\.0\.1/);
    expect(await main.command('dc', breaker.ioa, 1)).toMatchObject({ negative: false });
    expect(await main.commandTermination('dc', breaker.ioa, 10_000)).toMatchObject({ negative: false });
    expect(s.server.scada!.simulator!.breaker(1, 2)).toBe(false);
  });

  it('six masters racing to select one breaker: exactly one wins and operates it once; the others are refused, select and execute alike', async () => {
    const { server: s, port } = await startStation();
    const scada = s.server.scada!;
    const breaker = scada.points().find((p) => p.name === 'sub1.f2.breaker')!;
    const masters = await Promise.all(Array.from({ length: 6 }, () => startMaster({ port, startdt: true })));
    // Each master is its own process: the six selects reach the station as fast as six peers can send them.
    const selects = await Promise.all(masters.map((m) => m.command('dc', breaker.ioa, 1, { select: true })));
    for (const answer of selects) expect(answer).toMatchObject({ type: TYPE.C_DC_NA_1, cot: COT.ACTIVATION_CON });
    const winners = masters.filter((_, i) => !selects[i]!.negative);
    expect(winners).toHaveLength(1);
    const losers = masters.filter((m) => m !== winners[0]);
    // The losers try to execute anyway, all at once, beside the winner.
    const [executed, ...refused] = await Promise.all([winners[0]!.command('dc', breaker.ioa, 1), ...losers.map((m) => m.command('dc', breaker.ioa, 1))]);
    expect(executed).toMatchObject({ cot: COT.ACTIVATION_CON, negative: false });
    for (const answer of refused) expect(answer).toMatchObject({ cot: COT.ACTIVATION_CON, negative: true });
    expect(await winners[0]!.commandTermination('dc', breaker.ioa, 10_000)).toMatchObject({ negative: false });
    expect(scada.simulator!.breaker(1, 1)).toBe(false);
    const entries = s.server.audit.recent(200).filter((r) => r.detail?.['point'] === breaker.name);
    const count = (event: string): number => entries.filter((r) => r.event === event).length;
    expect(count('control.select')).toBe(1);
    expect(count('control.select.refused')).toBe(5);
    expect(count('control.operate')).toBe(1);
    expect(count('control.confirmed')).toBe(1);
  });

  it('closing a master releases its selection', async () => {
    const { server: s, port } = await startStation();
    const breaker = s.server.scada!.points().find((p) => p.name === 'sub1.f4.breaker')!;
    const master = await startMaster({ port, startdt: true });
    expect(await master.command('dc', breaker.ioa, 1, { select: true })).toMatchObject({ negative: false });
    await master.request('close');
    // The select resolves (or rejects) later in a cluster: await it, or a refusal would look like success.
    await until(async () => {
      try {
        await s.server.scada!.select(operator, breaker.name);
        return true;
      } catch {
        return false;
      }
    }, 5_000);
  });
});

export type { Lib60870Master };
