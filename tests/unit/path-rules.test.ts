import { describe, expect, it } from 'vitest';
import { GridlinkError } from '../../src/errors/index.js';
import { resolveAreaPath } from '../../src/services/files/path-rules.js';

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof GridlinkError ? err.code : `not a GridlinkError: ${String(err)}`;
  }
}

describe('resolveAreaPath', () => {
  it.each([
    ['a.txt', '', 'a.txt'],
    ['dir/b.txt', '', 'dir/b.txt'],
    ['./dir//b.txt', '', 'dir/b.txt'],
    ['b.txt', 'dir', 'dir/b.txt'],
    ['../c.txt', 'dir/sub', 'dir/c.txt'],
    ['/x/y', 'dir', 'x/y'],
    ['/', 'dir', ''],
    ['..', 'dir', ''],
    ['%2e%2e', '', '%2e%2e'],
    ['...', '', '...'],
    ['变电站/遥测.csv', '', '变电站/遥测.csv'],
  ])('%j from %j → %j', (input, cwd, expected) => {
    expect(resolveAreaPath(input, cwd)).toBe(expected);
  });

  it.each([
    ['', 'GL_ERR_PATH_INVALID'],
    ['a\u0000b', 'GL_ERR_PATH_INVALID'],
    ['a\\b', 'GL_ERR_PATH_INVALID'],
    ['tab\there', 'GL_ERR_PATH_INVALID'],
    ['\ud800', 'GL_ERR_PATH_INVALID'],
    ['x'.repeat(256), 'GL_ERR_PATH_INVALID'],
    [`${'a/'.repeat(2049)}`, 'GL_ERR_PATH_INVALID'],
    ['..', 'GL_ERR_PATH_FORBIDDEN'],
    ['../a', 'GL_ERR_PATH_FORBIDDEN'],
    ['a/../../b', 'GL_ERR_PATH_FORBIDDEN'],
    ['/../a', 'GL_ERR_PATH_FORBIDDEN'],
    ['\uff0e\uff0e/a', 'GL_ERR_PATH_FORBIDDEN'],
    ['..\u2215a', 'GL_ERR_PATH_FORBIDDEN'],
    ['.gridlink/x', 'GL_ERR_PATH_FORBIDDEN'],
    ['.GRIDLINK', 'GL_ERR_PATH_FORBIDDEN'],
  ])('%j is refused with %s', (input, code) => {
    expect(codeOf(() => resolveAreaPath(input, ''))).toBe(code);
  });

  it('the legacy protocol takes no absolute paths and no ".." at all', () => {
    expect(codeOf(() => resolveAreaPath('/etc/passwd', '', false))).toBe('GL_ERR_PATH_FORBIDDEN');
    expect(codeOf(() => resolveAreaPath('a/../b', '', false))).toBe('GL_ERR_PATH_FORBIDDEN');
    expect(resolveAreaPath('a/b', '', false)).toBe('a/b');
  });

  it('non-strings are refused', () => {
    expect(codeOf(() => resolveAreaPath(42))).toBe('GL_ERR_PATH_INVALID');
    expect(codeOf(() => resolveAreaPath(null))).toBe('GL_ERR_PATH_INVALID');
  });
});
