import { posix } from 'node:path';
import { GridlinkError } from '../../errors/index.js';

/** Longest accepted path, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Longest accepted name of one path component, in UTF-8 bytes (Linux NAME_MAX). */
export const MAX_NAME_BYTES = 255;

/**
 * Names no client may use: the server keeps its bookkeeping under them.
 * Refusing them outright keeps the rule simple and the staging area unreachable.
 */
const RESERVED_NAMES = new Set(['.gridlink']);

// C0 controls, DEL and C1 controls: never part of a legitimate file name, and a
// classic way to smuggle NUL or terminal escapes into logs and listings.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/u;

// Bidirectional controls reorder what an operator reads (a name ending in
// "\u202Egpj.exe" is shown as "exe.jpg"), and line and paragraph separators
// split one name into lines of a listing or a log: both mislead, so refused.
const MISLEADING_CHARS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/u;

// Characters that look like "/" or "\" in a listing but are not: a name using
// them reads as a path that climbs ("..∕etc"), so it is refused as a spoof.
const SEPARATOR_LOOKALIKES = /[\u2044\u2215\u2216\u2571\u2572\u29f5\u29f8\u29f9\ufe68\uff0f\uff3c]/u;

/**
 * Turns a client path into a normalised path relative to an area root
 * ('' is the root itself), without touching the filesystem (docs/protocol.md §2, docs/protocol.md §3.3).
 *
 * - `cwd` is the client's current directory inside the area ('' = root).
 * - A leading '/' means the area root when `allowAbsolute`; otherwise it is refused
 *   (the legacy protocol takes plain relative names only).
 * - '..' may climb within the area but never above its root: that is refused,
 *   not clamped, so a mistake is reported instead of silently redirected.
 * - NUL and other control characters, backslashes, over-long paths or names, and
 *   names that Unicode-normalise to '.' or '..' (fullwidth dots and the like)
 *   are refused. Percent signs have no meaning here: '%2e%2e' is an ordinary name.
 *
 * Symlinks are checked separately against the real filesystem (see FileArea).
 */
export function resolveAreaPath(input: unknown, cwd = '', allowAbsolute = true): string {
  if (typeof input !== 'string' || input.length === 0) {
    throw new GridlinkError('GL_ERR_PATH_INVALID', 'empty path');
  }
  if (Buffer.byteLength(input, 'utf8') > MAX_PATH_BYTES) {
    throw new GridlinkError('GL_ERR_PATH_INVALID', `longer than ${MAX_PATH_BYTES} bytes`);
  }
  if (CONTROL_CHARS.test(input)) {
    throw new GridlinkError('GL_ERR_PATH_INVALID', 'control character or NUL in path');
  }
  if (MISLEADING_CHARS.test(input)) {
    throw new GridlinkError('GL_ERR_PATH_INVALID', 'bidirectional control or line separator in path; rename the file without it');
  }
  if (input.includes('\\')) {
    throw new GridlinkError('GL_ERR_PATH_INVALID', 'backslash in path; use "/" between names');
  }
  if (input.isWellFormed !== undefined && !input.isWellFormed()) {
    throw new GridlinkError('GL_ERR_PATH_INVALID', 'path is not valid Unicode');
  }
  const absolute = input.startsWith('/');
  if (absolute && !allowAbsolute) {
    throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `absolute path "${printable(input)}"`);
  }
  const parts = absolute || cwd === '' ? [] : cwd.split('/');
  for (const name of input.split('/')) {
    if (name === '' || name === '.') continue;
    if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) {
      throw new GridlinkError('GL_ERR_PATH_INVALID', `a name is longer than ${MAX_NAME_BYTES} bytes`);
    }
    if (name === '..') {
      if (parts.length === 0 || !allowAbsolute) {
        throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `"${printable(input)}" climbs above the area root`);
      }
      parts.pop();
      continue;
    }
    if (name.trim() === '') {
      throw new GridlinkError('GL_ERR_PATH_INVALID', 'a name made only of spaces');
    }
    if (name.trimEnd() !== name) {
      throw new GridlinkError('GL_ERR_PATH_INVALID', `"${printable(name)}" ends in a space; remove it`);
    }
    if (SEPARATOR_LOOKALIKES.test(name)) {
      throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `look-alike of a path separator in "${printable(input)}"`);
    }
    const folded = name.normalize('NFKC');
    if (folded === '.' || folded === '..' || folded.includes('/') || folded.includes('\\')) {
      throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `look-alike of a path separator or dot name in "${printable(input)}"`);
    }
    if (RESERVED_NAMES.has(name.toLowerCase())) {
      throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `"${name}" is reserved by the server`);
    }
    parts.push(name);
  }
  return posix.join(...parts, '.') === '.' ? '' : parts.join('/');
}

/** A path made safe to echo in a message or a log line. */
export function printable(path: string): string {
  const cut = path.length > 120 ? `${path.slice(0, 120)}…` : path;
  // eslint-disable-next-line no-control-regex
  return cut.replace(/[\u0000-\u001f\u007f-\u009f]/gu, '?');
}
