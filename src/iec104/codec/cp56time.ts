import { Iec104CodecError } from './errors.js';

/**
 * CP56Time2a, the 7-byte time tag (docs/iec104.md "CP56Time2a"), field by
 * field as on the wire. Decoding keeps whatever the peer sent (a device with
 * a broken clock must not lose its values); {@link cp56ToEpochMs} is where
 * the fields are checked. The reserved bits are dropped on decode and sent as 0.
 */
export interface Cp56Time2a {
  /** Milliseconds within the minute, seconds included: 0..59999. */
  readonly milliseconds: number;
  /** 0..59. */
  readonly minute: number;
  /** IV: the time tag is invalid (the clock is not synchronized). */
  readonly invalid: boolean;
  /** 0..23. */
  readonly hour: number;
  /** SU: summer time. Informative only; the fields are read as UTC here. */
  readonly summerTime: boolean;
  /** Day of month, 1..31. */
  readonly day: number;
  /** Day of week, 1 (Monday)..7 (Sunday); 0 when not used. */
  readonly dayOfWeek: number;
  /** 1..12. */
  readonly month: number;
  /** Year within the century, 0..99, meaning 2000..2099. */
  readonly year: number;
}

/** Encoded size of a CP56Time2a. */
export const CP56_BYTES = 7;

const MS_PER_DAY = 86_400_000;
/** 2000-01-01T00:00:00Z and 2100-01-01T00:00:00Z: the span the 2-digit year can name. */
const FIRST_MS = Date.UTC(2000, 0, 1);
const END_MS = Date.UTC(2100, 0, 1);

/** Reads 7 bytes at `at` (the caller has checked they are there). */
export function readCp56(b: Uint8Array, at: number): Cp56Time2a {
  const minuteByte = b[at + 2]!;
  const hourByte = b[at + 3]!;
  const dayByte = b[at + 4]!;
  return {
    milliseconds: b[at]! | (b[at + 1]! << 8),
    minute: minuteByte & 0x3f,
    invalid: (minuteByte & 0x80) !== 0,
    hour: hourByte & 0x1f,
    summerTime: (hourByte & 0x80) !== 0,
    day: dayByte & 0x1f,
    dayOfWeek: dayByte >> 5,
    month: b[at + 5]! & 0x0f,
    year: b[at + 6]! & 0x7f,
  };
}

/** Writes 7 bytes at `at`; throws `invalid_time` for a field outside its range. */
export function writeCp56(t: Cp56Time2a, b: Uint8Array, at: number): void {
  checkFields(t, false);
  b[at] = t.milliseconds & 0xff;
  b[at + 1] = t.milliseconds >> 8;
  b[at + 2] = t.minute | (t.invalid ? 0x80 : 0);
  b[at + 3] = t.hour | (t.summerTime ? 0x80 : 0);
  b[at + 4] = t.day | (t.dayOfWeek << 5);
  b[at + 5] = t.month;
  b[at + 6] = t.year;
}

/**
 * The CP56Time2a of an instant (ms since the epoch), in UTC, with the day of
 * week filled in. Throws `invalid_time` outside 2000..2099, which the
 * two-digit year cannot name.
 */
export function cp56FromEpochMs(ms: number, flags: { invalid?: boolean; summerTime?: boolean } = {}): Cp56Time2a {
  if (!Number.isFinite(ms) || ms < FIRST_MS || ms >= END_MS) {
    throw new Iec104CodecError('invalid_time', `${ms} ms is outside 2000..2099`);
  }
  const whole = Math.floor(ms);
  const days = Math.floor(whole / MS_PER_DAY);
  const inDay = whole - days * MS_PER_DAY;
  const { year, month, day } = civilFromDays(days);
  return {
    milliseconds: inDay % 60_000,
    minute: Math.floor(inDay / 60_000) % 60,
    invalid: flags.invalid ?? false,
    hour: Math.floor(inDay / 3_600_000),
    summerTime: flags.summerTime ?? false,
    day,
    // 1970-01-01 was a Thursday (ISO day 4).
    dayOfWeek: ((((days + 3) % 7) + 7) % 7) + 1,
    month,
    year: year - 2000,
  };
}

/**
 * The instant a CP56Time2a names, in ms since the epoch, reading its fields
 * as UTC. Throws `invalid_time` when a field is out of range or the day does
 * not exist in that month. The IV flag and the day of week are not checked:
 * the caller decides what an invalid time tag means.
 */
export function cp56ToEpochMs(t: Cp56Time2a): number {
  checkFields(t, true);
  const year = 2000 + t.year;
  if (t.day > daysInMonth(year, t.month)) {
    throw new Iec104CodecError('invalid_time', `${year}-${t.month} has no day ${t.day}`);
  }
  return daysFromCivil(year, t.month, t.day) * MS_PER_DAY + t.hour * 3_600_000 + t.minute * 60_000 + t.milliseconds;
}

function checkFields(t: Cp56Time2a, forInstant: boolean): void {
  const bad =
    !inRange(t.milliseconds, 0, 59_999) ||
    !inRange(t.minute, 0, 59) ||
    !inRange(t.hour, 0, 23) ||
    !inRange(t.day, 1, 31) ||
    !inRange(t.dayOfWeek, 0, 7) ||
    !inRange(t.month, 1, 12) ||
    !inRange(t.year, 0, 99);
  if (bad) {
    const what = forInstant ? 'does not name an instant' : 'cannot be encoded';
    throw new Iec104CodecError('invalid_time', `${JSON.stringify(t)} ${what}`);
  }
}

function inRange(v: number, min: number, max: number): boolean {
  return Number.isInteger(v) && v >= min && v <= max;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

// Calendar arithmetic without a Date object per call (H. Hinnant's
// days-from-civil algorithms, proleptic Gregorian, day 0 = 1970-01-01).

function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}
