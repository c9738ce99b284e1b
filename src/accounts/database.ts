import { chmodSync, closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';

/** The SQLite database (docs/architecture.md embedded default): accounts, audit and web sessions; history has its own file. */
export type GridlinkDatabase = Database.Database;

/** Its file name in the data directory (docs/configuration.md, `dataDir`). */
export const DATABASE_FILE = 'gridlink.db';

/** Schema versions, applied in order; `PRAGMA user_version` records the last one applied. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
     name        TEXT PRIMARY KEY,
     role        TEXT NOT NULL,
     quota_bytes INTEGER NOT NULL,
     salt        BLOB NOT NULL,
     cost_n      INTEGER NOT NULL,
     cost_r      INTEGER NOT NULL,
     cost_p      INTEGER NOT NULL,
     stored_key  BLOB NOT NULL,
     created_at  INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE audit (
     id      INTEGER PRIMARY KEY,
     at      INTEGER NOT NULL,
     actor   TEXT,
     address TEXT,
     event   TEXT NOT NULL,
     detail  TEXT
   ) STRICT;
   CREATE INDEX audit_at ON audit (at);`,
  // Web sessions that outlive a restart (docs/http-api.md "Sessions and CSRF"): keyed by the
  // SHA-256 of the cookie token, never the token; a deleted account takes its sessions with it.
  `CREATE TABLE web_sessions (
     key        TEXT PRIMARY KEY,
     handle     TEXT NOT NULL UNIQUE,
     user       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
     role       TEXT NOT NULL,
     csrf       TEXT NOT NULL,
     credential TEXT NOT NULL,
     address    TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     last_used  INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX web_sessions_user ON web_sessions (user);
   CREATE INDEX web_sessions_last_used ON web_sessions (last_used);`,
];

/**
 * Opens (creating if needed, mode 0600) and migrates the database. WAL mode:
 * readers never block the writer, and a crash loses no committed row.
 */
export function openDatabase(path: string): GridlinkDatabase {
  // Create the file with owner-only permissions before SQLite opens it.
  closeSync(openSync(path, 'a', 0o600));
  chmodSync(path, 0o600);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v += 1) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}
