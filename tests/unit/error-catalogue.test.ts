import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CATALOGUE, exitCodeOf, GridlinkError, isErrorCode, type ErrorCode } from '../../src/errors/index.js';
import { renderErrorDocs } from '../../src/errors/render-docs.js';
import { statusOf } from '../../src/web/http-errors.js';

const codes = Object.keys(CATALOGUE) as ErrorCode[];

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

  it('every code carries the HTTP status the web API answers it with, as docs/http-api.md describes it', () => {
    for (const code of codes) expect(statusOf(code), code).toBe(CATALOGUE[code].http);
    // The statuses docs/http-api.md names, and the ones the web tests (tests/web/) rely on.
    const documented: Partial<Record<ErrorCode, number>> = {
      GL_ERR_HTTP_BAD_REQUEST: 400,
      GL_ERR_FILE_CHECKSUM_MISMATCH: 400,
      GL_ERR_BUS_BAD_TOPIC: 400,
      GL_ERR_AUTH_REQUIRED: 401,
      GL_ERR_AUTH_FAILED: 401,
      GL_ERR_AUTH_FORBIDDEN: 403,
      GL_ERR_AUTH_INSECURE: 403,
      GL_ERR_HTTP_CSRF: 403,
      GL_ERR_HTTP_ORIGIN: 403,
      GL_ERR_HTTP_NOT_ALLOWED: 403,
      GL_ERR_PATH_FORBIDDEN: 403,
      GL_ERR_HTTP_NOT_FOUND: 404,
      GL_ERR_FILE_NOT_FOUND: 404,
      GL_ERR_SCADA_NO_POINT: 404,
      GL_ERR_SCADA_NO_ALARM: 404,
      GL_ERR_SCADA_SELECTED: 409,
      GL_ERR_SCADA_NOT_SELECTED: 409,
      GL_ERR_SCADA_SUBSTITUTED: 409,
      GL_ERR_FILE_BUSY: 409,
      GL_ERR_FILE_NOT_EMPTY: 409,
      GL_ERR_CHAT_NICK_TAKEN: 409,
      GL_ERR_HTTP_LENGTH_REQUIRED: 411,
      GL_ERR_FILE_QUOTA: 413,
      GL_ERR_HTTP_BODY_TOO_LARGE: 413,
      GL_ERR_HTTP_RANGE: 416,
      GL_ERR_AUTH_THROTTLED: 429,
      GL_ERR_HTTP_TOO_MANY_SOCKETS: 429,
      GL_ERR_SERVER_INTERNAL: 500,
      GL_ERR_SCADA_DEVICE_UNAVAILABLE: 503,
      GL_ERR_SCADA_COMMAND_FAILED: 503,
      GL_ERR_SCADA_DISABLED: 503,
    };
    for (const [code, status] of Object.entries(documented)) expect(CATALOGUE[code as ErrorCode].http, code).toBe(status);
    // docs/errors.md shows the column.
    expect(renderErrorDocs()).toContain('| `GL_ERR_FILE_QUOTA` | this would exceed your quota | delete files or ask an administrator for a larger quota | no | 413 | 1 |');
  });

  it('usage errors (and only they) make the CLI exit 2; every other failure exits 1', () => {
    const usage = codes.filter((code) => exitCodeOf(code) === 2);
    expect(usage).toEqual(['GL_ERR_CLIENT_USAGE']);
    for (const code of codes) expect(new GridlinkError(code).exitCode, code).toBe(code === 'GL_ERR_CLIENT_USAGE' ? 2 : 1);
    expect(renderErrorDocs()).toContain('| `GL_ERR_CLIENT_USAGE` | invalid command-line arguments | run the command with --help | no | 400 | 2 |');
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
