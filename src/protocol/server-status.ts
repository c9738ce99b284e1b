import type { BusMetrics } from '../bus/bus.js';
import type { ScadaMetrics } from './scada.js';

/** What `gridlink admin status` shows and `/metrics` exports (docs/architecture.md). */
export interface ServerStatus {
  readonly uptimeMs: number;
  readonly connections: number;
  readonly acceptedConnections: number;
  readonly activeTransfers: number;
  readonly queuedTransfers: number;
  readonly chatRooms: Record<string, number>;
  readonly bus: BusMetrics;
  /** The data plane: devices (online), points, readings and events so far, active alarms; null when off. */
  readonly scada: ScadaMetrics | null;
  /** The IEC 104 controlled station: masters connected (started), accepted and refused connections, ASDUs queued now, events dropped from full queues; null when off. */
  readonly iec104?: {
    readonly connections: number;
    readonly started: number;
    readonly accepted: number;
    readonly refused: number;
    readonly queued: number;
    readonly droppedEvents: number;
  } | null;
}
