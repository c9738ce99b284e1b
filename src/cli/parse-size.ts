import { InvalidArgumentError } from 'commander';

/** Powers of 1024 by unit letter: quotas are sizes on disk, counted as `ls -h` and `df -h` do. */
const UNITS: Readonly<Record<string, number>> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * A number (digits, an optional fraction), optional spaces, then an optional
 * unit: B, or K/M/G/T alone or followed by B or iB. Case does not matter.
 */
const SIZE = /^(\d+(?:\.\d+)?|\.\d+) *(?:([KMGT])(?:I?B)?|B)?$/u;

/** What `--help` says about SIZE arguments. */
export const SIZE_HELP = 'bytes, or a number with K, M, G or T (powers of 1024: 500M, 10G, 1.5GiB and 2TB are all fine; KB = KiB)';

/**
 * Parses a size for people: `1048576`, `500M`, `10G`, `1.5GiB`, `2TB`.
 * K, M, G and T are powers of 1024 whether written K, KB or KiB (README.md "Quick tour"
 * leaves the unit open; quota users think in the units their tools print).
 * A fraction is rounded to the nearest byte, but a plain byte count must be
 * whole. Throws a RangeError saying what is accepted.
 */
export function parseSize(text: string): number {
  const match = SIZE.exec(text.trim().toUpperCase());
  if (match === null) throw new RangeError(`"${text}" is not a size; expected ${SIZE_HELP}`);
  const [, digits = '', letter] = match;
  const unit = UNITS[letter ?? ''] ?? 1;
  if (unit === 1 && digits.includes('.')) throw new RangeError(`"${text}": a byte count must be a whole number`);
  const bytes = Math.round(Number(digits) * unit);
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`"${text}" is too large (at most ${Number.MAX_SAFE_INTEGER} bytes)`);
  return bytes;
}

/** Commander argument parser for SIZE: usage errors exit with status 2. */
export function sizeArgument(text: string): number {
  try {
    return parseSize(text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}
