/**
 * Password checks from one address, a few at a time (docs/ftp.md "Logins").
 *
 * The login throttle shared with the native and web logins counts an
 * attempt as failed from the moment it is let in until its password has
 * been checked (docs/security.md), so that guesses sent at once cannot all
 * run before the first failure counts. Five attempts in flight from one
 * address therefore look like five failures, and a burst of honest FTP
 * clients (a relay pushing records on many connections, `curl --parallel`)
 * would be refused. FTP logins are plain USER/PASS on separate
 * connections, so this front lets at most {@link MAX_IN_FLIGHT} of them per
 * address be checked at once and queues the rest: the burst is paced, not
 * refused, and a wrong password still counts as it always did.
 */
export const MAX_IN_FLIGHT = 4;

export class LoginGate {
  readonly #addresses = new Map<string, { active: number; waiting: (() => void)[] }>();

  /** Runs `check` when fewer than {@link MAX_IN_FLIGHT} checks of `address` run. */
  async run<T>(address: string, check: () => Promise<T>): Promise<T> {
    let entry = this.#addresses.get(address);
    if (entry === undefined) {
      entry = { active: 0, waiting: [] };
      this.#addresses.set(address, entry);
    }
    if (entry.active >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => entry.waiting.push(resolve));
    else entry.active += 1;
    try {
      return await check();
    } finally {
      const next = entry.waiting.shift();
      // The slot passes straight to the next waiter (the count stays the same).
      if (next !== undefined) next();
      else if (--entry.active === 0) this.#addresses.delete(address);
    }
  }
}
