/**
 * Display formats, for the page's language (i18n.ts). Telemetry is shown
 * with a fixed number of decimals per unit so columns do not jitter.
 */

import { formatBytes, formatNumber } from './i18n.js';

export { formatBytes, formatDateTime, formatTime } from './i18n.js';

const DECIMALS: Readonly<Record<string, number>> = {
  kV: 2,
  V: 1,
  A: 1,
  kA: 3,
  kW: 0,
  MW: 2,
  kvar: 0,
  Mvar: 2,
  Hz: 2,
  '%': 1,
};

/** Decimals a value of this unit is shown with. */
export function decimalsOf(unit: string, value: number): number {
  return DECIMALS[unit] ?? (Number.isInteger(value) ? 0 : 2);
}

export function formatValue(value: number | null, unit: string): string {
  if (value === null || !Number.isFinite(value)) return '—';
  return formatNumber(value, decimalsOf(unit, value));
}

/** "12.3 MiB/s" style rate for transfers. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}
