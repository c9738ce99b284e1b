/** Display formats. Telemetry is shown with a fixed number of decimals per unit so columns do not jitter. */

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

export function formatValue(value: number | null, unit: string): string {
  if (value === null || !Number.isFinite(value)) return '—';
  const decimals = DECIMALS[unit] ?? (Number.isInteger(value) ? 0 : 2);
  return value.toFixed(decimals);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

export function formatTime(ms: number | null): string {
  if (ms === null) return '—';
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
}

export function formatDateTime(ms: number): string {
  const date = new Date(ms);
  return `${date.toLocaleDateString()} ${date.toLocaleTimeString(undefined, { hour12: false })}`;
}

/** "12.3 MB/s" style rate for transfers. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}
