import type { AuditEvent } from './audit-log.js';
import type { Role } from './roles.js';

/** Who is logged in (docs/protocol.md §3.2). */
export interface Identity {
  readonly name: string;
  readonly role: Role;
}

/** The front ends a request can arrive through; recorded in the audit log as `via`. */
export type FrontEnd = 'native' | 'legacy' | 'web' | 'ftp' | 'iec104' | 'admin';

/**
 * Who asks a service to act, whatever front end they came through: the
 * services (files, SCADA control, chat) take an actor, never a front end's
 * connection object, so quota, audit, limits and leases are written once.
 */
export interface Actor {
  /** The logged-in user, or null for the anonymous area. */
  readonly identity: Identity | null;
  /** The peer's address, for the audit log and throttling. */
  readonly address: string;
  readonly front: FrontEnd;
  /**
   * A stable key of the connection or session the actor acts in, e.g.
   * `native:12`, `web:3f…`, `iec104:127.0.0.1:50012`. Select leases and
   * per-connection limits are bound to it.
   */
  readonly connection: string;
}

/** An actor that has logged in: what SCADA reads and commands need. */
export interface UserActor extends Actor {
  readonly identity: Identity;
}

/** The name the audit log records for an actor. */
export function actorName(actor: Actor): string {
  return actor.identity?.name ?? 'anonymous';
}

/** An audit entry for `actor` (its name, address and front end). */
export function auditEntry(actor: Actor, event: string, detail: Record<string, unknown> = {}): AuditEvent {
  return { event, actor: actorName(actor), address: actor.address, detail: actor.front === 'native' ? detail : { ...detail, via: actor.front } };
}
