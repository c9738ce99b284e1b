import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/accounts/audit-log.js';
import { openDatabase, type GridlinkDatabase } from '../../src/accounts/database.js';
import { LoginThrottle } from '../../src/accounts/login-throttle.js';
import { UserStore } from '../../src/accounts/user-store.js';
import { AdminClient } from '../../src/admin/admin-client.js';
import { AdminServer } from '../../src/admin/admin-server.js';
import { ClusterLink } from '../../src/cluster/cluster-link.js';
import { keyOf } from '../../src/cluster/kv-buckets.js';
import { ACCOUNTS_BUCKET, SharedAccounts } from '../../src/cluster/shared-accounts.js';
import { createLogger } from '../../src/log/logger.js';
import { AuthService, type LoginPeer } from '../../src/services/auth/auth-service.js';
import { startNats, type NatsSystem } from '../helpers/nats-server.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

const logger = createLogger('silent');
const peer: LoginPeer = { remoteAddress: '127.0.0.1', secure: false, fromLoopback: true };

/** A node's accounts side: its own SQLite database, user store, login service, admin socket and shared accounts. */
interface Node {
  readonly name: string;
  readonly link: ClusterLink;
  readonly users: UserStore;
  readonly auth: AuthService;
  readonly shared: SharedAccounts;
  readonly socket: string;
  stop(): Promise<void>;
}

async function startNode(name: string, nats: string, dir: string, seed?: (users: UserStore) => Promise<void>): Promise<Node> {
  await mkdir(join(dir, name), { recursive: true });
  const db: GridlinkDatabase = openDatabase(join(dir, name, 'gridlink.db'));
  const users = new UserStore(db);
  await seed?.(users);
  const audit = new AuditLog(db, logger);
  const link = await ClusterLink.connect({ servers: [nats], node: name, logger });
  const shared = await SharedAccounts.start(link, users, { replicas: 1, logger });
  const socket = join(dir, name, 'admin.sock');
  const admin = new AdminServer({ socketPath: socket, users, audit, logger, status: () => ({}), chat: { announce: () => 0, kick: () => 0 } });
  await admin.listen();
  return {
    name,
    link,
    users,
    auth: new AuthService(users, audit, new LoginThrottle()),
    shared,
    socket,
    async stop() {
      await admin.close();
      shared.close();
      await link.close();
      db.close();
    },
  };
}

describe('accounts shared by 3 nodes (a real nats-server, each node its own SQLite)', () => {
  let nats: NatsSystem;
  let temp: { path: string; cleanup: () => Promise<void> };
  let a: Node;
  let b: Node;
  let c: Node;

  beforeAll(async () => {
    nats = await startNats();
    temp = await makeTempDir('gridlink-accounts-');
    a = await startNode('a', nats.urls, temp.path, async (users) => {
      await users.add('admin', 'admin-password-a', 'admin');
    });
    // b comes with its own admin (its first start made one): the cluster keeps the one seeded first.
    b = await startNode('b', nats.urls, temp.path, async (users) => {
      await users.add('admin', 'admin-password-b', 'admin');
      await users.add('bob', 'bob-password', 'viewer');
    });
    c = await startNode('c', nats.urls, temp.path);
  }, 60_000);

  afterAll(async () => {
    for (const node of [a, b, c]) await node?.stop().catch(() => undefined);
    await nats?.stop();
    await temp?.cleanup();
  });

  it('a node joining shares the users the cluster has never seen and takes the cluster version of the others', async () => {
    // c started empty and got both: a's admin (seeded first) and b's bob.
    expect(c.users.list().map((u) => u.name)).toEqual(['admin', 'bob']);
    await expect(c.auth.verifyPassword(peer, 'admin', 'admin-password-a')).resolves.toMatchObject({ name: 'admin', role: 'admin' });
    await expect(b.auth.verifyPassword(peer, 'admin', 'admin-password-a')).resolves.toMatchObject({ name: 'admin' });
    await until(() => a.users.get('bob') !== undefined, 5_000, 'bob on a');
  });

  it('a user added through the admin socket of a logs in on c; changed on b, the change holds on a and c', async () => {
    const admin = await AdminClient.connect(a.socket);
    try {
      await admin.addUser('alice', 'alice-password-1', { role: 'operator', quotaBytes: 5_000_000 });
    } finally {
      await admin.close();
    }
    await until(() => c.users.get('alice') !== undefined, 5_000, 'alice on c');
    await expect(c.auth.verifyPassword(peer, 'alice', 'alice-password-1')).resolves.toEqual({ name: 'alice', role: 'operator' });
    // Challenge–response too: the SCRAM salt and StoredKey travelled intact.
    expect(c.auth.challenge(peer, 'alice').salt).toBe(a.auth.challenge(peer, 'alice').salt);

    const onB = await AdminClient.connect(b.socket);
    try {
      await onB.setPassword('alice', 'alice-password-2');
      await onB.setRole('alice', 'viewer');
      await onB.setQuota('alice', 7_000_000);
    } finally {
      await onB.close();
    }
    for (const node of [a, c]) {
      await until(() => node.users.get('alice')?.quotaBytes === 7_000_000, 5_000, `alice's quota on ${node.name}`);
      expect(node.users.get('alice')?.role).toBe('viewer');
      await expect(node.auth.verifyPassword(peer, 'alice', 'alice-password-1')).rejects.toMatchObject({ code: 'GL_ERR_AUTH_FAILED' });
      await expect(node.auth.verifyPassword(peer, 'alice', 'alice-password-2')).resolves.toEqual({ name: 'alice', role: 'viewer' });
    }
  });

  it('a user deleted on c is gone on every node (the fronts then end its sessions at their next request)', async () => {
    await until(() => a.users.get('bob') !== undefined && c.users.get('bob') !== undefined, 5_000, 'bob everywhere');
    const onC = await AdminClient.connect(c.socket);
    try {
      await onC.deleteUser('bob');
    } finally {
      await onC.close();
    }
    await until(() => a.users.get('bob') === undefined && b.users.get('bob') === undefined, 5_000, 'bob deleted on a and b');
    await expect(b.auth.verifyPassword(peer, 'bob', 'bob-password')).rejects.toMatchObject({ code: 'GL_ERR_AUTH_FAILED' });
  });

  it('a node that was down while a user was deleted deletes it when it comes back; one added meanwhile reaches it', async () => {
    await b.stop();
    await a.users.add('carol', 'carol-password', 'viewer');
    await a.shared.settled();
    a.users.delete('alice');
    await a.shared.settled();
    b = await startNode('b', nats.urls, temp.path);
    expect(b.users.get('alice')).toBeUndefined();
    expect(b.users.get('carol')?.role).toBe('viewer');
  }, 30_000);

  it('changes made while NATS is away apply locally and reach the others once it is back', async () => {
    await nats.servers[0]!.kill();
    try {
      await until(() => a.link.state !== 'connected', 10_000, 'a to see NATS gone');
      await a.users.add('dave', 'dave-password', 'operator');
      expect(a.users.get('dave')).toBeDefined();
      expect(a.shared.status().waiting).toBe(1);
    } finally {
      await nats.servers[0]!.restart();
    }
    await until(() => c.users.get('dave') !== undefined, 20_000, 'dave on c after NATS came back');
    expect(a.shared.status().waiting).toBe(0);
  }, 60_000);

  it('hostile entries in the bucket (bad JSON, wrong name, a huge scrypt cost, a short key, a bad key) are refused; the users stay as they were', async () => {
    const kv = await a.link.kvm.open(ACCOUNTS_BUCKET);
    const good = (await kv.get(keyOf('carol')))!.json<Record<string, unknown>>();
    const before = c.shared.status().refused;
    await kv.put(keyOf('carol'), '{not json');
    await kv.put(keyOf('carol'), JSON.stringify({ ...good, name: 'mallory' }));
    await kv.put(keyOf('carol'), JSON.stringify({ ...good, role: 'root' }));
    await kv.put(keyOf('carol'), JSON.stringify({ ...good, N: 2 ** 30 }));
    await kv.put(keyOf('carol'), JSON.stringify({ ...good, storedKey: 'AAAA' }));
    await kv.put(keyOf('../etc'), JSON.stringify({ ...good, name: '../etc' }));
    await until(() => c.shared.status().refused >= before + 6, 5_000, 'six refusals on c');
    expect(c.users.get('carol')?.role).toBe('viewer');
    expect(c.users.get('mallory')).toBeUndefined();
    await expect(c.auth.verifyPassword(peer, 'carol', 'carol-password')).resolves.toMatchObject({ name: 'carol' });
  }, 30_000);
});
