import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { PointConfig } from '../../src/config/scada-schema.js';
import { GridlinkError } from '../../src/errors/index.js';
import { decodeRegisters, encodeRegisters, registerCount, toEngineering, toRaw } from '../../src/scada/acquisition/register-codec.js';
import { planReads } from '../../src/scada/acquisition/read-plan.js';
import { HistoryStore } from '../../src/scada/history-store.js';
import { WalCheckpointer } from '../../src/scada/wal-checkpointer.js';
import { pointMatcher } from '../../src/scada/point-pattern.js';
import { until } from '../helpers/until.js';
import { PointTable } from '../../src/scada/point-table.js';

const point = (p: Partial<PointConfig> & Pick<PointConfig, 'name' | 'address'>): PointConfig => ({ class: 'telemetry', source: 'holding', type: 'uint16', scale: 1, offset: 0, unit: '', deadband: 0, ...p });

describe('register codec', () => {
  it('decodes every type, big-endian word order, and NaN for a short block', () => {
    expect(decodeRegisters([0xffff], 0, 'uint16')).toBe(65_535);
    expect(decodeRegisters([0xffff], 0, 'int16')).toBe(-1);
    expect(decodeRegisters([0x8000], 0, 'int16')).toBe(-32_768);
    expect(decodeRegisters([0x0001, 0x0002], 0, 'uint32')).toBe(65_538);
    expect(decodeRegisters([0xffff, 0xfffe], 0, 'int32')).toBe(-2);
    expect(decodeRegisters([0x4048, 0xf5c3], 0, 'float32')).toBeCloseTo(3.14, 5);
    expect(decodeRegisters([1], 0, 'uint32')).toBeNaN();
    expect(decodeRegisters([], 0, 'uint16')).toBeNaN();
    expect(decodeRegisters([0x7fc0, 0], 0, 'float32')).toBeNaN();
    expect(registerCount('uint16')).toBe(1);
    expect(registerCount('float32')).toBe(2);
  });

  it('encode then decode is the identity for values that fit; values that do not fit are refused', () => {
    fc.assert(
      fc.property(fc.integer({ min: -0x80000000, max: 0x7fffffff }), (v) => {
        expect(decodeRegisters(encodeRegisters(v, 'int32'), 0, 'int32')).toBe(v);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: -0x8000, max: 0x7fff }), (v) => {
        expect(decodeRegisters(encodeRegisters(v, 'int16'), 0, 'int16')).toBe(v);
      }),
    );
    for (const [v, type] of [[65_536, 'uint16'], [-1, 'uint16'], [0.5, 'uint16'], [40_000, 'int16'], [2 ** 32, 'uint32'], [Number.NaN, 'float32'], [Infinity, 'float32']] as const) {
      expect(() => encodeRegisters(v, type), `${v} ${type}`).toThrow(RangeError);
    }
  });

  it('scales to engineering units and back', () => {
    const p = { scale: 0.01, offset: -5, type: 'uint16' as const };
    expect(toEngineering(1050, p)).toBeCloseTo(5.5, 9);
    expect(toRaw(5.5, p)).toBe(1050);
    expect(toRaw(1.234, { scale: 1, offset: 0, type: 'float32' })).toBe(1.234);
  });

  it('rounds an integer register to the point resolution, not to binary noise (4692 × 0.1 is 469.2)', () => {
    expect(4692 * 0.1).not.toBe(469.2); // the noise this guards against
    expect(toEngineering(4692, { scale: 0.1, offset: 0, type: 'uint16' })).toBe(469.2);
    expect(toEngineering(12_345, { scale: 0.01, offset: 0, type: 'int32' })).toBe(123.45);
    expect(toEngineering(7, { scale: 0.025, offset: 0.5, type: 'int16' })).toBe(0.675);
    expect(toEngineering(3, { scale: 1e-7, offset: 0, type: 'uint32' })).toBe(3e-7);
    expect(toEngineering(-4692, { scale: 0.1, offset: 0, type: 'int16' })).toBe(-469.2);
    expect(toEngineering(41, { scale: 2, offset: 0, type: 'uint16' })).toBe(82);
    // Every raw value of a 0.1-scaled register prints with at most one decimal.
    fc.assert(
      fc.property(fc.integer({ min: -32_768, max: 65_535 }), (raw) => {
        const text = String(toEngineering(raw, { scale: 0.1, offset: 0, type: 'int32' }));
        expect(text.split('.')[1]?.length ?? 0).toBeLessThanOrEqual(1);
      }),
    );
    // A float32 register (and an IEC 104 short float) keeps its own value.
    expect(toEngineering(Math.fround(469.2), { scale: 1, offset: 0, type: 'float32' })).toBe(Math.fround(469.2));
    expect(toEngineering(0.123456789, { scale: 0.1, offset: 0, type: 'float' })).toBe(0.123456789 * 0.1);
  });
});

describe('read plan', () => {
  it('merges neighbours into one request, splits at the protocol limit and at big gaps, per source', () => {
    const points = Array.from({ length: 100 }, (_, i) => point({ name: `d.r${i}`, address: i }));
    expect(planReads(points)).toEqual([expect.objectContaining({ source: 'holding', start: 0, count: 100 })]);
    const wide = Array.from({ length: 130 }, (_, i) => point({ name: `d.r${i}`, address: i }));
    expect(planReads(wide).map((b) => [b.start, b.count])).toEqual([[0, 125], [125, 5]]);
    const gap = [point({ name: 'a', address: 0 }), point({ name: 'b', address: 1_000 }), point({ name: 'c', address: 2, type: 'float32' })];
    const blocks = planReads(gap);
    expect(blocks.map((b) => [b.start, b.count])).toEqual([[0, 4], [1_000, 1]]);
    expect(blocks[0]!.points.map((p) => [p.point.name, p.offset])).toEqual([['a', 0], ['c', 2]]);
    const mixed = [point({ name: 'x', address: 5, source: 'coil' }), point({ name: 'y', address: 5, source: 'input' }), point({ name: 'z', address: 2_500, source: 'discrete' }), point({ name: 'w', address: 0, source: 'discrete' })];
    expect(planReads(mixed).map((b) => `${b.source}:${b.start}+${b.count}`)).toEqual(['input:5+1', 'coil:5+1', 'discrete:0+1', 'discrete:2500+1']);
  });

  it('every point lands in exactly one block within its limits (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 600 }), { minLength: 1, maxLength: 200 }), (addresses) => {
        const points = addresses.map((a, i) => point({ name: `p${i}`, address: a }));
        const blocks = planReads(points);
        const seen = blocks.flatMap((b) => b.points.map((p) => p.point.name));
        expect(seen.sort()).toEqual(points.map((p) => p.name).sort());
        for (const b of blocks) {
          expect(b.count).toBeLessThanOrEqual(125);
          for (const p of b.points) expect(b.start + p.offset).toBe(p.point.address);
        }
      }),
    );
  });
});

describe('point patterns', () => {
  it('match by token with * and >', () => {
    const names = ['sub1.f1.breaker', 'sub1.f1.voltage', 'sub1.f2.breaker', 'sub2.f1.breaker', 'sub1'];
    const pick = (pattern?: string): string[] => names.filter(pointMatcher(pattern));
    expect(pick()).toEqual(names);
    expect(pick('sub1.f1.*')).toEqual(['sub1.f1.breaker', 'sub1.f1.voltage']);
    expect(pick('*.*.breaker')).toEqual(['sub1.f1.breaker', 'sub1.f2.breaker', 'sub2.f1.breaker']);
    expect(pick('sub1.>')).toEqual(['sub1.f1.breaker', 'sub1.f1.voltage', 'sub1.f2.breaker']);
    expect(pick('sub1')).toEqual(['sub1']);
    expect(pick('sub1.f1')).toEqual([]);
  });

  it('refuses malformed patterns with GL_ERR_BUS_BAD_TOPIC', () => {
    for (const bad of ['a..b', '.a', 'a.', 'a.>.b', 'a b', 'a.*x', '\u0000', 'x'.repeat(300)]) {
      expect(() => pointMatcher(bad), bad).toThrow(GridlinkError);
    }
  });
});

describe('point table', () => {
  const table = (): PointTable =>
    new PointTable([
      {
        name: 'd',
        host: 'h',
        port: 1,
        unitId: 1,
        pollMs: 1000,
        timeoutMs: 500,
        backoffMaxMs: 1000,
        points: [point({ name: 'd.v', address: 0, scale: 0.1, deadband: 0.5 }), point({ name: 'd.b', address: 1, class: 'status' })],
      },
    ]);

  it('reports telemetry beyond deadband from the last reported value (slow drift is caught), every status change, and quality changes', () => {
    const t = table();
    expect(t.applyReadings([{ point: 'd.v', raw: 100 }, { point: 'd.b', raw: 1 }], 1, 1).map((c) => `${c.entry.config.name}:${c.kind}`)).toEqual(['d.v:change', 'd.b:change']);
    expect(t.applyReadings([{ point: 'd.v', raw: 104 }], 2, 2)).toEqual([]);
    expect(t.applyReadings([{ point: 'd.v', raw: 108 }], 3, 3).map((c) => c.entry.value)).toEqual([expect.closeTo(10.8, 9)]);
    expect(t.applyReadings([{ point: 'd.b', raw: 1 }], 4, 4)).toEqual([]);
    expect(t.applyReadings([{ point: 'd.b', raw: 7 }], 5, 5)).toEqual([]);
    expect(t.applyReadings([{ point: 'd.b', raw: 0 }], 6, 6).map((c) => c.entry.value)).toEqual([0]);
    expect(t.setDeviceQuality('d', 'invalid', 7).map((c) => c.kind)).toEqual(['quality', 'quality']);
    expect(t.get('d.v')!.quality).toBe('invalid');
    expect(t.get('d.v')!.value).toBeCloseTo(10.8, 9);
    expect(t.applyReadings([{ point: 'd.v', raw: 108 }], 8, 8).map((c) => c.kind)).toEqual(['quality']);
    expect(t.applyReadings([{ point: 'd.v', raw: Number.NaN }, { point: 'nope', raw: 1 }], 9, 9).map((c) => c.entry.quality)).toEqual(['questionable']);
  });
});

describe('scada configuration', () => {
  const device = (points: unknown[], extra: Record<string, unknown> = {}) => ({ scada: { devices: [{ name: 'rtu1', host: '127.0.0.1', points, ...extra }] } });
  const ok = { name: 'rtu1.v', class: 'telemetry', address: 0 };

  it('accepts a minimal device and fills the defaults', () => {
    const config = parseConfig(device([ok]));
    expect(config.scada.devices![0]).toMatchObject({ port: 502, unitId: 1, pollMs: 1000, timeoutMs: 500 });
    expect(config.scada.devices![0]!.points[0]).toMatchObject({ source: 'holding', type: 'uint16', scale: 1, deadband: 0 });
    expect(parseConfig({}).scada).toMatchObject({ enabled: true, selectTimeoutMs: 30_000, simulator: { enabled: true, port: 5020 } });
  });

  it('refuses bad keys and values with a message naming them', () => {
    const cases: Array<[unknown, RegExp]> = [
      [device([{ ...ok, name: 'bad name' }]), /points\.0\.name/u],
      [device([{ ...ok, name: 'a..b' }]), /points\.0\.name/u],
      [device([{ ...ok, address: 70_000 }]), /address/u],
      [device([{ ...ok, type: 'int64' }]), /type/u],
      [device([{ ...ok, clas: 'x' }]), /clas/u],
      [device([ok, ok]), /defined twice/u],
      [device([{ ...ok, limits: { low: 10, high: 5 } }]), /low must be < high/u],
      [device([{ ...ok, limits: { high: 10, highHigh: 5 } }]), /high must be <= highHigh/u],
      [device([{ ...ok, deadband: -1 }]), /deadband/u],
      [device([{ ...ok, control: { target: 'coil', address: 1 } }]), /only status, control and setpoint/u],
      [device([]), /points/u],
      [device([ok], { pollMs: 10 }), /pollMs/u],
      [device([ok], { unitId: 300 }), /unitId/u],
      [{ scada: { selectTimeoutMs: 0 } }, /selectTimeoutMs/u],
      [{ scada: { simulator: { feeders: 99 } } }, /feeders/u],
      [{ scada: { history: { retentionDays: -1 } } }, /retentionDays/u],
    ];
    for (const [input, message] of cases) {
      let caught: unknown;
      try {
        parseConfig(input);
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(input)).toBeInstanceOf(GridlinkError);
      expect((caught as GridlinkError).code).toBe('GL_ERR_CONFIG_INVALID');
      expect((caught as GridlinkError).message, JSON.stringify(input)).toMatch(message);
    }
  });
});

describe('history store', () => {
  it('a checkpoint worker that died at start is reported, and stopping it does not wait for an exit that already happened', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gl-history-'));
    try {
      // A database in a directory that does not exist: the worker cannot open it and ends.
      const checkpointer = new WalCheckpointer(join(dir, 'missing', 'h.db'), 50);
      await until(() => checkpointer.stats.lastError !== null, 10_000, 'the worker to report its failure');
      await new Promise((resolve) => setTimeout(resolve, 100));
      let timer: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([
        checkpointer.stop().then(() => 'stopped'),
        new Promise((resolve) => (timer = setTimeout(() => resolve('hung'), 3_000))),
      ]);
      clearTimeout(timer);
      expect(stopped).toBe('stopped');
      expect(checkpointer.stats.checkpoints).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('checkpoints in a worker thread: the database file takes the WAL while the writer, whose own checkpoints are off, goes on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gl-history-'));
    const path = join(dir, 'h.db');
    try {
      const store = new HistoryStore(path, { flushMs: 10_000 });
      const sizeAtStart = (await stat(path)).size;
      // Enough rows for well over SQLite's 1,000-page autocheckpoint, in many transactions.
      for (let i = 0; i < 60_000; i++) {
        store.record({ seq: store.takeSeq(), point: `sub1.f${i % 50}.current`, kind: 'change', value: i, quality: 'good', sourceTime: i, serverTime: i });
        if (i % 2_000 === 1_999) store.flush();
      }
      store.flush();
      // Only the worker checkpoints: the database file grows while the store stays open.
      const stats = await until(async () => {
        const s = store.checkpoints;
        return s.checkpoints > 0 && (await stat(path)).size > sizeAtStart + 1_000_000 ? s : undefined;
      }, 10_000, 'a checkpoint by the worker');
      expect(stats.lastError).toBeNull();
      expect(store.history('sub1.f7.current', 0, 100, 10).map((e) => e.value)).toEqual([7, 57]);
      await store.close();
      // The worker checkpointed a last time and closed last: the WAL is gone, every row is in the file.
      await expect(stat(`${path}-wal`)).rejects.toMatchObject({ code: 'ENOENT' });
      const reopened = new HistoryStore(path);
      expect(reopened.takeSeq()).toBe(60_001);
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('records in batches, answers by point and range, prunes by age, and continues sequence numbers after reopening', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gl-history-'));
    try {
      const store = new HistoryStore(join(dir, 'h.db'), { flushMs: 10_000 });
      const event = (point: string, at: number, value: number) => ({ seq: store.takeSeq(), point, value, quality: 'good' as const, sourceTime: at, serverTime: at, kind: 'change' as const });
      store.record(event('a', 1_000, 1));
      store.record(event('b', 2_000, 2));
      store.record(event('a', 3_000, 3));
      // Queries see rows still waiting for their batch.
      expect(store.history('a', 0, 10_000, 100).map((s) => s.value)).toEqual([1, 3]);
      expect(store.history('a', 1_001, 3_000, 100)).toEqual([]);
      expect(store.history('a', 0, 10_000, 1).map((s) => s.value)).toEqual([1]);
      expect(store.history('nobody', 0, 10_000, 100)).toEqual([]);
      expect(store.events(0, 10_000, 100, (p) => p === 'b').map((e) => e.value)).toEqual([2]);
      expect(store.prune(2_500)).toBe(2);
      expect(store.history('a', 0, 10_000, 100).map((s) => s.value)).toEqual([3]);
      await store.close();
      const reopened = new HistoryStore(join(dir, 'h.db'));
      expect(reopened.takeSeq()).toBe(4);
      expect(reopened.history('a', 0, 10_000, 100).map((s) => s.value)).toEqual([3]);
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
