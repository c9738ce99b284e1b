import { basename } from 'node:path';
import { GridlinkError } from '../../errors/index.js';
import type { EntryInfo } from '../../protocol/v1.js';
import type { CommandTable, RequestContext } from '../../server/router.js';
import type { Session } from '../../session/session.js';
import { Download } from './download.js';
import { entryType, type FileArea } from './file-area.js';
import type { FileService } from './file-service.js';
import { printable } from './path-rules.js';
import type { Reservation } from './quota-ledger.js';
import { Upload } from './upload.js';

/** The area of a request and a resolver for its paths (relative to the current directory). */
async function place(files: FileService, session: Session): Promise<{ area: FileArea; resolve: (path: string) => string; cwd: string }> {
  const area = await files.areaFor(session);
  const state = files.stateFor(session);
  return { area, cwd: state.cwd, resolve: (path) => area.resolve(path, state.cwd) };
}

const shown = (path: string): string => `/${path}`;

/**
 * Versioned file commands (SPEC §2.2, §4; docs/protocol.md §3.3): navigation
 * and management inside the area (`pwd`, `cd`, `ls`, `stat`, `mkdir`, `rm`,
 * `rmdir`, `mv`), resumable uploads (`put.open` → `put.data`… → `put.commit`)
 * and resumable downloads (`get` → body → `get.end` with the file's SHA-256).
 */
export function fileCommands(files: FileService): CommandTable {
  return {
    pwd: async (ctx) => {
      const { cwd } = await place(files, ctx.session);
      await ctx.reply({ path: shown(cwd) });
    },

    cd: async (ctx) => {
      const { area, resolve } = await place(files, ctx.session);
      const target = resolve(ctx.fields.path);
      await area.realDirectory(target);
      files.stateFor(ctx.session).cwd = target;
      await ctx.reply({ path: shown(target) });
    },

    ls: async (ctx) => {
      const { area, resolve } = await place(files, ctx.session);
      const target = resolve(ctx.fields.path ?? '.');
      const listing = await area.list(target);
      await ctx.reply({ path: shown(target), ...listing });
    },

    stat: async (ctx) => {
      const { area, resolve } = await place(files, ctx.session);
      const path = resolve(ctx.fields.path);
      const stats = path === '' ? null : await area.stat(path);
      const entry: EntryInfo =
        stats === null
          ? { name: '/', type: 'dir', length: 0, mtimeMs: 0 }
          : { name: basename(path), type: entryType(stats), length: stats.size, mtimeMs: stats.mtimeMs };
      await ctx.reply({ entry });
    },

    mkdir: async (ctx) => {
      const { area, resolve } = await place(files, ctx.session);
      const path = resolve(ctx.fields.path);
      await area.makeDirectory(path, ctx.fields.parents === true);
      files.audit(ctx.session, 'file.mkdir', { path: printable(path) });
      await ctx.reply({ path: shown(path) });
    },

    rm: async (ctx) => {
      const { area, resolve } = await place(files, ctx.session);
      const path = resolve(ctx.fields.path);
      const freed = await area.removeFile(path);
      if (ctx.session.identity !== null) files.quotas.adjust(ctx.session.identity.name, -freed);
      files.audit(ctx.session, 'file.rm', { path: printable(path), length: freed });
      await ctx.reply({ path: shown(path) });
    },

    rmdir: async (ctx) => {
      const { area, resolve } = await place(files, ctx.session);
      const path = resolve(ctx.fields.path);
      await area.removeDirectory(path);
      files.audit(ctx.session, 'file.rmdir', { path: printable(path) });
      await ctx.reply({ path: shown(path) });
    },

    mv: async (ctx) => {
      const { area, resolve } = await place(files, ctx.session);
      const from = resolve(ctx.fields.from);
      const to = resolve(ctx.fields.to);
      await area.move(from, to);
      files.audit(ctx.session, 'file.mv', { from: printable(from), to: printable(to) });
      await ctx.reply({ from: shown(from), to: shown(to) });
    },

    'put.open': async (ctx) => {
      const { area, resolve } = await place(files, ctx.session);
      const state = files.stateFor(ctx.session);
      if (state.uploads.size >= files.options.maxUploadsPerSession) {
        throw new GridlinkError('GL_ERR_FILE_TOO_MANY_TRANSFERS', `at most ${files.options.maxUploadsPerSession}`);
      }
      const path = resolve(ctx.fields.path);
      const reservation = await reserveQuota(files, ctx, area, path);
      let upload: Upload;
      try {
        upload = await Upload.open({ area, path, length: ctx.fields.length, md5: ctx.fields.md5 === true, reservation }, files.uploadDeps);
      } catch (err) {
        reservation?.release();
        throw err;
      }
      const handle = state.nextUpload++;
      state.uploads.set(handle, upload);
      ctx.session.logger.info({ event: 'files.put_open', path: printable(path), length: ctx.fields.length, offset: upload.received });
      await ctx.reply({ upload: handle, offset: upload.received });
    },

    'put.data': async (ctx) => {
      const state = files.stateFor(ctx.session);
      const upload = state.uploads.get(ctx.fields.upload);
      if (upload === undefined) throw new GridlinkError('GL_ERR_PROTO_BAD_STATE', `no open upload ${ctx.fields.upload}`);
      const body = ctx.body!;
      const received = await files.track(() => upload.append(body, ctx.bodySize)).catch(async (err: unknown) => {
        // The upload must be reopened (put.open) to continue; free its name now.
        state.uploads.delete(ctx.fields.upload);
        await upload.close();
        throw err;
      });
      await ctx.reply({ received });
    },

    'put.commit': async (ctx) => {
      const state = files.stateFor(ctx.session);
      const upload = state.uploads.get(ctx.fields.upload);
      if (upload === undefined) throw new GridlinkError('GL_ERR_PROTO_BAD_STATE', `no open upload ${ctx.fields.upload}`);
      state.uploads.delete(ctx.fields.upload);
      try {
        const digests = await upload.commit({ sha256: ctx.fields.sha256, md5: ctx.fields.md5 });
        const { path, length } = upload.target;
        files.audit(ctx.session, 'file.put', { path: printable(path), length, sha256: digests.sha256 });
        await ctx.reply({ path, length, ...digests });
      } finally {
        await upload.close();
      }
    },

    'put.abort': async (ctx) => {
      const state = files.stateFor(ctx.session);
      const upload = state.uploads.get(ctx.fields.upload);
      if (upload === undefined) throw new GridlinkError('GL_ERR_PROTO_BAD_STATE', `no open upload ${ctx.fields.upload}`);
      state.uploads.delete(ctx.fields.upload);
      if (ctx.fields.discard === true) await upload.discard();
      else await upload.close();
      await ctx.reply({});
    },

    get: async (ctx) => {
      const { area, resolve } = await place(files, ctx.session);
      const path = resolve(ctx.fields.path);
      const download = await Download.open(area, path, { offset: ctx.fields.offset ?? 0, ifMatch: ctx.fields.ifMatch });
      try {
        await files.track(async () => {
          const digest = download.digest(files.digestCache, ctx.fields.md5 === true);
          digest.catch(() => undefined); // awaited below; a failed send must not leave it unhandled
          await ctx.reply({ size: download.size, offset: download.offset, length: download.length, mtimeMs: download.mtimeMs }, download.body());
          await ctx.reply({ cmd: 'get.end', ...(await digest) });
        });
      } finally {
        await download.close();
      }
      ctx.session.logger.info({ event: 'files.get', path: printable(path), offset: download.offset, bytes: download.size });
    },
  };
}

/** In a home, claims the upload's growth against the user's quota before any byte is stored. */
async function reserveQuota(files: FileService, ctx: RequestContext<'put.open'>, area: FileArea, path: string): Promise<Reservation | undefined> {
  const user = ctx.session.identity?.name;
  if (user === undefined) return undefined;
  return files.reserveUpload(user, area, path, ctx.fields.length);
}
