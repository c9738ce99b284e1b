import { CATALOGUE, exitCodeOf, httpStatusOf, type ErrorCode, type HttpErrorStatus } from './catalogue.js';

/**
 * The one error type gridlink throws for anything a peer or a user caused.
 * `code` is stable and machine-readable; `message` is for people and ends
 * with what to do next. Errors received from a peer are rebuilt as this type
 * (see {@link GridlinkError.fromWire}), so callers handle both the same way.
 */
export class GridlinkError extends Error {
  readonly code: ErrorCode;
  /** Extra context (a path, a limit) already folded into `message`. */
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    const entry = CATALOGUE[code];
    super(detail === undefined ? entry.message : `${entry.message}: ${detail}`, options);
    this.name = 'GridlinkError';
    this.code = code;
    this.detail = detail;
  }

  /** True when the connection must close after this error (framing or trust lost). */
  get fatal(): boolean {
    return CATALOGUE[this.code].fatal;
  }

  /** What the user can do next. */
  get hint(): string {
    return CATALOGUE[this.code].hint;
  }

  /** The status of an HTTP response carrying this error (docs/http-api.md). */
  get httpStatus(): HttpErrorStatus {
    return httpStatusOf(this.code);
  }

  /** The CLI's exit status when it fails with this error: 2 for a usage error, else 1. */
  get exitCode(): 1 | 2 {
    return exitCodeOf(this.code);
  }

  /** One line for a terminal: reason, then what to do. */
  toUserLine(): string {
    return `${this.message} (${this.code}); ${this.hint}`;
  }

  /** Rebuilds an error frame received from a peer; unknown codes become a protocol error. */
  static fromWire(header: Record<string, unknown>): GridlinkError {
    const code = header['code'];
    const message = typeof header['message'] === 'string' ? header['message'] : '';
    if (typeof code === 'string' && Object.hasOwn(CATALOGUE, code)) {
      const err = new GridlinkError(code as ErrorCode);
      // Keep the peer's wording: it may carry details (a path, a quota).
      if (message !== '') err.message = message;
      return err;
    }
    return new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `server error ${String(code)}: ${message}`);
  }
}

/** Maps a Node.js system error on a server-side file operation to a gridlink error. */
export function fromSystemError(err: unknown, what: string): GridlinkError {
  if (err instanceof GridlinkError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return new GridlinkError('GL_ERR_FILE_NOT_FOUND', what, { cause: err });
    case 'EISDIR':
      return new GridlinkError('GL_ERR_FILE_IS_DIRECTORY', what, { cause: err });
    case 'ENOTDIR':
      return new GridlinkError('GL_ERR_FILE_NOT_DIRECTORY', what, { cause: err });
    case 'ENOSPC':
    case 'EDQUOT':
      return new GridlinkError('GL_ERR_FILE_NO_SPACE', what, { cause: err });
    case 'ELOOP':
      return new GridlinkError('GL_ERR_PATH_FORBIDDEN', what, { cause: err });
    case 'ENAMETOOLONG':
      return new GridlinkError('GL_ERR_PATH_INVALID', what, { cause: err });
    default:
      return new GridlinkError('GL_ERR_FILE_IO', what, { cause: err });
  }
}
