import { GridlinkError } from '../../errors/index.js';

/** A route's query string as fastify parses it (a repeated key would be an array, which every reader refuses). */
export type Query = Record<string, string | undefined>;

/** The largest time a JavaScript Date holds (ms since the epoch). */
export const MAX_TIME_MS = 8_640_000_000_000_000;
const HOUR_MS = 3_600_000;

/** An optional non-negative integer query parameter (milliseconds, counts), capped at `max`. */
export function intParam(query: Query, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = query[name];
  if (raw === undefined || raw === '') return fallback;
  if (typeof raw !== 'string' || !/^\d{1,16}$/u.test(raw)) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', `${name} must be a non-negative integer`);
  return Math.min(Number(raw), max);
}

/** An optional string parameter of at most 256 characters ('' counts as absent). */
export function stringParam(query: Query, name: string): string | undefined {
  const raw = query[name];
  if (raw !== undefined && (typeof raw !== 'string' || raw.length > 256)) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', `${name} is not a valid string`);
  return raw === '' ? undefined : raw;
}

/**
 * `since` and `until` in ms since the epoch (docs/http-api.md): `until`
 * defaults to now, `since` to an hour before it; each must be a time a Date
 * can hold. Whether since < until is the data plane's check
 * (GL_ERR_SCADA_BAD_RANGE).
 */
export function timeRange(query: Query, now = Date.now()): { since: number; until: number } {
  const until = intParam(query, 'until', now);
  const since = intParam(query, 'since', Math.max(0, until - HOUR_MS));
  if (until > MAX_TIME_MS || since > MAX_TIME_MS) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', 'since and until are ms since the epoch, at most 8.64e15');
  return { since, until };
}
