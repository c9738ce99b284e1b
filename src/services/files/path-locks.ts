/**
 * Who holds a name's upload lock, as far as a newer claim needs to know: the
 * account (or anonymous address) it belongs to, how long it has been idle, and
 * how to end it.
 */
export interface LockHolder {
  /** `user:<name>`, or `anonymous:<address>` for the anonymous area. */
  readonly owner: string;
  /** Milliseconds since its last byte arrived (or since it opened). */
  idleMs(): number;
  /**
   * Ends it for a newer claim: what it received is flushed to the partial file
   * and the name is released. Resolves once that is done, or at once when it
   * cannot be taken over (it is committing, or it is not ready yet).
   */
  supersede(): Promise<void>;
}

/**
 * The holder for an upload that does not exist yet while its claim is made:
 * `upload()` returns it once it does. Until then it counts as active since
 * the claim, and cannot be superseded.
 */
export function holderOf(owner: string, upload: () => { readonly lastActivity: number; supersede(): Promise<void> } | null): LockHolder {
  const claimed = Date.now();
  return {
    owner,
    idleMs: () => Date.now() - (upload()?.lastActivity ?? claimed),
    supersede: () => upload()?.supersede() ?? Promise.resolve(),
  };
}

/**
 * Exclusive claims on names being uploaded, so two writers of the same name
 * never interleave (docs/protocol.md §3.3). In-process: each gridlink node owns its own disk.
 */
export class PathLocks {
  readonly #held = new Map<string, LockHolder | null>();

  /** Claims `key`; returns a release function, or null when someone holds it. */
  tryAcquire(key: string, holder: LockHolder | null = null): (() => void) | null {
    if (this.#held.has(key)) return null;
    this.#held.set(key, holder);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held.delete(key);
    };
  }

  /**
   * Claims `key` like {@link tryAcquire}, but a holder of the same `owner` idle
   * for `staleMs` or more is superseded first: a client whose connection died
   * without a FIN (a cut link, a suspended laptop) leaves a session the server
   * cannot yet tell from a slow one, and its own rerun must not be refused
   * until the idle timeout ends it.
   */
  async acquireOrSupersede(key: string, holder: LockHolder, staleMs: number): Promise<(() => void) | null> {
    const mine = this.tryAcquire(key, holder);
    if (mine !== null) return mine;
    const current = this.#held.get(key);
    if (current === null || current === undefined || current.owner !== holder.owner || current.idleMs() < staleMs) return null;
    await current.supersede();
    return this.tryAcquire(key, holder);
  }

  get size(): number {
    return this.#held.size;
  }
}
