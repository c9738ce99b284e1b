import { auditEntry, type UserActor } from '../accounts/actor.js';
import type { AuditLog } from '../accounts/audit-log.js';
import { hasRole } from '../accounts/roles.js';
import { GridlinkError } from '../errors/index.js';
import { reasonOf } from './acquisition/modbus-poller.js';
import type { PointEntry } from './point-table.js';
import type { OperateResult, SelectLease } from '../protocol/scada.js';

/**
 * Select leases shared beyond this process (docs/cluster.md, "Select
 * leases"): in a cluster, a KV entry per point created with CAS, so of any
 * number of operators on any nodes exactly one holds a point. Absent in one
 * process, where the desk's own map is the whole truth.
 */
export interface SharedLeases {
  /**
   * Takes `point` for (`holder`, `connection`) until `expiresAt`, or renews
   * it when that connection holds it already. Throws GL_ERR_SCADA_SELECTED
   * when someone else holds it, GL_ERR_CLUSTER_UNAVAILABLE when the cluster
   * cannot be asked (a selection is never granted on a guess).
   */
  take(point: string, holder: string, connection: string, expiresAt: number): Promise<void>;
  /** Turns the connection's lease into its command's, held until `until`: false when it is not theirs any more. */
  spend(point: string, connection: string, until: number): Promise<boolean>;
  /** Gives the point back; when that fails the lease still ends at its expiry. */
  release(point: string, connection: string): void;
}

/** A spent lease outlives the command's feedback timeout by this much in the shared bucket. */
const SPEND_MARGIN_MS = 5_000;

interface Lease extends SelectLease {
  readonly connection: string;
  readonly timer: NodeJS.Timeout;
}

/** What the desk needs from the rest of the data plane. */
export interface ControlTarget {
  point(name: string): PointEntry | undefined;
  /**
   * The command that sets the point to `value`, through its device's driver
   * (see DeviceDriver.command in src/scada/acquisition/device-driver.ts):
   * throws GL_ERR_SCADA_BAD_VALUE at once when the value does not fit; the
   * function it returns delivers the command and resolves with the time from
   * which a value counts as feedback.
   */
  command(entry: PointEntry, value: number): () => Promise<number>;
  /** Resolves with true once the point reads `value` (good quality, read after `after`), false on timeout. */
  feedback(entry: PointEntry, value: number, after: number, timeoutMs: number): Promise<boolean>;
  failed(point: string, message: string): void;
  succeeded(point: string): void;
}

/**
 * Select-before-operate (docs/protocol.md §3.6), the course's lock-guarded ticket counter
 * done right. `select` takes an exclusive, expiring lease on a control point
 * for one connection; only that connection may `operate`, once; the command
 * is written to the device and confirmed by the status feedback or reported
 * failed. Check-and-take happens with no `await` in between, so on one event
 * loop any number of racing operators get exactly one holder. Every step is
 * audited.
 */
export class ControlDesk {
  readonly #leases = new Map<string, Lease>();
  /** Points with a command on its way to the device: no second one until it settles. */
  readonly #inFlight = new Set<string>();
  readonly #target: ControlTarget;
  readonly #audit: AuditLog;
  readonly #shared: SharedLeases | undefined;
  /** Points a local operator is selecting through the cluster right now, with who. */
  readonly #taking = new Map<string, string>();
  #selectTimeoutMs: number;

  constructor(target: ControlTarget, audit: AuditLog, selectTimeoutMs: number, shared?: SharedLeases) {
    this.#target = target;
    this.#audit = audit;
    this.#selectTimeoutMs = selectTimeoutMs;
    this.#shared = shared;
  }

  lease(point: string): SelectLease | undefined {
    const lease = this.#leases.get(point);
    return lease === undefined ? undefined : { point: lease.point, holder: lease.holder, expiresAt: lease.expiresAt };
  }

  /** Synchronous in one process; in a cluster it resolves once the shared lease is taken (docs/cluster.md). */
  select(actor: UserActor, name: string): SelectLease | Promise<SelectLease> {
    const entry = this.#controllable(actor, name, 'select');
    const held = this.#leases.get(name);
    if (held !== undefined && held.connection !== actor.connection) {
      this.#audit.record(auditEntry(actor, 'control.select.refused', { point: name, holder: held.holder }));
      const seconds = Math.max(1, Math.ceil((held.expiresAt - Date.now()) / 1000));
      throw new GridlinkError('GL_ERR_SCADA_SELECTED', `${name} is held by ${held.holder} for ${seconds} s more`);
    }
    if (this.#inFlight.has(name)) throw new GridlinkError('GL_ERR_SCADA_SELECTED', `${name} has a command in progress`);
    const shared = this.#shared;
    if (shared === undefined) return this.#grant(actor, entry, held, Date.now() + this.#selectTimeoutMs);
    const taking = this.#taking.get(name);
    if (taking !== undefined) {
      this.#audit.record(auditEntry(actor, 'control.select.refused', { point: name, holder: taking }));
      throw new GridlinkError('GL_ERR_SCADA_SELECTED', `${name} is being selected by ${taking}`);
    }
    this.#taking.set(name, actor.identity.name);
    const expiresAt = Date.now() + this.#selectTimeoutMs;
    return shared.take(name, actor.identity.name, actor.connection, expiresAt).then(
      () => {
        this.#taking.delete(name);
        return this.#grant(actor, entry, this.#leases.get(name), expiresAt);
      },
      (err: unknown) => {
        this.#taking.delete(name);
        this.#audit.record(auditEntry(actor, 'control.select.refused', { point: name, reason: err instanceof GridlinkError ? err.message : String(err) }));
        throw err;
      },
    );
  }

  #grant(actor: UserActor, entry: PointEntry, held: Lease | undefined, expiresAt: number): SelectLease {
    const name = entry.config.name;
    if (held !== undefined) clearTimeout(held.timer);
    const timer = setTimeout(() => this.#expire(name, actor.connection), Math.max(0, expiresAt - Date.now()));
    timer.unref();
    this.#leases.set(name, { point: entry.config.name, holder: actor.identity.name, connection: actor.connection, expiresAt, timer });
    this.#audit.record(auditEntry(actor, 'control.select', { point: name, expiresAt }));
    return { point: name, holder: actor.identity.name, expiresAt };
  }

  deselect(actor: UserActor, name: string): void {
    const held = this.#leases.get(name);
    if (held === undefined || held.connection !== actor.connection) return;
    this.#release(name, 'control.deselect');
  }

  releaseConnection(connection: string): void {
    for (const [name, lease] of this.#leases) {
      if (lease.connection === connection) this.#release(name, 'control.released');
    }
  }

  async operate(actor: UserActor, name: string, value: number): Promise<OperateResult> {
    const entry = this.#controllable(actor, name, 'operate');
    const held = this.#leases.get(name);
    if (held === undefined || held.connection !== actor.connection) {
      this.#audit.record(auditEntry(actor, 'control.operate.refused', { point: name, reason: held === undefined ? 'not selected' : `held by ${held.holder}` }));
      throw new GridlinkError('GL_ERR_SCADA_NOT_SELECTED', held === undefined ? `${name} is not selected (or the selection expired)` : `${name} is held by ${held.holder}`);
    }
    const control = entry.config.control!;
    const send = this.#target.command(entry, value);
    // The selection is spent by this command (one select, one operate).
    clearTimeout(held.timer);
    this.#leases.delete(name);
    this.#inFlight.add(name);
    const started = Date.now();
    this.#audit.record(auditEntry(actor, 'control.operate', { point: name, value }));
    try {
      // In a cluster the lease must still be this connection's in the shared bucket (it may
      // have expired there and been taken by another node's operator): the command then holds it.
      if (this.#shared !== undefined && !(await this.#shared.spend(name, actor.connection, Date.now() + control.timeoutMs + SPEND_MARGIN_MS))) {
        this.#audit.record(auditEntry(actor, 'control.operate.refused', { point: name, reason: 'selection lost in the cluster' }));
        throw new GridlinkError('GL_ERR_SCADA_NOT_SELECTED', `${name}: the selection expired and was taken on another node`);
      }
      let after: number;
      try {
        after = await send();
      } catch (err) {
        const reason = reasonOf(err);
        this.#audit.record(auditEntry(actor, 'control.failed', { point: name, value, reason }));
        if (err instanceof GridlinkError) {
          // The device answered and said no (an IEC 104 negative confirmation).
          this.#target.failed(name, `command ${value} to ${name} by ${actor.identity.name} was refused: ${reason}`);
          throw err;
        }
        this.#target.failed(name, `command ${value} to ${name} by ${actor.identity.name} was not delivered: ${reason}`);
        throw new GridlinkError('GL_ERR_SCADA_DEVICE_UNAVAILABLE', `${entry.device}: ${reason}`);
      }
      const confirmed = await this.#target.feedback(entry, value, after, control.timeoutMs);
      const tookMs = Date.now() - started;
      if (!confirmed) {
        this.#audit.record(auditEntry(actor, 'control.failed', { point: name, value, reason: 'no feedback', tookMs }));
        this.#target.failed(name, `command ${value} to ${name} by ${actor.identity.name} was not confirmed within ${control.timeoutMs} ms`);
        throw new GridlinkError('GL_ERR_SCADA_COMMAND_FAILED', `${name} did not read ${value} within ${control.timeoutMs} ms`);
      }
      this.#audit.record(auditEntry(actor, 'control.confirmed', { point: name, value, tookMs }));
      this.#target.succeeded(name);
      return { point: name, value, confirmed: true, tookMs };
    } finally {
      this.#inFlight.delete(name);
      this.#shared?.release(name, actor.connection);
    }
  }

  /** A new `scada.selectTimeoutMs` (a reload): selections made from now on hold this long. */
  setSelectTimeout(ms: number): void {
    this.#selectTimeoutMs = ms;
  }

  /** A point a reload removed: its selection, if any, is released (audited as `control.released`). */
  forget(point: string): void {
    this.#release(point, 'control.released');
  }

  close(): void {
    for (const [name, lease] of this.#leases) {
      clearTimeout(lease.timer);
      this.#shared?.release(name, lease.connection);
    }
    this.#leases.clear();
  }

  #controllable(actor: UserActor, name: string, what: string): PointEntry {
    if (!hasRole(actor.identity.role, 'operator')) {
      this.#audit.record(auditEntry(actor, `control.${what}.refused`, { point: name, reason: `role ${actor.identity.role}` }));
      throw new GridlinkError('GL_ERR_AUTH_FORBIDDEN', `${what} needs the operator role; ${actor.identity.name} is a ${actor.identity.role}`);
    }
    const entry = this.#target.point(name);
    if (entry === undefined) throw new GridlinkError('GL_ERR_SCADA_NO_POINT', name);
    if (entry.config.control === undefined) throw new GridlinkError('GL_ERR_SCADA_NOT_CONTROLLABLE', name);
    // A substituted point shows a value the device did not send: its feedback cannot confirm a command.
    if (entry.substitute !== null) throw new GridlinkError('GL_ERR_SCADA_SUBSTITUTED', `${name} shows ${entry.substitute.value}, entered by ${entry.substitute.by}`);
    return entry;
  }

  #expire(name: string, connection: string): void {
    if (this.#leases.get(name)?.connection === connection) this.#release(name, 'control.expired');
  }

  #release(name: string, event: string): void {
    const lease = this.#leases.get(name);
    if (lease === undefined) return;
    clearTimeout(lease.timer);
    this.#leases.delete(name);
    this.#shared?.release(name, lease.connection);
    this.#audit.record({ event, actor: lease.holder, detail: { point: name } });
  }
}
