import { createHash, randomBytes } from 'node:crypto';
import type { GridlinkDatabase } from '../accounts/database.js';
import { isRole, type Role } from '../accounts/roles.js';

/** One logged-in browser (docs/http-api.md "Sessions and CSRF"). */
export interface WebSession {
  /** Public handle: safe in logs and as the SCADA actor's connection key (`web:<handle>`). */
  readonly handle: string;
  readonly user: string;
  /** The role at login; requests use the account's current role (see http-server.ts). */
  role: Role;
  /** Sent back in X-CSRF-Token on state-changing requests. */
  readonly csrf: string;
  /** Fingerprint of the credential at login: a changed password ends the session. */
  readonly credential: string;
  readonly address: string;
  readonly createdAt: number;
  lastUsed: number;
}

export type EndReason = 'logout' | 'expired' | 'evicted' | 'account-gone' | 'shutdown';

export interface SessionStoreOptions {
  readonly idleMs: number;
  readonly maxSessions: number;
  /** Called once for every session that ends, whatever the reason. */
  readonly onEnd: (session: WebSession, reason: EndReason) => void;
  readonly now?: () => number;
}

/** The cookie holds 32 random bytes; the store keys sessions by their SHA-256, so a memory dump shows no usable cookie. */
const TOKEN_BYTES = 32;

const keyOf = (token: string): string => createHash('sha256').update(token).digest('base64url');

/**
 * Where sessions are kept across restarts (docs/http-api.md "Sessions and
 * CSRF"): every session by the SHA-256 of its token, never the token.
 */
export interface SessionTable {
  /** The stored sessions used within `idleMs` of `now`, most recently used last, at most `max`; older ones are deleted. */
  load(now: number, idleMs: number, max: number): Array<{ readonly key: string; readonly session: WebSession }>;
  insert(key: string, session: WebSession): void;
  touch(key: string, lastUsed: number): void;
  delete(key: string): void;
}

interface SessionRow {
  key: string;
  handle: string;
  user: string;
  role: string;
  csrf: string;
  credential: string;
  address: string;
  created_at: number;
  last_used: number;
}

/** {@link SessionTable} in the `web_sessions` table of the accounts database (src/accounts/database.ts). */
export class SqliteSessionTable implements SessionTable {
  readonly #db: GridlinkDatabase;
  readonly #insert;
  readonly #touch;
  readonly #delete;

  constructor(db: GridlinkDatabase) {
    this.#db = db;
    this.#insert = db.prepare('INSERT OR REPLACE INTO web_sessions (key, handle, user, role, csrf, credential, address, created_at, last_used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.#touch = db.prepare('UPDATE web_sessions SET last_used = ? WHERE key = ? AND last_used < ?');
    this.#delete = db.prepare('DELETE FROM web_sessions WHERE key = ?');
  }

  load(now: number, idleMs: number, max: number): Array<{ key: string; session: WebSession }> {
    const oldest = now - idleMs;
    this.#db.prepare('DELETE FROM web_sessions WHERE last_used < ?').run(oldest);
    const rows = this.#db.prepare('SELECT * FROM web_sessions ORDER BY last_used DESC LIMIT ?').all(max) as SessionRow[];
    // Beyond the limit: the least recently used go, as they would have while running.
    this.#db.prepare('DELETE FROM web_sessions WHERE key NOT IN (SELECT key FROM web_sessions ORDER BY last_used DESC LIMIT ?)').run(max);
    return rows.reverse().map((row) => ({
      key: row.key,
      session: {
        handle: row.handle,
        user: row.user,
        role: isRole(row.role) ? row.role : 'viewer',
        csrf: row.csrf,
        credential: row.credential,
        address: row.address,
        createdAt: row.created_at,
        lastUsed: row.last_used,
      },
    }));
  }

  insert(key: string, s: WebSession): void {
    try {
      this.#insert.run(key, s.handle, s.user, s.role, s.csrf, s.credential, s.address, s.createdAt, s.lastUsed);
    } catch (err) {
      // The account went away between the password check and now: the session lives in memory only, and the access check ends it.
      if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_FOREIGNKEY') throw err;
    }
  }

  touch(key: string, lastUsed: number): void {
    this.#touch.run(lastUsed, key, lastUsed);
  }

  delete(key: string): void {
    this.#delete.run(key);
  }
}

/**
 * Server-side web sessions: bounded (the least recently used is evicted when
 * full), ended after `idleMs` without use, ended at once on logout. The map's
 * insertion order is its use order (a use moves the entry to the end), so the
 * oldest entry is always the first.
 *
 * With a {@link SessionTable} ({@link persistTo}) they outlive a restart:
 * every session is written when it starts and deleted when it ends, except
 * at shutdown, which keeps them; its last use is written at most every
 * {@link touchEveryMs} (a restart may so cut a session's idle time short by
 * that much, never lengthen it).
 */
export class SessionStore {
  readonly #byKey = new Map<string, WebSession>();
  readonly #keys = new WeakMap<WebSession, string>();
  readonly #options: SessionStoreOptions;
  readonly #now: () => number;
  /** When each session's last use was last written. */
  readonly #stored = new WeakMap<WebSession, number>();
  #table: SessionTable | null = null;
  #sweeper: NodeJS.Timeout | null = null;

  constructor(options: SessionStoreOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** How stale the stored last use of a session may get: a tenth of the idle limit, at most a minute. */
  get touchEveryMs(): number {
    return Math.min(60_000, Math.floor(this.#options.idleMs / 10));
  }

  /**
   * Keeps the sessions in `table` from now on, and takes back those stored by
   * an earlier run that have not expired meanwhile. Their accounts are checked
   * on their next request, as always (a password changed while the server was
   * down ends them then).
   */
  persistTo(table: SessionTable): number {
    this.#table = table;
    const now = this.#now();
    const restored = table.load(now, this.#options.idleMs, this.#options.maxSessions);
    for (const { key, session } of restored) {
      if (this.#byKey.has(key)) continue;
      this.#byKey.set(key, session);
      this.#keys.set(session, key);
      this.#stored.set(session, session.lastUsed);
    }
    return restored.length;
  }

  /** Starts the periodic sweep of idle sessions. */
  start(): void {
    const every = Math.max(1_000, Math.min(60_000, this.#options.idleMs / 4));
    this.#sweeper = setInterval(() => this.sweep(), every).unref();
  }

  get size(): number {
    return this.#byKey.size;
  }

  /** A new session; returns it with the cookie token (known only to the client from now on). */
  create(user: string, role: Role, credential: Buffer, address: string): { token: string; session: WebSession } {
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const now = this.#now();
    const session: WebSession = {
      handle: randomBytes(9).toString('base64url'),
      user,
      role,
      csrf: randomBytes(TOKEN_BYTES).toString('base64url'),
      credential: credentialFingerprint(credential),
      address,
      createdAt: now,
      lastUsed: now,
    };
    const key = keyOf(token);
    this.#byKey.set(key, session);
    this.#keys.set(session, key);
    this.#table?.insert(key, session);
    this.#stored.set(session, now);
    while (this.#byKey.size > this.#options.maxSessions) {
      const [oldestKey, oldest] = this.#byKey.entries().next().value!;
      this.#end(oldestKey, oldest, 'evicted');
    }
    return { token, session };
  }

  /** The live session of a cookie token, marked as used now; null when unknown or expired. */
  use(token: string | undefined): WebSession | null {
    if (token === undefined || token.length === 0 || token.length > 100) return null;
    const key = keyOf(token);
    const session = this.#byKey.get(key);
    if (session === undefined) return null;
    const now = this.#now();
    if (now - session.lastUsed > this.#options.idleMs) {
      this.#end(key, session, 'expired');
      return null;
    }
    session.lastUsed = now;
    this.#byKey.delete(key);
    this.#byKey.set(key, session);
    this.#store(key, session, false);
    return session;
  }

  /** Marks a session as used (a message on its live socket). */
  touch(session: WebSession): void {
    session.lastUsed = this.#now();
    const key = this.#keys.get(session);
    if (key !== undefined) this.#store(key, session, false);
  }

  /** Ends one session (logout, or its account changed). */
  end(session: WebSession, reason: EndReason): void {
    const key = this.#keys.get(session);
    if (key !== undefined) this.#end(key, session, reason);
  }

  /** Ends every session of a user; returns how many. */
  endUser(user: string, reason: EndReason): number {
    let ended = 0;
    for (const [key, session] of [...this.#byKey]) {
      if (session.user === user) {
        this.#end(key, session, reason);
        ended += 1;
      }
    }
    return ended;
  }

  /** Sessions, oldest use first (for checks over all of them). */
  all(): WebSession[] {
    return [...this.#byKey.values()];
  }

  /** Ends every session idle for longer than the limit. */
  sweep(): void {
    const now = this.#now();
    for (const [key, session] of [...this.#byKey]) {
      if (now - session.lastUsed > this.#options.idleMs) this.#end(key, session, 'expired');
    }
  }

  /** Ends everything here (server stop); stored sessions stay stored, with their last use, for the next run. */
  close(): void {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    for (const [key, session] of [...this.#byKey]) {
      this.#store(key, session, true);
      if (this.#table !== null) keptForRestart.add(session);
      this.#end(key, session, 'shutdown');
    }
    this.#table = null;
  }

  #store(key: string, session: WebSession, now: boolean): void {
    if (this.#table === null) return;
    const stored = this.#stored.get(session) ?? 0;
    if (session.lastUsed <= stored || (!now && session.lastUsed - stored < this.touchEveryMs)) return;
    this.#stored.set(session, session.lastUsed);
    this.#table.touch(key, session.lastUsed);
  }

  #end(key: string, session: WebSession, reason: EndReason): void {
    if (!this.#byKey.delete(key)) return;
    if (reason !== 'shutdown') this.#table?.delete(key);
    this.#options.onEnd(session, reason);
  }
}

/** Sessions ended here by a shutdown that keeps them stored for the next run (see {@link SessionStore.close}). */
const keptForRestart = new WeakSet<WebSession>();

/**
 * True when the session ended only because the server stops, and the next
 * run takes it back: its live sockets close as for a restart (the page
 * reconnects), not as for a session that ended (the page would log out).
 */
export function survivesRestart(session: WebSession): boolean {
  return keptForRestart.has(session);
}

/** A short digest of a stored credential, to notice a password change without keeping the credential. */
export function credentialFingerprint(storedKey: Buffer): string {
  return createHash('sha256').update(storedKey).digest('base64url').slice(0, 16);
}
