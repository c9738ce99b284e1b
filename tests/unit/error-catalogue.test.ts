import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CATALOGUE, GridlinkError, isErrorCode } from '../../src/errors/index.js';
import { renderErrorDocs } from '../../src/errors/render-docs.js';

describe('error catalogue', () => {
  it('docs/errors.md is exactly what the catalogue renders (regenerate with scripts/error-docs.ts)', async () => {
    const docs = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    expect(docs).toBe(renderErrorDocs());
  });

  it('every code is GL_ERR_<AREA>_<WHAT>, every message and hint is a sentence fragment a user can act on', () => {
    for (const [code, entry] of Object.entries(CATALOGUE)) {
      expect(code).toMatch(/^GL_ERR_[A-Z]+_[A-Z_]+$/u);
      expect(entry.message.length).toBeGreaterThan(5);
      expect(entry.hint.length).toBeGreaterThan(5);
      expect(entry.message).not.toMatch(/\.$/u);
    }
  });

  it('errors from the wire are rebuilt with their code; unknown codes become a protocol error', () => {
    const known = GridlinkError.fromWire({ cmd: 'error', code: 'GL_ERR_FILE_BUSY', message: 'another upload to this name is in progress: a.bin' });
    expect(known.code).toBe('GL_ERR_FILE_BUSY');
    expect(known.message).toContain('a.bin');
    expect(known.toUserLine()).toContain('wait for it to finish');
    const unknown = GridlinkError.fromWire({ cmd: 'error', code: 'EVIL_CODE', message: 'x' });
    expect(unknown.code).toBe('GL_ERR_CLIENT_PROTOCOL');
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode('__proto__')).toBe(false);
  });
});
