import type { FastifyReply, FastifyRequest } from 'fastify';
import { hasRole, type Role } from '../accounts/roles.js';
import type { UserStore } from '../accounts/user-store.js';
import { GridlinkError } from '../errors/index.js';
import type { UserActor } from '../accounts/actor.js';
import { changesState, csrfMatches, hostAllowed, originAllowed } from './csrf.js';
import { credentialFingerprint, type SessionStore, type WebSession } from './sessions.js';

/** The name of the session cookie (docs/http-api.md). */
export const SESSION_COOKIE = 'gl_session';

/**
 * Who may call a route, declared on every route as its `config`:
 * - `public`: no session (login, /metrics, which has its own address check);
 * - a role: a session whose account has at least that role (docs/protocol.md §3.2).
 * `origin` also checks Origin on a GET (the WebSocket upgrade).
 */
export interface RouteAccess {
  readonly access: 'public' | Role;
  readonly origin?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The session of an authorised request (set by the access check); null on public routes. */
    webSession: WebSession | null;
  }
}

export interface AccessOptions {
  readonly sessions: SessionStore;
  readonly users: UserStore;
  /** The listener speaks TLS (for the Origin's scheme). */
  readonly secure: boolean;
  /** Origins accepted besides the server's own. */
  readonly origins: readonly string[];
  /** Names a `Host` may give besides IP addresses (see csrf.ts serverNames). */
  readonly names: ReadonlySet<string>;
}

/**
 * The check every request passes before its body is read (an `onRequest`
 * hook), in this order: Host names this server (403, on every request,
 * docs/security.md), Origin on state-changing requests (403), session
 * (401), account still there with the same password (401, and the session
 * ends), role (403), CSRF token on state-changing requests (403). Only the
 * socket's address and the cookie count: no header such as X-Forwarded-For
 * or X-Remote-User grants anything. A route without declared access is
 * refused: access is denied by default.
 */
export function accessCheck(options: AccessOptions): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return (request) => {
    request.webSession = null;
    // Before anything else, on every request (the WebSocket upgrade and 404s too): a rebinding page names another host.
    if (!hostAllowed(request.headers.host, options.names)) {
      return Promise.reject(new GridlinkError('GL_ERR_HTTP_ORIGIN', `Host ${String(request.headers.host).slice(0, 100)} is not a name of this server (http.hosts)`));
    }
    const config = request.routeOptions.config as Partial<RouteAccess> | undefined;
    // Unknown URLs reach the not-found handler, which has no config.
    if (request.is404) return Promise.resolve();
    const access = config?.access;
    const stateChanging = changesState(request.method);
    if ((stateChanging || config?.origin === true) && !originAllowed(request.headers.origin, request.headers.host, options.secure, options.origins, options.names)) {
      return Promise.reject(new GridlinkError('GL_ERR_HTTP_ORIGIN', String(request.headers.origin).slice(0, 100)));
    }
    if (access === 'public') return Promise.resolve();
    const token = request.cookies[SESSION_COOKIE];
    const session = options.sessions.use(token);
    if (session === null) return Promise.reject(new GridlinkError('GL_ERR_AUTH_REQUIRED', token === undefined ? 'log in first' : 'the session has ended; log in again'));
    const account = options.users.get(session.user);
    if (account === undefined || credentialFingerprint(account.credential.storedKey) !== session.credential) {
      options.sessions.end(session, 'account-gone');
      return Promise.reject(new GridlinkError('GL_ERR_AUTH_REQUIRED', 'the account was removed or its password changed; log in again'));
    }
    // A role changed by an administrator applies at once.
    session.role = account.role;
    if (!hasRole(account.role, access ?? 'admin')) return Promise.reject(new GridlinkError('GL_ERR_AUTH_FORBIDDEN', `needs ${access ?? 'admin'}, you are ${account.role}`));
    if (stateChanging && !csrfMatches(session.csrf, request.headers['x-csrf-token'])) return Promise.reject(new GridlinkError('GL_ERR_HTTP_CSRF'));
    request.webSession = session;
    return Promise.resolve();
  };
}

/** The session of a request that passed {@link accessCheck} with a role. */
export function sessionOf(request: FastifyRequest): WebSession {
  const session = request.webSession;
  if (session === null) throw new GridlinkError('GL_ERR_AUTH_REQUIRED');
  return session;
}

/**
 * Who acts for a web session, for every service: its connection key is per
 * session (`web:<handle>`), so SCADA leases and upload limits end with it.
 */
export function actorOf(session: WebSession): UserActor {
  return { identity: { name: session.user, role: session.role }, address: session.address, front: 'web', connection: connectionOf(session) };
}

export function connectionOf(session: WebSession): string {
  return `web:${session.handle}`;
}
