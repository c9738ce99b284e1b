import { Worker } from 'node:worker_threads';

/** How often the worker checkpoints (ms): under 20,000 events/s the WAL grows a few MiB a second. */
const CHECKPOINT_INTERVAL_MS = 500;

/** What the worker has done so far. */
export interface CheckpointStats {
  readonly checkpoints: number;
  /** Frames copied into the database file by the last checkpoint, and the WAL's length then. */
  readonly lastCheckpointed: number;
  readonly lastLog: number;
  readonly lastError: string | null;
}

/**
 * Checkpoints a SQLite database in WAL mode from a worker thread
 * (checkpoint-worker.js) instead of the connection that writes it. SQLite
 * runs a checkpoint inside the commit that fills the WAL past 1,000 pages,
 * and a checkpoint fsyncs the WAL and the database file: on the event loop
 * every service shares, with a large upload's data in the page cache, one
 * such fsync held it for up to a second. This worker runs a PASSIVE
 * checkpoint (never waiting for the writer or a reader) twice a second, with
 * the same durability (synchronous NORMAL), so the writer's own checkpoints
 * (history-store.ts keeps them only as a backstop, at 40,000 pages) are no
 * longer needed. The writer still writes the WAL's header when it starts the
 * WAL over after a complete checkpoint, which SQLite syncs: at most one short
 * fsync per cycle instead of three.
 */
export class WalCheckpointer {
  readonly #worker: Worker;
  #stats: CheckpointStats = { checkpoints: 0, lastCheckpointed: 0, lastLog: 0, lastError: null };
  #stopped = false;
  /** Resolves when the worker thread has ended, whether asked to or not (a failure at start ends it too). */
  readonly #exited: Promise<void>;

  constructor(path: string, intervalMs = CHECKPOINT_INTERVAL_MS) {
    this.#worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: { path, intervalMs } });
    this.#exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.on('message', (message: { checkpointed?: number; log?: number; error?: string }) => {
      if (message.error !== undefined) this.#stats = { ...this.#stats, lastError: message.error };
      else this.#stats = { checkpoints: this.#stats.checkpoints + 1, lastCheckpointed: message.checkpointed ?? 0, lastLog: message.log ?? 0, lastError: null };
    });
    this.#worker.on('error', (err) => {
      this.#stats = { ...this.#stats, lastError: err.message };
    });
    // It must not keep a process alive that is otherwise done.
    this.#worker.unref();
  }

  get stats(): CheckpointStats {
    return this.#stats;
  }

  /** Checkpoints once more and ends the worker; resolves when it has (at once if it had already ended). */
  stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      // Whoever awaits the end must not see the process leave before it.
      this.#worker.ref();
      this.#worker.postMessage('stop');
    }
    return this.#exited;
  }
}
