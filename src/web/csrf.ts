import { timingSafeEqual } from 'node:crypto';

/**
 * Cross-site request forgery defences (docs/http-api.md "Sessions and CSRF"):
 * the session cookie is SameSite=Strict, every state-changing request carries
 * the session's token in `X-CSRF-Token` (a header another site cannot set),
 * and an `Origin` the browser sends must be the server's own.
 */

/** Requests that change state: they need the CSRF token and a same-origin Origin. */
export function changesState(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

/** True when the header carries the session's token (compared in constant time). */
export function csrfMatches(expected: string, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(header, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * True when `origin` may make this request: absent (not a browser, or a
 * browser that sends none for same-origin GETs), the server's own origin as
 * the browser addressed it (scheme + Host), or one of the configured extras.
 * `Origin: null` (sandboxed frames, file: pages) is refused.
 */
export function originAllowed(origin: string | string[] | undefined, host: string | undefined, secure: boolean, extra: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (typeof origin !== 'string' || host === undefined) return false;
  const scheme = secure ? 'https' : 'http';
  const seen = normalise(origin);
  if (seen === null) return false;
  if (seen === normalise(`${scheme}://${host}`)) return true;
  return extra.some((allowed) => normalise(allowed) === seen);
}

/** scheme://host[:port] in lower case without a default port; null when not such a URL. */
function normalise(origin: string): string | null {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') return null;
  // An Origin has no path; anything more is not an origin.
  if (origin.replace(/\/$/u, '') !== `${url.protocol}//${url.host}` && origin.replace(/\/$/u, '').toLowerCase() !== `${url.protocol}//${url.host}`) return null;
  return `${url.protocol}//${url.host}`;
}
