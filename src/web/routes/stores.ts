import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { DATABASE_FILE, openedDatabase, type GridlinkDatabase } from '../../accounts/database.js';
import type { WebContext } from '../web-context.js';

/**
 * The stores of the data directory the web routes read besides the service
 * APIs. The web server is handed the services, not the data directory or
 * the database connection, so both are found from the file service's data
 * directory: the accounts database is the connection the server opened
 * (src/accounts/database.ts), the history a read-only connection of our own.
 */
export function dataDirOf(ctx: WebContext): string {
  return ctx.files.options.dataDir;
}

/** The accounts database (users, audit, web sessions), or undefined when this process has none open on the data directory. */
export function accountsDatabase(ctx: WebContext): GridlinkDatabase | undefined {
  return openedDatabase(join(dataDirOf(ctx), DATABASE_FILE));
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
