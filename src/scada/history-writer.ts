import { Worker } from 'node:worker_threads';
import type { Logger } from '../log/logger.js';
import { QUALITIES, type PointEvent } from '../protocol/scada.js';

/** How long a read may wait for the batches before it (ms): far beyond one commit; past it the worker is taken for stuck. */
const SETTLE_TIMEOUT_MS = 10_000;

/** What the writer has done so far (status, tests). */
export interface HistoryWriterStats {
  /** Batches the worker committed, and the rows in them. */
  readonly batches: number;
  readonly rows: number;
  /** Rows written on the event loop instead: the worker failed a batch, is gone, or was not wanted (`thread: false`). */
  readonly fallbackRows: number;
  /** Rows that failed there too (a full disk, a broken database): not stored. */
  readonly lostRows: number;
  readonly lastError: string | null;
}

const QUALITY_INDEX = new Map(QUALITIES.map((q, i) => [q, i]));

/**
 * Writes batches of point events into the history database from a worker
 * thread (history-writer-worker.js). Under 20,000 events/s the inserts and
 * the commit of each 1,000-row batch took some 12 µs a row on the event
 * loop, 68 % of its busy time in the IEC 104 master benchmark, and held
 * every message behind each commit for ~10 ms. Now the event loop only packs
 * a batch into two typed arrays and a list of names and hands them over.
 *
 * Reads stay synchronous: {@link settle} blocks (Atomics.wait) until every
 * batch handed over is committed, which takes at most one commit, so a query
 * sees every event recorded before it, as it did when the loop wrote them.
 * The worker answers each batch; a batch it failed, and every batch still
 * unanswered should it end, is written on the event loop through `fallback`
 * (INSERT OR IGNORE: a row is never stored twice), and from then on every
 * batch is.
 */
export class HistoryWriter {
  #worker: Worker | null;
  /** [0]: batches finished by the worker; [1]: batches it failed. */
  readonly #done = new Int32Array(new SharedArrayBuffer(8));
  readonly #fallback: (batch: readonly PointEvent[]) => void;
  /** Batches handed over and not yet answered, oldest first; the first is batch number #answered. */
  readonly #inFlight: PointEvent[][] = [];
  #sent = 0;
  #answered = 0;
  /** Failed batches answered so far: while it equals the worker's count, every finished batch not yet answered succeeded. */
  #failuresAnswered = 0;
  #stats: HistoryWriterStats = { batches: 0, rows: 0, fallbackRows: 0, lostRows: 0, lastError: null };
  #stopping = false;
  readonly #exited: Promise<void>;

  readonly #logger: Logger | undefined;

  /**
   * `thread: false` writes every batch on the event loop, as before this
   * writer existed (bench/history-store.ts compares the two). `logger`
   * hears of every batch retried on the loop, every row lost and the loss of
   * the thread (docs/admin.md "History writes").
   */
  constructor(
    path: string,
    options: { backstopPages: number; walSizeLimit: number; thread?: boolean; logger?: Logger | undefined },
    fallback: (batch: readonly PointEvent[]) => void,
  ) {
    this.#fallback = fallback;
    this.#logger = options.logger;
    if (options.thread === false) {
      this.#worker = null;
      this.#exited = Promise.resolve();
      return;
    }
    const worker = new Worker(new URL('./history-writer-worker.js', import.meta.url), {
      workerData: { path, done: this.#done, backstopPages: options.backstopPages, walSizeLimit: options.walSizeLimit },
    });
    this.#worker = worker;
    this.#exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (answer: { done: number; rows?: number; error?: string } | { fatal: string }) => {
      if ('fatal' in answer) this.#lose(`the history writer thread could not open the database: ${answer.fatal}`);
      else this.#answer(answer);
    });
    worker.on('error', (err: unknown) => this.#lose(`the history writer thread failed: ${messageOf(err)}`));
    worker.once('exit', (code) => {
      if (!this.#stopping) this.#lose(`the history writer thread ended (exit code ${code})`);
    });
    // It must not keep a process alive that is otherwise done.
    worker.unref();
  }

  get stats(): HistoryWriterStats {
    return this.#stats;
  }

  /** Hands `batch` to the worker (or writes it here, once the worker is gone). */
  write(batch: PointEvent[]): void {
    if (batch.length === 0) return;
    if (this.#worker === null) {
      this.#writeHere(batch);
      return;
    }
    const names = new Array<string>(batch.length);
    const numbers = new Float64Array(batch.length * 4);
    const codes = new Uint8Array(batch.length);
    for (let i = 0; i < batch.length; i += 1) {
      const e = batch[i]!;
      names[i] = e.point;
      numbers[i * 4] = e.seq;
      numbers[i * 4 + 1] = e.value ?? 0;
      numbers[i * 4 + 2] = e.sourceTime;
      numbers[i * 4 + 3] = e.serverTime;
      codes[i] = (e.kind === 'quality' ? 1 : 0) | ((QUALITY_INDEX.get(e.quality) ?? 0) << 1) | (e.value === null ? 8 : 0);
    }
    this.#inFlight.push(batch);
    this.#sent += 1;
    this.#worker.postMessage({ names, numbers, codes }, [numbers.buffer, codes.buffer]);
  }

  /** Blocks until every batch handed over is committed (or written here). */
  settle(): void {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while (this.#worker !== null) {
      const done = Atomics.load(this.#done, 0);
      if (done >= this.#sent) break;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#lose(`the history writer did not commit within ${SETTLE_TIMEOUT_MS} ms`);
        break;
      }
      Atomics.wait(this.#done, 0, done, left);
    }
    // What the worker finished but has not said yet succeeded, unless it failed more batches than it has answered.
    if (this.#worker !== null && Atomics.load(this.#done, 1) === this.#failuresAnswered) {
      const done = Atomics.load(this.#done, 0);
      while (this.#answered < done) this.#retire(this.#inFlight.shift()!);
    }
  }

  /** Waits for the last batch, then ends the worker; resolves when it has ended. */
  stop(): Promise<void> {
    this.settle();
    this.#stopping = true;
    // Whoever awaits the end must not see the process leave before it.
    this.#worker?.ref();
    this.#worker?.postMessage('stop');
    return this.#exited;
  }

  #answer(answer: { done: number; rows?: number; error?: string }): void {
    // settle() may have retired this batch already.
    if (answer.done <= this.#answered) return;
    const batch = this.#inFlight.shift()!;
    if (answer.error !== undefined) {
      this.#answered += 1;
      this.#failuresAnswered += 1;
      this.#stats = { ...this.#stats, lastError: answer.error };
      this.#logger?.warn({ event: 'history.batch_retried', rows: batch.length, reason: answer.error }, 'the history writer thread could not store a batch of events; writing it on the event loop');
      this.#writeHere(batch);
      return;
    }
    this.#retire(batch);
  }

  #retire(batch: PointEvent[]): void {
    this.#answered += 1;
    this.#stats = { ...this.#stats, batches: this.#stats.batches + 1, rows: this.#stats.rows + batch.length };
  }

  /** The worker is gone or stuck: what it did not answer is written here, and so is everything after. */
  #lose(reason: string): void {
    const worker = this.#worker;
    if (worker === null) return;
    this.#worker = null;
    this.#stats = { ...this.#stats, lastError: reason };
    this.#logger?.error({ event: 'history.writer_lost', reason, unanswered: this.#inFlight.length }, `${reason}; history events are written on the event loop from now on (restart the server to get the thread back)`);
    void worker.terminate();
    for (const batch of this.#inFlight.splice(0)) this.#writeHere(batch);
  }

  #writeHere(batch: readonly PointEvent[]): void {
    try {
      this.#fallback(batch);
      this.#stats = { ...this.#stats, fallbackRows: this.#stats.fallbackRows + batch.length };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.#stats = { ...this.#stats, lostRows: this.#stats.lostRows + batch.length, lastError: reason };
      this.#logger?.error(
        { event: 'history.rows_lost', rows: batch.length, lostRows: this.#stats.lostRows, reason },
        `${batch.length} history events could not be stored (${reason}); the points' live values are unaffected. Check the disk holding the data directory`,
      );
    }
  }
}

/** An error thrown in the thread arrives cloned: a SqliteError as a plain object with its message. */
function messageOf(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') return (err as { message: string }).message;
  return String(err);
}
