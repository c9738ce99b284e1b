import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * Cross-site request forgery defences (docs/http-api.md "Sessions and CSRF"):
 * the session cookie is SameSite=Strict, every state-changing request carries
 * the session's token in `X-CSRF-Token` (a header another site cannot set),
 * and an `Origin` the browser sends must be the server's own.
 *
 * "The server's own" cannot be read from the request: a DNS-rebinding page
 * (evil.example, re-pointed at this server) sends `Host: evil.example` and
 * `Origin: http://evil.example`, which agree. So the Host must name this
 * server first (docs/security.md): an IP address, `localhost`, the listener's
 * host, a name in `http.hosts` or the host of an `http.origins` entry.
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
export function originAllowed(
  origin: string | string[] | undefined,
  host: string | undefined,
  secure: boolean,
  extra: readonly string[],
  names: ReadonlySet<string>,
): boolean {
  if (origin === undefined) return true;
  if (typeof origin !== 'string' || host === undefined) return false;
  const scheme = secure ? 'https' : 'http';
  const seen = normalise(origin);
  if (seen === null) return false;
  if (extra.some((allowed) => normalise(allowed) === seen)) return true;
  return seen === normalise(`${scheme}://${host}`) && hostAllowed(host, names);
}

/**
 * The names this server answers to besides IP addresses: `localhost`, the
 * listener's host, `http.hosts`, and the hosts of `http.origins`.
 */
export function serverNames(listenerHost: string, hosts: readonly string[], origins: readonly string[]): ReadonlySet<string> {
  const names = new Set<string>(['localhost']);
  for (const host of [listenerHost, ...hosts]) {
    const name = hostnameOf(host);
    if (name !== null) names.add(name);
  }
  for (const origin of origins) {
    const seen = normalise(origin);
    const name = seen === null ? null : hostnameOf(seen.slice(seen.indexOf('//') + 2));
    if (name !== null) names.add(name);
  }
  return names;
}

/**
 * True when a `Host` header names this server: absent (HTTP/1.0, not a
 * browser), an IP address (a page addressed by IP is that address's own
 * origin: nothing to rebind), or one of `names`. The port is not compared
 * (a proxy may forward another).
 */
export function hostAllowed(host: string | string[] | undefined, names: ReadonlySet<string>): boolean {
  if (host === undefined) return true;
  if (typeof host !== 'string') return false;
  const name = hostnameOf(host);
  return name !== null && (isIP(name) !== 0 || names.has(name));
}

/** The host name of a Host header value or a configured name: lower case, without port, brackets or final dot; null when malformed. */
function hostnameOf(host: string): string | null {
  let url: URL;
  try {
    url = new URL(`http://${host}`);
  } catch {
    return null;
  }
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '' || host.includes('/')) return null;
  const name = url.hostname.replace(/\.$/u, '');
  return name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
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
