import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GridlinkError } from '../../errors/index.js';
import { readRange } from '../../integrity/file-streams.js';
import { entryType, type FileArea } from '../../services/files/file-area.js';
import { printable } from '../../services/files/path-rules.js';
import { Upload } from '../../services/files/upload.js';
import { sessionOf, type RouteAccess } from '../access.js';
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
 * The user's home over HTTP (SPEC §4, docs/http-api.md "Files"): the same
 * FileArea confinement, quota ledger, staging, path locks, atomic rename and
 * audit log as the native protocol. Paths are relative to the home's root.
 * Every role may use its own home, as on the native protocol.
 */
export function fileRoutes(app: FastifyInstance, ctx: WebContext): void {
  const viewer = { config: { access: 'viewer' } satisfies RouteAccess };
  const { files } = ctx;
  /** Uploads running per session, bounded like a native connection's. */
  const uploading = new WeakMap<WebSession, number>();

  const home = async (request: FastifyRequest): Promise<{ session: WebSession; area: FileArea }> => {
    const session = sessionOf(request);
    return { session, area: await files.homeOf(session.user) };
  };
  const pathParam = (area: FileArea, query: Query, fallback?: string): string => {
    const raw = query['path'] ?? fallback;
    return area.resolve(raw === '/' ? '.' : raw, '');
  };
  const audit = (request: FastifyRequest, session: WebSession, event: string, detail: Record<string, unknown>): void => {
    ctx.audit.record({ event, actor: session.user, address: request.socket.remoteAddress, detail: { ...detail, via: 'web' } });
  };

  app.get<{ Querystring: Query }>('/api/files', viewer, async (request) => {
    const { area } = await home(request);
    const { entries, truncated } = await area.list(pathParam(area, request.query, '.'));
    if (truncated) request.log.debug({ event: 'web.files_list_truncated' });
    return entries.map((e) => ({ name: e.name, type: e.type, size: e.length, mtime: e.mtimeMs }));
  });

  app.get<{ Querystring: Query }>('/api/files/content', viewer, async (request, reply) => {
    const { area } = await home(request);
    const path = pathParam(area, request.query);
    const file = await area.openForRead(path);
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
      await files.track(
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
      const { session, area } = await home(request);
      const path = pathParam(area, request.query);
      if (path === '') throw new GridlinkError('GL_ERR_FILE_IS_DIRECTORY', 'the home directory');
      const running = uploading.get(session) ?? 0;
      if (running >= files.options.maxUploadsPerSession) throw new GridlinkError('GL_ERR_FILE_TOO_MANY_TRANSFERS', `at most ${files.options.maxUploadsPerSession}`);
      uploading.set(session, running + 1);
      try {
        const upload = await openFresh(area, path, length, session.user);
        try {
          await files.track(() => upload.append(request.raw, length));
        } catch (err) {
          await upload.discard();
          throw err;
        }
        let sha256: string;
        try {
          sha256 = (await upload.commit(declared === undefined ? null : { sha256: declared })).sha256;
        } finally {
          await upload.close();
        }
        audit(request, session, 'file.put', { path: printable(path), length, sha256 });
        return await reply.code(201).send({ path, size: length, sha256 });
      } finally {
        uploading.set(session, (uploading.get(session) ?? 1) - 1);
      }
    });
    done();
  });

  /**
   * An upload that starts at byte 0: an HTTP PUT carries the whole file, so a
   * partial file left by an earlier interrupted upload of the same name and
   * length is dropped first (its quota claim with it).
   */
  const openFresh = async (area: FileArea, path: string, length: number, user: string): Promise<Upload> => {
    for (let attempt = 0; ; attempt += 1) {
      const reservation = await files.reserveUpload(user, area, path, length);
      let upload: Upload;
      try {
        upload = await Upload.open({ area, path, length, md5: false, reservation }, files.uploadDeps);
      } catch (err) {
        reservation.release();
        throw err;
      }
      if (upload.received === 0) return upload;
      await upload.discard();
      if (attempt > 0) throw new GridlinkError('GL_ERR_FILE_BUSY', printable(path));
    }
  };

  app.post<{ Body: { path: string; parents?: boolean } }>('/api/files/mkdir', { ...viewer, schema: { body: mkdirBody } }, async (request, reply) => {
    const { session, area } = await home(request);
    const path = area.resolve(request.body.path, '');
    await area.makeDirectory(path, request.body.parents === true);
    audit(request, session, 'file.mkdir', { path: printable(path) });
    return reply.code(201).send({ path });
  });

  app.delete<{ Querystring: Query }>('/api/files', viewer, async (request, reply) => {
    const { session, area } = await home(request);
    const path = pathParam(area, request.query);
    if (path === '') throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', 'the root of your home cannot be removed');
    const info = await area.stat(path);
    if (entryType(info) === 'dir') {
      await area.removeDirectory(path);
      audit(request, session, 'file.rmdir', { path: printable(path) });
    } else {
      const freed = await area.removeFile(path);
      files.quotas.adjust(session.user, -freed);
      audit(request, session, 'file.rm', { path: printable(path), length: freed });
    }
    return reply.code(204).send();
  });
}
