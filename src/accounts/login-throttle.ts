/** Failures allowed in a window before logins are refused for a while. */
const FREE_FAILURES = 5;
const WINDOW_MS = 15 * 60_000;
const MAX_BLOCK_MS = 15 * 60_000;
/** Entries kept at most (oldest dropped), so a flood of addresses cannot grow memory. */
const MAX_ENTRIES = 100_000;

interface Entry {
  failures: number;
  firstFailure: number;
  blockedUntil: number;
}

/**
 * Throttles failed logins per address and per user (docs/security.md): after
 * 5 failures within 15 minutes, attempts are refused for a time that doubles
 * with each further failure, from 1 s up to 15 minutes.
 *
 * A login is counted when it is let in ({@link admit}), before its password
 * is checked, and forgiven when it succeeds: a check takes tens of
 * milliseconds (scrypt), and guesses sent at the same moment must not all
 * pass the door before the first of them is counted.
 */
export class LoginThrottle {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Milliseconds to wait before this attempt may be made; 0 when allowed. */
  waitMs(address: string, user: string | null): number {
    const now = this.#now();
    return Math.max(0, ...this.#keys(address, user).map((key) => (this.#entries.get(key)?.blockedUntil ?? 0) - now));
  }

  /**
   * Lets an attempt in and counts it as failed until {@link succeeded} says
   * otherwise; returns 0. When logins are refused, counts nothing and returns
   * the milliseconds to wait.
   */
  admit(address: string, user: string | null): number {
    const wait = this.waitMs(address, user);
    if (wait === 0) this.failed(address, user);
    return wait;
  }

  failed(address: string, user: string | null): void {
    const now = this.#now();
    for (const key of this.#keys(address, user)) {
      let entry = this.#entries.get(key);
      if (entry === undefined || now - entry.firstFailure > WINDOW_MS) entry = { failures: 0, firstFailure: now, blockedUntil: 0 };
      entry.failures += 1;
      if (entry.failures >= FREE_FAILURES) entry.blockedUntil = now + Math.min(MAX_BLOCK_MS, 1000 * 2 ** (entry.failures - FREE_FAILURES));
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    while (this.#entries.size > MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
  }

  succeeded(address: string, user: string): void {
    for (const key of this.#keys(address, user)) this.#entries.delete(key);
  }

  #keys(address: string, user: string | null): string[] {
    return user === null ? [`a:${address}`] : [`a:${address}`, `u:${user}`];
  }
}
