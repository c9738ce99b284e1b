import type { Alarm, PointEvent } from '../protocol/scada.js';
import type { SharedAlarms } from './alarm-book.js';
import type { SharedLeases } from './control-desk.js';
import type { RemoteEvent } from './history-store.js';

/** A device as ownership needs it: its name and poll period (the lease is renewed each period). */
export interface OwnedDevice {
  readonly name: string;
  readonly pollMs: number;
}

/** What the data plane does when this node gains or loses a device (docs/cluster.md, "Acquisition ownership"). */
export interface OwnershipHandlers {
  /** This node acquires `device` from now on: start its driver. */
  acquire(device: string): void;
  /** Another node acquires it now (or this node stops): stop its driver. */
  release(device: string): Promise<void> | void;
  /**
   * Runs a command node `from` routed here (this node owns the point's
   * device; the operator was audited there); resolves with the time feedback counts from.
   */
  execute(point: string, value: number, from: string): Promise<number>;
}

/** Which node acquires each device, and commands routed to that node. */
export interface AcquisitionOwners {
  start(devices: readonly OwnedDevice[], handlers: OwnershipHandlers): void;
  /** Follows a reloaded list of devices. */
  setDevices(devices: readonly OwnedDevice[]): Promise<void>;
  owns(device: string): boolean;
  /** The node acquiring `device` as this node knows it; null when none does yet. */
  ownerOf(device: string): string | null;
  /** Sends a command to the device's owner; resolves with the time feedback counts from (see DeviceDriver.command). */
  command(device: string, point: string, value: number): Promise<number>;
  stop(): Promise<void>;
}

/** The point table's latest values, shared so a node that starts late shows current values. */
export interface LatestValues {
  /** Keeps `event` as its point's latest value (an event of a device this node acquires). */
  record(event: PointEvent): void;
  /** Every point's latest value as the cluster has it. */
  load(): Promise<PointEvent[]>;
}

/** Alarms shared by the nodes: ids unique across the cluster, and every node's raises, clears and acks. */
export interface ClusterAlarms extends SharedAlarms {
  /** Reserves ids above `localMaxId`, delivers the cluster's alarms to `apply`, then every change of another node. */
  follow(localMaxId: number, apply: (alarm: Omit<Alarm, 'state'>) => void): Promise<void>;
}

/** Events into every node's history: the owner publishes, each node stores the others' events once. */
export interface EventHistory {
  /** Sends an event this node recorded (of a device it acquires) to the other nodes' history. */
  publish(event: PointEvent): void;
  /** Delivers other nodes' events in batches to `store`, which returns how many were new. */
  follow(store: (events: readonly RemoteEvent[]) => number): Promise<void>;
  close(): Promise<void>;
}

/**
 * What the data plane shares with the other nodes of a cluster
 * (docs/cluster.md, "SCADA across the nodes"). The server passes it when it
 * runs with `--cluster`; without it every part stays local to the process
 * and nothing changes.
 */
export interface ScadaCluster {
  /** Select-before-operate leases exclusive across the nodes. */
  readonly leases?: SharedLeases;
  /** One owner node per device: only it polls; the others take the values from the bus. */
  readonly owners?: AcquisitionOwners;
  /** The latest value of every point. */
  readonly points?: LatestValues;
  /** Alarms: an alarm acknowledged on one node is acknowledged on all. */
  readonly alarms?: ClusterAlarms;
  /** Events: each stored once in every node's history. */
  readonly history?: EventHistory;
}
