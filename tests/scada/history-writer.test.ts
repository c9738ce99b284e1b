import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { PointEvent } from '../../src/protocol/scada.js';
import { HistoryStore } from '../../src/scada/history-store.js';
import { HistoryWriter } from '../../src/scada/history-writer.js';
import { createLogger } from '../../src/log/logger.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

const OPTIONS = { backstopPages: 40_000, walSizeLimit: 16 * 1024 * 1024 };

describe('history writer thread', () => {
  const temps: Array<{ cleanup(): Promise<void> }> = [];
  afterEach(async () => {
    for (const t of temps.splice(0)) await t.cleanup();
  });
  const tempPath = async (): Promise<string> => {
    const temp = await makeTempDir();
    temps.push(temp);
    return join(temp.path, 'history.db');
  };

  it('commits in the thread, and a query right after recording sees every row, with its kind, value, null and quality', async () => {
    const path = await tempPath();
    const store = new HistoryStore(path, { flushMs: 60_000 });
    const qualities = ['good', 'invalid', 'questionable', 'substituted'] as const;
    const recorded: PointEvent[] = [];
    for (let i = 0; i < 5_500; i++) {
      const event: PointEvent = { seq: store.takeSeq(), point: `p${i % 7}`, kind: i % 5 === 0 ? 'quality' : 'change', value: i % 11 === 0 ? null : i + 0.25, quality: qualities[i % 4]!, sourceTime: 1_000 + i, serverTime: 2_000 + i };
      recorded.push(event);
      store.record(event);
    }
    // 5 batches went when they filled; the last 500 rows are still pending here: the query ships and waits for them.
    const got = store.events(0, 1e12, 10_000, () => true);
    expect(got).toEqual(recorded);
    expect(store.history('p3', 0, 1e12, 10_000).length).toBe(recorded.filter((e) => e.point === 'p3').length);
    expect(store.writer).toMatchObject({ batches: 6, rows: 5_500, fallbackRows: 0, lastError: null });
    await store.close();
    // A second connection sees the same rows once the store is closed: nothing was left in memory.
    const db = new Database(path, { readonly: true });
    try {
      expect(db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(5_500);
    } finally {
      db.close();
    }
  });

  it('interleaved records, alarms and queries: every query sees exactly what was recorded before it', async () => {
    const path = await tempPath();
    const store = new HistoryStore(path, { flushMs: 1 });
    let count = 0;
    for (let round = 0; round < 40; round++) {
      const n = 1 + ((round * 397) % 1_700);
      for (let i = 0; i < n; i++) {
        store.record({ seq: store.takeSeq(), point: 'x', kind: 'change', value: count, quality: 'good', sourceTime: count, serverTime: count });
        count += 1;
      }
      if (round % 3 === 0) store.insertAlarm({ source: 'x', kind: 'high', severity: 'high', message: `round ${round}`, raisedAt: round, clearedAt: null, ackedAt: null, ackedBy: null });
      // Let the timer ship some batches on its own, sometimes.
      if (round % 4 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      const values = store.history('x', 0, 1e12, 100_000).map((s) => s.value);
      expect(values.length).toBe(count);
      expect(values[count - 1]).toBe(count - 1);
    }
    expect(store.openAlarms()).toHaveLength(14);
    expect(store.writer.fallbackRows).toBe(0);
    await store.close();
  });

  it('a batch the thread fails is retried on the event loop; what fails there too is counted as lost; later batches still go to the thread', async () => {
    const path = await tempPath();
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const store = new HistoryStore(path, { flushMs: 60_000, logger });
    // A rule both connections obey: the batch holding seq 1,500 is refused wherever it is written.
    const side = new Database(path);
    side.exec(`CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.seq = 1500 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;`);
    side.close();
    for (let i = 0; i < 4_000; i++) store.record({ seq: store.takeSeq(), point: 'y', kind: 'change', value: i, quality: 'good', sourceTime: i, serverTime: i });
    // Batches of 1,000: the second (seq 1,001..2,000) is refused; its answer comes back as a message.
    await until(() => store.writer.lostRows > 0, 5_000, 'the refused batch to be answered');
    expect(store.writer.lastError).toContain('refused by the test');
    const values = store.history('y', 0, 1e12, 10_000).map((s) => s.value);
    expect(values).toEqual([...Array.from({ length: 1_000 }, (_, i) => i), ...Array.from({ length: 2_000 }, (_, i) => 2_000 + i)]);
    expect(store.writer).toMatchObject({ batches: 3, rows: 3_000, fallbackRows: 0, lostRows: 1_000 });
    // The operators hear of both: the retry on the loop (warn), then the loss (error), once each.
    expect(lines.map((l) => [l['event'], l['level'], l['rows']])).toEqual([
      ['history.batch_retried', 40, 1_000],
      ['history.rows_lost', 50, 1_000],
    ]);
    expect(String(lines[1]!['msg'])).toMatch(/1000 history events could not be stored \(refused by the test\).*Check the disk/u);
    await store.close();
  });

  it('when the thread cannot start, every batch is written by the fallback, none lost, none twice', async () => {
    const path = await tempPath();
    // A database without the events table: the thread fails as it prepares its statements.
    new Database(path).close();
    const written: number[] = [];
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const writer = new HistoryWriter(path, { ...OPTIONS, logger }, (batch) => {
      for (const e of batch) written.push(e.seq);
    });
    const batch = (from: number): PointEvent[] => Array.from({ length: 10 }, (_, i) => ({ seq: from + i, point: 'z', kind: 'change', value: i, quality: 'good', sourceTime: i, serverTime: i }));
    writer.write(batch(1));
    writer.write(batch(11));
    await until(() => writer.stats.lastError !== null, 5_000, 'the thread to fail');
    expect(writer.stats.lastError).toMatch(/no such table|events/u);
    writer.write(batch(21));
    writer.settle();
    expect(written).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(writer.stats).toMatchObject({ batches: 0, fallbackRows: 30 });
    expect(lines.filter((l) => l['event'] === 'history.writer_lost')).toHaveLength(1);
    expect(lines[0]).toMatchObject({ event: 'history.writer_lost', level: 50, unanswered: 2 });
    await writer.stop();
  });

  it('a process with nothing else to do runs until close() has ended both threads (they are unref\'d until then)', async () => {
    const path = await tempPath();
    const script = `
      import { HistoryStore } from ${JSON.stringify(new URL('../../src/scada/history-store.ts', import.meta.url).pathname)};
      const store = new HistoryStore(${JSON.stringify(path)});
      store.record({ seq: store.takeSeq(), point: 'p', kind: 'change', value: 1, quality: 'good', sourceTime: 1, serverTime: 1 });
      await store.close();
      console.log(JSON.stringify(store.writer));`;
    const file = join(path, '..', 'close.mjs');
    await writeFile(file, script);
    // Before the fix the awaited close left the loop empty: Node ended the process with code 13 (unsettled top-level await).
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], { timeout: 30_000 });
    expect(JSON.parse(stdout)).toMatchObject({ batches: 1, rows: 1, fallbackRows: 0, lostRows: 0 });
    const db = new Database(path, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(1);
    db.close();
  });

  it('writerThread: false writes every batch on the event loop, the same rows', async () => {
    const path = await tempPath();
    const store = new HistoryStore(path, { flushMs: 60_000, writerThread: false });
    for (let i = 0; i < 2_500; i++) store.record({ seq: store.takeSeq(), point: `q${i % 3}`, kind: 'change', value: i, quality: 'good', sourceTime: i, serverTime: i });
    expect(store.history('q1', 0, 10_000, 10_000).map((s) => s.value)).toEqual(Array.from({ length: 833 }, (_, i) => 3 * i + 1));
    expect(store.writer).toMatchObject({ batches: 0, fallbackRows: 2_500, lostRows: 0 });
    await store.close();
  });
});
