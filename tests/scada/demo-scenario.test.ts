import { afterEach, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import type { Alarm, PointEvent } from '../../src/protocol/scada.js';
import { SubstationSimulator } from '../../src/scada/simulator/substation-simulator.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';

const HOST = '127.0.0.1';
/** A short period, so that a cycle (overload, recovery, surge, trip, reclose) fits in a test. */
const PERIOD_MS = 4_000;
const POLL_MS = 100;

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function operator(server: TestServer): Promise<GridlinkClient> {
  await server.server.users.add('olga', 'olga-password-1', 'operator');
  const client = await GridlinkClient.connect({ host: HOST, port: server.port });
  stops.push(() => client.close());
  await client.login('olga', 'olga-password-1');
  return client;
}

/** Events and alarm changes pushed by the real server to a watching client, over the native protocol. */
async function watchAll(client: GridlinkClient): Promise<{ events: PointEvent[]; alarms: Alarm[] }> {
  const events: PointEvent[] = [];
  const alarms: Alarm[] = [];
  await client.watch('sub1.>', { onEvent: (e) => void events.push(e), onAlarm: (a) => void alarms.push(a) });
  return { events, alarms };
}

describe('the simulator’s demo scenario (docs/configuration.md "Demo scenario")', () => {
  it('a feeder overloads and recovers, a breaker trips on overcurrent and recloses: alarms raise, clear and are acknowledged, events flow to a client', async () => {
    const server = await startTestServer({ scada: { simulator: { noise: false, feeders: 4, pollMs: POLL_MS, scenario: { enabled: true, periodMs: PERIOD_MS } } } });
    stops.push(() => server.stop());
    const client = await operator(server);
    const { events, alarms } = await watchAll(client);

    // Overload on feeder 2: above the high limit (600 A), a low-severity alarm...
    const raised = await until(() => alarms.find((a) => a.source === 'sub1.f2.current' && a.kind === 'high' && a.state === 'active'), PERIOD_MS * 2, 'the overload alarm');
    expect(raised.severity).toBe('low');
    expect(raised.message).toMatch(/sub1\.f2\.current 640\.00 A is above its high limit 600/u);
    // The client got the value as an event too (the 560 A step before it may fall between two polls on a loaded machine).
    await until(() => events.some((e) => e.point === 'sub1.f2.current' && e.value === 640 && e.kind === 'change'), 5_000, 'the 640 A event');
    // ...that clears when the load falls back...
    await until(() => alarms.find((a) => a.id === raised.id && a.state === 'cleared'), PERIOD_MS * 2, 'the overload alarm cleared');
    // ...and is acknowledged by the operator, leaving the list.
    expect(await client.acknowledge(raised.id)).toMatchObject({ state: 'clearedAcked', ackedBy: 'olga' });
    expect((await client.alarms(false)).some((a) => a.id === raised.id)).toBe(false);

    // Feeder 3: a surge past high-high (700 A), then its breaker trips: open, 0 A, the alarm clears.
    const surge = await until(() => alarms.find((a) => a.source === 'sub1.f3.current' && a.kind === 'highHigh' && a.state === 'active'), PERIOD_MS * 2, 'the surge alarm');
    expect(surge.severity).toBe('high');
    const trip = await until(() => events.find((e) => e.point === 'sub1.f3.breaker' && e.value === 0), PERIOD_MS * 2, 'the trip');
    expect(trip.kind).toBe('change');
    await until(() => alarms.find((a) => a.id === surge.id && a.state === 'cleared'), PERIOD_MS * 2, 'the surge alarm cleared');
    await until(() => events.some((e) => e.point === 'sub1.f3.current' && e.value === 0 && e.seq > trip.seq), 5_000, 'feeder 3 at 0 A');
    // It recloses on its own, with its normal load.
    const reclose = await until(() => events.find((e) => e.point === 'sub1.f3.breaker' && e.value === 1 && e.seq > trip.seq), PERIOD_MS * 2, 'the reclose');
    expect(reclose.quality).toBe('good');
    await until(async () => {
      const current = (await client.points('sub1.f3.current'))[0];
      return current !== undefined && current.value !== null && current.value > 0 && current.value < 600;
    }, PERIOD_MS * 2, 'feeder 3 carrying its normal load');
    // The other feeders stayed quiet: no limit alarm on them (a loaded machine may time a poll out: device alarms are not the scenario's).
    expect(alarms.filter((a) => a.kind !== 'deviceLost' && !['sub1.f2.current', 'sub1.f3.current'].includes(a.source))).toEqual([]);
    // The sequence of events holds it too.
    const stored = await client.events(Date.now() - 60_000, { pattern: 'sub1.f3.breaker' });
    expect(stored.map((e) => e.value)).toEqual(expect.arrayContaining([0, 1]));
  });

  it('an operator who opens the tripped breaker keeps it open: the scenario recloses only what it tripped and nobody touched', async () => {
    const server = await startTestServer({ scada: { simulator: { noise: false, feeders: 3, pollMs: POLL_MS, breakerTravelMs: 0, scenario: { enabled: true, periodMs: PERIOD_MS } } } });
    stops.push(() => server.stop());
    const client = await operator(server);
    const { events } = await watchAll(client);
    const trip = await until(() => events.find((e) => e.point === 'sub1.f3.breaker' && e.value === 0), PERIOD_MS * 2, 'the trip');
    // The operator confirms it open (select, operate) before the reclose is due.
    await client.select('sub1.f3.breaker');
    expect(await client.operate('sub1.f3.breaker', 0)).toMatchObject({ confirmed: true });
    // Past the reclose step (0.85 of the period after the cycle's start, the trip at 0.6) and more.
    await new Promise((r) => setTimeout(r, PERIOD_MS * 0.5));
    expect(events.filter((e) => e.point === 'sub1.f3.breaker' && e.seq > trip.seq)).toEqual([]);
    expect((await client.points('sub1.f3.breaker'))[0]).toMatchObject({ value: 0, quality: 'good' });
  });

  it('is off unless enabled, and off beside configured devices even when enabled', async () => {
    const plain = await startTestServer({ scada: { simulator: { noise: false, feeders: 4, pollMs: 250 } } });
    stops.push(() => plain.stop());
    // Configured devices (here: a second simulator standing in for a real RTU), scenario enabled.
    const field = new SubstationSimulator({ host: HOST, port: 0, units: 1, feeders: 3, noise: false, breakerTravelMs: 0, updateMs: 1_000 });
    const fieldPort = (await field.start()).port;
    stops.push(() => field.stop());
    const real = await startTestServer({
      scada: {
        simulator: { noise: false, feeders: 4, pollMs: 250, scenario: { enabled: true, periodMs: PERIOD_MS } },
        devices: [
          {
            name: 'rtu1',
            host: HOST,
            port: fieldPort,
            pollMs: 250,
            points: [
              { name: 'rtu1.f2.current', class: 'telemetry', address: 12, scale: 0.1, unit: 'A', limits: { high: 600 } },
              { name: 'rtu1.f3.breaker', class: 'status', address: 20 },
            ],
          },
        ],
      },
    });
    stops.push(() => real.stop());
    const plainScada = plain.server.scada!;
    const realScada = real.server.scada!;
    await until(() => plainScada.points().every((p) => p.quality === 'good') && realScada.points().every((p) => p.quality === 'good'), 30_000, 'every point polled');
    // One and a half periods: a scenario would have overloaded, tripped and reclosed by now.
    const since = Date.now();
    await new Promise((r) => setTimeout(r, PERIOD_MS * 1.5));
    for (const scada of [plainScada, realScada]) {
      // A loaded machine may time a poll out (deviceLost); a limit alarm could only come from a scenario.
      expect(scada.alarms({ includeCleared: true }).filter((a) => a.kind !== 'deviceLost')).toEqual([]);
      expect(scada.events(since, Date.now() + 1, 1_000).filter((e) => e.kind === 'change')).toEqual([]);
    }
    // Neither simulator moved: every breaker still closed.
    const inner = plain.server.scada!.simulator!;
    for (const f of [0, 1, 2, 3]) expect(inner.breaker(1, f)).toBe(true);
    expect(real.server.scada!.simulator!.breaker(1, 2)).toBe(true);
    expect(field.breaker(1, 2)).toBe(true);
  });
});
