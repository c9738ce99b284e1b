/**
 * Headers every response of the web HMI carries (as a flat name, value list).
 * The page controls breakers: it must never be framed by another site
 * (clickjacking), its types never sniffed, and with `html` its scripts come
 * only from this server (CSP; `connect-src 'self'` covers the same-origin
 * WebSocket).
 */
export function securityHeaders(html: boolean): string[] {
  const always = ['x-content-type-options', 'nosniff', 'x-frame-options', 'DENY', 'referrer-policy', 'same-origin'];
  if (!html) return always;
  return [
    ...always,
    'content-security-policy',
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'",
  ];
}
