/**
 * The SHA-256 half of the "Node.js pipe + SHA-256" reference
 * (./node-pipe.ts): one worker thread per process that hashes files from
 * disk, the structure of gridlink's src/integrity/hash-worker.js and
 * hash-pool.ts, reduced to what that reference needs.
 *
 *   - {@link Sha256Worker.file}: the SHA-256 of a whole file, read with
 *     fs.readSync in 1 MiB reads into one reused buffer (a put's sender hashes
 *     its source this way while the bytes go out; gridlink's client does too);
 *   - {@link Sha256Worker.incremental}: the SHA-256 of a file being written,
 *     fed as the writer's bytes reach the file (every 4 MiB) and finished
 *     after its last write, reading the new bytes back 1 MiB at a time (a
 *     put's receiver and a get's client, as gridlink's server and client do).
 *
 * The worker is inline JavaScript (`eval: true`), so it runs alike under tsx
 * in the bench process and inside the esbuild bundle of the server, with no
 * file of its own to find. It is unreferenced while no request waits on it,
 * so it never keeps a process alive, and it lives as long as its process, as
 * gridlink's pool does.
 */
import { Worker } from 'node:worker_threads';
import { MiB } from './files.js';

/** Feed the worker after this many new bytes are on disk: gridlink's FEED_EVERY_BYTES. */
const FEED_EVERY_BYTES = 4 * MiB;

/**
 * Messages (ids are unique per process; an incremental hash is a request
 * whose reply comes only after 'finish'):
 *
 *   {op:'file', id, path, size}        → {id, hex} | {id, error}
 *   {op:'begin', id}                     no reply
 *   {op:'feed', id, path, upTo}          hash bytes of path up to upTo, no reply
 *   {op:'finish', id, path, upTo}      → {id, hex} | {id, error}
 *   {op:'drop', id}                      forget the hash, no reply
 */
const WORKER_SOURCE = `
'use strict';
const { createHash } = require('node:crypto');
const { closeSync, openSync, readSync } = require('node:fs');
const { parentPort } = require('node:worker_threads');

const BUFFER = Buffer.allocUnsafe(${MiB});
const incremental = new Map();

function feed(path, hash, from, to) {
  const fd = openSync(path, 'r');
  try {
    let position = from;
    while (position < to) {
      const n = readSync(fd, BUFFER, 0, Math.min(BUFFER.length, to - position), position);
      if (n === 0) throw new Error('file ended at ' + position + ', expected ' + to + ' bytes');
      hash.update(BUFFER.subarray(0, n));
      position += n;
    }
    return position;
  } finally {
    closeSync(fd);
  }
}

function advance(state, path, upTo) {
  if (state.error !== null || upTo <= state.position) return;
  try {
    state.position = feed(path, state.hash, state.position, upTo);
  } catch (err) {
    state.error = err instanceof Error ? err.message : String(err);
  }
}

parentPort.on('message', (msg) => {
  switch (msg.op) {
    case 'file': {
      try {
        const hash = createHash('sha256');
        feed(msg.path, hash, 0, msg.size);
        parentPort.postMessage({ id: msg.id, hex: hash.digest('hex') });
      } catch (err) {
        parentPort.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
      }
      break;
    }
    case 'begin':
      incremental.set(msg.id, { hash: createHash('sha256'), position: 0, error: null });
      break;
    case 'feed': {
      const state = incremental.get(msg.id);
      if (state !== undefined) advance(state, msg.path, msg.upTo);
      break;
    }
    case 'finish': {
      const state = incremental.get(msg.id);
      incremental.delete(msg.id);
      if (state === undefined) {
        parentPort.postMessage({ id: msg.id, error: 'unknown hash' });
        break;
      }
      advance(state, msg.path, msg.upTo);
      if (state.error === null && state.position !== msg.upTo) state.error = 'hashed ' + state.position + ' of ' + msg.upTo + ' bytes';
      parentPort.postMessage(state.error === null ? { id: msg.id, hex: state.hash.digest('hex') } : { id: msg.id, error: state.error });
      break;
    }
    case 'drop':
      incremental.delete(msg.id);
      break;
  }
});
`;

interface Reply {
  readonly id: number;
  readonly hex?: string;
  readonly error?: string;
}

interface Pending {
  readonly resolve: (hex: string) => void;
  readonly reject: (err: Error) => void;
}

/** One hashing worker thread; {@link Sha256Worker.shared} is the process's. */
export class Sha256Worker {
  static #shared: Sha256Worker | null = null;

  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #failure: Error | null = null;

  private constructor() {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true });
    this.#worker.on('message', (reply: Reply) => this.#settle(reply));
    this.#worker.on('error', (err) => this.#fail(err));
    this.#worker.on('exit', (code) => this.#fail(new Error(`SHA-256 worker exited (${code})`)));
    // After the listeners: adding a 'message' listener references the worker again.
    this.#worker.unref();
  }

  /** The process's worker, started on first use (a dead one is replaced). */
  static shared(): Sha256Worker {
    if (Sha256Worker.#shared === null || Sha256Worker.#shared.#failure !== null) Sha256Worker.#shared = new Sha256Worker();
    return Sha256Worker.#shared;
  }

  /** SHA-256 (hex) of bytes [0, size) of `path`. */
  file(path: string, size: number): Promise<string> {
    return this.#send({ op: 'file', id: this.#nextId++, path, size });
  }

  /** The running SHA-256 of a file being written: feed it as bytes reach the disk, finish after the last write. */
  incremental(): IncrementalSha256 {
    const id = this.#nextId++;
    this.post({ op: 'begin', id });
    return new IncrementalSha256(this, id);
  }

  /** @internal */
  post(message: Record<string, unknown>): void {
    if (this.#failure === null) this.#worker.postMessage(message);
  }

  /** @internal Sends `message` and waits for the reply with its `id`. */
  request(message: Record<string, unknown> & { id: number }): Promise<string> {
    return this.#send(message);
  }

  #send(message: Record<string, unknown> & { id: number }): Promise<string> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#pending.set(message.id, { resolve, reject });
      if (this.#pending.size === 1) this.#worker.ref();
      this.#worker.postMessage(message);
    });
  }

  #settle(reply: Reply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (reply.hex !== undefined) pending.resolve(reply.hex);
    else pending.reject(new Error(`SHA-256 failed: ${reply.error ?? 'unknown error'}`));
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const pending of this.#pending.values()) pending.reject(err);
    this.#pending.clear();
  }
}

/** A SHA-256 in progress over a file that grows (an upload's partial file, a download's file). */
export class IncrementalSha256 {
  readonly #owner: Sha256Worker;
  readonly #id: number;
  #fed = 0;
  #done = false;

  /** @internal */
  constructor(owner: Sha256Worker, id: number) {
    this.#owner = owner;
    this.#id = id;
  }

  /** Bytes up to `upTo` of `path` are on disk: the worker reads them once 4 MiB more than last time are. */
  feed(path: string, upTo: number): void {
    if (this.#done || upTo - this.#fed < FEED_EVERY_BYTES) return;
    this.#fed = upTo;
    this.#owner.post({ op: 'feed', id: this.#id, path, upTo });
  }

  /** Hashes the rest and returns the SHA-256 (hex) of bytes [0, length) of `path`. */
  finish(path: string, length: number): Promise<string> {
    this.#done = true;
    return this.#owner.request({ op: 'finish', id: this.#id, path, upTo: length });
  }

  /** Forgets the hash (the transfer failed); a no-op once finished. */
  drop(): void {
    if (this.#done) return;
    this.#done = true;
    this.#owner.post({ op: 'drop', id: this.#id });
  }
}
