import type { FastifyInstance } from 'fastify';
import { GridlinkError } from '../../errors/index.js';
import { SESSION_COOKIE, sessionOf, type RouteAccess } from '../access.js';
import { SqliteSessionTable } from '../sessions.js';
import type { WebContext } from '../web-context.js';

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/u;

const loginBody = {
  type: 'object',
  required: ['user', 'password'],
  properties: { user: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: 1024 } },
} as const;

/**
 * `POST /api/login`, `POST /api/logout`, `GET /api/session`
 * (docs/http-api.md "Sessions and CSRF"). The password is checked by the
 * same AuthService as native logins: same throttle, same audit log, and no
 * password in clear over plain HTTP from another host.
 */
export function sessionRoutes(app: FastifyInstance, ctx: WebContext): void {
  const cookie = { httpOnly: true, sameSite: 'strict', path: '/', secure: ctx.secure } as const;
  // Sessions outlive a restart (docs/http-api.md "Sessions and CSRF"): kept in the accounts database.
  const restored = ctx.sessions.persistTo(new SqliteSessionTable(ctx.database));
  if (restored > 0) ctx.logger.info({ event: 'web.sessions_restored', sessions: restored });

  app.post<{ Body: { user: string; password: string } }>(
    '/api/login',
    { config: { access: 'public' } satisfies RouteAccess, schema: { body: loginBody } },
    async (request, reply) => {
      const remoteAddress = request.socket.remoteAddress ?? 'unknown';
      const peer = { remoteAddress, secure: ctx.secure, fromLoopback: LOOPBACK.test(remoteAddress), via: 'web' };
      const identity = await ctx.auth.verifyPassword(peer, request.body.user, request.body.password);
      const account = ctx.users.get(identity.name);
      if (account === undefined) throw new GridlinkError('GL_ERR_AUTH_FAILED');
      // A new token on every login: a cookie planted before login is worth nothing after it.
      const previous = ctx.sessions.use(request.cookies[SESSION_COOKIE]);
      if (previous !== null) ctx.sessions.end(previous, 'logout');
      const { token, session } = ctx.sessions.create(identity.name, identity.role, account.credential.storedKey, remoteAddress);
      void reply.setCookie(SESSION_COOKIE, token, cookie);
      return { user: session.user, role: session.role, csrf: session.csrf };
    },
  );

  app.post('/api/logout', { config: { access: 'viewer' } satisfies RouteAccess }, (request, reply) => {
    const session = sessionOf(request);
    ctx.sessions.end(session, 'logout');
    ctx.audit.record({ event: 'auth.logout', actor: session.user, address: request.socket.remoteAddress, detail: { via: 'web' } });
    void reply.clearCookie(SESSION_COOKIE, cookie);
    return reply.code(204).send();
  });

  app.get('/api/session', { config: { access: 'viewer' } satisfies RouteAccess }, (request, reply) => {
    const session = sessionOf(request);
    return reply.send({ user: session.user, role: session.role, csrf: session.csrf });
  });
}
