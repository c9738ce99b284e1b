import { describe, expect, it } from 'vitest';
import { CHUNK, decimatedHistory, isGap, type Sample } from '../../src/web/routes/history-decimation.js';

/** A data plane whose history is `samples` (sorted by source time), answering like HistoryStore.history. */
function fakeScada(samples: readonly Sample[]) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    history(_point: string, since: number, until: number, limit: number, offset = 0): Sample[] {
      calls += 1;
      let i = 0;
      while (i < samples.length && samples[i]!.sourceTime < since) i += 1;
      const out: Sample[] = [];
      for (let j = i + offset; j < samples.length && samples[j]!.sourceTime < until && out.length < limit; j += 1) out.push(samples[j]!);
      return out;
    },
  };
}

const good = (t: number, value: number): Sample => ({ value, quality: 'good', sourceTime: t, serverTime: t });
const invalid = (t: number): Sample => ({ value: null, quality: 'invalid', sourceTime: t, serverTime: t });

describe('history decimation for trends (GET /api/history?buckets=N, docs/http-api.md)', () => {
  it('a range with few samples comes back whole and exact', async () => {
    const samples = Array.from({ length: 50 }, (_, i) => good(1_000 + i * 10, i));
    const answer = await decimatedHistory(fakeScada(samples), 'p', 1_000, 2_000, 100);
    expect(answer).toMatchObject({ scanned: 50, complete: true, decimated: false });
    expect(answer.samples).toEqual(samples);
  });

  it('100,000 samples into 500 buckets: at most 6 per bucket, every bucket keeps its extremes, first and last, in time order', async () => {
    const n = 100_000;
    const samples = Array.from({ length: n }, (_, i) => good(i, Math.sin(i / 500) * 100 + (i % 997 === 0 ? 400 : 0)));
    const scada = fakeScada(samples);
    const answer = await decimatedHistory(scada, 'p', 0, n, 500);
    expect(answer).toMatchObject({ scanned: n, complete: true, decimated: true });
    expect(scada.calls).toBe(Math.ceil(n / CHUNK) + (n % CHUNK === 0 ? 1 : 0));
    expect(answer.samples.length).toBeLessThanOrEqual(6 * 500);
    for (let i = 1; i < answer.samples.length; i += 1) expect(answer.samples[i]!.sourceTime).toBeGreaterThanOrEqual(answer.samples[i - 1]!.sourceTime);
    // Every spike survives, and so do the global extremes.
    const spikes = samples.filter((s) => s.sourceTime % 997 === 0);
    for (const spike of spikes) expect(answer.samples).toContain(spike);
    const values = answer.samples.map((s) => s.value!);
    expect(Math.max(...values)).toBe(Math.max(...samples.map((s) => s.value!)));
    expect(Math.min(...values)).toBe(Math.min(...samples.map((s) => s.value!)));
    expect(answer.samples[0]).toBe(samples[0]);
    expect(answer.samples.at(-1)).toBe(samples.at(-1));
  });

  it('quality gaps survive decimation: an invalid stretch inside a bucket is still there, between good values', async () => {
    const samples: Sample[] = [];
    for (let i = 0; i < 30_000; i += 1) samples.push(i >= 12_345 && i < 12_350 ? invalid(i) : good(i, 10 + (i % 7)));
    const answer = await decimatedHistory(fakeScada(samples), 'p', 0, 30_000, 100);
    const gaps = answer.samples.filter(isGap);
    expect(gaps.map((g) => g.sourceTime)).toEqual([12_345, 12_349]);
    const at = answer.samples.indexOf(gaps[0]!);
    expect(isGap(answer.samples[at - 1]!)).toBe(false);
  });

  it('pages through many samples of one millisecond without losing or repeating any (the cursor is time + offset)', async () => {
    const samples: Sample[] = [];
    for (let i = 0; i < 25_000; i += 1) samples.push(good(5, i));
    for (let i = 0; i < 3; i += 1) samples.push(good(6, -1));
    const answer = await decimatedHistory(fakeScada(samples), 'p', 0, 10, 1_000_000 / 100_000);
    expect(answer.scanned).toBe(25_003);
    const exact = await decimatedHistory(fakeScada(samples), 'p', 0, 10, 10_000);
    expect(exact.decimated).toBe(false);
    expect(exact.samples).toEqual(samples);
  });

  it('stops after the scan limit and says so', async () => {
    const samples = Array.from({ length: 35_000 }, (_, i) => good(i, i));
    const answer = await decimatedHistory(fakeScada(samples), 'p', 0, 35_000, 10, 20_000);
    expect(answer).toMatchObject({ scanned: 20_000, complete: false });
    expect(answer.samples.at(-1)!.sourceTime).toBe(19_999);
  });
});
