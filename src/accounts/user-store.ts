import { GridlinkError } from '../errors/index.js';
import { createCredential, type StoredCredential } from './credentials.js';
import type { GridlinkDatabase } from './database.js';
import { isRole, type Role } from './roles.js';

/** What may be shown about a user (never the credential). */
export interface UserInfo {
  readonly name: string;
  readonly role: Role;
  readonly quotaBytes: number;
  readonly createdAt: number;
}

export interface UserRecord extends UserInfo {
  readonly credential: StoredCredential;
}

/** 1-32 characters, safe as a directory name and in logs. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/u;
const MIN_PASSWORD = 8;
export const DEFAULT_QUOTA_BYTES = 1024 * 1024 * 1024;

interface Row {
  name: string;
  role: string;
  quota_bytes: number;
  salt: Buffer;
  cost_n: number;
  cost_r: number;
  cost_p: number;
  stored_key: Buffer;
  created_at: number;
}

export function checkUserName(name: string): void {
  if (!NAME.test(name) || name === '.' || name === '..') throw new GridlinkError('GL_ERR_ADMIN_BAD_NAME', JSON.stringify(name.slice(0, 40)));
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD) throw new GridlinkError('GL_ERR_ADMIN_WEAK_PASSWORD');
}

/**
 * Accounts (docs/protocol.md §3.2), stored in SQLite; passwords only as SCRAM
 * StoredKeys. In a cluster (docs/cluster.md, "Accounts") every change made
 * here is told to the {@link onChange} listener, which shares it, and the
 * other nodes' changes come back through {@link apply}.
 */
export class UserStore {
  readonly #db: GridlinkDatabase;
  #changed: ((name: string) => void) | null = null;

  constructor(db: GridlinkDatabase) {
    this.#db = db;
  }

  /** Calls `listener(name)` after each change of a user made through this store (not through {@link apply}). */
  onChange(listener: ((name: string) => void) | null): void {
    this.#changed = listener;
  }

  /**
   * Writes a user as another node has it (`null`: deleted there), without
   * telling the change listener. Sessions of a user deleted this way end at
   * their next request, as after a local delete.
   */
  apply(name: string, record: UserRecord | null): void {
    if (record === null) {
      this.#db.prepare('DELETE FROM users WHERE name = ?').run(name);
      return;
    }
    const c = record.credential;
    this.#db
      .prepare(
        `INSERT INTO users (name, role, quota_bytes, salt, cost_n, cost_r, cost_p, stored_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET role = excluded.role, quota_bytes = excluded.quota_bytes, salt = excluded.salt, cost_n = excluded.cost_n,
           cost_r = excluded.cost_r, cost_p = excluded.cost_p, stored_key = excluded.stored_key, created_at = excluded.created_at`,
      )
      .run(name, record.role, record.quotaBytes, c.salt, c.N, c.r, c.p, c.storedKey, record.createdAt);
  }

  count(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  }

  get(name: string): UserRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM users WHERE name = ?').get(name) as Row | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  list(): UserInfo[] {
    return (this.#db.prepare('SELECT * FROM users ORDER BY name').all() as Row[]).map((row) => {
      const { credential: _credential, ...info } = toRecord(row);
      return info;
    });
  }

  async add(name: string, password: string, role: Role = 'viewer', quotaBytes = DEFAULT_QUOTA_BYTES): Promise<UserInfo> {
    checkUserName(name);
    checkPassword(password);
    if (this.get(name) !== undefined) throw new GridlinkError('GL_ERR_ADMIN_USER_EXISTS', name);
    const c = await createCredential(password);
    const createdAt = Date.now();
    try {
      this.#db
        .prepare('INSERT INTO users (name, role, quota_bytes, salt, cost_n, cost_r, cost_p, stored_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(name, role, quotaBytes, c.salt, c.N, c.r, c.p, c.storedKey, createdAt);
    } catch (err) {
      // Two admins adding the same name at once: the primary key decides.
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new GridlinkError('GL_ERR_ADMIN_USER_EXISTS', name);
      throw err;
    }
    this.#changed?.(name);
    return { name, role, quotaBytes, createdAt };
  }

  async setPassword(name: string, password: string): Promise<void> {
    checkPassword(password);
    this.#require(name);
    const c = await createCredential(password);
    this.#db.prepare('UPDATE users SET salt = ?, cost_n = ?, cost_r = ?, cost_p = ?, stored_key = ? WHERE name = ?').run(c.salt, c.N, c.r, c.p, c.storedKey, name);
    this.#changed?.(name);
  }

  setQuota(name: string, quotaBytes: number): void {
    this.#require(name);
    this.#db.prepare('UPDATE users SET quota_bytes = ? WHERE name = ?').run(quotaBytes, name);
    this.#changed?.(name);
  }

  setRole(name: string, role: Role): void {
    this.#require(name);
    this.#db.prepare('UPDATE users SET role = ? WHERE name = ?').run(role, name);
    this.#changed?.(name);
  }

  delete(name: string): void {
    this.#require(name);
    this.#db.prepare('DELETE FROM users WHERE name = ?').run(name);
    this.#changed?.(name);
  }

  #require(name: string): void {
    if (this.get(name) === undefined) throw new GridlinkError('GL_ERR_ADMIN_NO_USER', name);
  }
}

function toRecord(row: Row): UserRecord {
  return {
    name: row.name,
    role: isRole(row.role) ? row.role : 'viewer',
    quotaBytes: row.quota_bytes,
    createdAt: row.created_at,
    credential: { salt: row.salt, N: row.cost_n, r: row.cost_r, p: row.cost_p, storedKey: row.stored_key },
  };
}
