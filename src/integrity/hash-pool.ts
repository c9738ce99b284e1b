import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DigestResult } from './digests.js';

type Algorithm = 'sha256' | 'md5';

interface Reply {
  readonly id: number;
  readonly digests?: Record<string, string>;
  readonly error?: string;
}

/** Feed the worker after this many new bytes are on disk (fewer, larger messages). */
const FEED_EVERY_BYTES = 4 * 1024 * 1024;

function algorithmsFor(md5: boolean): Algorithm[] {
  return md5 ? ['sha256', 'md5'] : ['sha256'];
}

function toResult(digests: Record<string, string>): DigestResult {
  const sha256 = digests['sha256']!;
  return digests['md5'] === undefined ? { sha256 } : { sha256, md5: digests['md5'] };
}

/**
 * A small pool of worker threads that hash files from disk, so checksums of
 * large transfers cost the event loop nothing and run on another core while
 * the bytes move (docs/architecture.md). Reading back from the page cache also checks what
 * actually reached the disk. Workers are unreferenced while idle, so the pool
 * never keeps a process alive.
 */
export class HashPool {
  static #shared: HashPool | null = null;

  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, { resolve: (d: DigestResult) => void; reject: (e: Error) => void; worker: Worker }>();
  readonly #busy = new Map<Worker, number>();
  #next = 0;
  #sequence = 1;

  private constructor(size: number) {
    for (let i = 0; i < size; i += 1) {
      const worker = new Worker(new URL('./hash-worker.js', import.meta.url));
      worker.on('message', (reply: Reply) => this.#settle(reply));
      worker.on('error', (err) => this.#failAll(worker, err));
      // After the listeners: adding a 'message' listener references the worker again.
      worker.unref();
      this.#workers.push(worker);
      this.#busy.set(worker, 0);
    }
  }

  /** The process-wide pool (one or two workers: the machine has few cores). */
  static shared(): HashPool {
    HashPool.#shared ??= new HashPool(Math.max(1, Math.min(2, availableParallelism() - 1)));
    return HashPool.#shared;
  }

  /** Hashes bytes [start, end) of an open descriptor or a path. */
  range(source: { fd: number } | { path: string }, start: number, end: number, md5: boolean): Promise<DigestResult> {
    return this.#request(this.#pick(), { op: 'range', ...source, start, end, algorithms: algorithmsFor(md5) });
  }

  /** A hash of a file that grows: feed it as bytes reach the disk, finish at the end. */
  incremental(md5: boolean): IncrementalFileHash {
    return new IncrementalFileHash(this, this.#pick(), this.#sequence++, algorithmsFor(md5));
  }

  /** @internal */
  post(worker: Worker, message: Record<string, unknown>): void {
    worker.postMessage(message);
  }

  /** @internal */
  request(worker: Worker, message: Record<string, unknown>): Promise<DigestResult> {
    return this.#request(worker, message);
  }

  #pick(): Worker {
    const worker = this.#workers[this.#next % this.#workers.length]!;
    this.#next += 1;
    return worker;
  }

  #request(worker: Worker, message: Record<string, unknown>): Promise<DigestResult> {
    const id = this.#sequence++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, worker });
      const busy = this.#busy.get(worker)! + 1;
      this.#busy.set(worker, busy);
      if (busy === 1) worker.ref();
      worker.postMessage({ ...message, id });
    });
  }

  #settle(reply: Reply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    const busy = this.#busy.get(pending.worker)! - 1;
    this.#busy.set(pending.worker, busy);
    if (busy === 0) pending.worker.unref();
    if (reply.digests !== undefined) pending.resolve(toResult(reply.digests));
    else pending.reject(new Error(`hashing failed: ${reply.error ?? 'unknown error'}`));
  }

  #failAll(worker: Worker, err: Error): void {
    for (const [id, pending] of this.#pending) {
      if (pending.worker !== worker) continue;
      this.#pending.delete(id);
      pending.reject(err);
    }
  }
}

/**
 * The running hash of a file being written (an upload's partial file, a
 * download's part file), computed by a worker from what is on disk.
 */
export class IncrementalFileHash {
  readonly #pool: HashPool;
  readonly #worker: Worker;
  readonly #hid: number;
  #fed = 0;
  #done = false;

  /** @internal */
  constructor(pool: HashPool, worker: Worker, hid: number, algorithms: Algorithm[]) {
    this.#pool = pool;
    this.#worker = worker;
    this.#hid = hid;
    pool.post(worker, { op: 'begin', hid, algorithms });
  }

  /** Tells the worker that bytes up to `upTo` of `path` are on disk (batched). */
  feed(path: string, upTo: number, force = false): void {
    if (this.#done || (!force && upTo - this.#fed < FEED_EVERY_BYTES)) return;
    this.#fed = upTo;
    this.#pool.post(this.#worker, { op: 'feed', hid: this.#hid, path, upTo });
  }

  /** Hashes the rest up to `length` and returns the digests of bytes [0, length). */
  finish(path: string, length: number): Promise<DigestResult> {
    this.#done = true;
    return this.#pool.request(this.#worker, { op: 'finish', hid: this.#hid, path, upTo: length });
  }

  /** Forgets the hash (the transfer was abandoned). */
  drop(): void {
    if (this.#done) return;
    this.#done = true;
    this.#pool.post(this.#worker, { op: 'drop', hid: this.#hid });
  }
}
