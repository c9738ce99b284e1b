/**
 * Exclusive claims on names being uploaded, so two writers of the same name
 * never interleave (docs/protocol.md §3.3). In-process: each gridlink node owns its own disk.
 */
export class PathLocks {
  readonly #held = new Set<string>();

  /** Claims `key`; returns a release function, or null when someone holds it. */
  tryAcquire(key: string): (() => void) | null {
    if (this.#held.has(key)) return null;
    this.#held.add(key);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held.delete(key);
    };
  }

  get size(): number {
    return this.#held.size;
  }
}
