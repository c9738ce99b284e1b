import { InvalidArgumentError } from 'commander';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSize, sizeArgument } from '../../src/cli/parse-size.js';

const KiB = 1024;
const MiB = KiB * 1024;
const GiB = MiB * 1024;
const TiB = GiB * 1024;

describe('parseSize (gridlink admin user quota SIZE)', () => {
  it.each([
    ['0', 0],
    ['1048576', MiB],
    ['512B', 512],
    ['1K', KiB],
    ['1KB', KiB],
    ['1KiB', KiB],
    ['500M', 500 * MiB],
    ['500MB', 500 * MiB],
    ['10G', 10 * GiB],
    ['1.5GiB', 1.5 * GiB],
    ['1.5 GiB', 1.5 * GiB],
    ['2TB', 2 * TiB],
    ['2t', 2 * TiB],
    ['10gib', 10 * GiB],
    ['.5M', 512 * KiB],
    [' 3G ', 3 * GiB],
    ['0.1K', 102], // rounded to the nearest byte
    ['8191T', 8191 * TiB],
  ])('%j is %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', ' ', 'G', 'abc', '-1', '-1G', '+1G', '1.5', '1.5B', '1e9', '0x10', '1,5G', '1 000', '5X', '5iB', '5PB', '5GG', '1.G', 'Infinity', 'NaN', '8192T', '99999999999999999999'])(
    '%j is refused',
    (text) => {
      expect(() => parseSize(text)).toThrow(RangeError);
    },
  );

  it('says what is accepted', () => {
    expect(() => parseSize('5X')).toThrow(/powers of 1024/u);
    expect(() => parseSize('1.5')).toThrow(/whole number/u);
    expect(() => parseSize('9000T')).toThrow(/too large/u);
  });

  it('every whole byte count and every whole count of a unit round-trips', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => parseSize(String(n)) === n),
      { numRuns: 500 },
    );
    const units = [['K', KiB], ['M', MiB], ['G', GiB], ['T', TiB]] as const;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8191 }), fc.constantFrom(...units), fc.constantFrom('', 'B', 'iB'), (n, [letter, size], suffix) => parseSize(`${n}${letter}${suffix}`) === n * size),
      { numRuns: 500 },
    );
  });

  it('sizeArgument turns refusals into commander usage errors', () => {
    expect(sizeArgument('1K')).toBe(KiB);
    expect(() => sizeArgument('nope')).toThrow(InvalidArgumentError);
  });
});
