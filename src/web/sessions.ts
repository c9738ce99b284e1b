import { createHash, randomBytes } from 'node:crypto';
import type { Role } from '../accounts/roles.js';

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
 * Server-side web sessions: bounded (the least recently used is evicted when
 * full), ended after `idleMs` without use, ended at once on logout. The map's
 * insertion order is its use order (a use moves the entry to the end), so the
 * oldest entry is always the first.
 */
export class SessionStore {
  readonly #byKey = new Map<string, WebSession>();
  readonly #keys = new WeakMap<WebSession, string>();
  readonly #options: SessionStoreOptions;
  readonly #now: () => number;
  #sweeper: NodeJS.Timeout | null = null;

  constructor(options: SessionStoreOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
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
    this.#byKey.set(keyOf(token), session);
    this.#keys.set(session, keyOf(token));
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
    return session;
  }

  /** Marks a session as used (a message on its live socket). */
  touch(session: WebSession): void {
    session.lastUsed = this.#now();
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

  /** Ends everything (server stop). */
  close(): void {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    for (const [key, session] of [...this.#byKey]) this.#end(key, session, 'shutdown');
  }

  #end(key: string, session: WebSession, reason: EndReason): void {
    if (!this.#byKey.delete(key)) return;
    this.#options.onEnd(session, reason);
  }
}

/** A short digest of a stored credential, to notice a password change without keeping the credential. */
export function credentialFingerprint(storedKey: Buffer): string {
  return createHash('sha256').update(storedKey).digest('base64url').slice(0, 16);
}
