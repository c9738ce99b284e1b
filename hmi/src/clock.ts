/**
 * The server's clock as seen from the page. Lease countdowns are computed
 * from the server's `expiresAt`, so a workstation whose clock is off would
 * show a wrong countdown; every value stamped by the server tells us roughly
 * what its clock says. A sample can only be late (network, queues), never
 * early, so the largest recent offset is the best estimate.
 */

const WINDOW = 64;
const samples: number[] = [];
let offset = 0;

/** Records a server timestamp that was just received. */
export function noteServerTime(serverMs: number | null): void {
  if (serverMs === null || !Number.isFinite(serverMs)) return;
  samples.push(serverMs - Date.now());
  if (samples.length > WINDOW) samples.shift();
  const best = Math.max(...samples);
  // Within a second the difference is noise; a synced clock is best left alone.
  offset = Math.abs(best) < 1_000 ? 0 : best;
}

export function serverNow(): number {
  return Date.now() + offset;
}
