import { GridlinkError, httpStatusOf, type ErrorCode } from '../errors/index.js';

/**
 * The HTTP status of an error response: the `http` field of the code's
 * catalogue entry (src/errors/catalogue.ts; listed in docs/errors.md).
 */
export function statusOf(code: ErrorCode): number {
  return httpStatusOf(code);
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
