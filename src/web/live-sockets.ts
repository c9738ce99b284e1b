import type { FastifyInstance } from 'fastify';
import { GridlinkError } from '../errors/index.js';
import { credentialFingerprint, type WebSession } from './sessions.js';
import { sessionOf, type RouteAccess } from './access.js';
import { CLOSE_SESSION_ENDED, LiveSocket, type LiveHost } from './live-socket.js';
import type { WebContext } from './web-context.js';

/** Live sockets one session may hold (a few tabs). */
const MAX_PER_SESSION = 16;

/**
 * The `/api/live` endpoint and its open sockets, by session: a session that
 * ends (logout, expiry, account removed) closes its sockets at once.
 */
export class LiveSockets implements LiveHost {
  readonly #ctx: WebContext;
  readonly #bySession = new Map<WebSession, Set<LiveSocket>>();
  #count = 0;

  constructor(ctx: WebContext) {
    this.#ctx = ctx;
  }

  get bus(): WebContext['bus'] {
    return this.#ctx.bus;
  }

  get chat(): WebContext['chat'] {
    return this.#ctx.chat;
  }

  scada(): ReturnType<WebContext['scada']> {
    return this.#ctx.scada();
  }

  get count(): number {
    return this.#count;
  }

  /** GET /api/live: session required and Origin checked before the upgrade (access.ts). */
  route(app: FastifyInstance): void {
    app.get(
      '/api/live',
      {
        config: { access: 'viewer', origin: true } satisfies RouteAccess,
        // Refused before the upgrade, as an HTTP answer the browser can see.
        preHandler: (request, _reply, done) => {
          const full = (this.#bySession.get(sessionOf(request))?.size ?? 0) >= MAX_PER_SESSION;
          done(full ? new GridlinkError('GL_ERR_HTTP_TOO_MANY_SOCKETS', `at most ${MAX_PER_SESSION}`) : undefined);
        },
        websocket: true,
      },
      (ws, request) => {
        const session = sessionOf(request);
        const socket = new LiveSocket(ws, session, this);
        let sockets = this.#bySession.get(session);
        if (sockets === undefined) {
          sockets = new Set();
          this.#bySession.set(session, sockets);
        }
        sockets.add(socket);
        this.#count += 1;
      },
    );
  }

  checkSession(session: WebSession): boolean {
    const account = this.#ctx.users.get(session.user);
    if (account === undefined || credentialFingerprint(account.credential.storedKey) !== session.credential) {
      this.#ctx.sessions.end(session, 'account-gone');
      return false;
    }
    session.role = account.role;
    this.#ctx.sessions.touch(session);
    return true;
  }

  onLiveClosed(socket: LiveSocket): void {
    const sockets = this.#bySession.get(socket.session);
    if (sockets?.delete(socket) === true) {
      this.#count -= 1;
      if (sockets.size === 0) this.#bySession.delete(socket.session);
    }
  }

  endSession(session: WebSession): void {
    for (const socket of [...(this.#bySession.get(session) ?? [])]) socket.close(CLOSE_SESSION_ENDED, 'session ended');
  }

  closeAll(): void {
    for (const session of [...this.#bySession.keys()]) this.endSession(session);
  }
}
