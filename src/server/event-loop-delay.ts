import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from 'pino';

/** How often the event loop is sampled (ms): Node's timer measures how late each sample runs. */
const RESOLUTION_MS = 10;
/** The window the figures cover: they are replaced once a minute. */
const WINDOW_MS = 60_000;
/** A window whose worst delay passes this is logged (`event_loop.stalled`): everything on the loop waited that long. */
const STALL_LOG_MS = 500;

/** How late the event loop ran over the last window (docs/architecture.md, "Event loop"). */
export interface EventLoopDelaySnapshot {
  /** Length of the window the figures describe, seconds (less than a minute just after the start). */
  readonly windowSeconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/**
 * Watches the one event loop every service of the server shares (docs/architecture.md):
 * a poll, an IEC 104 acknowledgement or a chat line waits for whatever holds
 * the loop, so its delay is what an operator wants to see first when
 * anything is late. Node's own monitor samples it every 10 ms; the figures
 * (median, 99th percentile, worst) cover the last full minute and go to
 * `gridlink admin status` and `/metrics`. A minute whose worst delay passes
 * half a second is logged once, as `event_loop.stalled`.
 */
export class EventLoopDelay {
  readonly #histogram: IntervalHistogram;
  readonly #logger: Logger;
  readonly #timer: NodeJS.Timeout;
  #windowStart = Date.now();
  #last: EventLoopDelaySnapshot | null = null;

  constructor(logger: Logger, windowMs = WINDOW_MS) {
    this.#logger = logger;
    this.#histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.#histogram.enable();
    this.#timer = setInterval(() => this.#rotate(), windowMs).unref();
  }

  /** The last full window's figures; until one has passed, those of the time so far. */
  snapshot(): EventLoopDelaySnapshot {
    return this.#last ?? this.#current();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#histogram.disable();
  }

  #current(): EventLoopDelaySnapshot {
    const h = this.#histogram;
    // Node records the time between two samples (ns), the resolution included:
    // how late a sample ran is what passes the resolution. No sample yet: the
    // histogram's max is a sentinel.
    const late = (ns: number): number => (h.count === 0 ? 0 : Math.max(0, ns / 1e6 - RESOLUTION_MS));
    return {
      windowSeconds: (Date.now() - this.#windowStart) / 1000,
      p50Ms: late(h.percentile(50)),
      p99Ms: late(h.percentile(99)),
      maxMs: late(h.max),
    };
  }

  #rotate(): void {
    const window = this.#current();
    this.#last = window;
    this.#histogram.reset();
    this.#windowStart = Date.now();
    if (window.maxMs > STALL_LOG_MS) {
      this.#logger.warn({ event: 'event_loop.stalled', maxMs: Math.round(window.maxMs), p99Ms: Math.round(window.p99Ms), windowSeconds: Math.round(window.windowSeconds) }, 'the event loop was blocked: every service waited');
    }
  }
}
