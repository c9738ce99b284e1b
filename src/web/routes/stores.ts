import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import type { WebContext } from '../web-context.js';

/**
 * The history store the web routes read besides the service APIs: a
 * read-only connection of their own to the data plane's database, found in
 * the file service's data directory. (The accounts database comes in the
 * context, as the server opened it.)
 */
export function dataDirOf(ctx: WebContext): string {
  return ctx.files.options.dataDir;
}

/** `<dataDir>/history.db`, written by the SCADA data plane (src/scada/history-store.ts). */
export const HISTORY_FILE = 'history.db';

/**
 * A read-only connection to the history database, opened on first use and
 * closed with the web server; null while the file does not exist (the data
 * plane never ran). WAL: reading never blocks the data plane's writer. Rows
 * the writer holds in its batch (at most its flush interval) are not seen yet.
 */
export function historyReader(app: FastifyInstance, ctx: WebContext): () => Database.Database | null {
  let db: Database.Database | null = null;
  app.addHook('onClose', () => {
    db?.close();
    db = null;
  });
  return () => {
    if (db !== null) return db;
    try {
      db = new Database(join(dataDirOf(ctx), HISTORY_FILE), { readonly: true, fileMustExist: true });
    } catch {
      return null;
    }
    return db;
  };
}
