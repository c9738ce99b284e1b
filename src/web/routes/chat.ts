import type { FastifyInstance } from 'fastify';
import { checkRoom } from '../../services/chat/chat-rooms.js';
import type { RouteAccess } from '../access.js';
import type { WebContext } from '../web-context.js';

/**
 * `GET /api/chat/rooms` and `GET /api/chat/:room/members` (docs/http-api.md
 * "Chat"); joining, leaving and messages go over /api/live.
 */
export function chatRoutes(app: FastifyInstance, ctx: WebContext): void {
  const viewer = { config: { access: 'viewer' } satisfies RouteAccess };

  // The rooms that have members now, by name; a room exists while someone is in it.
  app.get('/api/chat/rooms', viewer, (_request, reply) =>
    reply.send(
      Object.entries(ctx.chat.rooms())
        .filter(([, members]) => members > 0)
        .map(([room, members]) => ({ room, members }))
        .sort((a, b) => a.room.localeCompare(b.room)),
    ),
  );

  app.get<{ Params: { room: string } }>('/api/chat/:room/members', viewer, (request, reply) => {
    checkRoom(request.params.room);
    return reply.send(ctx.chat.members(request.params.room));
  });
}
