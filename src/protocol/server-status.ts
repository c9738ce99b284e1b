import type { BusMetrics } from '../bus/bus.js';
import type { ScadaMetrics } from './scada.js';

/** A cluster node's view of the cluster (docs/cluster.md, "Status"). */
export interface ClusterStatus {
  /** This node's name. */
  readonly node: string;
  /** The link to NATS: its state and since when (ISO time), the server it uses, the publish counters. */
  readonly nats: {
    readonly state: 'connected' | 'reconnecting' | 'down';
    readonly since: string;
    readonly server: string | null;
    readonly servers: readonly string[];
    readonly published: number;
    readonly retried: number;
    readonly failed: number;
    readonly reconnects: number;
  };
  /** The live nodes this node knows of, itself included. */
  readonly nodes: readonly { readonly node: string; readonly self: boolean; readonly startedAt: string; readonly lastSeenMs: number }[];
  /** The bus: chat publishes waiting for their ack, messages received from other nodes, the chat stream's last sequence read. */
  readonly bus: { readonly pending: number; readonly received: number; readonly chatSeq: number; readonly consumerRestarts: number };
}

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
  /** How late the shared event loop ran over the last minute, ms (src/server/event-loop-delay.ts). */
  readonly eventLoop?: { readonly windowSeconds: number; readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number };
  /** The cluster (docs/cluster.md); absent or null without `--cluster`. */
  readonly cluster?: ClusterStatus | null;
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
