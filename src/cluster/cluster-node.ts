import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { ClusterStatus } from '../protocol/server-status.js';
import { ClusterLink } from './cluster-link.js';
import { ClusterNicks } from './cluster-nicks.js';
import { NatsBus } from './nats-bus.js';
import { NodeRegistry } from './node-registry.js';

/**
 * This process as a node of a gridlink cluster (docs/cluster.md): the link
 * to NATS, the registry of live nodes, the NATS bus and the chat nicknames.
 * The server builds it first when `cluster.nats` names servers; the SCADA
 * half (points, events, leases, accounts, ownership) builds on `link` and
 * `registry` (its `onNodeDown` tells when a node's leases and devices are free).
 */
export class ClusterNode {
  readonly link: ClusterLink;
  readonly registry: NodeRegistry;
  readonly bus: NatsBus;
  readonly nicks: ClusterNicks;

  private constructor(link: ClusterLink, registry: NodeRegistry, bus: NatsBus, nicks: ClusterNicks) {
    this.link = link;
    this.registry = registry;
    this.bus = bus;
    this.nicks = nicks;
  }

  /**
   * Joins: connects (GL_ERR_CLUSTER_UNREACHABLE), claims the node name
   * (GL_ERR_CLUSTER_NODE_TAKEN when a live node has it), then opens the bus
   * and the nicknames. A failure part-way closes what was opened.
   */
  static async start(config: Config['cluster'], logger: Logger): Promise<ClusterNode> {
    const link = await ClusterLink.connect({ servers: config.nats, node: config.node, logger });
    let registry: NodeRegistry | null = null;
    let bus: NatsBus | null = null;
    try {
      registry = await NodeRegistry.join(link, { timeoutMs: config.nodeTimeoutMs, replicas: config.replicas, logger });
      bus = await NatsBus.start({ link, logger, replicas: config.replicas });
      const nicks = await ClusterNicks.start(link, registry, { replicas: config.replicas, logger });
      return new ClusterNode(link, registry, bus, nicks);
    } catch (err) {
      await bus?.close().catch(() => undefined);
      await registry?.close().catch(() => undefined);
      await link.close();
      throw err;
    }
  }

  get node(): string {
    return this.link.node;
  }

  status(): ClusterStatus {
    const link = this.link.status();
    const now = Date.now();
    return {
      node: link.node,
      nats: {
        state: link.state,
        since: new Date(link.since).toISOString(),
        server: link.server,
        servers: link.servers,
        published: link.published,
        retried: link.retried,
        failed: link.failed,
        reconnects: link.reconnects,
      },
      nodes: this.registry.nodes().map((n) => ({ node: n.node, self: n.self, startedAt: new Date(n.startedAt).toISOString(), lastSeenMs: now - n.lastSeen })),
      bus: this.bus.status(),
    };
  }

  /** Leaves: the bus flushes its chat publishes, the node's key is deleted (the others see it leave), the link drains. */
  async close(): Promise<void> {
    this.nicks.close();
    await this.bus.close();
    await this.registry.close();
    await this.link.close();
  }
}
