import { join } from 'node:path';
import { AdminClient } from '../../src/admin/admin-client.js';
import type { Role } from '../../src/accounts/roles.js';
import type { DeviceConfig } from '../../src/config/scada-schema.js';
import { scadaSchema } from '../../src/config/scada-schema.js';
import { createLogger } from '../../src/log/logger.js';
import { SubstationSimulator, type SubstationSimulatorOptions } from '../../src/scada/simulator/substation-simulator.js';
import { simulatorDevices } from '../../src/scada/simulator/simulator-devices.js';
import { startClusterNodes, type ClusterNodeProcess, type ClusterNodes } from './cluster-nodes.js';
import { until } from './until.js';

/** How the test's substation simulator behaves (one unit; host, port and logger are the helper's). */
export type SimulatorSettings = Pick<SubstationSimulatorOptions, 'feeders' | 'noise' | 'breakerTravelMs' | 'updateMs'>;

export interface SimulatorClusterOptions {
  /** nats:// URLs, comma-separated (NatsSystem.urls). */
  readonly nats: string;
  readonly simulator: SimulatorSettings;
  /** How often the owner polls the simulator. */
  readonly pollMs: number;
  /** Changes each node's device entries (timeouts, backoff). */
  readonly device?: (device: DeviceConfig) => DeviceConfig;
  /** More `scada` settings for every node. */
  readonly scada?: Record<string, unknown>;
  /** More top-level config for every node. */
  readonly config?: Record<string, unknown>;
}

export interface SimulatorCluster {
  readonly simulator: SubstationSimulator;
  /** The simulator's port: a new simulator on it brings the device back (newSimulator). */
  readonly port: number;
  readonly cluster: ClusterNodes;
}

/** A substation simulator of one unit on loopback; port 0 picks a free one. */
export function newSimulator(port: number, settings: SimulatorSettings): SubstationSimulator {
  return new SubstationSimulator({ host: '127.0.0.1', port, units: 1, ...settings, logger: createLogger('silent') });
}

/**
 * The setup of the cluster's SCADA tests: three gridlink processes (a, b, c)
 * over one NATS system, each configured with the same device, the test's own
 * substation simulator (`sub1`), which only the owner the nodes agree on
 * polls (docs/cluster.md, "Devices").
 */
export async function startSimulatorCluster(options: SimulatorClusterOptions): Promise<SimulatorCluster> {
  const simulator = newSimulator(0, options.simulator);
  const { port } = await simulator.start();
  try {
    const size = scadaSchema.parse({ simulator: { feeders: options.simulator.feeders, pollMs: options.pollMs } }).simulator;
    const devices = simulatorDevices(size, '127.0.0.1', port).map(options.device ?? ((d) => d));
    const cluster = await startClusterNodes({
      nats: options.nats,
      names: ['a', 'b', 'c'],
      config: { scada: { enabled: true, simulator: { enabled: false, port: 0 }, devices, ...options.scada }, ...options.config },
    });
    return { simulator, port, cluster };
  } catch (err) {
    await simulator.stop();
    throw err;
  }
}

/** Adds accounts through one node's admin socket (the cluster shares them with the others). */
export async function addAccounts(node: ClusterNodeProcess, accounts: ReadonlyArray<{ name: string; password: string; role: Role }>): Promise<void> {
  const admin = await AdminClient.connect(join(node.dataDir, 'admin.sock'));
  try {
    for (const { name, password, role } of accounts) await admin.addUser(name, password, { role });
  } finally {
    await admin.close();
  }
}

/** The owner of `device` as `node` sees it (its status), or null. */
export async function ownerSeenBy(node: ClusterNodeProcess, device = 'sub1'): Promise<string | null> {
  const status = await node.status();
  return (status['scada'] as { owners?: Record<string, string | null> } | null)?.owners?.[device] ?? null;
}

/** Waits until every node names the same owner of `device`, and returns it. */
export function agreedOwner(nodes: readonly ClusterNodeProcess[], timeoutMs: number, device = 'sub1'): Promise<string> {
  return until(
    async () => {
      const seen = await Promise.all(nodes.map((node) => ownerSeenBy(node, device)));
      return seen[0] !== null && seen.every((s) => s === seen[0]) ? seen[0] : undefined;
    },
    timeoutMs,
    'every node to agree on the owner',
  );
}
