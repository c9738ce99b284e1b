import type { PointConfig } from '../../config/scada-schema.js';
import { registerCount } from './register-codec.js';

export type Source = PointConfig['source'];

/** One Modbus read request and the points its reply feeds. */
export interface ReadBlock {
  readonly source: Source;
  readonly start: number;
  readonly count: number;
  readonly points: ReadonlyArray<{ readonly point: PointConfig; readonly offset: number }>;
}

/** Modbus limits per request: 125 registers (FC3/FC4), 2000 bits (FC1/FC2). */
const MAX_PER_REQUEST: Record<Source, number> = { holding: 125, input: 125, coil: 2000, discrete: 2000 };
/** Unused addresses worth reading to save a round trip. */
const MAX_GAP: Record<Source, number> = { holding: 16, input: 16, coil: 256, discrete: 256 };

function width(point: PointConfig): number {
  return point.source === 'coil' || point.source === 'discrete' ? 1 : registerCount(point.type);
}

/**
 * Groups a device's points into as few reads as the protocol allows: sorted
 * by address per source, merged while the gap is small and the request stays
 * within its limit. A device with 100 consecutive registers is one request.
 */
export function planReads(points: readonly PointConfig[]): ReadBlock[] {
  const blocks: ReadBlock[] = [];
  for (const source of ['holding', 'input', 'coil', 'discrete'] as const) {
    const mine = points.filter((p) => p.source === source).sort((a, b) => a.address - b.address);
    let current: { start: number; end: number; points: Array<{ point: PointConfig; offset: number }> } | null = null;
    for (const point of mine) {
      const end = point.address + width(point);
      if (current !== null && point.address - current.end <= MAX_GAP[source] && Math.max(end, current.end) - current.start <= MAX_PER_REQUEST[source]) {
        current.end = Math.max(current.end, end);
        current.points.push({ point, offset: point.address - current.start });
        continue;
      }
      if (current !== null) blocks.push({ source, start: current.start, count: current.end - current.start, points: current.points });
      current = { start: point.address, end, points: [{ point, offset: 0 }] };
    }
    if (current !== null) blocks.push({ source, start: current.start, count: current.end - current.start, points: current.points });
  }
  return blocks;
}
