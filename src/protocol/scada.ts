import type { UserActor } from '../accounts/actor.js';

/**
 * The SCADA data plane's vocabulary (docs/protocol.md §3.6). Everything the native
 * protocol, the CLI and the web HMI show about points, events, alarms and
 * control is one of these shapes; they are JSON on every wire.
 */

/** telemetry 遥测 (analog + unit), status 遥信, control 遥控 output, setpoint 遥调. */
export const POINT_CLASSES = ['telemetry', 'status', 'control', 'setpoint'] as const;
export type PointClass = (typeof POINT_CLASSES)[number];

export const QUALITIES = ['good', 'invalid', 'questionable', 'substituted'] as const;
export type Quality = (typeof QUALITIES)[number];

/** A point as the real-time table holds it now. */
export interface PointSnapshot {
  readonly name: string;
  readonly class: PointClass;
  readonly device: string;
  /** Information object address on IEC 104 (docs/iec104.md "Addresses"). */
  readonly ioa: number;
  readonly unit: string;
  /** Engineering value (scaled); status points are 0/1. Null until first read. */
  readonly value: number | null;
  readonly quality: Quality;
  /** When the device produced the value (ms since epoch; the poll's reply time for Modbus). */
  readonly sourceTime: number | null;
  /** When gridlink stored it (ms since epoch). */
  readonly serverTime: number | null;
  /** True when `select`/`operate` apply to it. */
  readonly controllable: boolean;
  /** For status points: what 0 and 1 mean, e.g. ["open", "closed"]. */
  readonly states?: readonly [string, string];
  /** Active alarm on this point, if any. */
  readonly alarm?: AlarmState;
  /** Who entered the substituted value (quality `substituted`). */
  readonly substitutedBy?: string;
}

/** One stored value of a point (history). */
export interface HistorySample {
  readonly value: number | null;
  readonly quality: Quality;
  readonly sourceTime: number;
  readonly serverTime: number;
}

/** A time-ordered event (sequence of events): value change beyond deadband or status change. */
export interface PointEvent {
  /** Strictly increasing per server process lifetime and across restarts (stored). */
  readonly seq: number;
  readonly point: string;
  readonly value: number | null;
  readonly quality: Quality;
  readonly sourceTime: number;
  readonly serverTime: number;
  /** 'change' for telemetry beyond deadband or any status change; 'quality' when only quality changed. */
  readonly kind: 'change' | 'quality';
}

export const ALARM_KINDS = ['lowLow', 'low', 'high', 'highHigh', 'deviceLost', 'commandFailed'] as const;
export type AlarmKind = (typeof ALARM_KINDS)[number];
export type AlarmState = 'active' | 'activeAcked' | 'cleared' | 'clearedAcked';

export interface Alarm {
  readonly id: number;
  /** The point (or `device:<name>` for device loss). */
  readonly source: string;
  readonly kind: AlarmKind;
  readonly severity: 'low' | 'high';
  readonly message: string;
  readonly raisedAt: number;
  readonly clearedAt: number | null;
  readonly ackedAt: number | null;
  readonly ackedBy: string | null;
  readonly state: AlarmState;
}

/** Who holds a control point and until when. */
export interface SelectLease {
  readonly point: string;
  readonly holder: string;
  readonly expiresAt: number;
}

export interface OperateResult {
  readonly point: string;
  readonly value: number;
  /** The status feedback confirmed the command within the timeout. */
  readonly confirmed: true;
  readonly tookMs: number;
}

export interface DeviceStatus {
  readonly name: string;
  readonly address: string;
  readonly online: boolean;
  readonly lastPollAt: number | null;
  readonly lastError: string | null;
  readonly polls: number;
  readonly failures: number;
}

/** Who asks: the logged-in user, their role, and a key identifying the connection (lease released on its close). */
/**
 * What front ends (native protocol, web HMI) use. Pattern arguments are NATS
 * style on point names (`sub1.f1.*`, `sub1.>`); an empty pattern means all.
 * Control methods throw GridlinkError with GL_ERR_SCADA_* codes.
 */
export interface ScadaApi {
  points(pattern?: string): PointSnapshot[];
  devices(): DeviceStatus[];
  history(point: string, since: number, until: number, limit: number, offset?: number): Array<{ value: number | null; quality: Quality; sourceTime: number; serverTime: number }>;
  events(since: number, until: number, limit: number, pattern?: string, offset?: number): PointEvent[];
  alarms(options?: { includeCleared?: boolean }): Alarm[];
  /** Synchronous in one process; in a cluster it resolves once the acknowledgement is shared (docs/cluster.md). */
  acknowledge(actor: UserActor, alarmId: number): Alarm | Promise<Alarm>;
  /** Synchronous in one process; in a cluster it resolves once the lease is taken across the nodes (docs/cluster.md). */
  select(actor: UserActor, point: string): SelectLease | Promise<SelectLease>;
  /** Releases the actor's lease on the point (no-op when not held). */
  deselect(actor: UserActor, point: string): void;
  operate(actor: UserActor, point: string, value: number): Promise<OperateResult>;
  /** Shows `value` in place of the device's (quality substituted) until released with null; operator role. */
  substitute(actor: UserActor, point: string, value: number | null): PointSnapshot;
  /** Releases every lease of a connection that went away. */
  releaseConnection(connection: string): void;
}

/** Bus topics of the data plane (token after the prefix is the point name, which may itself have dots). */
export const SCADA_TOPICS = {
  /** Every stored value update of a point: payload PointSnapshot. */
  value: (point: string) => `points.${point}`,
  /** Sequence-of-events entries: payload PointEvent. */
  event: (point: string) => `events.${point}`,
  /** Alarm raise/clear/ack: payload Alarm. */
  alarm: (source: string) => `alarms.${source.replace(/:/g, '_')}`,
} as const;

/** The data plane's counters for `admin status` and `/metrics`. */
export interface ScadaMetrics {
  readonly devices: number;
  readonly devicesOnline: number;
  readonly points: number;
  readonly readings: number;
  readonly events: number;
  readonly activeAlarms: number;
  /** Information objects IEC 104 stations sent for addresses no point has (or another common address): ignored. */
  readonly unknownObjects: number;
  /** In a cluster: the node acquiring each device (null while none does), docs/cluster.md. */
  readonly owners?: Record<string, string | null>;
  /**
   * Events stored in history so far: by the writer thread, on the event loop
   * (a batch the thread failed, or every batch once the thread is gone), and
   * not at all (the database refused them too; the last reason).
   */
  readonly history?: { readonly rowsInThread: number; readonly rowsOnLoop: number; readonly rowsLost: number; readonly lastError: string | null };
}
