import type { Stats } from 'node:fs';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIGEST_NAMES, type DigestName, type DigestResult, type Digests } from './digests.js';

/**
 * Digests of files gridlink itself committed or sent whole, keyed by the
 * file's identity (device, inode, size, mtime), so downloading a file it
 * verified on upload needs no pass over its bytes to hash them
 * (docs/protocol.md §3.3, "Digests"). Any change to the file changes the key.
 * Bounded in memory (the oldest entries are forgotten first) and, when given
 * a directory, kept there too as one small sidecar per file under the
 * server's own bookkeeping (`<data>/digests/<dev>-<ino>.json`, holding the
 * size and mtime it is valid for), so a restart forgets nothing.
 */
export class DigestCache {
  readonly #entries = new Map<string, Digests>();
  readonly #capacity: number;
  readonly #dir: string | null;
  #dirReady: Promise<unknown> | null = null;

  constructor(capacity = 10_000, dir: string | null = null) {
    this.#capacity = capacity;
    this.#dir = dir;
  }

  /** Today's lookup (SHA-256, and MD5 when asked), from memory only. */
  get(stats: Stats, md5: boolean): DigestResult | undefined {
    const hit = this.#entries.get(keyOf(stats));
    const sha256 = hit?.sha256;
    if (sha256 === undefined || (md5 && hit?.md5 === undefined)) return undefined;
    return md5 ? { sha256, md5: hit?.md5 } : { sha256 };
  }

  /** The digests `names` of the file as `stats` describe it, from memory or its sidecar; undefined unless all are known. */
  async lookup(stats: Stats, names: readonly DigestName[]): Promise<Digests | undefined> {
    const key = keyOf(stats);
    let hit = this.#entries.get(key);
    if (!covers(hit, names) && this.#dir !== null) {
      const stored = await readSidecar(this.#sidecar(stats), stats);
      if (stored !== undefined) {
        hit = { ...stored, ...(hit ?? {}) };
        this.#remember(key, hit);
      }
    }
    if (hit === undefined || !covers(hit, names)) return undefined;
    const out: Record<string, string> = {};
    for (const name of names) out[name] = hit[name]!;
    return out;
  }

  /** Remembers digests of the file as `stats` describe it (merged with what is known of the same version). */
  set(stats: Stats, digests: Digests): void {
    const key = keyOf(stats);
    const merged = { ...this.#entries.get(key), ...defined(digests) };
    this.#remember(key, merged);
    if (this.#dir !== null) void this.#writeSidecar(stats, merged).catch(() => undefined);
  }

  /**
   * Forgets the file as `stats` describe it, which was deleted or replaced:
   * its entry leaves memory and its sidecar the disk (only if the sidecar
   * still describes that version: the inode may already hold a new file).
   */
  forget(stats: Stats): void {
    this.#entries.delete(keyOf(stats));
    if (this.#dir === null) return;
    const path = this.#sidecar(stats);
    const work = (async () => {
      if ((await readSidecar(path, stats)) !== undefined) await unlink(path);
    })();
    this.#writes = Promise.all([this.#writes, work.catch(() => undefined)]);
  }

  /** Resolves once the sidecar of `set` calls made so far could be written (tests). */
  async settled(): Promise<void> {
    await this.#dirReady;
    await this.#writes;
  }

  #writes: Promise<unknown> = Promise.resolve();

  #remember(key: string, digests: Digests): void {
    this.#entries.delete(key);
    this.#entries.set(key, digests);
    if (this.#entries.size > this.#capacity) this.#entries.delete(this.#entries.keys().next().value!);
  }

  #sidecar(stats: Stats): string {
    return join(this.#dir!, `${stats.dev}-${stats.ino}.json`);
  }

  async #writeSidecar(stats: Stats, digests: Digests): Promise<void> {
    this.#dirReady ??= mkdir(this.#dir!, { recursive: true, mode: 0o700 });
    await this.#dirReady;
    const path = this.#sidecar(stats);
    const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    const work = (async () => {
      await writeFile(temp, JSON.stringify({ size: stats.size, mtimeMs: stats.mtimeMs, digests }), { mode: 0o600 });
      await rename(temp, path);
    })();
    this.#writes = Promise.all([this.#writes, work.catch(() => undefined)]);
    await work;
  }
}

function keyOf(stats: Stats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}

function covers(digests: Digests | undefined, names: readonly DigestName[]): digests is Digests {
  return digests !== undefined && names.every((name) => digests[name] !== undefined);
}

function defined(digests: Digests): Digests {
  const out: Record<string, string> = {};
  for (const name of DIGEST_NAMES) {
    const value = digests[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** A sidecar's digests if it describes this very version of the file (same size and mtime). */
async function readSidecar(path: string, stats: Stats): Promise<Digests | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const record = parsed as { size?: unknown; mtimeMs?: unknown; digests?: unknown };
    if (record.size !== stats.size || record.mtimeMs !== stats.mtimeMs) return undefined;
    if (typeof record.digests !== 'object' || record.digests === null) return undefined;
    const source = record.digests as Record<string, unknown>;
    const out: Record<string, string> = {};
    for (const name of DIGEST_NAMES) {
      const value = source[name];
      if (typeof value === 'string' && /^[0-9a-f]+$/u.test(value)) out[name] = value;
    }
    return out;
  } catch {
    return undefined; // missing or damaged: hash again
  }
}
