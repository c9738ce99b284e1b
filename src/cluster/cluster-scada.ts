import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { UserStore } from '../accounts/user-store.js';
import type { ScadaCluster } from '../scada/scada-cluster.js';
import { ClusterLeases } from './cluster-leases.js';
import type { ClusterNode } from './cluster-node.js';
import { DeviceOwnership } from './device-ownership.js';
import { SharedAccounts } from './shared-accounts.js';
import { EventStream } from './event-stream.js';
import { SharedAlarms } from './shared-alarms.js';
import { SharedPoints } from './shared-points.js';

/**
 * The SCADA half of a cluster node (docs/cluster.md, "SCADA across the
 * nodes"), built by the server once the node joined: shared accounts, and
 * for the data plane select leases and device ownership.
 */
export class ClusterScada {
  readonly accounts: SharedAccounts;
  readonly leases: ClusterLeases;
  readonly ownership: DeviceOwnership;
  readonly points: SharedPoints;
  readonly alarms: SharedAlarms;
  readonly history: EventStream;

  private constructor(accounts: SharedAccounts, leases: ClusterLeases, ownership: DeviceOwnership, points: SharedPoints, alarms: SharedAlarms, history: EventStream) {
    this.alarms = alarms;
    this.history = history;
    this.accounts = accounts;
    this.leases = leases;
    this.ownership = ownership;
    this.points = points;
  }

  static async start(node: ClusterNode, users: UserStore, options: { replicas: number; logger: Logger }): Promise<ClusterScada> {
    const { link, registry } = node;
    const isLive = (name: string): boolean => registry.isLive(name);
    const accounts = await SharedAccounts.start(link, users, options);
    try {
      const leases = await ClusterLeases.open(link, { ...options, isLive });
      const ownership = await DeviceOwnership.open(link, { ...options, isLive, run: randomBytes(6).toString('hex') });
      const points = await SharedPoints.open(link, options);
      const alarms = await SharedAlarms.open(link, options);
      const history = await EventStream.open(link, options);
      return new ClusterScada(accounts, leases, ownership, points, alarms, history);
    } catch (err) {
      accounts.close();
      throw err;
    }
  }

  /** What the data plane takes (ScadaServiceOptions.cluster). */
  get scada(): ScadaCluster {
    return { leases: this.leases, owners: this.ownership, points: this.points, alarms: this.alarms, history: this.history };
  }

  close(): void {
    this.leases.close();
    this.points.close();
    this.alarms.close();
    this.accounts.close();
  }
}
