/**
 * How many events each ASDU waiting in a link's queue carries, oldest first,
 * so the events a full queue drops are counted exactly (the link drops whole
 * ASDUs, and a spontaneous ASDU may carry many events). The link's queue is
 * a FIFO that only its own `send` drops from, so this mirror stays in step
 * by its length alone: whatever left the link's queue since was sent.
 */
export class QueueLedger {
  #counts: number[] = [];
  #head = 0;

  get length(): number {
    return this.#counts.length - this.#head;
  }

  push(events: number): void {
    this.#counts.push(events);
  }

  /** Removes the oldest entry and returns its event count (0 when empty). */
  shift(): number {
    if (this.#head >= this.#counts.length) return 0;
    const events = this.#counts[this.#head]!;
    this.#head += 1;
    if (this.#head > 1024 && this.#head * 2 > this.#counts.length) {
      this.#counts = this.#counts.slice(this.#head);
      this.#head = 0;
    }
    return events;
  }

  /** Forgets the oldest entries until `queued` are left (those are the ones still waiting). */
  trimTo(queued: number): void {
    while (this.length > queued) this.shift();
  }

  clear(): void {
    this.#counts = [];
    this.#head = 0;
  }
}
