import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { GridlinkError } from '../errors/index.js';
import { accessCheck, connectionOf } from './access.js';
import { hostAllowed, serverNames } from './csrf.js';
import { errorBody, statusOf, toGridlinkError } from './http-errors.js';
import { LiveSockets } from './live-sockets.js';
import { HttpCounters } from './metrics.js';
import { chatRoutes } from './routes/chat.js';
import { fileRoutes } from './routes/files.js';
import { metricsRoute } from './routes/metrics.js';
import { pointRoutes } from './routes/points.js';
import { sessionRoutes } from './routes/session.js';
import { securityHeaders } from './security-headers.js';
import { SessionStore } from './sessions.js';
import { StaticFiles } from './static-files.js';
import type { WebContext, WebDeps } from './web-context.js';

/** `dist/hmi/` of this package: where the front end's build (scripts/build-web.ts) puts the page; nothing else is there. */
const DEFAULT_STATIC_DIR = fileURLToPath(new URL('../../dist/hmi/', import.meta.url));

/** Largest message a browser may send on /api/live. */
const MAX_LIVE_MESSAGE_BYTES = 64 * 1024;
/** After answering a request whose body was not read: how long the connection stays, not read, before it is cut. */
const LINGER_MS = 2_000;

/**
 * The web HMI's HTTP listener (docs/http-api.md, docs/http-api.md): the built page,
 * the REST API, `/api/live` and `/metrics`, on one port (HTTPS when
 * `http.tls` is set).
 *
 * The page is served by {@link StaticFiles} straight from the Node request
 * handler, ahead of fastify: it is public, needs no session, and is the
 * busiest path, so it skips routing, hooks and logging. Everything under
 * `/api/` and `/metrics` goes through fastify, where one access check runs
 * before any body is read (see access.ts).
 */
export class WebServer {
  readonly #deps: WebDeps;
  readonly #sessions: SessionStore;
  readonly #counters = new HttpCounters();
  readonly #static: StaticFiles;
  #live: LiveSockets | null = null;
  #app: FastifyInstance | null = null;
  #accountSweep: NodeJS.Timeout | null = null;

  constructor(deps: WebDeps) {
    this.#deps = deps;
    this.#sessions = new SessionStore({
      idleMs: deps.config.sessionIdleMinutes * 60_000,
      maxSessions: deps.config.maxSessions,
      onEnd: (session, reason) => {
        this.#live?.endSession(session);
        try {
          deps.scada()?.releaseConnection(connectionOf(session));
        } catch (err) {
          deps.logger.warn({ event: 'web.release_failed', err });
        }
        deps.logger.info({ event: 'web.session_end', user: session.user, session: session.handle, reason });
      },
    });
    this.#static =
      new StaticFiles({ root: deps.config.staticDir ?? DEFAULT_STATIC_DIR });
  }

  /** Logged-in web sessions now. */
  get sessions(): number {
    return this.#sessions.size;
  }

  async listen(): Promise<AddressInfo> {
    const { config } = this.#deps;
    const tls = config.tls === undefined ? undefined : { cert: await readFile(config.tls.certFile), key: await readFile(config.tls.keyFile) };
    const secure = tls !== undefined;
    const counters = this.#counters;
    const staticFiles = this.#static;
    const names = serverNames(config.host, config.hosts, config.origins);
    const app = Fastify({
      logger: false,
      trustProxy: false,
      bodyLimit: config.maxBodyBytes,
      return503OnClosing: true,
      // Bodies are taken as sent: a number is not a string, an array not a scalar.
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
      // One request handler for the page (fast path) and fastify (the rest).
      serverFactory: (handler) => {
        const route = (req: IncomingMessage, res: ServerResponse): void => {
          const method = req.method;
          const withBody = announcesBody(req);
          if (withBody) lingerOnClose(req);
          // A Host that is not ours is a DNS-rebinding page (docs/security.md): nothing is served to it, the page included.
          if (!hostAllowed(req.headers.host, names)) {
            refuseHost(req, res);
            counters.count('unmatched', method ?? 'OTHER', 403);
            return;
          }
          if ((method === 'GET' || method === 'HEAD') && StaticFiles.owns(req.url ?? '/')) {
            // The page never reads a body: answer and close rather than read what was sent for nothing.
            if (withBody) res.shouldKeepAlive = false;
            const sent = staticFiles.serve(req, res);
            if (typeof sent === 'number') counters.count('static', method, sent);
            else void sent.then((status) => counters.count('static', method, status));
            return;
          }
          handler(req, res);
        };
        const server: Server = tls === undefined ? createHttpServer(route) : createHttpsServer(tls, route);
        // `Expect: 100-continue`: Node would answer 100 before anything is checked, inviting the
        // body of a request about to be refused. The access check decides first (hook below).
        server.on('checkContinue', route);
        // Bound what a slow or idle client can hold (slowloris).
        server.headersTimeout = 20_000;
        server.requestTimeout = 0; // uploads may be long; idle sockets end by the keep-alive timeout
        server.keepAliveTimeout = 10_000;
        server.maxHeadersCount = 100;
        return server;
      },
    });
    this.#app = app;
    const ctx: WebContext = { ...this.#deps, sessions: this.#sessions, secure };
    this.#live = new LiveSockets(ctx);

    // Bodies: JSON only (a form or text/plain post from another site is refused), `{}` when empty.
    const json = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text === '') done(null, {});
      else void json(request, text, done);
    });
    app.removeContentTypeParser('text/plain');

    await app.register(fastifyCookie);
    await app.register(fastifyWebsocket, { options: { maxPayload: MAX_LIVE_MESSAGE_BYTES } });
    app.decorateRequest('webSession', null);
    app.addHook('onRequest', accessCheck({ sessions: this.#sessions, users: this.#deps.users, secure, origins: config.origins, names }));
    // Only a request the access check let through is told to send its body.
    app.addHook('onRequest', (request, reply, done) => {
      if (request.headers.expect?.toLowerCase() === '100-continue') reply.raw.writeContinue();
      done();
    });
    app.addHook('onSend', async (request, reply) => {
      // A body the route did not read (an unknown route, /metrics, a refusal) is not read
      // after the answer either, as keep-alive would: the connection closes (docs/security.md).
      if (!request.raw.complete && announcesBody(request.raw)) void reply.header('connection', 'close');
      void reply.header('x-content-type-options', 'nosniff').header('x-frame-options', 'DENY').header('cache-control', reply.getHeader('cache-control') ?? 'no-store');
    });
    app.addHook('onResponse', async (request, reply) => {
      counters.count(request.is404 ? 'unmatched' : request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode);
    });
    app.setErrorHandler(async (err, request, reply) => {
      const error = toGridlinkError(err);
      const status = statusOf(error.code);
      if (status >= 500 && error.code !== 'GL_ERR_SCADA_DISABLED') this.#deps.logger.error({ event: 'web.error', url: request.url, err }, 'request failed');
      // A refused upload's body is not read: close rather than drain it.
      if (!request.raw.complete) void reply.header('connection', 'close');
      if (error.code === 'GL_ERR_AUTH_THROTTLED') {
        const seconds = /(\d+) s/u.exec(error.message)?.[1];
        if (seconds !== undefined) void reply.header('retry-after', seconds);
      }
      return reply.code(status).type('application/json; charset=utf-8').send(errorBody(error));
    });
    app.setNotFoundHandler(async (request, reply) => reply.code(404).send(errorBody(new GridlinkError('GL_ERR_HTTP_NOT_FOUND', `${request.method} ${request.url.slice(0, 100)}`))));

    sessionRoutes(app, ctx);
    pointRoutes(app, ctx);
    fileRoutes(app, ctx);
    chatRoutes(app, ctx);
    metricsRoute(app, ctx, () => ({ http: counters, webSessions: this.#sessions.size, liveSockets: this.#live?.count ?? 0 }));
    this.#live.route(app);

    await app.listen({ host: config.host, port: config.port });
    this.#sessions.start();
    // Deleted accounts lose their sessions (and live sockets) within seconds even when idle.
    this.#accountSweep = setInterval(() => this.#sweepAccounts(), 2_000).unref();
    return app.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    if (this.#accountSweep !== null) clearInterval(this.#accountSweep);
    this.#sessions.close();
    this.#live?.closeAll();
    await this.#app?.close();
  }

  #sweepAccounts(): void {
    const users = new Set(this.#sessions.all().map((s) => s.user));
    for (const user of users) {
      if (this.#deps.users.get(user) === undefined) this.#sessions.endUser(user, 'account-gone');
    }
  }
}

/** True when a request comes with a body (a length other than 0, or chunked). */
function announcesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * How a connection closes after an answer to a request whose body was not
 * read. Cut at once with body bytes unread, the kernel sends a reset, and a
 * client still busy sending may lose the answer before reading it (a lingering
 * close that reads on, as nginx does, would read the body after all, from a
 * client that ignores the FIN). So the connection stops reading, ends (FIN
 * after the answer) and is cut LINGER_MS later: the sender, stalled by the
 * closed window, has that long to read the answer (docs/security.md). Node's
 * server calls `destroySoon` to close after a `Connection: close` answer.
 */
function lingerOnClose(req: IncomingMessage): void {
  const socket = req.socket;
  const closeNow = socket.destroySoon.bind(socket);
  socket.destroySoon = function lingeringClose(this: Socket): void {
    if (this.destroyed) return;
    // The whole body was read: nothing to hold back.
    if (req.complete) {
      closeNow();
      return;
    }
    // Node's HTTP parser reads the socket's handle directly; a 'data' listener
    // hands reading back to the stream, so that pausing the stream stops it,
    // and nothing (the request being dumped) may resume it.
    this.on('data', () => undefined);
    this.pause();
    this.resume = function stayPaused(this: Socket): Socket {
      return this;
    };
    this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
  };
}

/** 403 for a request whose Host is not a name of this server; its body is not read, so the connection closes. */
function refuseHost(req: IncomingMessage, res: ServerResponse): void {
  const body = JSON.stringify(errorBody(new GridlinkError('GL_ERR_HTTP_ORIGIN', `Host ${String(req.headers.host).slice(0, 100)} is not a name of this server (http.hosts)`)));
  res.writeHead(403, ['content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store', 'connection', 'close', ...securityHeaders(false)]);
  res.end(req.method === 'HEAD' ? undefined : body);
}
