import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { GridlinkServer } from '../../src/server/gridlink-server.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';


describe('history across a server restart', () => {
  const temps: Array<{ cleanup(): Promise<void> }> = [];
  afterAll(async () => {
    for (const t of temps) await t.cleanup();
  });

  it('returns what was recorded before the restart, keeps event numbers increasing, and keeps unacknowledged alarms', async () => {
    const temp = await makeTempDir();
    temps.push(temp);
    const config = parseConfig({
      dataDir: join(temp.path, 'data'),
      log: { level: 'silent' },
      native: { port: 0 },
      http: { enabled: false },
      scada: { simulator: { port: 0, noise: false, pollMs: 50, breakerTravelMs: 0, feeders: 1 } },
    });
    const first = await GridlinkServer.start(config, createLogger('silent'));
    let recorded: ReturnType<NonNullable<GridlinkServer['scada']>['history']>;
    let lastSeq: number;
    let alarmId: number;
    try {
      const scada = first.scada!;
      await until(() => (scada.point('sub1.f1.breaker').quality === 'good' ? true : undefined), 5_000, 'first poll');
      scada.simulator!.setBreaker(1, 0, false);
      await until(() => (scada.point('sub1.f1.breaker').value === 0 ? true : undefined), 5_000, 'open');
      scada.simulator!.freeze(1, 0, { frequencyHz: 51.5 });
      alarmId = (await until(() => scada.alarms().find((a) => a.source === 'sub1.f1.frequency'), 5_000, 'frequency alarm')).id;
      scada.simulator!.setBreaker(1, 0, true);
      await until(() => (scada.point('sub1.f1.breaker').value === 1 ? true : undefined), 5_000, 'closed');
      recorded = scada.history('sub1.f1.breaker', 0, Date.now() + 1, 1_000);
      expect(recorded.map((s) => s.value)).toEqual([1, 0, 1]);
      lastSeq = scada.events(0, Date.now() + 1, 100_000).at(-1)!.seq;
    } finally {
      await first.stop(0);
    }

    const second = await GridlinkServer.start(config, createLogger('silent'));
    try {
      const scada = second.scada!;
      // Everything recorded before the stop is there, unchanged.
      expect(scada.history('sub1.f1.breaker', 0, Date.now() + 1, 1_000).slice(0, 3)).toEqual(recorded);
      const events = await until(() => {
        const e = scada.events(0, Date.now() + 1, 100_000);
        return e.at(-1)!.seq > lastSeq ? e : undefined;
      }, 5_000, 'new events after restart');
      for (let i = 1; i < events.length; i += 1) expect(events[i]!.seq).toBeGreaterThan(events[i - 1]!.seq);
      // The alarm raised before the restart still waits for its acknowledgement.
      expect(scada.alarms().find((a) => a.id === alarmId)).toMatchObject({ source: 'sub1.f1.frequency', kind: 'highHigh' });
    } finally {
      await second.stop(0);
    }
  });
});
