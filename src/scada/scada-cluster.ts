import type { SharedLeases } from './control-desk.js';

/**
 * What the data plane shares with the other nodes of a cluster
 * (docs/cluster.md, "SCADA across the nodes"). The server passes it when it
 * runs with `--cluster`; without it every part stays local to the process
 * and nothing changes.
 */
export interface ScadaCluster {
  /** Select-before-operate leases exclusive across the nodes. */
  readonly leases?: SharedLeases;
}
