import { chooseDigest, digestSet } from '../../integrity/digests.js';
import type { FileService } from '../../services/files/file-service.js';
import { FileSession } from '../../services/files/file-session.js';
import { printable } from '../../services/files/path-rules.js';
import type { GetEnd } from '../../protocol/v1.js';
import type { Session } from '../session.js';
import type { CommandTable } from '../router.js';

const shown = (path: string): string => `/${path}`;

/** The file session of each native connection, created on first use and closed with it. */
export class NativeFileSessions {
  readonly #files: FileService;
  readonly #sessions = new WeakMap<Session, FileSession>();

  constructor(files: FileService) {
    this.#files = files;
  }

  of(session: Session): FileSession {
    let files = this.#sessions.get(session);
    if (files === undefined) {
      const created = new FileSession(this.#files, session.actor, () => {
        session.identity = null;
      });
      files = created;
      this.#sessions.set(session, created);
      // A cut connection keeps its partial files for a resume, but frees the names.
      session.onClose(() => created.close());
    }
    return files;
  }

  /** A login changes the area: start again at its root. */
  onLogin(session: Session): void {
    this.#sessions.get(session)?.setActor(session.actor);
  }
}

/**
 * Versioned file commands (docs/protocol.md §3.3) on the native protocol:
 * each is one call of the connection's {@link FileSession}, which confines,
 * counts, limits and audits; this table only maps frames to calls and back.
 */
export function fileCommands(sessions: NativeFileSessions): CommandTable {
  return {
    pwd: async (ctx) => {
      const files = sessions.of(ctx.session);
      await files.area();
      await ctx.reply({ path: shown(files.cwd) });
    },

    cd: async (ctx) => {
      await ctx.reply({ path: shown(await sessions.of(ctx.session).cd(ctx.fields.path)) });
    },

    ls: async (ctx) => {
      const listing = await sessions.of(ctx.session).list(ctx.fields.path);
      await ctx.reply({ ...listing, path: shown(listing.path) });
    },

    stat: async (ctx) => {
      const { name, type, length, mtimeMs } = await sessions.of(ctx.session).stat(ctx.fields.path);
      await ctx.reply({ entry: { name, type, length, mtimeMs } });
    },

    mkdir: async (ctx) => {
      await ctx.reply({ path: shown(await sessions.of(ctx.session).mkdir(ctx.fields.path, ctx.fields.parents === true)) });
    },

    rm: async (ctx) => {
      await ctx.reply({ path: shown(await sessions.of(ctx.session).remove(ctx.fields.path)) });
    },

    rmdir: async (ctx) => {
      await ctx.reply({ path: shown(await sessions.of(ctx.session).removeDirectory(ctx.fields.path)) });
    },

    mv: async (ctx) => {
      const { from, to } = await sessions.of(ctx.session).move(ctx.fields.from, ctx.fields.to);
      await ctx.reply({ from: shown(from), to: shown(to) });
    },

    'put.open': async (ctx) => {
      const { handle, offset, path, digest } = await sessions.of(ctx.session).openUpload(ctx.fields);
      ctx.session.logger.info({ event: 'files.put_open', path: printable(path), length: ctx.fields.length, offset, digest });
      await ctx.reply({ upload: handle, offset, digest });
    },

    'put.data': async (ctx) => {
      const received = await sessions.of(ctx.session).append(ctx.fields.upload, ctx.body!, ctx.bodySize);
      await ctx.reply({ received });
    },

    'put.commit': async (ctx) => {
      const { upload, sha256, xxh128, md5 } = ctx.fields;
      const { path, length, digests } = await sessions.of(ctx.session).commit(upload, { sha256, xxh128, md5 });
      await ctx.reply({ path, length, ...digests });
    },

    'put.abort': async (ctx) => {
      await sessions.of(ctx.session).abort(ctx.fields.upload, ctx.fields.discard === true);
      await ctx.reply({});
    },

    get: async (ctx) => {
      const files = sessions.of(ctx.session);
      // A client that offers nothing gets SHA-256 and a reply without
      // `digest`, exactly as before negotiation (docs/protocol.md §3.3).
      const offered = ctx.fields.digests;
      const digest = chooseDigest(offered);
      const names = digestSet(digest, ctx.fields.md5 === true);
      const download = await files.download(ctx.fields.path, { offset: ctx.fields.offset ?? 0, ifMatch: ctx.fields.ifMatch }, async (download) => {
        // From the digest cache, or hashed inline as the body is read.
        await files.prepareDigest(download, names);
        const head = { size: download.size, offset: download.offset, length: download.length, mtimeMs: download.mtimeMs };
        await ctx.reply(offered === undefined ? head : { ...head, digest }, download.body());
        // The trailer is a frame of its own kind (docs/protocol.md §3.3), after the body.
        const end: GetEnd = download.inlineDigest();
        await ctx.session.send({ v: 1, id: ctx.id, cmd: 'get.end', ...end });
      });
      ctx.session.logger.info({ event: 'files.get', path: printable(download.path), offset: download.offset, bytes: download.size });
    },
  };
}
