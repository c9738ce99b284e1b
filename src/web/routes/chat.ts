import type { FastifyInstance } from 'fastify';
import { checkRoom } from '../../services/chat/chat-rooms.js';
import type { RouteAccess } from '../access.js';
import type { WebContext } from '../web-context.js';

/** `GET /api/chat/:room/members` (docs/http-api.md "Chat"); messages go over /api/live. */
export function chatRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get<{ Params: { room: string } }>('/api/chat/:room/members', { config: { access: 'viewer' } satisfies RouteAccess }, (request, reply) => {
    checkRoom(request.params.room);
    return reply.send(ctx.chat.members(request.params.room));
  });
}
