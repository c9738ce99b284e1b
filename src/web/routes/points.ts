import type { FastifyInstance } from 'fastify';
import { GridlinkError } from '../../errors/index.js';
import { actorOf, sessionOf, type RouteAccess } from '../access.js';
import { scadaOf, type WebContext } from '../web-context.js';
import { decimatedHistory, MAX_BUCKETS } from './history-decimation.js';
import { intParam, stringParam, timeRange, type Query } from './query-params.js';
import { soeRoutes } from './soe.js';

const MAX_LIMIT = 10_000;
const DEFAULT_LIMIT = 1_000;
/** Paging by offset walks the skipped rows again; beyond this, narrow the time range instead. */
const MAX_OFFSET = 1_000_000;

const pointName = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 256 } } } as const;
const operateBody = { type: 'object', required: ['value'], properties: { value: { type: 'number' } } } as const;

/**
 * Points, devices, history, events, alarms and control (docs/protocol.md §3.6,
 * docs/http-api.md) over the data plane's ScadaApi. Reading needs a viewer;
 * acknowledging, selecting and operating an operator. The actor of a command
 * is the session (`web:<handle>`), so its leases end with it.
 */
export function pointRoutes(app: FastifyInstance, ctx: WebContext): void {
  const viewer = { config: { access: 'viewer' } satisfies RouteAccess };
  const operator = { config: { access: 'operator' } satisfies RouteAccess };

  app.get<{ Querystring: Query }>('/api/points', viewer, (request, reply) => reply.send(scadaOf(ctx).points(stringParam(request.query, 'pattern'))));

  app.get('/api/devices', viewer, (_request, reply) => reply.send(scadaOf(ctx).devices()));

  app.get<{ Querystring: Query }>('/api/history', viewer, async (request, reply) => {
    const point = stringParam(request.query, 'point');
    if (point === undefined) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', 'point is required');
    const { since, until } = timeRange(request.query);
    const scada = scadaOf(ctx);
    if (request.query['buckets'] !== undefined) {
      const buckets = intParam(request.query, 'buckets', 0);
      if (buckets < 1 || buckets > MAX_BUCKETS) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', `buckets is 1..${MAX_BUCKETS}`);
      return reply.send(await decimatedHistory(scada, point, since, until, buckets));
    }
    const offset = intParam(request.query, 'offset', 0);
    if (offset > MAX_OFFSET) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', `offset is at most ${MAX_OFFSET}; narrow the time range instead`);
    return reply.send(scada.history(point, since, until, intParam(request.query, 'limit', DEFAULT_LIMIT, MAX_LIMIT), offset));
  });

  app.get<{ Querystring: Query }>('/api/events', viewer, (request, reply) => {
    const { since, until } = timeRange(request.query);
    const offset = intParam(request.query, 'offset', 0);
    if (offset > MAX_OFFSET) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', `offset is at most ${MAX_OFFSET}; narrow the time range instead`);
    return reply.send(scadaOf(ctx).events(since, until, intParam(request.query, 'limit', DEFAULT_LIMIT, MAX_LIMIT), stringParam(request.query, 'pattern'), offset));
  });

  soeRoutes(app, ctx);

  app.get<{ Querystring: Query }>('/api/alarms', viewer, (request, reply) => {
    const all = request.query['all'];
    return reply.send(scadaOf(ctx).alarms({ includeCleared: all === '1' || all === 'true' }));
  });

  app.post<{ Params: { id: string } }>('/api/alarms/:id/ack', operator, async (request, reply) => {
    if (!/^\d{1,15}$/u.test(request.params.id)) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', 'the alarm id is a number');
    return reply.send(await scadaOf(ctx).acknowledge(actorOf(sessionOf(request)), Number(request.params.id)));
  });

  app.post<{ Params: { name: string } }>('/api/points/:name/select', { ...operator, schema: { params: pointName } }, async (request, reply) =>
    reply.send(await scadaOf(ctx).select(actorOf(sessionOf(request)), request.params.name)),
  );

  app.post<{ Params: { name: string } }>('/api/points/:name/deselect', { ...operator, schema: { params: pointName } }, (request, reply) => {
    scadaOf(ctx).deselect(actorOf(sessionOf(request)), request.params.name);
    return reply.code(204).send();
  });

  app.post<{ Params: { name: string }; Body: { value: number } }>(
    '/api/points/:name/operate',
    { ...operator, schema: { params: pointName, body: operateBody } },
    async (request) => scadaOf(ctx).operate(actorOf(sessionOf(request)), request.params.name, request.body.value),
  );
}
