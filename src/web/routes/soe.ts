import type Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import type { GridlinkDatabase } from '../../accounts/database.js';
import { GridlinkError } from '../../errors/index.js';
import { pointMatcher } from '../../scada/point-pattern.js';
import type { Quality } from '../../protocol/scada.js';
import { SOE_KINDS, type SoeEntry, type SoeKind, type SoePage } from './soe-types.js';
import type { RouteAccess } from '../access.js';
import type { WebContext } from '../web-context.js';
import { intParam, stringParam, timeRange, type Query } from './query-params.js';
import { historyReader } from './stores.js';

export { SOE_KINDS, type SoeEntry, type SoeKind, type SoePage } from './soe-types.js';

const DEFAULT_LIMIT = 200;
const MAX_LIMIT = 1_000;
/** Rows of one store examined per request at most; the page then ends there and `next` goes on from it. */
export const SCAN_BUDGET = 50_000;
/** How long after a command its outcome is looked for (longer than any control timeout). */
const OUTCOME_WINDOW_MS = 600_000;

/**
 * Ranks order entries of one millisecond: a value change before the alarm it
 * raised, a command last. Together with the time and the row id of its store
 * they make the total order the cursors follow.
 */
const RANK = { event: 0, raised: 1, cleared: 2, acked: 3, command: 4 } as const;

interface Key {
  readonly at: number;
  readonly rank: number;
  readonly id: number;
}

const CURSOR = /^(\d{1,16})\.(\d)\.(\d{1,16})$/u;

function parseCursor(query: Query, name: string): Key | null {
  const raw = stringParam(query, name);
  if (raw === undefined) return null;
  const match = CURSOR.exec(raw);
  if (match === null) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', `${name} is a cursor from an earlier answer (<time>.<rank>.<id>)`);
  return { at: Number(match[1]), rank: Number(match[2]), id: Number(match[3]) };
}

const cursorOf = (key: Key): string => `${key.at}.${key.rank}.${key.id}`;

/** -1, 0, 1 in the list's order (newest first means a larger key comes first). */
function compare(a: Key, b: Key): number {
  return a.at - b.at || a.rank - b.rank || a.id - b.id;
}

function parseKinds(query: Query): Set<SoeKind> {
  const raw = stringParam(query, 'kinds');
  if (raw === undefined) return new Set(SOE_KINDS);
  const kinds = new Set<SoeKind>();
  for (const kind of raw.split(',')) {
    if (!(SOE_KINDS as readonly string[]).includes(kind)) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', `kinds is a comma-separated list of ${SOE_KINDS.join(', ')}`);
    kinds.add(kind as SoeKind);
  }
  return kinds;
}

/** A SQL condition on (time column, id column) for rows strictly inside (after, before) in key order, for a store of one rank. */
function bounds(time: string, id: string, rank: number, before: Key | null, after: Key | null): { sql: string; args: number[] } {
  const parts: string[] = [];
  const args: number[] = [];
  const add = (sql: string, ...values: number[]): void => {
    parts.push(sql);
    args.push(...values);
  };
  if (before !== null) {
    if (rank < before.rank) add(`${time} <= ?`, before.at);
    else if (rank > before.rank) add(`${time} < ?`, before.at);
    else add(`(${time} < ? OR (${time} = ? AND ${id} < ?))`, before.at, before.at, before.id);
  }
  if (after !== null) {
    if (rank > after.rank) add(`${time} >= ?`, after.at);
    else if (rank < after.rank) add(`${time} > ?`, after.at);
    else add(`(${time} > ? OR (${time} = ? AND ${id} > ?))`, after.at, after.at, after.id);
  }
  return { sql: parts.length === 0 ? '' : ` AND ${parts.join(' AND ')}`, args };
}

/** What one store found: its entries (newest first) and, when it stopped early, the key of the last row it examined. */
interface Found {
  readonly entries: Array<{ key: Key; entry: Omit<SoeEntry, 'cursor'> }>;
  readonly floor: Key | null;
}

interface Request {
  readonly since: number;
  readonly until: number;
  readonly limit: number;
  readonly match: (point: string) => boolean;
  /** Device alarms (`device:<name>`) are matched by their device name as the first token of a point name. */
  readonly matchDevice: (device: string) => boolean;
  readonly before: Key | null;
  readonly after: Key | null;
}

/**
 * Reads rows newest first, keeps those `take` turns into entries, and stops
 * at `limit + 1` entries or {@link SCAN_BUDGET} rows: in both cases the
 * key of the last row read is the floor above which this store was read whole.
 */
function collect<Row>(rows: IterableIterator<Row>, keyOf: (row: Row) => Key, take: (row: Row) => Omit<SoeEntry, 'cursor'> | null, limit: number): Found {
  const entries: Found['entries'] = [];
  let scanned = 0;
  for (const row of rows) {
    scanned += 1;
    const entry = take(row);
    if (entry !== null) entries.push({ key: keyOf(row), entry });
    if (entries.length > limit || scanned >= SCAN_BUDGET) {
      const floor = keyOf(row);
      // Ending the iteration early releases the statement.
      rows.return?.();
      return { entries, floor };
    }
  }
  return { entries, floor: null };
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

/** Value and quality changes (the `events` table of src/scada/history-store.ts), by server time. */
function pointEvents(db: Database.Database, request: Request, kinds: Set<SoeKind>): Found {
  const b = bounds('e.server_time', 'e.seq', RANK.event, request.before, request.after);
  const order = request.after === null ? 'DESC' : 'ASC';
  const rows = db
    .prepare(
      `SELECT e.seq, p.name, e.kind, e.value, e.quality, e.source_time, e.server_time FROM events e JOIN point_names p ON p.id = e.point_id
       WHERE e.server_time >= ? AND e.server_time < ?${b.sql} ORDER BY e.server_time ${order}, e.seq ${order}`,
    )
    .iterate(request.since, request.until, ...b.args) as IterableIterator<EventRow>;
  return collect(
    rows,
    (r) => ({ at: r.server_time, rank: RANK.event, id: r.seq }),
    (r) => (kinds.has(r.kind) && request.match(r.name) ? { at: r.server_time, kind: r.kind, point: r.name, value: r.value, quality: r.quality, sourceTime: r.source_time } : null),
    request.limit,
  );
}

interface AlarmRow {
  id: number;
  source: string;
  kind: string;
  severity: string;
  message: string;
  at: number;
  acked_by: string | null;
}

/** Alarm raises, clears and acknowledgements (the `alarms` table of src/scada/history-store.ts), each an entry at its own time. */
function alarmEvents(db: Database.Database, request: Request, action: 'raised' | 'cleared' | 'acked'): Found {
  const column = action === 'raised' ? 'raised_at' : action === 'cleared' ? 'cleared_at' : 'acked_at';
  const b = bounds(column, 'id', RANK[action], request.before, request.after);
  const order = request.after === null ? 'DESC' : 'ASC';
  const rows = db
    .prepare(`SELECT id, source, kind, severity, message, ${column} AS at, acked_by FROM alarms WHERE ${column} >= ? AND ${column} < ?${b.sql} ORDER BY ${column} ${order}, id ${order}`)
    .iterate(request.since, request.until, ...b.args) as IterableIterator<AlarmRow>;
  const matches = (source: string): boolean => (source.startsWith('device:') ? request.matchDevice(source.slice('device:'.length)) : request.match(source));
  return collect(
    rows,
    (r) => ({ at: r.at, rank: RANK[action], id: r.id }),
    (r) =>
      matches(r.source)
        ? { at: r.at, kind: 'alarm', point: r.source, alarm: { id: r.id, kind: r.kind, severity: r.severity, message: r.message, action, by: action === 'acked' ? r.acked_by : null } }
        : null,
    request.limit,
  );
}

interface AuditRow {
  id: number;
  at: number;
  actor: string | null;
  address: string | null;
  event: string;
  detail: string | null;
}

function detailOf(row: { detail: string | null }): Record<string, unknown> {
  if (row.detail === null) return {};
  try {
    const parsed: unknown = JSON.parse(row.detail);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const numberOr = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);
const stringOr = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/**
 * Commands from the audit log (src/accounts/audit-log.ts, written by the
 * control desk, src/scada/control-desk.ts): every `control.operate` with its
 * outcome, the `control.confirmed` or `control.failed` that followed it on the
 * same point (the desk allows one command per point in flight, so the first
 * one after it is its own), and every `control.operate.refused`.
 */
function commandEvents(db: GridlinkDatabase, request: Request): Found {
  const b = bounds('at', 'id', RANK.command, request.before, request.after);
  const order = request.after === null ? 'DESC' : 'ASC';
  const rows = db
    .prepare(`SELECT id, at, actor, address, event, detail FROM audit WHERE at >= ? AND at < ?${b.sql} AND event IN ('control.operate', 'control.operate.refused') ORDER BY at ${order}, id ${order}`)
    .iterate(request.since, request.until, ...b.args) as IterableIterator<AuditRow>;
  const outcome = db.prepare(
    "SELECT at, event, detail FROM audit WHERE at >= ? AND at < ? AND id > ? AND event IN ('control.confirmed', 'control.failed') AND json_extract(detail, '$.point') = ? AND actor IS ? ORDER BY id LIMIT 1",
  );
  const found = collect(
    rows,
    (r) => ({ at: r.at, rank: RANK.command, id: r.id }),
    (r): Omit<SoeEntry, 'cursor'> | null => {
      const detail = detailOf(r);
      const point = stringOr(detail['point']) ?? '';
      if (!request.match(point)) return null;
      const refused = r.event !== 'control.operate';
      const command = { by: r.actor ?? 'unknown', via: stringOr(detail['via']) ?? 'native', address: r.address, value: numberOr(detail['value']), outcome: refused ? ('refused' as const) : ('pending' as const), reason: stringOr(detail['reason']), tookMs: null };
      return { at: r.at, kind: 'command', point, command };
    },
    request.limit,
  );
  // Outcomes only for the entries found (at most limit + 1 lookups, each a short range of the time index).
  const entries = found.entries.map(({ key, entry }) => {
    const command = entry.command!;
    if (command.outcome !== 'pending') return { key, entry };
    const row = outcome.get(entry.at, entry.at + OUTCOME_WINDOW_MS, key.id, entry.point, command.by) as { at: number; event: string; detail: string | null } | undefined;
    if (row === undefined) return { key, entry };
    const detail = detailOf(row);
    const settled = { ...command, outcome: row.event === 'control.confirmed' ? ('confirmed' as const) : ('failed' as const), reason: stringOr(detail['reason']), tookMs: numberOr(detail['tookMs']) ?? row.at - entry.at };
    return { key, entry: { ...entry, command: settled } };
  });
  return { entries, floor: found.floor };
}

/**
 * Merges what each store found into one page, newest first (oldest first
 * with `after`, then reversed). A store that stopped early was read whole
 * only down to its floor, so the page ends at the highest floor: nothing
 * below it is shown until the next page, which starts there.
 */
function merge(found: Found[], limit: number, newer: boolean): SoePage {
  const direction = newer ? -1 : 1;
  const floors = found.map((f) => f.floor).filter((f): f is Key => f !== null);
  // Newest first: the page is complete above the highest floor; oldest first (after): below the lowest.
  const floor = floors.length === 0 ? null : floors.reduce((a, b) => (direction * compare(a, b) >= 0 ? a : b));
  const all = found
    .flatMap((f) => f.entries)
    .filter(({ key }) => floor === null || direction * compare(key, floor) >= 0)
    .sort((a, b) => direction * compare(b.key, a.key));
  const page = all.slice(0, limit);
  const more = all.length > limit || floor !== null;
  const last = page.length === limit ? page[page.length - 1]!.key : floor;
  const entries: SoeEntry[] = page.map(({ key, entry }) => ({ cursor: cursorOf(key), ...entry }));
  if (newer) entries.reverse();
  return { entries, next: more && last !== null ? cursorOf(last) : null };
}

/**
 * `GET /api/soe` (docs/http-api.md "Sequence of events"): value and quality
 * changes, alarms and commands of a time range in one list, newest first,
 * filtered by point pattern and kind, paged by cursor. Commands name who gave
 * them (the operator, or `iec104:<address>`) and their outcome.
 */
export function soeRoutes(app: FastifyInstance, ctx: WebContext): void {
  const history = historyReader(app, ctx);
  app.get<{ Querystring: Query }>('/api/soe', { config: { access: 'viewer' } satisfies RouteAccess }, (request, reply) => {
    const query = request.query;
    const { since, until } = timeRange(query);
    if (since >= until) throw new GridlinkError('GL_ERR_SCADA_BAD_RANGE', `since ${since}, until ${until}`);
    const limit = Math.max(1, intParam(query, 'limit', DEFAULT_LIMIT, MAX_LIMIT));
    const kinds = parseKinds(query);
    const pattern = stringParam(query, 'pattern');
    const match = pointMatcher(pattern);
    const first = pattern?.split('.')[0];
    const matchDevice = (device: string): boolean => pattern === undefined || first === '*' || first === '>' || first === device;
    const before = parseCursor(query, 'before');
    const after = parseCursor(query, 'after');
    if (before !== null && after !== null) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', 'give before or after, not both');
    const req: Request = { since, until, limit, match, matchDevice, before, after };
    const found: Found[] = [];
    const db = history();
    if (db !== null && (kinds.has('change') || kinds.has('quality'))) found.push(pointEvents(db, req, kinds));
    if (db !== null && kinds.has('alarm')) for (const action of ['raised', 'cleared', 'acked'] as const) found.push(alarmEvents(db, req, action));
    if (kinds.has('command')) found.push(commandEvents(ctx.database, req));
    return reply.send(merge(found, limit, after !== null));
  });
}
