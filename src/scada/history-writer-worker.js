// @ts-check
/**
 * Worker thread that writes batches of point events into the history
 * database (src/scada/history-writer.ts), so the inserts and the commit of
 * each batch (which writes every index page the batch touched to the WAL)
 * happen here, not on the event loop every service shares. Plain JavaScript
 * so that it runs as-is from src/ under the test runner and from dist/ in
 * production.
 *
 * workerData: { path, done } where `done` is an Int32Array on a
 * SharedArrayBuffer: done[0] counts the batches finished (committed or
 * failed), so the main thread can wait for them with Atomics.wait; done[1]
 * counts the failed ones.
 *
 * A batch is { names: string[], numbers: Float64Array, codes: Uint8Array }:
 * for row i, numbers[4i..4i+3] = seq, value, sourceTime, serverTime and
 * codes[i] = kind (bit 0: 1 = quality) | quality index << 1 | value null (bit 3).
 * Each finished batch is answered { done, rows } or { done, error }. The
 * message 'stop' closes the database and ends the thread. A database it
 * cannot open or prepare is answered { fatal } and ends the thread (an error
 * thrown out of a thread reaches the parent without its message).
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

/** Must match QUALITIES in src/protocol/scada.ts, in order. */
const QUALITIES = ['good', 'invalid', 'questionable', 'substituted'];

/** @type {{ path: string, done: Int32Array, backstopPages: number, walSizeLimit: number }} */
const options = workerData;
const port = parentPort;
if (port === null) throw new Error('history-writer-worker.js runs as a worker thread');

/** @returns {{ db: Database.Database, insertEvent: Database.Statement, insertName: Database.Statement, selectName: Database.Statement }} */
function open() {
  const db = new Database(options.path);
  try {
    db.pragma('synchronous = NORMAL');
    // The checkpoint worker copies the WAL; this connection only as a backstop (history-store.ts).
    db.pragma(`wal_autocheckpoint = ${options.backstopPages}`);
    db.pragma(`journal_size_limit = ${options.walSizeLimit}`);
    return {
      db,
      insertEvent: db.prepare('INSERT OR IGNORE INTO events (seq, point_id, kind, value, quality, source_time, server_time) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      insertName: db.prepare('INSERT INTO point_names (name) VALUES (?) ON CONFLICT (name) DO NOTHING'),
      selectName: db.prepare('SELECT id FROM point_names WHERE name = ?').pluck(),
    };
  } catch (err) {
    db.close();
    throw err;
  }
}

/** @type {ReturnType<typeof open>} */
let opened;
try {
  opened = open();
} catch (err) {
  port.postMessage({ fatal: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
const { db, insertEvent, insertName, selectName } = opened;
/** @type {Map<string, number>} */
const pointIds = new Map();

/** @param {string} name */
function pointId(name) {
  let id = pointIds.get(name);
  if (id === undefined) {
    insertName.run(name);
    id = /** @type {number} */ (selectName.get(name));
    pointIds.set(name, id);
  }
  return id;
}

const write = db.transaction(
  /** @param {{ names: string[], numbers: Float64Array, codes: Uint8Array }} batch */
  (batch) => {
    const { names, numbers, codes } = batch;
    for (let i = 0; i < names.length; i += 1) {
      const code = /** @type {number} */ (codes[i]);
      const at = i * 4;
      insertEvent.run(
        numbers[at],
        pointId(/** @type {string} */ (names[i])),
        code & 1 ? 'quality' : 'change',
        code & 8 ? null : numbers[at + 1],
        QUALITIES[(code >> 1) & 3],
        numbers[at + 2],
        numbers[at + 3],
      );
    }
  },
);

port.on('message', (message) => {
  if (message === 'stop') {
    db.close();
    port.close();
    return;
  }
  let answer;
  try {
    write(message);
    answer = { rows: message.names.length };
  } catch (err) {
    Atomics.add(options.done, 1, 1);
    answer = { error: err instanceof Error ? err.message : String(err) };
  }
  const done = Atomics.add(options.done, 0, 1) + 1;
  Atomics.notify(options.done, 0);
  port.postMessage({ done, ...answer });
});
