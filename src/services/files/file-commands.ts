import { basename } from 'node:path';
import { GridlinkError } from '../../errors/index.js';
import type { EntryInfo } from '../../protocol/v1.js';
import type { CommandTable } from '../../server/router.js';
import { Download } from './download.js';
import type { FileService } from './file-service.js';
import { printable } from './path-rules.js';
import { Upload } from './upload.js';

/**
 * Versioned file commands (SPEC §2.2, §4; docs/protocol.md):
 * `stat`, resumable uploads (`put.open` → `put.data`… → `put.commit`) and
 * resumable downloads (`get` → body → `get.end` with the whole file's SHA-256).
 */
export function fileCommands(files: FileService): CommandTable {
  return {
    stat: async (ctx) => {
      const area = files.areaFor(ctx.session);
      const path = area.resolve(ctx.fields.path);
      const stats = path === '' ? null : await area.stat(path);
      const entry: EntryInfo =
        stats === null
          ? { name: '/', type: 'dir', length: 0, mtimeMs: 0 }
          : {
              name: basename(path),
              type: stats.isFile() ? 'file' : stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'link' : 'other',
              length: stats.size,
              mtimeMs: stats.mtimeMs,
            };
      await ctx.reply({ entry });
    },

    'put.open': async (ctx) => {
      const area = files.areaFor(ctx.session);
      const state = files.stateFor(ctx.session);
      if (state.uploads.size >= files.options.maxUploadsPerSession) {
        throw new GridlinkError('GL_ERR_FILE_TOO_MANY_TRANSFERS', `at most ${files.options.maxUploadsPerSession}`);
      }
      const path = area.resolve(ctx.fields.path);
      const upload = await Upload.open({ area, path, length: ctx.fields.length, md5: ctx.fields.md5 === true }, files.uploadDeps);
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
        ctx.session.logger.info({ event: 'files.put_commit', path: printable(path), length, sha256: digests.sha256 });
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
      const area = files.areaFor(ctx.session);
      const path = area.resolve(ctx.fields.path);
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
