import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { EventLoopDelay } from '../../src/server/event-loop-delay.js';
import { until } from '../helpers/until.js';

/** Holds the event loop for `ms`, as a synchronous fsync or a long computation would. */
function block(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // busy: nothing else on the loop runs meanwhile
  }
}

function capturedLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('warn', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('event loop delay (admin status, /metrics)', () => {
  it('a quiet loop runs on time', async () => {
    const { logger, lines } = capturedLogger();
    const monitor = new EventLoopDelay(logger, 400);
    try {
      await new Promise((resolve) => setTimeout(resolve, 900));
      const quiet = monitor.snapshot();
      expect(quiet.windowSeconds).toBeGreaterThan(0.3);
      // Node samples every 10 ms and records the whole interval: a loop on
      // time is late by about nothing, not by the 10 ms of the interval.
      expect(quiet.p50Ms).toBeGreaterThanOrEqual(0);
      expect(quiet.p50Ms).toBeLessThan(8);
      expect(quiet.p99Ms).toBeGreaterThanOrEqual(quiet.p50Ms);
      expect(quiet.maxMs).toBeGreaterThanOrEqual(quiet.p99Ms);
      expect(lines).toHaveLength(0);
    } finally {
      monitor.close();
    }
  });

  it('a blocked loop shows in the window\'s worst delay and is logged once as a stall', async () => {
    const { logger, lines } = capturedLogger();
    const monitor = new EventLoopDelay(logger, 1_000);
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      block(700);
      // The figures change when the window closes, a second after the start.
      const window = await until(() => {
        const s = monitor.snapshot();
        return s.maxMs >= 600 && s.windowSeconds >= 0.9 ? s : undefined;
      }, 5_000, 'the window with the block');
      expect(window.maxMs).toBeLessThan(2_000);
      // One sample of ~100 in the window was late: the median was not.
      expect(window.p50Ms).toBeLessThan(50);
      await until(() => lines.some((l) => l['event'] === 'event_loop.stalled'), 2_000, 'the stall line');
      const stall = lines.find((l) => l['event'] === 'event_loop.stalled')!;
      expect(stall['maxMs']).toBeGreaterThanOrEqual(600);
      // The next window has no block: its figures are quiet again, and nothing more is logged.
      const next = await until(() => {
        const s = monitor.snapshot();
        return s.maxMs < 500 ? s : undefined;
      }, 5_000, 'a quiet window');
      expect(next.p99Ms).toBeLessThan(500);
      expect(lines.filter((l) => l['event'] === 'event_loop.stalled')).toHaveLength(1);
    } finally {
      monitor.close();
    }
  });
});
