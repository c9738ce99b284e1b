import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GridlinkError } from '../../errors/index.js';
import { readRange } from '../../integrity/file-streams.js';
import { FileSession } from '../../services/files/file-session.js';
import { actorOf, sessionOf, type RouteAccess } from '../access.js';
import { ifRangeMatches, parseRange } from '../byte-range.js';
import type { WebSession } from '../sessions.js';
import type { WebContext } from '../web-context.js';

type Query = Record<string, string | undefined>;

const SHA256_HEX = /^[0-9a-fA-F]{64}$/u;

const mkdirBody = {
  type: 'object',
  required: ['path'],
  properties: { path: { type: 'string', minLength: 1, maxLength: 4096 }, parents: { type: 'boolean' } },
} as const;

/**
 * The user's home over HTTP (docs/http-api.md "Files"): each web session has
 * a file session of the file service, so confinement, quota, staging, path
 * locks, atomic rename, the per-session upload limit and the audit log are
 * the native protocol's own. Paths are relative to the home's root. Every
 * role may use its own home, as on the native protocol.
 */
export function fileRoutes(app: FastifyInstance, ctx: WebContext): void {
  const viewer = { config: { access: 'viewer' } satisfies RouteAccess };
  const sessions = new WeakMap<WebSession, FileSession>();
  const filesOf = (request: FastifyRequest): FileSession => {
    const session = sessionOf(request);
    let files = sessions.get(session);
    if (files === undefined) {
      files = new FileSession(ctx.files, actorOf(session));
      sessions.set(session, files);
    }
    return files;
  };
  /** The path of a request, relative to the home's root ('/' is the root). */
  const pathParam = (query: Query, fallback?: string): string => {
    const raw = query['path'] ?? fallback;
    if (raw === undefined) throw new GridlinkError('GL_ERR_PATH_INVALID', 'empty path');
    return raw === '/' ? '.' : raw;
  };

  app.get<{ Querystring: Query }>('/api/files', viewer, async (request) => {
    const { entries, truncated } = await filesOf(request).list(pathParam(request.query, '.'));
    if (truncated) request.log.debug({ event: 'web.files_list_truncated' });
    return entries.map((e) => ({ name: e.name, type: e.type, size: e.length, mtime: e.mtimeMs }));
  });

  app.get<{ Querystring: Query }>('/api/files/content', viewer, async (request, reply) => {
    const { path, file } = await filesOf(request).openForRead(pathParam(request.query));
    let handed = false;
    try {
      const { size, mtimeMs } = file.stats;
      const etag = `"${size.toString(16)}-${Math.floor(mtimeMs * 1000).toString(16)}"`;
      const lastModified = new Date(Math.floor(mtimeMs / 1000) * 1000).toUTCString();
      const rangeHeader = request.headers.range;
      const range = rangeHeader !== undefined && ifRangeMatches(request.headers['if-range'], etag, lastModified) ? parseRange(rangeHeader, size) : null;
      void reply.headers({ etag, 'last-modified': lastModified, 'accept-ranges': 'bytes', 'cache-control': 'private, no-cache' });
      if (range === 'unsatisfiable') {
        void reply.header('content-range', `bytes */${size}`);
        throw new GridlinkError('GL_ERR_HTTP_RANGE', `the file has ${size} bytes`);
      }
      const start = range === null ? 0 : range.start;
      const end = range === null ? size : range.end + 1;
      const name = path.slice(path.lastIndexOf('/') + 1);
      void reply
        .code(range === null ? 200 : 206)
        .type('application/octet-stream')
        .header('content-disposition', `attachment; filename="${name.replace(/[^\x20-\x7e]|["\\]/gu, '_')}"; filename*=UTF-8''${encodeURIComponent(name)}`)
        .header('content-length', String(end - start));
      if (range !== null) void reply.header('content-range', `bytes ${range.start}-${range.end}/${size}`);
      if (request.method === 'HEAD' || end === start) return await reply.send('');
      // A transfer slot for the time the bytes move (server-wide bound, as for native gets).
      await ctx.files.track(
        () =>
          new Promise<void>((resolve) => {
            const body = readRange(file.handle, start, end);
            handed = true;
            body.once('close', () => {
              void file.handle.close().catch(() => undefined);
              resolve();
            });
            void reply.send(body);
          }),
      );
      return reply;
    } finally {
      if (!handed) await file.handle.close().catch(() => undefined);
    }
  });

  // Uploads take the raw body as a stream: their own scope without body parsers.
  void app.register((scope, _options, done) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    scope.put<{ Querystring: Query }>('/api/files/content', { ...viewer, bodyLimit: Number.MAX_SAFE_INTEGER }, async (request, reply) => {
      const lengthHeader = request.headers['content-length'];
      if (lengthHeader === undefined || request.headers['transfer-encoding'] !== undefined) throw new GridlinkError('GL_ERR_HTTP_LENGTH_REQUIRED');
      if (!/^\d{1,16}$/u.test(lengthHeader)) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', 'Content-Length is not a number');
      const length = Number(lengthHeader);
      const declared = request.headers['x-content-sha256'];
      if (declared !== undefined && (typeof declared !== 'string' || !SHA256_HEX.test(declared))) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', 'X-Content-SHA256 must be 64 hex digits');
      const stored = await filesOf(request).store(pathParam(request.query), length, request.raw, declared === undefined ? null : { sha256: declared });
      return await reply.code(201).send({ path: stored.path, size: stored.length, sha256: stored.digests.sha256 });
    });
    done();
  });

  app.post<{ Body: { path: string; parents?: boolean } }>('/api/files/mkdir', { ...viewer, schema: { body: mkdirBody } }, async (request, reply) => {
    const path = await filesOf(request).mkdir(request.body.path, request.body.parents === true);
    return reply.code(201).send({ path });
  });

  app.delete<{ Querystring: Query }>('/api/files', viewer, async (request, reply) => {
    const files = filesOf(request);
    const entry = await files.stat(pathParam(request.query));
    if (entry.path === '') throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', 'the root of your home cannot be removed');
    if (entry.type === 'dir') await files.removeDirectory(entry.path);
    else await files.remove(entry.path);
    return reply.code(204).send();
  });
}
