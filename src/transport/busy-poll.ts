import { performance } from 'node:perf_hooks';

/**
 * Keeps the event loop polling its sockets without sleeping until
 * `performance.now()` reaches a deadline: while it runs, libuv's poll phase
 * waits with a zero timeout (a pending setImmediate), so a reply that
 * arrives is read at once instead of after the kernel wakes a sleeping
 * thread. On the machines gridlink is measured on (virtual, two cores)
 * that wake-up costs more than the work of a whole round trip, and a
 * protocol whose sender waits on a window of acknowledgements (IEC 104's
 * k) spends its time in it. lib60870's station does the same (its
 * connection thread polls with a zero timeout while ASDUs wait).
 *
 * One loop serves every caller; `pollBusyFor` only moves its deadline, so
 * the cost is bounded by the callers' own windows (docs/iec104.md "APCI").
 */
let deadline = 0;
let running = false;

function spin(): void {
  if (performance.now() < deadline) {
    setImmediate(spin);
    return;
  }
  running = false;
}

/** Polls without sleeping for the next `ms` milliseconds (at least). */
export function pollBusyFor(ms: number): void {
  const until = performance.now() + ms;
  if (until > deadline) deadline = until;
  if (!running) {
    running = true;
    setImmediate(spin);
  }
}

/** True while the loop is kept polling (for tests and status). */
export function pollingBusy(): boolean {
  return running;
}
