// @ts-check
/**
 * Worker thread that hashes files from disk (docs/architecture.md: CPU work such as hashing
 * runs on a worker pool, off the event loop). Plain JavaScript so that it runs
 * as-is from src/ under the test runner and from dist/ in production.
 *
 * Messages (see hash-pool.ts):
 *   {op:'range', id, fd|path, start, end, algorithms}  → {id, digests} | {id, error}
 *   {op:'begin', hid, algorithms}                        incremental hash, no reply
 *   {op:'feed', hid, path, upTo}                         hash path bytes up to upTo, no reply
 *   {op:'finish', id, hid, path, upTo}                   → {id, digests} | {id, error}
 *   {op:'drop', hid}
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

const BUFFER = Buffer.allocUnsafe(1024 * 1024);

/** @typedef {{ hashes: import('node:crypto').Hash[], algorithms: string[], position: number, error: string | null }} Incremental */
/** @type {Map<number, Incremental>} */
const incremental = new Map();

/**
 * Feeds bytes [from, to) of an open descriptor into the hashes; returns the new position.
 * @param {number} fd @param {number} from @param {number} to @param {import('node:crypto').Hash[]} hashes
 */
function feed(fd, from, to, hashes) {
  let position = from;
  while (position < to) {
    const n = readSync(fd, BUFFER, 0, Math.min(BUFFER.length, to - position), position);
    if (n === 0) throw new Error(`file ended at ${position}, expected ${to} bytes`);
    const view = BUFFER.subarray(0, n);
    for (const hash of hashes) hash.update(view);
    position += n;
  }
  return position;
}

/** @param {string[]} algorithms @param {import('node:crypto').Hash[]} hashes */
function digests(algorithms, hashes) {
  /** @type {Record<string, string>} */
  const out = {};
  algorithms.forEach((name, i) => (out[name] = /** @type {import('node:crypto').Hash} */ (hashes[i]).digest('hex')));
  return out;
}

/** Hashes more of an incremental file, keeping the first error. @param {Incremental} state @param {string} path @param {number} upTo */
function advance(state, path, upTo) {
  if (state.error !== null || upTo <= state.position) return;
  try {
    const fd = openSync(path, 'r');
    try {
      state.position = feed(fd, state.position, upTo, state.hashes);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    state.error = err instanceof Error ? err.message : String(err);
  }
}

const port = parentPort;
if (port === null) throw new Error('hash-worker.js must run as a worker thread');

port.on('message', (/** @type {any} */ msg) => {
  switch (msg.op) {
    case 'range': {
      try {
        const fd = msg.fd ?? openSync(msg.path, 'r');
        try {
          const hashes = msg.algorithms.map((/** @type {string} */ a) => createHash(a));
          feed(fd, msg.start, msg.end, hashes);
          port.postMessage({ id: msg.id, digests: digests(msg.algorithms, hashes) });
        } finally {
          if (msg.fd === undefined) closeSync(fd);
        }
      } catch (err) {
        port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
      }
      break;
    }
    case 'begin':
      incremental.set(msg.hid, { hashes: msg.algorithms.map((/** @type {string} */ a) => createHash(a)), algorithms: msg.algorithms, position: 0, error: null });
      break;
    case 'feed': {
      const state = incremental.get(msg.hid);
      if (state !== undefined) advance(state, msg.path, msg.upTo);
      break;
    }
    case 'finish': {
      const state = incremental.get(msg.hid);
      incremental.delete(msg.hid);
      if (state === undefined) {
        port.postMessage({ id: msg.id, error: 'unknown hash' });
        break;
      }
      advance(state, msg.path, msg.upTo);
      if (state.error === null && state.position !== msg.upTo) state.error = `hashed ${state.position} of ${msg.upTo} bytes`;
      port.postMessage(state.error === null ? { id: msg.id, digests: digests(state.algorithms, state.hashes) } : { id: msg.id, error: state.error });
      break;
    }
    case 'drop':
      incremental.delete(msg.hid);
      break;
  }
});
