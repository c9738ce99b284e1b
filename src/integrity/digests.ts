import { timingSafeEqual } from 'node:crypto';

/** The checksums of one transfer: SHA-256 always, MD5 when a client asks (docs/protocol.md §3.3). */
export interface DigestResult {
  readonly sha256: string;
  readonly md5?: string | undefined;
}

/**
 * The end-to-end digests gridlink speaks (docs/protocol.md §3.3, "Digests"):
 * XXH3-128 by default, SHA-256 on request and for peers that know nothing
 * else, MD5 for the course's clients.
 */
export const DIGEST_NAMES = ['xxh128', 'sha256', 'md5'] as const;
export type DigestName = (typeof DIGEST_NAMES)[number];

/** Hex digests by name: the ones a transfer computed or a peer sent. */
export type Digests = { readonly [K in DigestName]?: string | undefined };

/** What a client offers when it says nothing: today's SHA-256. */
export const LEGACY_DIGEST: DigestName = 'sha256';

export function isDigestName(value: string): value is DigestName {
  return (DIGEST_NAMES as readonly string[]).includes(value);
}

/**
 * The server's choice among what a client offers (docs/protocol.md §3.3):
 * the first name it knows, in the client's order of preference; no offer at
 * all is a client from before negotiation, which gets SHA-256 as before.
 * An offer of only names the server does not know also falls back to SHA-256.
 */
export function chooseDigest(offered: readonly string[] | undefined): DigestName {
  return offered?.find(isDigestName) ?? LEGACY_DIGEST;
}

/** The digests a transfer computes: the chosen one, plus MD5 when the client asked for it. */
export function digestSet(chosen: DigestName, md5: boolean): DigestName[] {
  return md5 && chosen !== 'md5' ? [chosen, 'md5'] : [chosen];
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

/**
 * True when each of `required` is in both and equal, and any other digest
 * the peer sent that we computed agrees too. A required digest missing on
 * either side is a mismatch: a transfer is never "verified" by nothing.
 */
export function verifyDigests(actual: Digests, expected: Digests, required: readonly DigestName[]): boolean {
  if (required.length === 0) return false;
  for (const name of required) {
    const a = actual[name];
    const e = expected[name];
    if (a === undefined || e === undefined || !sameDigest(a, e)) return false;
  }
  for (const name of DIGEST_NAMES) {
    const a = actual[name];
    const e = expected[name];
    if (a !== undefined && e !== undefined && !sameDigest(a, e)) return false;
  }
  return true;
}

/** "xxh128 9cf0…" for messages: the first of `names` that `digests` holds. */
export function describeDigest(digests: Digests, names: readonly DigestName[]): string {
  for (const name of names) {
    const value = digests[name];
    if (value !== undefined) return `${name} ${value}`;
  }
  return 'no digest';
}
