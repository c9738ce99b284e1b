import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GridlinkError } from '../../errors/index.js';
import { formatBytes } from '../../units/bytes.js';

/** An upload's claim on its user's quota, settled once. */
export interface Reservation {
  /** The upload is in place: its size change now counts as used. */
  commit(): void;
  /** The upload ended without a commit: give the claim back. */
  release(): void;
}

const NO_RESERVATION: Reservation = { commit: () => undefined, release: () => undefined };

/**
 * Bytes used per user (SPEC §4 quota): measured from the home directory on
 * first need, then kept up to date by every change gridlink makes. Open
 * uploads reserve their growth, so concurrent uploads cannot overshoot: a put
 * that would exceed the quota is refused before any byte is stored.
 */
export class QuotaLedger {
  readonly #used = new Map<string, number>();
  readonly #reserved = new Map<string, number>();

  /** Bytes in `user`'s home (measured once, then tracked). */
  async used(user: string, home: string): Promise<number> {
    let used = this.#used.get(user);
    if (used === undefined) {
      used = await diskUsage(home);
      // Another call may have measured meanwhile; keep the first.
      used = this.#used.get(user) ?? used;
      this.#used.set(user, used);
    }
    return used;
  }

  /**
   * Claims `delta` bytes (the new size minus what the upload replaces).
   * `parked` counts the user's other unfinished uploads kept for a resume:
   * they take disk space too, so they count against the quota.
   */
  async reserve(user: string, home: string, quotaBytes: number, delta: number, parked = 0): Promise<Reservation> {
    const used = (await this.used(user, home)) + parked;
    const growth = Math.max(0, delta);
    const reserved = this.#reserved.get(user) ?? 0;
    if (growth > 0 && used + reserved + growth > quotaBytes) {
      const pending = reserved > 0 ? ` (+${formatBytes(reserved)} in open uploads)` : '';
      const held = parked > 0 ? ` (${formatBytes(parked)} of it in unfinished uploads)` : '';
      throw new GridlinkError('GL_ERR_FILE_QUOTA', `quota ${formatBytes(quotaBytes)}, used ${formatBytes(used)}${held}${pending}, this file needs ${formatBytes(growth)} more`);
    }
    if (delta === 0) return NO_RESERVATION;
    this.#reserved.set(user, reserved + growth);
    let settled = false;
    const settle = (apply: boolean): void => {
      if (settled) return;
      settled = true;
      this.#reserved.set(user, (this.#reserved.get(user) ?? growth) - growth);
      if (apply) this.adjust(user, delta);
    };
    return { commit: () => settle(true), release: () => settle(false) };
  }

  /** Records a change made outside an upload (a removal). */
  adjust(user: string, delta: number): void {
    const used = this.#used.get(user);
    if (used !== undefined) this.#used.set(user, Math.max(0, used + delta));
  }
}

/** Sum of the sizes of regular files below `dir` (links are not followed). */
async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await diskUsage(path);
    else if (entry.isFile()) total += (await lstat(path).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
