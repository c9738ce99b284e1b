import type { FastifyInstance } from 'fastify';
import { GridlinkError } from '../../errors/index.js';
import type { RouteAccess } from '../access.js';
import { renderMetrics, type MetricsInput } from '../metrics.js';
import type { WebContext } from '../web-context.js';

/** `::ffff:127.0.0.1` and `127.0.0.1` are one address. */
function plain(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * `GET /metrics` (docs/http-api.md): Prometheus text, no session (scrapers have
 * none), but only for the addresses in `http.metricsAllow` (loopback by
 * default) — by the socket's address, never a forwarded-for header.
 */
export function metricsRoute(app: FastifyInstance, ctx: WebContext, web: () => Omit<MetricsInput, 'status' | 'scada'>): void {
  const allowed = new Set(ctx.config.metricsAllow.map(plain));
  app.get('/metrics', { config: { access: 'public' } satisfies RouteAccess }, async (request, reply) => {
    const address = plain(request.socket.remoteAddress ?? '');
    if (!allowed.has('*') && !allowed.has(address)) throw new GridlinkError('GL_ERR_HTTP_NOT_ALLOWED', address);
    const text = renderMetrics({ ...web(), status: ctx.status(), scada: ctx.scada() });
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text);
  });
}
