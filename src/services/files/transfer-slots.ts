/**
 * A budget of transfers that may move bytes at once (docs/architecture.md: bound what
 * accumulates). A transfer beyond it waits, first come first served, with its
 * connection paused, so its bytes wait in the kernel's socket buffers instead
 * of the server's memory: server memory is bounded by the budget, not by the
 * number of clients.
 */
export class TransferSlots {
  readonly #limit: number;
  readonly #waiting: (() => void)[] = [];
  #active = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Runs `work` once a slot is free, and frees the slot after it. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active += 1;
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      // Hand the slot straight to the next transfer (the count stays the same).
      if (next === undefined) this.#active -= 1;
      else next();
    }
  }
}
