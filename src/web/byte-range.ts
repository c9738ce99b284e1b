/** Bytes [start, end] of a representation (inclusive, as in Content-Range). */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * The range a `Range` header asks for (RFC 9110 §14), for a representation
 * of `size` bytes:
 * - `null`: serve the whole representation (no header, a syntax we ignore
 *   as the RFC allows, or several ranges — answered whole rather than as
 *   multipart, which the RFC also allows);
 * - `'unsatisfiable'`: answer 416 with `Content-Range: bytes *\/size`;
 * - a range, clamped to the representation.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | null | 'unsatisfiable' {
  if (header === undefined) return null;
  const match = /^bytes=(\d*)-(\d*)$/u.exec(header.trim());
  if (match === null) return null;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return null;
  if (first.length > 15 || last.length > 15) return null;
  if (first === '') {
    // Suffix range: the last N bytes.
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return null; // invalid: ignored
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/**
 * `If-Range` (RFC 9110 §13.1.5): the range applies only when the validator
 * still matches — a strong ETag equal to ours, or exactly our Last-Modified.
 */
export function ifRangeMatches(header: string | string[] | undefined, etag: string, lastModified: string): boolean {
  if (header === undefined) return true;
  if (typeof header !== 'string') return false;
  const value = header.trim();
  if (value.startsWith('"')) return value === etag;
  if (value.startsWith('W/')) return false;
  return value === lastModified;
}

/**
 * Whether `If-None-Match` matches our ETag (weak comparison, RFC 9110 §13.1.2):
 * then a GET or HEAD is answered 304.
 */
export function noneMatchHit(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const value = header.trim();
  if (value === '*') return true;
  const ours = etag.replace(/^W\//u, '');
  return value.split(',').some((candidate) => candidate.trim().replace(/^W\//u, '') === ours);
}

/** Whether `If-Modified-Since` says the client's copy is current (only without If-None-Match). */
export function notModifiedSince(header: string | undefined, mtimeMs: number): boolean {
  if (header === undefined) return false;
  const since = Date.parse(header);
  return Number.isFinite(since) && Math.floor(mtimeMs / 1000) * 1000 <= since;
}
