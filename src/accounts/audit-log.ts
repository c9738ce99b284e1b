import type { Logger } from 'pino';
import type { GridlinkDatabase } from './database.js';

export interface AuditEvent {
  /** What happened, e.g. `auth.login`, `auth.failure`, `file.put`, `control.operate`. */
  readonly event: string;
  /** Who did it (user or device name), when known. */
  readonly actor?: string | null | undefined;
  readonly address?: string | null | undefined;
  /** Details (a path, a reason): never a secret. */
  readonly detail?: Record<string, unknown> | undefined;
}

export interface AuditRow {
  readonly at: number;
  readonly actor: string | null;
  readonly address: string | null;
  readonly event: string;
  readonly detail: Record<string, unknown> | null;
}

/**
 * The audit log (docs/protocol.md §3.2): every login, failure, file change and control
 * command, in SQLite (kept across restarts) and as a log line.
 */
export class AuditLog {
  readonly #insert;
  readonly #db: GridlinkDatabase;
  readonly #logger: Logger;

  constructor(db: GridlinkDatabase, logger: Logger) {
    this.#db = db;
    this.#logger = logger;
    this.#insert = db.prepare('INSERT INTO audit (at, actor, address, event, detail) VALUES (?, ?, ?, ?, ?)');
  }

  record(entry: AuditEvent): void {
    this.#insert.run(Date.now(), entry.actor ?? null, entry.address ?? null, entry.event, entry.detail === undefined ? null : JSON.stringify(entry.detail));
    this.#logger.info({ event: 'audit', audit: entry.event, actor: entry.actor, address: entry.address, ...entry.detail });
  }

  /** The newest entries first. */
  recent(limit = 100): AuditRow[] {
    const rows = this.#db.prepare('SELECT at, actor, address, event, detail FROM audit ORDER BY id DESC LIMIT ?').all(limit) as (Omit<AuditRow, 'detail'> & { detail: string | null })[];
    return rows.map((row) => ({ ...row, detail: row.detail === null ? null : (JSON.parse(row.detail) as Record<string, unknown>) }));
  }
}
