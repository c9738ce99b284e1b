import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserActor } from '../../src/accounts/actor.js';
import { AuditLog } from '../../src/accounts/audit-log.js';
import { openDatabase } from '../../src/accounts/database.js';
import { ClusterLeases, LEASES_BUCKET } from '../../src/cluster/cluster-leases.js';
import { ClusterLink } from '../../src/cluster/cluster-link.js';
import { keyOf } from '../../src/cluster/kv-buckets.js';
import { scadaSchema } from '../../src/config/scada-schema.js';
import { GridlinkError } from '../../src/errors/index.js';
import { createLogger } from '../../src/log/logger.js';
import { ScadaService } from '../../src/scada/scada-service.js';
import { startNatsCluster, type NatsSystem } from '../helpers/nats-server.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const logger = createLogger('silent');
const BREAKER = 'sub1.f1.breaker';

/** One node of the data plane: its own link (to its own NATS server), leases, audit database and ScadaService. */
interface Node {
  readonly name: string;
  readonly link: ClusterLink;
  readonly leases: ClusterLeases;
  readonly scada: ScadaService;
  stop(): Promise<void>;
}

async function startNode(name: string, server: string, dir: string, selectTimeoutMs: number): Promise<Node> {
  const link = await ClusterLink.connect({ servers: [server], node: name, logger });
  const leases = await ClusterLeases.open(link, { replicas: 3, logger });
  const db = openDatabase(join(dir, `${name}.db`));
  const config = scadaSchema.parse({
    simulator: { enabled: false },
    selectTimeoutMs,
    // Never polled here (acquisition is not started): only the desk and its leases are exercised.
    devices: [{ name: 'bay1', host: '127.0.0.1', port: 1, points: [{ name: BREAKER, class: 'status', address: 0, source: 'coil', control: { target: 'coil', address: 0, timeoutMs: 500 } }] }],
  });
  const scada = await ScadaService.start({ config, dataDir: join(dir, name), bus: new (await import('../../src/bus/local-bus.js')).LocalBus(), audit: new AuditLog(db, logger), logger, cluster: { leases } });
  return {
    name,
    link,
    leases,
    scada,
    async stop() {
      await scada.stop();
      leases.close();
      await link.close();
      db.close();
    },
  };
}

function operator(node: string, i: number): UserActor {
  return { identity: { name: `op${i}`, role: 'operator' }, address: '127.0.0.1', front: 'native', connection: `native:${node}-${i}` };
}

describe('select-before-operate leases across 3 nodes (3 routed nats-servers)', () => {
  let nats: NatsSystem;
  let temp: { path: string; cleanup: () => Promise<void> };
  const nodes: Node[] = [];

  beforeAll(async () => {
    nats = await startNatsCluster(3);
    temp = await makeTempDir('gridlink-lease-');
    const { mkdir } = await import('node:fs/promises');
    for (const name of ['a', 'b', 'c']) await mkdir(join(temp.path, name));
    // Each node on its own NATS server: the CAS has to hold across the routes, not inside one server.
    for (const [i, name] of ['a', 'b', 'c'].entries()) nodes.push(await startNode(name, nats.servers[i]!.url, temp.path, 2_000));
  }, 60_000);

  afterAll(async () => {
    for (const node of nodes) await node.stop().catch(() => undefined);
    await nats?.stop();
    await temp?.cleanup();
  });

  it('100 operators spread over the 3 nodes select the same breaker at once: exactly one wins, the 99 others get GL_ERR_SCADA_SELECTED', async () => {
    const attempts = Array.from({ length: 100 }, (_, i) => {
      const node = nodes[i % 3]!;
      return Promise.resolve()
        .then(() => node.scada.select(operator(node.name, i), BREAKER))
        .then(
          (lease) => ({ ok: true as const, node: node.name, lease }),
          (err: unknown) => ({ ok: false as const, node: node.name, code: err instanceof GridlinkError ? err.code : String(err) }),
        );
    });
    const results = await Promise.all(attempts);
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    const losers = results.filter((r) => !r.ok);
    expect(losers).toHaveLength(99);
    expect(new Set(losers.map((r) => ('code' in r ? r.code : '')))).toEqual(new Set(['GL_ERR_SCADA_SELECTED']));
    // Losers on every node, not only beside the winner.
    expect(new Set(losers.map((r) => r.node))).toEqual(new Set(['a', 'b', 'c']));

    // Every node sees the same holder in the bucket.
    const winner = winners[0]!;
    for (const node of nodes) expect((await node.leases.holder(BREAKER))?.holder).toBe(winner.ok ? winner.lease.holder : '');

    // Deselect frees it for everyone at once.
    const holderNode = nodes.find((n) => n.name === winner.node)!;
    const index = Number(winner.ok ? winner.lease.holder.slice(2) : -1);
    holderNode.scada.deselect(operator(holderNode.name, index), BREAKER);
    const other = nodes.find((n) => n !== holderNode)!;
    const second = await retrySelect(other, operator(other.name, 500));
    expect(second.holder).toBe('op500');
    other.scada.deselect(operator(other.name, 500), BREAKER);
    await retrySelect(holderNode, operator(holderNode.name, 501));
    holderNode.scada.deselect(operator(holderNode.name, 501), BREAKER);
  }, 30_000);

  it('a lease whose node died (its link gone, never released) blocks the point until its lease time, then frees it', async () => {
    const dir = join(temp.path, 'd');
    await (await import('node:fs/promises')).mkdir(dir);
    const doomed = await startNode('d', nats.servers[0]!.url, temp.path, 1_500);
    const started = Date.now();
    await doomed.scada.select(operator('d', 1), BREAKER);
    // The node dies without a word: its connection to NATS is cut and nothing releases the entry.
    doomed.leases.close();
    await doomed.link.nc.close();
    const b = nodes[1]!;
    await expect(Promise.resolve().then(() => b.scada.select(operator('b', 2), BREAKER))).rejects.toMatchObject({ code: 'GL_ERR_SCADA_SELECTED' });
    const lease = await retrySelect(b, operator('b', 2), 5_000);
    // Not before the dead holder's lease time ran out.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500 - 50);
    expect(lease.holder).toBe('op2');
    b.scada.deselect(operator('b', 2), BREAKER);
    await doomed.scada.stop();
  }, 30_000);

  it('an operate on a selection that expired and was taken on another node is refused: the lease fences the command', async () => {
    const a = nodes[0]!;
    const c = nodes[2]!;
    await a.scada.select(operator('a', 10), BREAKER);
    // The entry in the bucket expires (here: written over as expired, as after a long pause of node a).
    const kv = await c.link.kvm.open(LEASES_BUCKET);
    const entry = (await kv.get(keyOf(BREAKER)))!;
    await kv.update(keyOf(BREAKER), JSON.stringify({ ...entry.json<Record<string, unknown>>(), expiresAt: Date.now() - 1 }), entry.revision);
    await c.scada.select(operator('c', 11), BREAKER);
    // Node a still has its local lease, but the cluster says it is c's now.
    await expect(a.scada.operate(operator('a', 10), BREAKER, 1)).rejects.toMatchObject({ code: 'GL_ERR_SCADA_NOT_SELECTED' });
    expect((await a.leases.holder(BREAKER))?.holder).toBe('op11');
    c.scada.deselect(operator('c', 11), BREAKER);
  }, 30_000);

  it('garbage in the lease bucket (another program, a truncated value) holds nothing: the point can be selected', async () => {
    const kv = await nodes[0]!.link.kvm.open(LEASES_BUCKET);
    await retryUntilFree(nodes[0]!);
    await kv.put(keyOf(BREAKER), '{not json');
    const lease = await nodes[1]!.scada.select(operator('b', 20), BREAKER);
    expect(lease.holder).toBe('op20');
    // And the next operator is refused as usual.
    await expect(Promise.resolve().then(() => nodes[2]!.scada.select(operator('c', 21), BREAKER))).rejects.toMatchObject({ code: 'GL_ERR_SCADA_SELECTED' });
    nodes[1]!.scada.deselect(operator('b', 20), BREAKER);
  }, 30_000);

  it('without NATS a select is refused with GL_ERR_CLUSTER_UNAVAILABLE (never granted on a guess); it works again when NATS is back', async () => {
    const a = nodes[0]!;
    await retryUntilFree(a);
    // All three: with one left, node a's client (which learns the cluster's
    // other servers from the one it dialled) fails over to it within
    // milliseconds, and its "reconnecting" may never be seen at all.
    await Promise.all(nats.servers.map((s) => s.kill()));
    try {
      await until(() => a.link.state !== 'connected');
      await expect(Promise.resolve().then(() => a.scada.select(operator('a', 30), BREAKER))).rejects.toMatchObject({ code: 'GL_ERR_CLUSTER_UNAVAILABLE' });
    } finally {
      // Together: one server alone cannot elect a JetStream meta leader.
      await Promise.all(nats.servers.map((s) => s.restart()));
    }
    await until(() => a.link.state === 'connected', 30_000);
    const lease = await retrySelect(a, operator('a', 30), 40_000);
    expect(lease.holder).toBe('op30');
    a.scada.deselect(operator('a', 30), BREAKER);
  }, 120_000);
});

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Selects until it succeeds (the point is held or NATS settles meanwhile); bounded. */
async function retrySelect(node: Node, actor: UserActor, timeoutMs = 5_000): Promise<{ holder: string; expiresAt: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await node.scada.select(actor, BREAKER);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function retryUntilFree(node: Node): Promise<void> {
  const deadline = Date.now() + 5_000;
  while ((await node.leases.holder(BREAKER)) !== null) {
    if (Date.now() > deadline) throw new Error(`${BREAKER} still held`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
