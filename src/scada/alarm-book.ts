import type { ScadaPointConfig } from '../config/scada-schema.js';
import { GridlinkError } from '../errors/index.js';
import type { HistoryStore } from './history-store.js';
import type { Alarm, AlarmKind, AlarmState } from '../protocol/scada.js';

type LimitKind = 'lowLow' | 'low' | 'high' | 'highHigh';
const LIMIT_KINDS: readonly LimitKind[] = ['lowLow', 'low', 'high', 'highHigh'];

/**
 * Alarms (docs/protocol.md §3.6): limit violations (low/high, low-low/high-high, with
 * hysteresis), device loss and failed commands. Each has a life of raise →
 * clear and acknowledge, in either order; it leaves the alarm list when it
 * is both cleared and acknowledged. Kept in the history database, so an
 * unacknowledged alarm survives a restart.
 */
export class AlarmBook {
  readonly #store: HistoryStore;
  readonly #publish: (alarm: Alarm) => void;
  readonly #shared: SharedAlarms | undefined;
  /** Alarms not yet both cleared and acknowledged, by id. */
  readonly #open = new Map<number, Alarm>();
  /** The active (uncleared) alarm of a source and kind family. */
  readonly #active = new Map<string, Alarm>();

  constructor(store: HistoryStore, publish: (alarm: Alarm) => void, shared?: SharedAlarms) {
    this.#store = store;
    this.#publish = publish;
    this.#shared = shared;
    for (const row of store.openAlarms()) {
      const alarm = withState(row);
      this.#open.set(alarm.id, alarm);
      if (alarm.clearedAt === null) this.#active.set(keyOf(alarm.source, alarm.kind), alarm);
    }
  }

  /** The alarm list: everything not yet both cleared and acknowledged, oldest first. */
  open(): Alarm[] {
    return [...this.#open.values()];
  }

  recent(limit: number): Alarm[] {
    return this.#store.recentAlarms(limit).map((row) => this.#open.get(row.id) ?? withState(row));
  }

  /** The active alarm on a point, if any (the worst when several). */
  activeFor(source: string): Alarm | undefined {
    let worst: Alarm | undefined;
    for (const family of ['limit', 'deviceLost', 'commandFailed']) {
      const alarm = this.#active.get(`${source}\u0000${family}`);
      if (alarm !== undefined && (worst === undefined || alarm.severity === 'high')) worst = alarm;
    }
    return worst;
  }

  /** Evaluates a point's limits against a good value; raises, escalates or clears its limit alarm. */
  checkLimits(point: ScadaPointConfig, value: number, now: number): void {
    const limits = point.limits;
    if (limits === undefined) return;
    const key = keyOf(point.name, 'high');
    const current = this.#active.get(key);
    const level = levelOf(limits, value);
    if (current !== undefined) {
      if (level === current.kind) return;
      // Back inside by less than the hysteresis: keep the alarm (no chatter at the limit).
      if (level === null && stillNear(limits, current.kind as LimitKind, value)) return;
      this.#clear(current, now);
    }
    if (level !== null) {
      const bound = limits[level]!;
      this.#raise(point.name, level, level === 'lowLow' || level === 'highHigh' ? 'high' : 'low', `${point.name} ${value.toFixed(2)}${point.unit === '' ? '' : ' ' + point.unit} is ${level === 'low' || level === 'lowLow' ? 'below' : 'above'} its ${describe(level)} limit ${bound}`, now);
    }
  }

  deviceLost(device: string, reason: string, now: number): void {
    if (this.#active.has(keyOf(`device:${device}`, 'deviceLost'))) return;
    this.#raise(`device:${device}`, 'deviceLost', 'high', `device ${device} does not answer: ${reason}`, now);
  }

  deviceRestored(device: string, now: number): void {
    const alarm = this.#active.get(keyOf(`device:${device}`, 'deviceLost'));
    if (alarm !== undefined) this.#clear(alarm, now);
  }

  commandFailed(point: string, message: string, now: number): void {
    const previous = this.#active.get(keyOf(point, 'commandFailed'));
    if (previous !== undefined) this.#clear(previous, now);
    this.#raise(point, 'commandFailed', 'high', message, now);
  }

  commandSucceeded(point: string, now: number): void {
    const alarm = this.#active.get(keyOf(point, 'commandFailed'));
    if (alarm !== undefined) this.#clear(alarm, now);
  }

  /**
   * Clears every active alarm of a source that no longer exists (a point or
   * device removed by a reload, or a limit alarm of a point that has no
   * limits any more): nothing could clear it any more. The alarm
   * stays in the list until acknowledged, like any other cleared alarm.
   */
  clearSource(source: string, now: number, families: readonly ('limit' | 'deviceLost' | 'commandFailed')[] = ['limit', 'deviceLost', 'commandFailed']): number {
    let cleared = 0;
    for (const family of families) {
      const alarm = this.#active.get(`${source}\u0000${family}`);
      if (alarm === undefined) continue;
      this.#clear(alarm, now);
      cleared += 1;
    }
    return cleared;
  }

  acknowledge(id: number, user: string, now: number): Alarm {
    const alarm = this.#open.get(id);
    if (alarm === undefined) throw new GridlinkError('GL_ERR_SCADA_NO_ALARM', `alarm ${id}`);
    if (alarm.ackedAt !== null) return alarm;
    const acked = withState({ ...alarm, ackedAt: now, ackedBy: user });
    this.#replace(acked);
    return acked;
  }

  #raise(source: string, kind: AlarmKind, severity: 'low' | 'high', message: string, now: number): void {
    const row = { source, kind, severity, message, raisedAt: now, clearedAt: null, ackedAt: null, ackedBy: null };
    const alarm = withState({ ...row, id: this.#store.insertAlarm(row, this.#shared?.nextId()) });
    this.#open.set(alarm.id, alarm);
    this.#active.set(keyOf(source, kind), alarm);
    this.#publish(alarm);
    this.#shared?.changed(alarm);
  }

  #clear(alarm: Alarm, now: number): void {
    this.#replace(withState({ ...alarm, clearedAt: now }));
  }

  #replace(alarm: Alarm): void {
    this.#store.updateAlarm(alarm);
    const key = keyOf(alarm.source, alarm.kind);
    if (alarm.clearedAt === null) this.#active.set(key, alarm);
    else if (this.#active.get(key)?.id === alarm.id) this.#active.delete(key);
    if (alarm.clearedAt !== null && alarm.ackedAt !== null) this.#open.delete(alarm.id);
    else this.#open.set(alarm.id, alarm);
    this.#publish(alarm);
    this.#shared?.changed(alarm);
  }

  /**
   * An alarm as another node of the cluster has it (docs/cluster.md,
   * "Alarms"): raised there, or cleared or acknowledged there. Its clear and
   * acknowledgement only ever go from unset to set, so the two copies merge
   * without loss whatever the order. Not published again: the node that
   * made the change published it.
   */
  apply(remote: Omit<Alarm, 'state'>): void {
    const local = this.#open.get(remote.id);
    const merged = withState({
      ...remote,
      clearedAt: local?.clearedAt ?? remote.clearedAt,
      ackedAt: local?.ackedAt ?? remote.ackedAt,
      ackedBy: local?.ackedBy ?? remote.ackedBy,
    });
    if (local !== undefined && local.clearedAt === merged.clearedAt && local.ackedAt === merged.ackedAt) return;
    this.#store.upsertAlarm(merged);
    const key = keyOf(merged.source, merged.kind);
    if (merged.clearedAt === null) {
      const current = this.#active.get(key);
      if (current === undefined || current.id <= merged.id) this.#active.set(key, merged);
    } else if (this.#active.get(key)?.id === merged.id) this.#active.delete(key);
    if (merged.clearedAt !== null && merged.ackedAt !== null) this.#open.delete(merged.id);
    else this.#open.set(merged.id, merged);
  }
}

/** Alarms shared with the other nodes of a cluster (docs/cluster.md, "Alarms"). */
export interface SharedAlarms {
  /** An id unique across the cluster for a new alarm (undefined: the store picks the next local one). */
  nextId(): number | undefined;
  /** Shares a raise, clear or acknowledgement made on this node. */
  changed(alarm: Alarm): void;
}

/** Limit alarms of one point share a key: one limit alarm per point, escalated or replaced. */
function keyOf(source: string, kind: AlarmKind): string {
  const family = (LIMIT_KINDS as readonly string[]).includes(kind) ? 'limit' : kind;
  return `${source}\u0000${family}`;
}

function levelOf(limits: NonNullable<ScadaPointConfig['limits']>, value: number): LimitKind | null {
  if (limits.highHigh !== undefined && value >= limits.highHigh) return 'highHigh';
  if (limits.lowLow !== undefined && value <= limits.lowLow) return 'lowLow';
  if (limits.high !== undefined && value >= limits.high) return 'high';
  if (limits.low !== undefined && value <= limits.low) return 'low';
  return null;
}

function stillNear(limits: NonNullable<ScadaPointConfig['limits']>, kind: LimitKind, value: number): boolean {
  const bound = limits[kind];
  if (bound === undefined) return false;
  return kind === 'high' || kind === 'highHigh' ? value > bound - limits.hysteresis : value < bound + limits.hysteresis;
}

function describe(kind: LimitKind): string {
  return { lowLow: 'low-low', low: 'low', high: 'high', highHigh: 'high-high' }[kind];
}

function stateOf(alarm: Omit<Alarm, 'state'>): AlarmState {
  if (alarm.clearedAt === null) return alarm.ackedAt === null ? 'active' : 'activeAcked';
  return alarm.ackedAt === null ? 'cleared' : 'clearedAcked';
}

function withState(alarm: Omit<Alarm, 'state'>): Alarm {
  return { ...alarm, state: stateOf(alarm) };
}
