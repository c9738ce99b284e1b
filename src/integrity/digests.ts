import { timingSafeEqual } from 'node:crypto';

/** The checksums of one transfer: SHA-256 always, MD5 when a client asks (SPEC §4). */
export interface DigestResult {
  readonly sha256: string;
  readonly md5?: string | undefined;
}

/** Compares two hex digests in constant time (case-insensitive). */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a.toLowerCase(), 'utf8');
  const y = Buffer.from(b.toLowerCase(), 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** True when every digest the sender gave matches ours. */
export function digestsMatch(actual: DigestResult, expected: DigestResult): boolean {
  if (!sameDigest(actual.sha256, expected.sha256)) return false;
  return expected.md5 === undefined || (actual.md5 !== undefined && sameDigest(actual.md5, expected.md5));
}
