import { isDeepStrictEqual } from 'node:util';
import type { DeviceConfig, ScadaPointConfig } from '../config/scada-schema.js';
import { toEngineering } from './acquisition/register-codec.js';
import { pointMatcher } from './point-pattern.js';
import type { PointSnapshot, Quality } from '../protocol/scada.js';

/** One raw reading of a point from a poll (Modbus). */
export interface Reading {
  readonly point: string;
  /** The raw register value (or 0/1 for bits); NaN when the reply was short. */
  readonly raw: number;
}

/** A point in the real-time table: its configuration and its current value. */
export interface PointEntry {
  readonly config: ScadaPointConfig;
  readonly device: string;
  /** Information object address on IEC 104 (docs/iec104.md "Addresses"): configured, or assigned in table order. */
  readonly ioa: number;
  value: number | null;
  quality: Quality;
  sourceTime: number | null;
  serverTime: number | null;
  /** The value of the last event: telemetry deadband is measured from it, so slow drift is reported. */
  reported: number | null;
  /** A value an operator entered in place of the device's (quality `substituted`), until released. */
  substitute: { readonly value: number; readonly by: string; readonly at: number } | null;
}

/** What a point shows: the operator's substitute while there is one, else what the device said. */
export function shownOf(entry: PointEntry): { value: number | null; quality: Quality; sourceTime: number | null } {
  if (entry.substitute !== null) return { value: entry.substitute.value, quality: 'substituted', sourceTime: entry.substitute.at };
  return { value: entry.value, quality: entry.quality, sourceTime: entry.sourceTime };
}

/** What a {@link PointTable.reconfigure} changed. */
export interface TableChanges {
  readonly added: readonly PointEntry[];
  /** Entries no longer in the table (their points are gone). */
  readonly removed: readonly PointEntry[];
  /** Points whose configuration (or device, or address) changed: the old entry and the one now in the table. */
  readonly replaced: ReadonlyArray<{ readonly before: PointEntry; readonly after: PointEntry }>;
}

/** A change the table saw: a new value beyond deadband, a status change, or a quality change. */
export interface PointChange {
  readonly entry: PointEntry;
  readonly kind: 'change' | 'quality';
}

/**
 * The real-time point table (docs/protocol.md §3.6): value, quality, source and server
 * timestamps of every configured point. It decides what is an event; the
 * service numbers, stores and publishes them.
 */
export class PointTable {
  #points = new Map<string, PointEntry>();
  #byDevice = new Map<string, PointEntry[]>();

  constructor(devices: readonly DeviceConfig[]) {
    this.reconfigure(devices);
  }

  /**
   * Replaces the table's configuration (a reload, docs/configuration.md
   * "Reload"): a point whose device and configuration are unchanged keeps
   * its entry (value, quality, substitute), so it makes no event; a point
   * whose configuration changed gets a new entry, which keeps the value when
   * the point is still read the same way (only limits, deadband or control
   * changed) and otherwise starts empty (its next reading is an event under
   * the new configuration), and keeps an operator's substitute when its
   * class is the same. Addresses are assigned as a restart with
   * this configuration would. Returns what changed.
   */
  reconfigure(devices: readonly DeviceConfig[]): TableChanges {
    // A point of an IEC 104 device has the device's address in `ioa`, not gridlink's own.
    const ioas = assignIoas(devices.flatMap((device) => (device.protocol === 'iec104' ? device.points.map((point) => ({ name: point.name })) : device.points)));
    const previous = this.#points;
    const points = new Map<string, PointEntry>();
    const byDevice = new Map<string, PointEntry[]>();
    const added: PointEntry[] = [];
    const replaced: Array<{ readonly before: PointEntry; readonly after: PointEntry }> = [];
    for (const device of devices) {
      const entries = device.points.map((config): PointEntry => {
        const ioa = ioas.get(config.name)!;
        const before = previous.get(config.name);
        if (before !== undefined && before.device === device.name && before.ioa === ioa && isDeepStrictEqual(before.config, config)) return before;
        const entry: PointEntry = { config, device: device.name, ioa, value: null, quality: 'invalid', sourceTime: null, serverTime: null, reported: null, substitute: null };
        if (before === undefined) added.push(entry);
        else {
          if (before.config.class === config.class) entry.substitute = before.substitute;
          // Read the same way (only its limits, deadband or control changed): the value stands, so no event repeats it.
          if (before.device === device.name && readsAlike(before.config, config)) {
            entry.value = before.value;
            entry.quality = before.quality;
            entry.sourceTime = before.sourceTime;
            entry.serverTime = before.serverTime;
            entry.reported = before.reported;
          }
          replaced.push({ before, after: entry });
        }
        return entry;
      });
      for (const entry of entries) points.set(entry.config.name, entry);
      byDevice.set(device.name, entries);
    }
    const removed = [...previous.values()].filter((entry) => !points.has(entry.config.name));
    this.#points = points;
    this.#byDevice = byDevice;
    return { added, removed, replaced };
  }

  get size(): number {
    return this.#points.size;
  }

  get(name: string): PointEntry | undefined {
    return this.#points.get(name);
  }

  /** The points of one device, in configuration order. */
  ofDevice(device: string): readonly PointEntry[] {
    return this.#byDevice.get(device) ?? [];
  }

  list(pattern?: string): PointEntry[] {
    const match = pointMatcher(pattern);
    const out: PointEntry[] = [];
    for (const entry of this.#points.values()) if (match(entry.config.name)) out.push(entry);
    return out;
  }

  /**
   * Stores one poll's readings; returns the entries that changed enough to
   * be events. A substituted point keeps following its device underneath but
   * makes no events until the substitute is released.
   */
  applyReadings(readings: readonly Reading[], sourceTime: number, serverTime: number): PointChange[] {
    const changes: PointChange[] = [];
    for (const reading of readings) {
      const entry = this.#points.get(reading.point);
      if (entry === undefined) continue;
      const change = this.#apply(entry, reading.raw, sourceTime, serverTime);
      if (change !== null && entry.substitute === null) changes.push(change);
    }
    return changes;
  }

  /**
   * Stores one value a device sent with its own quality and time (IEC 104);
   * returns the change to publish, or null when it is no event. Values that
   * are not good are stored too, flagged: a station sends its last value with
   * IV or NT set, and an operator should see it as such. A raw NaN (a double
   * point between its positions) changes only the quality: questionable, or
   * worse when the device says so.
   */
  applyUpdate(entry: PointEntry, raw: number, quality: Quality, sourceTime: number, serverTime: number): PointChange | null {
    let change: PointChange | null;
    if (Number.isFinite(raw)) {
      change = this.#store(entry, raw, quality, sourceTime, serverTime);
    } else {
      const flagged = quality === 'good' ? 'questionable' : quality;
      change = entry.quality === flagged ? null : { entry, kind: 'quality' };
      entry.quality = flagged;
      entry.sourceTime = sourceTime;
      entry.serverTime = serverTime;
    }
    return change !== null && entry.substitute === null ? change : null;
  }

  /** Shows `value` (quality substituted) in place of the device's, or releases it (null). Returns the change to publish. */
  substitute(entry: PointEntry, value: number | null, by: string, serverTime: number): PointChange | null {
    if (value === null) {
      if (entry.substitute === null) return null;
      entry.substitute = null;
      // The device's value is reported afresh: deadband is measured from it again.
      entry.reported = entry.value;
    } else {
      entry.substitute = { value, by, at: serverTime };
    }
    entry.serverTime = serverTime;
    return { entry, kind: 'change' };
  }

  /** Marks every point of a device (device lost: invalid). Returns the entries whose quality changed. */
  setDeviceQuality(device: string, quality: Quality, serverTime: number): PointChange[] {
    const changes: PointChange[] = [];
    for (const entry of this.#byDevice.get(device) ?? []) {
      if (entry.quality === quality) continue;
      entry.quality = quality;
      entry.serverTime = serverTime;
      if (entry.substitute === null) changes.push({ entry, kind: 'quality' });
    }
    return changes;
  }

  #apply(entry: PointEntry, raw: number, sourceTime: number, serverTime: number): PointChange | null {
    if (!Number.isFinite(raw)) {
      // A reply that decodes to nothing usable (short block, NaN float): the value is not trustworthy.
      const changed = entry.quality !== 'questionable';
      entry.quality = 'questionable';
      entry.serverTime = serverTime;
      return changed ? { entry, kind: 'quality' } : null;
    }
    return this.#store(entry, raw, 'good', sourceTime, serverTime);
  }

  /** Stores a finite raw value with its quality: an event when it moved beyond deadband (any change of a status), or when only the quality changed. */
  #store(entry: PointEntry, raw: number, quality: Quality, sourceTime: number, serverTime: number): PointChange | null {
    const config = entry.config;
    const isBinary = config.class === 'status' || config.class === 'control';
    const value = isBinary ? (raw === 0 ? 0 : 1) : toEngineering(raw, config);
    const qualityChanged = entry.quality !== quality;
    entry.value = value;
    entry.quality = quality;
    entry.sourceTime = sourceTime;
    entry.serverTime = serverTime;
    const moved = entry.reported === null || (isBinary ? value !== entry.reported : Math.abs(value - entry.reported) > config.deadband);
    if (moved) {
      entry.reported = value;
      return { entry, kind: 'change' };
    }
    return qualityChanged ? { entry, kind: 'quality' } : null;
  }
}

/** True when two configurations of a point turn the same device data into the same value. */
function readsAlike(a: ScadaPointConfig, b: ScadaPointConfig): boolean {
  const how = (c: ScadaPointConfig): unknown[] => [c.class, c.scale, c.offset, c.ioa, 'address' in c ? [c.source, c.address, c.type] : c.type];
  return isDeepStrictEqual(how(a), how(b));
}

/** The wire shape of a point (without its alarm, which the service adds). */
export function snapshotOf(entry: PointEntry): PointSnapshot {
  const config = entry.config;
  const shown = shownOf(entry);
  return {
    name: config.name,
    class: config.class,
    device: entry.device,
    ioa: entry.ioa,
    unit: config.unit,
    value: shown.value,
    quality: shown.quality,
    sourceTime: shown.sourceTime,
    serverTime: entry.serverTime,
    controllable: config.control !== undefined,
    ...(entry.substitute === null ? {} : { substitutedBy: entry.substitute.by }),
    ...(config.states === undefined ? {} : { states: config.states }),
  };
}

/**
 * Information object addresses of the points (docs/iec104.md "Addresses"):
 * a point's configured `ioa`, else the next address from 1 that no point
 * claims, in point-table order. The same configuration always gives the same
 * addresses; a control centre that must not see them move when points are
 * added should have them configured.
 */
export function assignIoas(points: ReadonlyArray<{ readonly name: string; readonly ioa?: number | undefined }>): Map<string, number> {
  const taken = new Set<number>();
  for (const point of points) if (point.ioa !== undefined) taken.add(point.ioa);
  const out = new Map<string, number>();
  let next = 1;
  for (const point of points) {
    if (point.ioa !== undefined) {
      out.set(point.name, point.ioa);
      continue;
    }
    while (taken.has(next)) next += 1;
    taken.add(next);
    out.set(point.name, next);
  }
  return out;
}
