import type { Stats } from 'node:fs';
import type { DigestResult } from './digests.js';

/**
 * Digests of files gridlink itself committed, keyed by the file's identity
 * (device, inode, size, mtime), so downloading a file it verified on upload
 * needs no second pass over its bytes. Any change to the file changes the key.
 * Bounded: the oldest entries are forgotten first.
 */
export class DigestCache {
  readonly #entries = new Map<string, DigestResult>();
  readonly #capacity: number;

  constructor(capacity = 10_000) {
    this.#capacity = capacity;
  }

  get(stats: Stats, md5: boolean): DigestResult | undefined {
    const hit = this.#entries.get(keyOf(stats));
    if (hit === undefined || (md5 && hit.md5 === undefined)) return undefined;
    return md5 ? hit : { sha256: hit.sha256 };
  }

  set(stats: Stats, digests: DigestResult): void {
    const key = keyOf(stats);
    this.#entries.delete(key);
    this.#entries.set(key, digests);
    if (this.#entries.size > this.#capacity) this.#entries.delete(this.#entries.keys().next().value!);
  }
}

function keyOf(stats: Stats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}
