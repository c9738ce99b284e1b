// @ts-check
/**
 * Worker thread that checkpoints a SQLite database in WAL mode, so the
 * checkpoint's fsyncs (the WAL's, then the database file's) happen here and
 * not on the event loop every service shares (src/scada/wal-checkpointer.ts).
 * Plain JavaScript so that it runs as-is from src/ under the test runner and
 * from dist/ in production.
 *
 * workerData: { path, intervalMs }. Every intervalMs it runs a PASSIVE
 * checkpoint (it never waits for the writer or a reader) and reports
 * { checkpointed, log } or { error }. The message 'stop' checkpoints once
 * more, closes the database and ends the thread.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

/** @type {{ path: string, intervalMs: number }} */
const options = workerData;
const port = parentPort;
if (port === null) throw new Error('checkpoint-worker.js runs as a worker thread');

const db = new Database(options.path);
// In WAL mode, NORMAL syncs the WAL before each checkpoint and the database
// file after it: the durability the writer's own checkpoints had.
db.pragma('synchronous = NORMAL');

/** Passes of one checkpoint at most: each copies only what the writer added during the one before. */
const MAX_PASSES = 4;

/**
 * Copies the WAL into the database file, again while the writer added frames
 * meanwhile: the writer starts the WAL over (and so keeps it short) only
 * when it finds it copied to the end.
 */
function checkpoint() {
  try {
    let result = { checkpointed: 0, log: 0 };
    for (let pass = 0; pass < MAX_PASSES; pass += 1) {
      const [row] = /** @type {Array<{ busy: number, log: number, checkpointed: number }>} */ (db.pragma('wal_checkpoint(PASSIVE)'));
      result = { checkpointed: row?.checkpointed ?? 0, log: row?.log ?? 0 };
      if (result.checkpointed >= result.log) break;
    }
    port?.postMessage(result);
  } catch (err) {
    port?.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
}

const timer = setInterval(checkpoint, options.intervalMs);

port.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  port.close();
});
