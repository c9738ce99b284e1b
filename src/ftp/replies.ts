import { GridlinkError, type ErrorCode } from '../errors/index.js';

/**
 * An FTP reply to send instead of carrying on: thrown by command handlers
 * (docs/ftp.md, "Replies"). `text` always ends with what the user can do next.
 */
export class FtpReply extends Error {
  readonly code: number;

  constructor(code: number, text: string) {
    super(text);
    this.name = 'FtpReply';
    this.code = code;
  }
}

/**
 * How each gridlink error is answered over FTP (RFC 959 §4.2, RFC 3659):
 * the reply code, and what to do next in FTP terms (the catalogue's hints
 * speak of the native protocol's commands).
 */
const MAPPING: Partial<Record<ErrorCode, readonly [number, string]>> = {
  GL_ERR_PATH_INVALID: [553, 'use printable names without "\\", at most 255 bytes each and 4096 in all'],
  GL_ERR_PATH_FORBIDDEN: [550, 'stay inside your area: no ".." above "/", no links that lead outside'],
  GL_ERR_FILE_NOT_FOUND: [550, 'check the name with LIST or NLST'],
  GL_ERR_FILE_IS_DIRECTORY: [550, 'name a file, or use CWD, LIST or RMD for a directory'],
  GL_ERR_FILE_NOT_DIRECTORY: [550, 'name a directory (LIST shows which names are directories)'],
  GL_ERR_FILE_BUSY: [450, 'another upload of this name is running; try again when it has ended'],
  GL_ERR_FILE_SUPERSEDED: [426, 'a newer STOR of this name from your account took over this stalled one; let that one finish'],
  GL_ERR_FILE_OFFSET_INVALID: [554, 'ask SIZE for the length the server holds and send REST with it, or STOR without REST to start over'],
  GL_ERR_FILE_CHANGED: [450, 'the file changed meanwhile; run the command again'],
  GL_ERR_FILE_NO_SPACE: [452, 'the server\'s disk is full; ask the administrator, then send the file again'],
  GL_ERR_FILE_QUOTA: [552, 'nothing was stored; free space with DELE or ask the administrator for a larger quota'],
  GL_ERR_FILE_TOO_MANY_ENTRIES: [552, 'remove files or directories with DELE or RMD first'],
  GL_ERR_FILE_EXISTS: [550, 'pick another name, or remove the existing one first (DELE or RMD)'],
  GL_ERR_FILE_NOT_EMPTY: [550, 'remove what the directory holds first (DELE, RMD)'],
  GL_ERR_FILE_READ_ONLY: [550, 'this area is read-only: log in with your own account to store files'],
  GL_ERR_FILE_AREA_DISABLED: [550, 'log in with your own account'],
  GL_ERR_FILE_TOO_MANY_TRANSFERS: [450, 'wait for your other transfers to end, then try again'],
  GL_ERR_FILE_IO: [451, 'the server could not read or write the file; try again, and tell the administrator if it persists'],
  GL_ERR_AUTH_REQUIRED: [530, 'log in with USER and PASS'],
  GL_ERR_AUTH_FAILED: [530, 'check the user name and password; repeated failures are throttled'],
  GL_ERR_AUTH_THROTTLED: [530, 'wait the time given, then log in again with the right password'],
  GL_ERR_AUTH_INSECURE: [530, 'send AUTH TLS first (lftp: set ftp:ssl-force true; curl: --ssl-reqd), or connect from this machine'],
  GL_ERR_AUTH_FORBIDDEN: [550, 'ask an administrator for a role that allows this'],
  GL_ERR_SERVER_BUSY: [421, 'try again later'],
  GL_ERR_SERVER_SHUTTING_DOWN: [421, 'the server is stopping; reconnect later'],
  GL_ERR_PROTO_BAD_STATE: [503, 'send the command again from the start'],
};

/** The reply for an error of a command: a gridlink error by the table above, anything else 451. */
export function replyFor(err: unknown): FtpReply {
  if (err instanceof FtpReply) return err;
  if (err instanceof GridlinkError) {
    const [code, next] = MAPPING[err.code] ?? [451, 'try again, and tell the administrator if it persists'];
    return new FtpReply(code, `${err.message}; ${next}`);
  }
  return new FtpReply(451, 'local error in processing; try again, and tell the administrator if it persists');
}

/** Reply text made safe for one line: no CR, LF or NUL can end or split it (RFC 959 §4.2). */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000\r\n]/gu, ' ');
}

/**
 * The bytes of a reply: one line, or a multi-line reply whose inner lines
 * start with a space so none can be read as its end (RFC 959 §4.2).
 */
export function formatReply(code: number, text: string | readonly string[]): string {
  const lines = typeof text === 'string' ? [text] : text;
  if (lines.length <= 1) return `${code} ${oneLine(lines[0] ?? '')}\r\n`;
  const first = `${code}-${oneLine(lines[0]!)}\r\n`;
  const middle = lines.slice(1, -1).map((line) => ` ${oneLine(line).replace(/^ /u, '')}\r\n`);
  return `${first}${middle.join('')}${code} ${oneLine(lines[lines.length - 1]!)}\r\n`;
}

/** A path in a 257 reply: quoted, with a quote inside doubled (RFC 959 Appendix II). */
export function quotePath(path: string): string {
  return `"${oneLine(path).replace(/"/gu, '""')}"`;
}
