import { GridlinkError, type ErrorCode } from '../errors/index.js';

/**
 * The HTTP status of each error code (docs/http-api.md: 400 bad input, 401 no
 * session, 403 role or origin, 404 unknown, 409 conflict, 413 too large, 429
 * throttled, 503 device unavailable). Codes not listed are client mistakes
 * (400) unless their area says otherwise (see {@link statusOf}).
 */
const STATUS: Partial<Record<ErrorCode, number>> = {
  GL_ERR_AUTH_REQUIRED: 401,
  GL_ERR_AUTH_FAILED: 401,
  GL_ERR_AUTH_NO_CHALLENGE: 401,
  GL_ERR_AUTH_THROTTLED: 429,
  GL_ERR_AUTH_INSECURE: 403,
  GL_ERR_AUTH_FORBIDDEN: 403,
  GL_ERR_PATH_FORBIDDEN: 403,
  GL_ERR_FILE_NOT_FOUND: 404,
  GL_ERR_FILE_EXISTS: 409,
  GL_ERR_FILE_NOT_EMPTY: 409,
  GL_ERR_FILE_BUSY: 409,
  GL_ERR_FILE_CHANGED: 409,
  GL_ERR_FILE_IS_DIRECTORY: 409,
  GL_ERR_FILE_NOT_DIRECTORY: 409,
  GL_ERR_FILE_QUOTA: 413,
  GL_ERR_FILE_NO_SPACE: 507,
  GL_ERR_FILE_READ_ONLY: 403,
  GL_ERR_FILE_AREA_DISABLED: 404,
  GL_ERR_FILE_TOO_MANY_TRANSFERS: 429,
  GL_ERR_FILE_IO: 500,
  GL_ERR_CHAT_NICK_TAKEN: 409,
  GL_ERR_CHAT_NOT_MEMBER: 409,
  GL_ERR_CHAT_NO_SUCH_MEMBER: 404,
  GL_ERR_HTTP_NOT_FOUND: 404,
  GL_ERR_HTTP_CSRF: 403,
  GL_ERR_HTTP_ORIGIN: 403,
  GL_ERR_HTTP_BODY_TOO_LARGE: 413,
  GL_ERR_HTTP_LENGTH_REQUIRED: 411,
  GL_ERR_HTTP_RANGE: 416,
  GL_ERR_HTTP_NOT_ALLOWED: 403,
  GL_ERR_HTTP_TOO_MANY_SOCKETS: 429,
  GL_ERR_SERVER_BUSY: 503,
  GL_ERR_SERVER_SHUTTING_DOWN: 503,
  GL_ERR_SERVER_INTERNAL: 500,
};

/**
 * Status of a code. SCADA codes are matched by name so that codes the data
 * plane adds later still get a fitting status: unknown point or alarm 404,
 * a lease held by someone else (or not held) 409, a device that does not
 * answer or a command not confirmed 503, the data plane off 503.
 */
export function statusOf(code: string): number {
  const known = STATUS[code as ErrorCode];
  if (known !== undefined) return known;
  if (code.startsWith('GL_ERR_SCADA_')) {
    if (/_NO_|_NOT_FOUND|_UNKNOWN/u.test(code) && !code.endsWith('_NOT_SELECTED')) return 404;
    if (/_SELECTED|_HELD|_LEASE|_CONFLICT|_BUSY/u.test(code)) return 409;
    if (/_DEVICE|_UNAVAILABLE|_COMMAND_FAILED|_DISABLED|_TIMEOUT/u.test(code)) return 503;
    if (code.endsWith('_FORBIDDEN')) return 403;
    return 400;
  }
  if (code.startsWith('GL_ERR_SERVER_')) return 500;
  return 400;
}

/** The JSON body of an error response (docs/http-api.md). */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly hint: string };
}

export function errorBody(err: GridlinkError): ErrorBody {
  return { error: { code: err.code, message: err.message, hint: err.hint } };
}

/**
 * Anything thrown while handling a request, as a gridlink error: ours as they
 * are, fastify's own (body too large, bad JSON, bad content type) mapped to
 * GL_ERR_HTTP_*, the rest an internal error whose details stay in the log.
 */
export function toGridlinkError(err: unknown): GridlinkError {
  if (err instanceof GridlinkError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const statusCode = (err as { statusCode?: unknown } | null)?.statusCode;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE' || statusCode === 413) return new GridlinkError('GL_ERR_HTTP_BODY_TOO_LARGE');
  if (typeof code === 'string' && code.startsWith('FST_ERR_CTP_')) return new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', 'body is not valid JSON or has the wrong content type');
  if (code === 'FST_ERR_VALIDATION') return new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', (err as Error).message);
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) return new GridlinkError('GL_ERR_HTTP_BAD_REQUEST');
  return new GridlinkError('GL_ERR_SERVER_INTERNAL', undefined, { cause: err });
}
