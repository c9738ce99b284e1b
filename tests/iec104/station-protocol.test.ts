import { connect, type Socket } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { UserActor } from '../../src/accounts/actor.js';
import { Cot, TypeId, decodeAsdu, encodeAsdu, type Asdu } from '../../src/iec104/codec/index.js';
import { DEFAULT_LINK_PARAMETERS, Iec104Link } from '../../src/iec104/link/link.js';
import { SubstationSimulator } from '../../src/scada/simulator/substation-simulator.js';
import { COT, TYPE, ensureLib60870, isAsdu, startMaster, stopAllPeers, type AsduEvent } from '../helpers/lib60870.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';

/**
 * The controlled station's answers to what it does not act on, its
 * per-point mapping options and its buffering while a master is stopped
 * (docs/iec104.md "Controlled station", "Mapping"), against lib60870's master
 * and, for ASDUs lib60870 will not build, a master made of gridlink's own
 * link layer.
 */

const POLL_MS = 100;
const GOOD = { iv: false, nt: false, sb: false, bl: false, ov: false };

let server: TestServer | null = null;
let simulator: SubstationSimulator | null = null;
const links: Iec104Link[] = [];

beforeAll(async () => {
  await ensureLib60870();
}, 300_000);

afterEach(async () => {
  for (const link of links.splice(0)) link.close();
  await stopAllPeers();
  await server?.stop();
  server = null;
  await simulator?.stop();
  simulator = null;
});

async function startStation(overrides: { iec104?: Record<string, unknown>; scada?: Record<string, unknown> } = {}): Promise<{ server: TestServer; port: number }> {
  server = await startTestServer({
    http: { enabled: false },
    scada: { simulator: { noise: false, pollMs: POLL_MS, breakerTravelMs: 50, feeders: 4 }, selectTimeoutMs: 5_000, ...overrides.scada },
    iec104: { enabled: true, ...overrides.iec104 },
  });
  return { server, port: server.server.iec104Address!.port };
}

async function allGood(s: TestServer): Promise<void> {
  await until(() => s.server.scada!.points().every((p) => p.quality === 'good'), 30_000, 'every point good');
}

const point = (s: TestServer, name: string) => s.server.scada!.points().find((p) => p.name === name)!;

/** A controlling station made of gridlink's link layer: sends any ASDU, collects the decoded answers. */
async function rawMaster(port: number): Promise<{ link: Iec104Link; answers: Asdu[]; send(asdu: Asdu | Buffer): void; closed: Promise<string | null> }> {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const answers: Asdu[] = [];
  let closed!: (reason: string | null) => void;
  const closedPromise = new Promise<string | null>((r) => (closed = r));
  const link = new Iec104Link(socket, { role: 'controlling', parameters: DEFAULT_LINK_PARAMETERS, maxQueued: 100, handlers: { asdu: (b) => answers.push(decodeAsdu(b)), closed } });
  links.push(link);
  await link.startDataTransfer();
  return { link, answers, send: (asdu) => link.send(Buffer.isBuffer(asdu) ? asdu : encodeAsdu(asdu)), closed: closedPromise };
}

const header = { sequence: false, negative: false, test: false, originator: 0, commonAddress: 1 } as const;

describe('IEC 104 station: what it refuses, and how', () => {
  it('answers other common addresses with 46, the global address as itself, groups with a negative ACTCON, unsupported types with 44, unknown addresses with 47', async () => {
    const { server: s, port } = await startStation();
    await allGood(s);
    const breaker = point(s, 'sub1.f1.breaker');

    const stranger = await startMaster({ port, ca: 7, startdt: true });
    await stranger.request('gi');
    expect(await stranger.next((e) => isAsdu(e) && e.type === TYPE.C_IC_NA_1)).toMatchObject({ cot: COT.UNKNOWN_CA, negative: true, ca: 7 });
    expect(await stranger.command('dc', breaker.ioa, 1, { select: true })).toMatchObject({ cot: COT.UNKNOWN_CA, negative: true });

    const global = await startMaster({ port, ca: 65_535, startdt: true });
    const gi = await global.interrogate();
    expect(gi.actcon).toMatchObject({ cot: COT.ACTIVATION_CON, negative: false, ca: 1 });
    expect(gi.done.objects).toBe(24);
    expect(gi.data.every((a) => a.ca === 1)).toBe(true);
    // Commands are never broadcast.
    expect(await global.command('dc', breaker.ioa, 1, { select: true })).toMatchObject({ cot: COT.UNKNOWN_CA, negative: true });

    const master = await startMaster({ port, startdt: true });
    await expect(master.interrogate(10_000, 21)).rejects.toThrow(/interrogation refused.*"cot":7.*"negative":true/);
    expect(await master.command('dc', breaker.ioa, 1, { select: true, time: true })).toMatchObject({ type: TYPE.C_DC_TA_1, cot: COT.UNKNOWN_TYPE_ID, negative: true });
    expect(await master.command('dc', 999_999, 1, { select: true })).toMatchObject({ cot: COT.UNKNOWN_IOA, negative: true });
    await master.request('read 1'); // C_RD_NA_1: not supported
    expect(await master.next((e) => isAsdu(e) && e.type === TYPE.C_RD_NA_1)).toMatchObject({ cot: COT.UNKNOWN_TYPE_ID, negative: true });
    // The connection is still served.
    expect((await master.interrogate()).done.objects).toBe(24);
  });

  it('refuses commands it must not act on with a negative ACTCON: not controllable, wrong command, value not permitted, execute without select, a test ASDU', async () => {
    const { server: s, port } = await startStation();
    await allGood(s);
    const breaker = point(s, 'sub1.f1.breaker');
    const voltage = point(s, 'sub1.f1.voltage');
    const master = await startMaster({ port, startdt: true });
    const negative = { cot: COT.ACTIVATION_CON, negative: true };

    expect(await master.command('sef', voltage.ioa, 10.5, { select: true })).toMatchObject(negative); // telemetry: not controllable
    expect(await master.command('sef', breaker.ioa, 1, { select: true })).toMatchObject(negative); // a set-point for a breaker
    expect(await master.command('dc', breaker.ioa, 3, { select: true })).toMatchObject(negative); // DCS 3 is not permitted
    expect(await master.command('dc', breaker.ioa, 1)).toMatchObject(negative); // execute without select
    // Select, then an execute of the other value: refused, and the selection is gone.
    expect(await master.command('dc', breaker.ioa, 1, { select: true })).toMatchObject({ negative: false });
    expect(await master.command('dc', breaker.ioa, 2)).toMatchObject(negative);
    expect(await master.command('dc', breaker.ioa, 1)).toMatchObject(negative);
    // Select, deactivate (COT 8): DEACTCON, then the execute has nothing to follow.
    expect(await master.command('dc', breaker.ioa, 1, { select: true })).toMatchObject({ negative: false });
    expect(await master.command('dc', breaker.ioa, 1, { select: true, deact: true })).toMatchObject({ cot: COT.DEACTIVATION_CON, negative: false });
    expect(await master.command('dc', breaker.ioa, 1)).toMatchObject(negative);
    expect(s.server.scada!.simulator!.breaker(1, 0)).toBe(true);

    // A test ASDU (T = 1) is confirmed negatively and not acted upon; a cause not allowed for a type gets 45.
    const raw = await rawMaster(port);
    raw.send({ ...header, test: true, typeId: TypeId.C_DC_NA_1, cause: Cot.Activation, objects: [{ ioa: breaker.ioa, value: 1, qualifier: 0, select: true }] });
    raw.send({ ...header, typeId: TypeId.C_IC_NA_1, cause: Cot.Spontaneous, objects: [{ ioa: 0, qoi: 20 }] });
    raw.send({ ...header, typeId: TypeId.C_DC_NA_1, cause: Cot.Request, objects: [{ ioa: breaker.ioa, value: 1, qualifier: 0, select: true }] });
    raw.send({ ...header, typeId: TypeId.C_IC_NA_1, cause: Cot.Activation, objects: [{ ioa: 5, qoi: 20 }] });
    await until(() => raw.answers.length === 4);
    expect(raw.answers.map((a) => [a.typeId, a.cause, a.negative, a.test])).toEqual([
      [TypeId.C_DC_NA_1, Cot.ActivationCon, true, true],
      [TypeId.C_IC_NA_1, Cot.UnknownCause, true, false],
      [TypeId.C_DC_NA_1, Cot.UnknownCause, true, false],
      [TypeId.C_IC_NA_1, Cot.UnknownIoa, true, false],
    ]);
    expect(s.server.scada!.simulator!.breaker(1, 0)).toBe(true);
  });

  it('answers clock synchronization and the test command with ACTCON, and never sets the clock', async () => {
    const { port } = await startStation();
    const master = await startMaster({ port, startdt: true });
    const before = Date.now();
    await master.request('clock 1767225600123'); // 2026-01-01T00:00:00.123Z
    const con = await master.next((e) => isAsdu(e) && e.type === TYPE.C_CS_NA_1);
    expect(con).toMatchObject({ cot: COT.ACTIVATION_CON, negative: false });
    expect((con as AsduEvent).objects[0]!.time).toBe(1767225600123);
    expect(Math.abs(Date.now() - before)).toBeLessThan(5_000);
    await master.request('test');
    expect(await master.next((e) => isAsdu(e) && e.type === TYPE.C_TS_TA_1)).toMatchObject({ cot: COT.ACTIVATION_CON, negative: false });
  });
});

describe('IEC 104 station: spontaneous data while a master is stopped', () => {
  it('buffers events in order while stopped and sends them after STARTDT; past maxQueued the oldest are dropped and counted', async () => {
    const MAX_QUEUED = 5;
    const { server: s, port } = await startStation({ iec104: { maxQueued: MAX_QUEUED } });
    await allGood(s);
    const scada = s.server.scada!;
    const master = await startMaster({ port, startdt: true });
    await master.stopdt();
    const since = Date.now();
    // Opening a breaker also takes its feeder's current and powers to 0: several events each.
    for (let f = 0; f < 4; f++) {
      scada.simulator!.setBreaker(1, f, false);
      await until(() => point(s, `sub1.f${f + 1}.breaker`).value === 0, 15_000);
    }
    await until(() => scada.points().every((p) => !p.name.endsWith('.current') || p.value === 0), 15_000, 'every current at 0');
    const events = scada.events(since, Date.now() + 1, 1_000);
    expect(events.length).toBeGreaterThan(MAX_QUEUED);
    await until(() => s.server.status().iec104?.droppedEvents === events.length - MAX_QUEUED, 15_000, 'the oldest events dropped');
    expect(s.server.status().iec104).toMatchObject({ connections: 1, started: 0 });
    expect(master.events.filter(isAsdu)).toEqual([]);

    await master.startdt();
    const ioaOf = new Map(scada.points().map((p) => [p.name, p]));
    const expected = events.slice(-MAX_QUEUED).map((e) => {
      const p = ioaOf.get(e.point)!;
      return { ioa: p.ioa, value: p.class === 'status' ? (e.value === 1 ? 2 : 1) : e.value, time: e.sourceTime };
    });
    const got: { ioa: number; value: unknown; time: number | null }[] = [];
    for (let i = 0; i < MAX_QUEUED; i++) {
      const asdu = (await master.next((e) => isAsdu(e) && e.cot === COT.SPONTANEOUS)) as AsduEvent;
      expect(asdu.objects.length).toBe(1); // one event per ASDU while stopped: the queue's bound counts events
      got.push(...asdu.objects.map((o) => ({ ioa: o.ioa, value: o.value, time: o.time })));
    }
    expect(got).toEqual(expected);
  });
});

describe('IEC 104 station: per-point mapping options', () => {
  async function startWithDevices(breakers: { travelMs: number; timeoutMs: number } = { travelMs: 50, timeoutMs: 3_000 }): Promise<{ server: TestServer; port: number }> {
    simulator = new SubstationSimulator({ host: '127.0.0.1', port: 0, units: 1, feeders: 2, noise: false, breakerTravelMs: breakers.travelMs, updateMs: 1_000 });
    const address = await simulator.start();
    const device = {
      name: 'rtu',
      host: '127.0.0.1',
      port: address.port,
      pollMs: POLL_MS,
      timeoutMs: 90,
      points: [
        { name: 'rtu.f1.breaker', class: 'status', address: 0, states: ['open', 'closed'], control: { target: 'coil', address: 0, timeoutMs: breakers.timeoutMs }, ioa: 1001, iec104: { directExecute: true } },
        { name: 'rtu.f2.breaker', class: 'status', address: 10, states: ['open', 'closed'], control: { target: 'coil', address: 1, timeoutMs: breakers.timeoutMs }, ioa: 1002, iec104: { type: 'single' } },
        { name: 'rtu.f1.voltage', class: 'telemetry', address: 1, scale: 0.01, unit: 'kV', ioa: 2001, iec104: { type: 'scaled', scaleFactor: 100 } },
        { name: 'rtu.f1.current', class: 'telemetry', address: 2, scale: 0.1, unit: 'A', ioa: 2002, iec104: { type: 'normalized', scaleFactor: 0.001 } },
        { name: 'rtu.f1.frequency', class: 'telemetry', address: 5, scale: 0.01, unit: 'Hz', ioa: 2003 },
      ],
    };
    return startStation({ scada: { simulator: { enabled: false }, devices: [device] } });
  }

  it('sends each point as its iec104.type says, scaled and normalized by scaleFactor', async () => {
    const { server: s, port } = await startWithDevices();
    await allGood(s);
    const master = await startMaster({ port, startdt: true });
    const gi = await master.interrogate();
    const byIoa = new Map(gi.data.flatMap((a) => a.objects.map((o) => [o.ioa, { type: a.type, value: o.value, quality: o.quality }] as const)));
    const value = (name: string) => point(s, name).value!;
    expect(byIoa.get(1001)).toEqual({ type: TYPE.M_DP_NA_1, value: 2, quality: GOOD });
    expect(byIoa.get(1002)).toEqual({ type: TYPE.M_SP_NA_1, value: true, quality: GOOD });
    expect(byIoa.get(2001)).toEqual({ type: 11, value: Math.round(value('rtu.f1.voltage') * 100), quality: GOOD });
    expect(byIoa.get(2002)?.type).toBe(9);
    expect(byIoa.get(2002)?.value).toBeCloseTo(value('rtu.f1.current') * 0.001, 4);
    expect(byIoa.get(2003)).toEqual({ type: TYPE.M_ME_NC_1, value: Math.fround(value('rtu.f1.frequency')), quality: GOOD });
  });

  it('executes directly where iec104.directExecute allows it, and takes single commands for a point sent as single', async () => {
    const { server: s, port } = await startWithDevices();
    await allGood(s);
    const master = await startMaster({ port, startdt: true });
    expect(await master.command('dc', 1001, 1)).toMatchObject({ cot: COT.ACTIVATION_CON, negative: false });
    expect(await master.commandTermination('dc', 1001, 10_000)).toMatchObject({ negative: false });
    expect(simulator!.breaker(1, 0)).toBe(false);

    expect(await master.command('sc', 1002, 0)).toMatchObject({ negative: true }); // not direct: select first
    expect(await master.command('sc', 1002, 0, { select: true })).toMatchObject({ negative: false });
    expect(await master.command('sc', 1002, 0)).toMatchObject({ negative: false });
    expect(await master.commandTermination('sc', 1002, 10_000)).toMatchObject({ negative: false });
    expect(simulator!.breaker(1, 1)).toBe(false);
    const { asdu, object } = await master.spontaneous(1002);
    expect(asdu.type).toBe(TYPE.M_SP_TB_1);
    expect(object.value).toBe(false);
  });

  it('a command whose feedback does not come in time: positive ACTCON, negative ACTTERM, and the commandFailed alarm an operator would get', async () => {
    const { server: s, port } = await startWithDevices({ travelMs: 10_000, timeoutMs: 300 });
    await allGood(s);
    const master = await startMaster({ port, startdt: true });
    expect(await master.command('dc', 1001, 1)).toMatchObject({ cot: COT.ACTIVATION_CON, negative: false });
    expect(await master.commandTermination('dc', 1001, 15_000)).toMatchObject({ cot: COT.ACTIVATION_TERMINATION, negative: true });
    const alarm = s.server.scada!.alarms().find((a) => a.kind === 'commandFailed' && a.source === 'rtu.f1.breaker');
    expect(alarm?.message).toMatch(/by iec104:127\.0\.0\.1 was not confirmed/);
    expect(point(s, 'rtu.f1.breaker').value).toBe(1); // still closed: the breaker is still travelling
  });

  it('maps quality: substituted → SB, device lost → IV, never read → IV + NT; a command on a substituted point is refused', async () => {
    const { server: s, port } = await startWithDevices();
    await allGood(s);
    const master = await startMaster({ port, startdt: true });
    const operator: UserActor = { identity: { name: 'op', role: 'operator' }, address: '127.0.0.1', front: 'native', connection: 'native:1' };
    s.server.scada!.substitute(operator, 'rtu.f1.frequency', 49.5);
    const substituted = await master.spontaneous(2003);
    expect(substituted.asdu.type).toBe(TYPE.M_ME_TF_1);
    expect(substituted.object).toMatchObject({ value: 49.5, quality: { ...GOOD, sb: true } });
    s.server.scada!.substitute(operator, 'rtu.f2.breaker', 0);
    await master.spontaneous(1002);
    expect(await master.command('sc', 1002, 1, { select: true })).toMatchObject({ negative: true });

    await simulator!.stop();
    simulator = null;
    const lost = await master.spontaneous(1001, 20_000);
    expect(lost.object.quality).toMatchObject({ iv: true });
    const gi = await master.interrogate();
    const quality = new Map(gi.objects.map((o) => [o.ioa, o.quality]));
    expect(quality.get(2001)).toMatchObject({ iv: true, sb: false });
    expect(quality.get(2003)).toMatchObject({ iv: false, sb: true }); // the substitute is what is shown

    // A server whose device never answered: IV + NT on every point.
    await master.stop();
    await server!.stop();
    server = null;
    const { port: port2 } = await startStation({
      scada: { simulator: { enabled: false }, devices: [{ name: 'gone', host: '127.0.0.1', port: 1, pollMs: POLL_MS, timeoutMs: 90, points: [{ name: 'gone.v', class: 'telemetry', address: 0 }] }] },
    });
    const fresh = await startMaster({ port: port2, startdt: true });
    const none = await fresh.interrogate();
    expect(none.objects).toEqual([expect.objectContaining({ ioa: 1, value: 0, quality: { ...GOOD, iv: true, nt: true } })]);
  });
});
