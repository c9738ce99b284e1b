import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin/admin-client.js';
import { GridlinkClient } from '../../src/client/index.js';
import { startClusterNodes, type ClusterNodeProcess, type ClusterNodes } from '../helpers/cluster-nodes.js';
import { startNats, type NatsSystem } from '../helpers/nats-server.js';
import { codeOf } from '../helpers/code-of.js';
import { until } from '../helpers/until.js';

async function admin<T>(node: ClusterNodeProcess, run: (client: AdminClient) => Promise<T>): Promise<T> {
  const client = await AdminClient.connect(join(node.dataDir, 'admin.sock'));
  try {
    return await run(client);
  } finally {
    await client.close();
  }
}

async function loginOn(node: ClusterNodeProcess, user: string, password: string): Promise<GridlinkClient> {
  const client = await GridlinkClient.connect({ host: '127.0.0.1', port: node.addresses.native });
  try {
    await client.login(user, password);
  } catch (err) {
    await client.close();
    throw err;
  }
  return client;
}

/** Accounts through the built `gridlink serve --cluster` processes: the admin socket of one node, logins on the others. */
describe('accounts across 3 gridlink processes (a real nats-server)', () => {
  let nats: NatsSystem;
  let cluster: ClusterNodes;

  beforeAll(async () => {
    nats = await startNats();
    cluster = await startClusterNodes({ nats: nats.urls, names: ['a', 'b', 'c'], config: { anonymous: { enabled: false } } });
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    await nats?.stop();
  });

  it('a user added through the admin socket of a logs in on c; deleted through c, its logged-in connections on a and b lose access and it logs in nowhere', async () => {
    const [a, b, c] = cluster.nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess];
    await admin(a, (client) => client.addUser('nina', 'nina-password-1', { role: 'operator' }));
    const onC = await until(async () => loginOn(c, 'nina', 'nina-password-1').catch(() => undefined), 5_000, 'nina to log in on c');
    const onA = await loginOn(a, 'nina', 'nina-password-1');
    const onB = await loginOn(b, 'nina', 'nina-password-1');
    try {
      await onA.mkdir('kept');
      // A password changed on b applies on a.
      await admin(b, (client) => client.setPassword('nina', 'nina-password-2'));
      await until(async () => (await codeOf(loginOn(a, 'nina', 'nina-password-1').then((x) => x.close()))) === 'GL_ERR_AUTH_FAILED', 5_000, 'the old password refused on a');
      const again = await loginOn(a, 'nina', 'nina-password-2');
      await again.close();

      await admin(c, (client) => client.deleteUser('nina'));
      await until(async () => (await codeOf(onA.ls('/'))) === 'GL_ERR_AUTH_REQUIRED', 5_000, 'the connection on a to lose access');
      expect(await codeOf(onB.ls('/'))).toBe('GL_ERR_AUTH_REQUIRED');
      expect(await codeOf(onC.ls('/'))).toBe('GL_ERR_AUTH_REQUIRED');
      for (const node of cluster.nodes) expect(await codeOf(loginOn(node, 'nina', 'nina-password-2'))).toBe('GL_ERR_AUTH_FAILED');
      expect(await admin(b, (client) => client.listUsers())).not.toContainEqual(expect.objectContaining({ name: 'nina' }));
    } finally {
      for (const client of [onA, onB, onC]) await client.close().catch(() => undefined);
    }
  }, 60_000);
});
