import { describe, expect, it } from 'vitest';
import { Cot, TypeId, cp56FromEpochMs, decodeAsdu, maxObjectsPerAsdu, qdsFromByte, type Asdu, type InformationObject } from '../../src/iec104/codec/index.js';
import { stationPoint, update, type Iec104PointOptions, type StationPoint } from '../../src/iec104/station/point-map.js';
import { ChangeBatch } from '../../src/iec104/station/spontaneous.js';
import type { PointClass, PointSnapshot } from '../../src/protocol/scada.js';

// The spontaneous batch writes each change in its wire form as it comes and
// cuts ASDUs from those bytes: what it sends must decode (with the codec's
// own decoder) to exactly the changes, in order, with their times.

const CA = 7;
const T0 = Date.UTC(2026, 11, 6, 8, 30, 15, 250);

function point(name: string, ioa: number, cls: PointClass, options?: Partial<Iec104PointOptions>): StationPoint {
  const snapshot: PointSnapshot = { name, class: cls, device: 'd', ioa, unit: '', value: null, quality: 'good', sourceTime: null, serverTime: null, controllable: cls === 'status' };
  return stationPoint(snapshot, options === undefined ? undefined : { scaleFactor: 1, directExecute: false, ...options });
}

/** Every object of the ASDUs, in order. */
function objectsOf(asdus: readonly Asdu[]): InformationObject[] {
  return asdus.flatMap((a): InformationObject[] => [...a.objects]);
}

function decodeAll(asdus: readonly { asdu: Buffer; events: number }[]): Asdu[] {
  return asdus.map(({ asdu, events }) => {
    const decoded = decodeAsdu(asdu);
    expect(decoded.objects).toHaveLength(events);
    return decoded;
  });
}

describe('ChangeBatch', () => {
  it('packs runs of one type, in order, each object with its value, quality and time', () => {
    const breaker = point('breaker', 10, 'status'); // double
    const volts = point('volts', 20, 'telemetry');
    const amps = point('amps', 21, 'telemetry', { type: 'scaled', scaleFactor: 10 });
    const batch = new ChangeBatch(CA);
    update(volts, 230.5, 'good');
    batch.add(volts, T0);
    update(volts, 231.25, 'questionable');
    batch.add(volts, T0 + 1);
    update(breaker, 1, 'good');
    batch.add(breaker, T0 + 1);
    update(amps, 12.34, 'invalid');
    batch.add(amps, T0 + 2);
    update(volts, 1e39, 'good'); // beyond a float: clamped, OV
    batch.add(volts, T0 + 2);

    const asdus = decodeAll(batch.packed());
    expect(asdus.map((a) => [a.typeId, a.objects.length])).toEqual([
      [TypeId.M_ME_TF_1, 2],
      [TypeId.M_DP_TB_1, 1],
      [TypeId.M_ME_TE_1, 1],
      [TypeId.M_ME_TF_1, 1],
    ]);
    for (const asdu of asdus) {
      expect(asdu).toMatchObject({ cause: Cot.Spontaneous, sequence: false, negative: false, test: false, originator: 0, commonAddress: CA });
    }
    const [first, second, third, fourth] = asdus;
    expect(first!.objects).toEqual([
      { ioa: 20, value: 230.5, quality: qdsFromByte(0), time: cp56FromEpochMs(T0) },
      { ioa: 20, value: 231.25, quality: qdsFromByte(0x40), time: cp56FromEpochMs(T0 + 1) },
    ]);
    expect(second!.objects[0]).toMatchObject({ ioa: 10, value: 2, time: cp56FromEpochMs(T0 + 1) });
    expect(third!.objects[0]).toMatchObject({ ioa: 21, value: 123, quality: qdsFromByte(0x80), time: cp56FromEpochMs(T0 + 2) });
    expect(fourth!.objects[0]).toMatchObject({ ioa: 20, quality: qdsFromByte(0x01) });
  });

  it('cuts a long run at the most objects an ASDU holds, and one ASDU per change for stopped masters', () => {
    const points = Array.from({ length: 50 }, (_, i) => point(`p${i}`, 1000 + i, 'telemetry'));
    const batch = new ChangeBatch(CA);
    points.forEach((p, i) => {
      update(p, i, 'good');
      batch.add(p, T0 + i);
    });
    const max = maxObjectsPerAsdu(TypeId.M_ME_TF_1, false);
    const packed = decodeAll(batch.packed());
    expect(packed.map((a) => a.objects.length)).toEqual([max, max, max, 50 - 3 * max]);
    const objects = objectsOf(packed) as { ioa: number; value: number; time: unknown }[];
    expect(objects.map((o) => o.ioa)).toEqual(points.map((p) => p.ioa));
    expect(objects.map((o) => o.value)).toEqual(points.map((_, i) => i));
    expect(objects.map((o) => o.time)).toEqual(points.map((_, i) => cp56FromEpochMs(T0 + i)));

    const single = decodeAll(batch.single());
    expect(single).toHaveLength(50);
    expect(objectsOf(single)).toEqual(objects);
    // Both are made once and kept for every master.
    expect(batch.packed()).toBe(batch.packed());
  });

  it('keeps what it made valid after clear, and starts over empty', () => {
    const p = point('p', 5, 'telemetry');
    const batch = new ChangeBatch(CA);
    update(p, 1.5, 'good');
    batch.add(p, T0);
    const before = batch.packed();
    const bytes = Buffer.from(before[0]!.asdu);
    batch.clear();
    expect(batch.size).toBe(0);
    update(p, 99, 'good');
    batch.add(p, T0 + 5);
    expect(before[0]!.asdu).toEqual(bytes);
    expect((decodeAll(batch.packed())[0]!.objects[0] as { value: number }).value).toBe(99);
  });

  it('grows past its first buffer without losing a change', () => {
    const points = Array.from({ length: 5_000 }, (_, i) => point(`p${i}`, 1 + i, 'telemetry'));
    const batch = new ChangeBatch(CA);
    for (const [i, p] of points.entries()) {
      update(p, i / 2, 'good');
      batch.add(p, T0);
    }
    const objects = objectsOf(decodeAll(batch.packed())) as { ioa: number; value: number }[];
    expect(objects).toHaveLength(5_000);
    expect(objects.every((o, i) => o.ioa === i + 1 && o.value === i / 2)).toBe(true);
  });

  it('sends a time outside 2000..2099 as now, flagged invalid', () => {
    const p = point('p', 5, 'telemetry');
    const batch = new ChangeBatch(CA);
    update(p, 1, 'good');
    const before = Date.now();
    batch.add(p, Date.UTC(1999, 0, 1));
    const time = (decodeAll(batch.packed())[0]!.objects[0] as { time: ReturnType<typeof cp56FromEpochMs> }).time;
    expect(time.invalid).toBe(true);
    expect(time.year).toBe(new Date(before).getUTCFullYear() - 2000);
  });
});
