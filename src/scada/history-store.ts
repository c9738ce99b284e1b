import { chmodSync, closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Logger } from '../log/logger.js';
import type { Alarm, AlarmKind, HistorySample, PointEvent, Quality } from '../protocol/scada.js';
import { HistoryWriter, type HistoryWriterStats } from './history-writer.js';
import { WalCheckpointer, type CheckpointStats } from './wal-checkpointer.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE point_names (
     id   INTEGER PRIMARY KEY,
     name TEXT NOT NULL UNIQUE
   ) STRICT;
   CREATE TABLE events (
     seq         INTEGER PRIMARY KEY,
     point_id    INTEGER NOT NULL REFERENCES point_names (id),
     kind        TEXT NOT NULL,
     value       REAL,
     quality     TEXT NOT NULL,
     source_time INTEGER NOT NULL,
     server_time INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX events_point_time ON events (point_id, source_time);
   CREATE INDEX events_time ON events (server_time);
   CREATE TABLE alarms (
     id         INTEGER PRIMARY KEY,
     source     TEXT NOT NULL,
     kind       TEXT NOT NULL,
     severity   TEXT NOT NULL,
     message    TEXT NOT NULL,
     raised_at  INTEGER NOT NULL,
     cleared_at INTEGER,
     acked_at   INTEGER,
     acked_by   TEXT
   ) STRICT;
   CREATE INDEX alarms_open ON alarms (id) WHERE cleared_at IS NULL OR acked_at IS NULL;
   CREATE INDEX alarms_raised ON alarms (raised_at);`,
  // Events of other nodes of a cluster (docs/cluster.md, "History"): where they come from, so a redelivery is stored once.
  `ALTER TABLE events ADD COLUMN origin TEXT;
   ALTER TABLE events ADD COLUMN origin_seq INTEGER;
   CREATE UNIQUE INDEX events_origin ON events (origin, origin_seq) WHERE origin IS NOT NULL;`,
];

/** An event another node of a cluster recorded: `origin` is that node's run, `event.seq` its number there. */
export interface RemoteEvent {
  readonly origin: string;
  readonly event: PointEvent;
}

interface EventRow {
  seq: number;
  name: string;
  kind: 'change' | 'quality';
  value: number | null;
  quality: Quality;
  source_time: number;
  server_time: number;
}

interface AlarmRow {
  id: number;
  source: string;
  kind: AlarmKind;
  severity: 'low' | 'high';
  message: string;
  raised_at: number;
  cleared_at: number | null;
  acked_at: number | null;
  acked_by: string | null;
}

/**
 * Rows waiting for the next batch; beyond this the batch goes to the writer
 * thread at once. The commit is not on the event loop any more
 * (history-writer.ts), but a read waits for the batches before it, so a
 * batch is kept to a few milliseconds of the writer's work.
 */
const MAX_PENDING = 1_000;

/**
 * History (docs/protocol.md §3.6): every event (value change beyond deadband, status or
 * quality change) and every alarm, in SQLite (`<data>/history.db`, WAL).
 * Events are report-by-exception, so the events of a point are its value
 * history. Inserts are batched (one transaction per `flushMs` or
 * {@link MAX_PENDING} rows) so 20,000 points/s cost some twenty transactions
 * a second, written by a worker thread ({@link HistoryWriter}); a crash
 * loses at most the last batches, never a committed one. Everything else
 * (queries, alarms, other nodes' events, pruning) runs on this connection
 * once the writer has committed what came before, so the two connections
 * never wait for each other's write lock.
 */
/**
 * WAL pages after which the writer checkpoints itself (SQLite's default is
 * 1,000). The writer starts the WAL over only when it finds it copied to the
 * end, which under a continuous load happens every few seconds, not every
 * 1,000 pages: at 10,000 this backstop still fired (18 fsyncs on the event
 * loop in 25 s under 7,600 IEC 104 changes/s); at 40,000 it did not.
 */
const BACKSTOP_CHECKPOINT_PAGES = 40_000;
/** What the WAL file is trimmed back to when it starts over. */
const WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024;

export class HistoryStore {
  readonly #db: Database.Database;
  /** Point ids known to this connection (the writer thread assigns them too: both insert-or-ignore, then read). */
  readonly #pointIds = new Map<string, number>();
  readonly #insertEvent;
  readonly #insertName;
  readonly #selectName;
  readonly #insertRemote;
  readonly #pending: PointEvent[] = [];
  readonly #flushMs: number;
  #timer: NodeJS.Timeout | null = null;
  #nextSeq: number;
  #closed = false;
  readonly #checkpointer: WalCheckpointer;
  readonly #writer: HistoryWriter;

  /** `writerThread: false` writes the batches on the event loop (bench/history-store.ts measures what that costs). */
  constructor(path: string, options: { flushMs?: number; writerThread?: boolean; logger?: Logger } = {}) {
    closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    // Checkpoints run in a worker thread, not in a commit on the event loop
    // (wal-checkpointer.ts). This connection checkpoints only as a backstop,
    // should the WAL reach 40,000 pages (160 MiB) without starting over, and
    // trims the file back to 16 MiB when it does start over.
    this.#db.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);
    this.#db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    const version = this.#db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v += 1) {
      this.#db.transaction(() => {
        this.#db.exec(MIGRATIONS[v]!);
        this.#db.pragma(`user_version = ${v + 1}`);
      })();
    }
    this.#flushMs = options.flushMs ?? 250;
    for (const row of this.#db.prepare('SELECT id, name FROM point_names').all() as Array<{ id: number; name: string }>) this.#pointIds.set(row.name, row.id);
    // OR IGNORE: a batch the writer thread may have stored before it failed is written here again (history-writer.ts).
    this.#insertEvent = this.#db.prepare('INSERT OR IGNORE INTO events (seq, point_id, kind, value, quality, source_time, server_time) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.#insertName = this.#db.prepare('INSERT INTO point_names (name) VALUES (?) ON CONFLICT (name) DO NOTHING');
    this.#selectName = this.#db.prepare('SELECT id FROM point_names WHERE name = ?').pluck();
    this.#insertRemote = this.#db.prepare('INSERT OR IGNORE INTO events (seq, point_id, kind, value, quality, source_time, server_time, origin, origin_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const last = this.#db.prepare('SELECT max(seq) AS seq FROM events').get() as { seq: number | null };
    this.#nextSeq = (last.seq ?? 0) + 1;
    this.#checkpointer = new WalCheckpointer(path);
    this.#writer = new HistoryWriter(path, { backstopPages: BACKSTOP_CHECKPOINT_PAGES, walSizeLimit: WAL_SIZE_LIMIT_BYTES, thread: options.writerThread ?? true, logger: options.logger }, (batch) => this.#insertHere(batch));
  }

  /** What the writer thread has done (status, tests). */
  get writer(): HistoryWriterStats {
    return this.#writer.stats;
  }

  /** What the checkpointing worker has done (tests, status). */
  get checkpoints(): CheckpointStats {
    return this.#checkpointer.stats;
  }

  /** The next event sequence number: increasing across restarts. */
  takeSeq(): number {
    const seq = this.#nextSeq;
    this.#nextSeq += 1;
    return seq;
  }

  record(event: PointEvent): void {
    if (this.#closed) return;
    this.#pending.push(event);
    if (this.#pending.length >= MAX_PENDING) this.#ship();
    else this.#timer ??= setTimeout(() => this.#ship(), this.#flushMs);
  }

  /** Commits every event recorded so far; returns once they are in the database. */
  flush(): void {
    this.#ship();
    this.#writer.settle();
  }

  /** Hands the pending events to the writer thread as one batch. */
  #ship(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#pending.length === 0) return;
    this.#writer.write(this.#pending.splice(0));
  }

  #insertHere(batch: readonly PointEvent[]): void {
    this.#db.transaction(() => {
      for (const e of batch) this.#insertEvent.run(e.seq, this.#pointId(e.point), e.kind, e.value, e.quality, e.sourceTime, e.serverTime);
    })();
  }

  /**
   * Stores events of other nodes at once, in one transaction, each under a
   * local sequence number; one already stored (same origin and number: a
   * redelivery) is skipped. Returns how many were new.
   */
  insertRemote(events: readonly RemoteEvent[]): number {
    if (this.#closed || events.length === 0) return 0;
    this.flush();
    let added = 0;
    this.#db.transaction(() => {
      for (const { origin, event: e } of events) {
        added += this.#insertRemote.run(this.takeSeq(), this.#pointId(e.point), e.kind, e.value, e.quality, e.sourceTime, e.serverTime, origin, e.seq).changes;
      }
    })();
    return added;
  }

  /** The recorded values of one point with since <= sourceTime < until, oldest first, skipping `offset`. */
  history(point: string, since: number, until: number, limit: number, offset = 0): HistorySample[] {
    this.flush();
    const id = this.#pointIds.get(point) ?? (this.#selectName.get(point) as number | undefined);
    if (id === undefined) return [];
    const rows = this.#db
      .prepare('SELECT value, quality, source_time, server_time FROM events WHERE point_id = ? AND source_time >= ? AND source_time < ? ORDER BY source_time, seq LIMIT ? OFFSET ?')
      .all(id, since, until, limit, offset) as Array<{ value: number | null; quality: Quality; source_time: number; server_time: number }>;
    return rows.map((r) => ({ value: r.value, quality: r.quality, sourceTime: r.source_time, serverTime: r.server_time }));
  }

  /** Events with since <= serverTime < until, in sequence order; the first `offset` matching ones skipped. */
  events(since: number, until: number, limit: number, match: (point: string) => boolean, offset = 0): PointEvent[] {
    this.flush();
    const rows = this.#db
      .prepare('SELECT e.seq, p.name, e.kind, e.value, e.quality, e.source_time, e.server_time FROM events e JOIN point_names p ON p.id = e.point_id WHERE e.server_time >= ? AND e.server_time < ? ORDER BY e.seq')
      .iterate(since, until) as IterableIterator<EventRow>;
    const out: PointEvent[] = [];
    let skip = offset;
    for (const r of rows) {
      if (!match(r.name)) continue;
      if (skip > 0) {
        skip -= 1;
        continue;
      }
      out.push({ seq: r.seq, point: r.name, kind: r.kind, value: r.value, quality: r.quality, sourceTime: r.source_time, serverTime: r.server_time });
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Deletes events and settled alarms older than `before`. Returns the rows removed. */
  prune(before: number): number {
    this.flush();
    const events = this.#db.prepare('DELETE FROM events WHERE server_time < ?').run(before).changes;
    const alarms = this.#db.prepare('DELETE FROM alarms WHERE raised_at < ? AND cleared_at IS NOT NULL AND acked_at IS NOT NULL').run(before).changes;
    return events + alarms;
  }

  /** Stores a new alarm under `id` (a cluster's id, docs/cluster.md) or the next free one. */
  insertAlarm(alarm: Omit<Alarm, 'id' | 'state'>, id?: number): number {
    this.#writer.settle();
    const info = this.#db
      .prepare('INSERT INTO alarms (id, source, kind, severity, message, raised_at, cleared_at, acked_at, acked_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(id ?? null, alarm.source, alarm.kind, alarm.severity, alarm.message, alarm.raisedAt, alarm.clearedAt, alarm.ackedAt, alarm.ackedBy);
    return Number(info.lastInsertRowid);
  }

  /** Stores an alarm as another node of the cluster has it: inserted, or its clear and acknowledgement updated. */
  upsertAlarm(alarm: Omit<Alarm, 'state'>): void {
    this.#writer.settle();
    this.#db
      .prepare(
        `INSERT INTO alarms (id, source, kind, severity, message, raised_at, cleared_at, acked_at, acked_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET cleared_at = excluded.cleared_at, acked_at = excluded.acked_at, acked_by = excluded.acked_by`,
      )
      .run(alarm.id, alarm.source, alarm.kind, alarm.severity, alarm.message, alarm.raisedAt, alarm.clearedAt, alarm.ackedAt, alarm.ackedBy);
  }

  /** The highest alarm id stored (0 when none). */
  maxAlarmId(): number {
    return (this.#db.prepare('SELECT max(id) AS id FROM alarms').get() as { id: number | null }).id ?? 0;
  }

  updateAlarm(alarm: Alarm): void {
    this.#writer.settle();
    this.#db.prepare('UPDATE alarms SET cleared_at = ?, acked_at = ?, acked_by = ? WHERE id = ?').run(alarm.clearedAt, alarm.ackedAt, alarm.ackedBy, alarm.id);
  }

  /** Alarms still needing attention: not cleared, or not acknowledged. */
  openAlarms(): Array<Omit<Alarm, 'state'>> {
    return (this.#db.prepare('SELECT * FROM alarms WHERE cleared_at IS NULL OR acked_at IS NULL ORDER BY id').all() as AlarmRow[]).map(alarmOf);
  }

  recentAlarms(limit: number): Array<Omit<Alarm, 'state'>> {
    return (this.#db.prepare('SELECT * FROM alarms ORDER BY id DESC LIMIT ?').all(limit) as AlarmRow[]).map(alarmOf);
  }

  /** Flushes and closes; the returned promise settles once the checkpointing worker has checkpointed a last time and ended. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#ship();
    this.#closed = true;
    // The writer may still hand a failed batch back to this connection: it closes after the writer thread.
    return this.#writer.stop().then(() => {
      this.#db.close();
      return this.#checkpointer.stop();
    });
  }

  #pointId(name: string): number {
    let id = this.#pointIds.get(name);
    if (id === undefined) {
      this.#insertName.run(name);
      id = this.#selectName.get(name) as number;
      this.#pointIds.set(name, id);
    }
    return id;
  }
}

function alarmOf(r: AlarmRow): Omit<Alarm, 'state'> {
  return { id: r.id, source: r.source, kind: r.kind, severity: r.severity, message: r.message, raisedAt: r.raised_at, clearedAt: r.cleared_at, ackedAt: r.acked_at, ackedBy: r.acked_by };
}
