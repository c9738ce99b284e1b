// The IEC 104 codec stays pure (docs/iec104.md "Codec"): it imports only its
// own files (and may use the error catalogue), so it never reaches a socket,
// a file or gridlink's other layers.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const dir = new URL('../../src/iec104/codec/', import.meta.url);

describe('IEC 104 codec purity', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));

  it('has its files', () => {
    expect(files).toContain('index.ts');
  });

  for (const file of files) {
    it(`${file} imports only sibling codec files or src/errors`, () => {
      const source = readFileSync(new URL(file, dir), 'utf8');
      const specifiers = [...source.matchAll(/\b(?:from|import)\s*\(?\s*'([^']+)'/gu)].map((m) => m[1]);
      expect(specifiers.filter((s) => s === undefined || !/^(?:\.\/[a-z0-9-]+|\.\.\/\.\.\/errors\/index)\.js$/u.test(s))).toEqual([]);
    });
  }
});
