import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GridlinkError } from '../../errors/index.js';
import { formatBytes } from '../../units/bytes.js';

/** What an area holds: bytes in regular files, and entries (files, links and directories). */
export interface Usage {
  bytes: number;
  entries: number;
}

/** An area's limits: `bytes` is its quota, `entries` the most names it may hold. */
export interface Limits {
  readonly bytes: number;
  readonly entries: number;
}

/**
 * An upload's claim on its area's quota, settled once. The claim was sized
 * from the file the upload replaced when it opened; the name may since have
 * been removed, moved or replaced, so the commit settles against what it
 * really replaces at the moment of the rename (`replaced`: that file's size,
 * or null when the name is free).
 */
export interface Reservation {
  /** Throws GL_ERR_FILE_QUOTA (or _TOO_MANY_ENTRIES) when the commit, replacing `replaced`, no longer fits. */
  check(replaced: number | null): void;
  /** The upload is in place: its real size change counts as used. */
  commit(replaced: number | null): void;
  /** The upload ended without a commit: give the claim back. */
  release(): void;
}

/**
 * Bytes and entries used per area (docs/configuration.md, `quota`,
 * `files.maxEntries`, `anonymous.quota`): measured from the directory on first
 * need, then kept up to date by every change gridlink makes. Open uploads
 * reserve their growth, so concurrent uploads cannot overshoot: a put that
 * would exceed the quota is refused before any byte is stored, and settled
 * exactly at its commit, which runs under the area's mutation lock
 * (FileArea.exclusive) together with every rm, mv, mkdir and rmdir.
 */
export class QuotaLedger {
  readonly #used = new Map<string, Usage>();
  readonly #measuring = new Map<string, Promise<Usage>>();
  readonly #reserved = new Map<string, number>();

  /** What the area `key` (rooted at `root`) holds: measured once, then tracked. */
  async usage(key: string, root: string): Promise<Usage> {
    const known = this.#used.get(key);
    if (known !== undefined) return known;
    let measuring = this.#measuring.get(key);
    if (measuring === undefined) {
      measuring = diskUsage(root).then((usage) => {
        const kept = this.#used.get(key) ?? usage;
        this.#used.set(key, kept);
        this.#measuring.delete(key);
        return kept;
      });
      this.#measuring.set(key, measuring);
    }
    return measuring;
  }

  /** Bytes claimed by uploads of `key` that are open now. */
  reserved(key: string): number {
    return this.#reserved.get(key) ?? 0;
  }

  /**
   * Claims the growth of an upload of `length` bytes that replaces `replaced`
   * (null: a new name). `parked` counts the area's unfinished uploads kept
   * for a resume: they take disk space too, so they count against the quota.
   * Call after {@link usage} has measured the area.
   */
  reserve(key: string, limits: Limits, length: number, replaced: number | null, parked = 0): Reservation {
    const growth = Math.max(0, length - (replaced ?? 0));
    this.#fits(key, limits, growth, replaced === null ? 1 : 0, parked);
    this.#reserved.set(key, this.reserved(key) + growth);
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      this.#reserved.set(key, this.reserved(key) - growth);
    };
    return {
      check: (now) => {
        if (settled) return;
        const needed = Math.max(0, length - (now ?? 0)) - growth;
        // Only what the claim does not cover yet must still fit.
        this.#fits(key, limits, Math.max(0, needed), now === null ? 1 : 0, 0, growth);
      },
      commit: (now) => {
        if (settled) return;
        settle();
        this.adjust(key, length - (now ?? 0), now === null ? 1 : 0);
      },
      release: settle,
    };
  }

  /** Throws GL_ERR_FILE_TOO_MANY_ENTRIES when `key` may not hold `adding` more names. */
  checkEntries(key: string, limits: Limits, adding: number): void {
    this.#fits(key, limits, 0, adding, 0);
  }

  /** Records a change made outside an upload (a removal, a new directory). */
  adjust(key: string, bytes: number, entries = 0): void {
    const used = this.#used.get(key);
    if (used === undefined) return;
    used.bytes = Math.max(0, used.bytes + bytes);
    used.entries = Math.max(0, used.entries + entries);
  }

  /** `ownClaim`: bytes already reserved by the caller, so not counted twice. */
  #fits(key: string, limits: Limits, growth: number, newEntries: number, parked: number, ownClaim = 0): void {
    const used = this.#used.get(key) ?? { bytes: 0, entries: 0 };
    if (newEntries > 0 && used.entries + newEntries > limits.entries) {
      throw new GridlinkError('GL_ERR_FILE_TOO_MANY_ENTRIES', `at most ${limits.entries} files and directories; remove some first`);
    }
    const reserved = this.reserved(key) - ownClaim;
    if (growth > 0 && used.bytes + parked + reserved + ownClaim + growth > limits.bytes) {
      const pending = reserved > 0 ? ` (+${formatBytes(reserved)} in open uploads)` : '';
      const held = parked > 0 ? ` (${formatBytes(parked)} of it in unfinished uploads)` : '';
      throw new GridlinkError(
        'GL_ERR_FILE_QUOTA',
        `quota ${formatBytes(limits.bytes)}, used ${formatBytes(used.bytes + parked)}${held}${pending}, this file needs ${formatBytes(growth)} more`,
      );
    }
  }
}

/** Sizes of the regular files below `dir`, and how many entries it holds (links are not followed). */
async function diskUsage(dir: string): Promise<Usage> {
  const usage: Usage = { bytes: 0, entries: 0 };
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.name === '.gridlink') continue;
    usage.entries += 1;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const below = await diskUsage(path);
      usage.bytes += below.bytes;
      usage.entries += below.entries;
    } else if (entry.isFile()) usage.bytes += (await lstat(path).catch(() => ({ size: 0 }))).size;
  }
  return usage;
}
