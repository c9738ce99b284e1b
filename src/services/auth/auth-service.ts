import { createHmac, randomBytes } from 'node:crypto';
import type { AuditLog } from '../../accounts/audit-log.js';
import { SCRYPT_COST, verifyPassword, verifyProof, type StoredCredential } from '../../accounts/credentials.js';
import type { LoginThrottle } from '../../accounts/login-throttle.js';
import type { UserStore } from '../../accounts/user-store.js';
import { GridlinkError } from '../../errors/index.js';
import type { Identity } from '../../accounts/actor.js';

const NONCE_BYTES = 32;
const CHALLENGE_TTL_MS = 60_000;

interface Pending {
  readonly user: string;
  readonly nonce: Buffer;
  readonly expiresAt: number;
}

/** What a login depends on about the connection it arrives on (a native session, a web request). */
export interface LoginPeer {
  readonly remoteAddress: string;
  /** TLS-encrypted. */
  readonly secure: boolean;
  readonly fromLoopback: boolean;
  /** Which front end, when not the native protocol (recorded in the audit log), e.g. `web`. */
  readonly via?: string;
}

export interface Challenge {
  readonly nonce: string;
  readonly salt: string;
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/**
 * Logins (docs/protocol.md §3.2): SCRAM-style challenge–response on any
 * connection, plain password only over TLS or loopback. Attempts are
 * throttled per address and per user, counted before they are checked
 * (docs/security.md), and everything goes to the audit log.
 */
export class AuthService {
  readonly #users: UserStore;
  readonly #audit: AuditLog;
  readonly #throttle: LoginThrottle;
  /** Challenges waiting for their proof, by the connection object they were issued to. */
  readonly #pending = new WeakMap<LoginPeer, Pending>();
  /** Salts for names that do not exist are derived from this, so they look real. */
  readonly #decoySecret = randomBytes(32);
  /** The stored key of every decoy credential: random, so no password matches it. */
  readonly #decoyKey = randomBytes(32);

  constructor(users: UserStore, audit: AuditLog, throttle: LoginThrottle) {
    this.#users = users;
    this.#audit = audit;
    this.#throttle = throttle;
  }

  /** A fresh single-use nonce bound to this connection, with the user's salt and cost. */
  challenge(session: LoginPeer, user: string): Challenge {
    this.#checkThrottle(session, user);
    const nonce = randomBytes(NONCE_BYTES);
    this.#pending.set(session, { user, nonce, expiresAt: Date.now() + CHALLENGE_TTL_MS });
    const credential = this.#users.get(user)?.credential ?? this.#decoyCredential(user);
    return { nonce: nonce.toString('base64'), salt: credential.salt.toString('base64'), N: credential.N, r: credential.r, p: credential.p };
  }

  /** Checks a proof for the connection's pending challenge (which it consumes). */
  proof(session: LoginPeer, proofBase64: string): Identity {
    const pending = this.#pending.get(session);
    this.#pending.delete(session);
    if (pending === undefined || pending.expiresAt < Date.now()) throw new GridlinkError('GL_ERR_AUTH_NO_CHALLENGE');
    this.#admit(session, pending.user);
    const record = this.#users.get(pending.user);
    // Checked against the decoy too for a name that does not exist (same work).
    const ok = verifyProof(Buffer.from(proofBase64, 'base64'), pending.nonce, record?.credential ?? this.#decoyCredential(pending.user)) && record !== undefined;
    return this.#conclude(session, pending.user, ok ? record : undefined, 'challenge');
  }

  /** Password login: refused outright over plain TCP from another host. */
  async verifyPassword(peer: LoginPeer, user: string, password: string): Promise<Identity> {
    if (!peer.secure && !peer.fromLoopback) {
      this.#audit.record({ event: 'auth.insecure_refused', actor: user, address: peer.remoteAddress, detail: peer.via === undefined ? undefined : via(peer) });
      throw new GridlinkError('GL_ERR_AUTH_INSECURE');
    }
    // Counted before the check, which takes tens of milliseconds: guesses sent
    // at once would otherwise all start before the first failure is counted.
    this.#admit(peer, user);
    const record = this.#users.get(user);
    if (record === undefined) {
      // The same scrypt work as for a real account, so the time taken does not
      // tell which names exist (docs/security.md); the outcome is a failure.
      await verifyPassword(password, this.#decoyCredential(user));
      return this.#conclude(peer, user, undefined, 'password');
    }
    const ok = await verifyPassword(password, record.credential);
    return this.#conclude(peer, user, ok ? record : undefined, 'password');
  }

  /**
   * What a name that does not exist is checked against: a salt derived from
   * the name (the same in every challenge, like a real one), today's cost and
   * a stored key nothing derives to.
   */
  #decoyCredential(user: string): StoredCredential {
    return { salt: createHmac('sha256', this.#decoySecret).update(user).digest().subarray(0, 16), ...SCRYPT_COST, storedKey: this.#decoyKey };
  }

  #conclude(session: LoginPeer, user: string, record: { name: string; role: Identity['role'] } | undefined, method: string): Identity {
    if (record === undefined) {
      // Already counted by #admit.
      this.#audit.record({ event: 'auth.failure', actor: user, address: session.remoteAddress, detail: { method, ...via(session) } });
      throw new GridlinkError('GL_ERR_AUTH_FAILED');
    }
    this.#throttle.succeeded(session.remoteAddress, user);
    const identity: Identity = { name: record.name, role: record.role };
    this.#audit.record({ event: 'auth.login', actor: user, address: session.remoteAddress, detail: { method, role: record.role, ...via(session) } });
    return identity;
  }

  /** Refuses while logins are throttled; a challenge is no attempt, so nothing is counted. */
  #checkThrottle(session: LoginPeer, user: string): void {
    this.#throttled(session, user, this.#throttle.waitMs(session.remoteAddress, user));
  }

  /** Lets an attempt in, counted as failed until it succeeds (docs/security.md), or refuses it. */
  #admit(session: LoginPeer, user: string): void {
    this.#throttled(session, user, this.#throttle.admit(session.remoteAddress, user));
  }

  #throttled(session: LoginPeer, user: string, wait: number): void {
    if (wait > 0) {
      this.#audit.record({ event: 'auth.throttled', actor: user, address: session.remoteAddress, detail: { waitMs: wait, ...via(session) } });
      throw new GridlinkError('GL_ERR_AUTH_THROTTLED', `try again in ${Math.ceil(wait / 1000)} s`);
    }
  }
}

function via(peer: LoginPeer): { via?: string } {
  return peer.via === undefined ? {} : { via: peer.via };
}
