import { spawn } from 'node:child_process';
import { lstat, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/accounts/credentials.js';
import { DEFAULT_QUOTA_BYTES } from '../../src/accounts/user-store.js';
import { AdminClient } from '../../src/admin/admin-client.js';
import { GridlinkError } from '../../src/errors/index.js';
import { lengthPrefix, rawHeader } from '../helpers/raw-peer.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { RawAdminPeer, startAdminFixture, type AdminFixture } from './fixture.js';
import { codeOf } from '../helpers/code-of.js';
import { until } from '../helpers/until.js';

const PASSWORD = 'Tr0ub4dor&3-admin-test';
const OTHER_PASSWORD = 'correct horse battery staple';

/** The error code a promise rejects with. */

/** A socket file whose listener died without removing it (SIGKILL), as after a crash. */
async function makeStaleSocket(path: string): Promise<void> {
  const script = `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`;
  await new Promise<void>((resolve) => spawn(process.execPath, ['-e', script], { stdio: 'ignore' }).once('exit', () => resolve()));
  expect((await lstat(path)).isSocket()).toBe(true);
}

describe('admin socket (docs/protocol.md §6)', () => {
  let f: AdminFixture;
  let client: AdminClient;

  beforeAll(async () => {
    f = await startAdminFixture();
    client = await AdminClient.connect(f.socketPath);
  });
  afterAll(async () => {
    await client.close();
    await f.stop();
  });

  it('reports the server status', async () => {
    expect(await client.status()).toEqual({ uptimeMs: 3_723_000, connections: 2, server: 'test' });
  });

  it('adds, lists, changes and deletes users', async () => {
    const added = await client.addUser('alice', PASSWORD, { role: 'operator', quotaBytes: 500 * 1024 ** 2 });
    expect(added).toMatchObject({ name: 'alice', role: 'operator', quotaBytes: 500 * 1024 ** 2 });
    const plain = await client.addUser('bob', PASSWORD);
    expect(plain).toMatchObject({ name: 'bob', role: 'viewer', quotaBytes: DEFAULT_QUOTA_BYTES });
    expect((await client.listUsers()).map((u) => [u.name, u.role])).toEqual([
      ['alice', 'operator'],
      ['bob', 'viewer'],
    ]);

    await client.setPassword('alice', OTHER_PASSWORD);
    const credential = f.users.get('alice')!.credential;
    expect(await verifyPassword(OTHER_PASSWORD, credential)).toBe(true);
    expect(await verifyPassword(PASSWORD, credential)).toBe(false);

    await client.setQuota('alice', 10 * 1024 ** 3);
    await client.setRole('alice', 'admin');
    expect(f.users.get('alice')).toMatchObject({ role: 'admin', quotaBytes: 10 * 1024 ** 3 });
    await client.setQuota('alice', 0);
    expect(f.users.get('alice')?.quotaBytes).toBe(0);

    await client.deleteUser('bob');
    expect(f.users.get('bob')).toBeUndefined();
    expect((await client.listUsers()).map((u) => u.name)).toEqual(['alice']);
  });

  it('refuses a duplicate user and an unknown one', async () => {
    await client.addUser('carol', PASSWORD);
    expect(await codeOf(client.addUser('carol', OTHER_PASSWORD))).toBe('GL_ERR_ADMIN_USER_EXISTS');
    expect(await verifyPassword(PASSWORD, f.users.get('carol')!.credential)).toBe(true); // unchanged
    for (const attempt of [client.setPassword('nobody', PASSWORD), client.setQuota('nobody', 1), client.setRole('nobody', 'admin'), client.deleteUser('nobody')]) {
      expect(await codeOf(attempt)).toBe('GL_ERR_ADMIN_NO_USER');
    }
  });

  it('refuses bad names and weak passwords, and stores nothing', async () => {
    const before = f.users.count();
    for (const name of ['', '.', '..', 'a/b', '../etc', 'a'.repeat(33), 'a'.repeat(40), 'a\u0000b', '-dash', 'sp ace', 'é']) {
      expect(await codeOf(client.addUser(name, PASSWORD)), JSON.stringify(name)).toBe('GL_ERR_ADMIN_BAD_NAME');
      expect(await codeOf(client.setPassword(name, PASSWORD)), JSON.stringify(name)).toBe('GL_ERR_ADMIN_BAD_NAME');
      expect(await codeOf(client.deleteUser(name)), JSON.stringify(name)).toBe('GL_ERR_ADMIN_BAD_NAME');
    }
    expect(await codeOf(client.addUser('dave', 'short'))).toBe('GL_ERR_ADMIN_WEAK_PASSWORD');
    expect(await codeOf(client.addUser('dave', ''))).toBe('GL_ERR_ADMIN_WEAK_PASSWORD');
    expect(await codeOf(client.addUser('dave', 'x'.repeat(2000)))).toBe('GL_ERR_PROTO_BAD_FIELD');
    expect(await codeOf(client.setPassword('carol', 'short'))).toBe('GL_ERR_ADMIN_WEAK_PASSWORD');
    expect(await codeOf(client.setQuota('carol', -1))).toBe('GL_ERR_PROTO_BAD_FIELD');
    expect(await codeOf(client.setQuota('carol', 1.5))).toBe('GL_ERR_PROTO_BAD_FIELD');
    expect(f.users.count()).toBe(before);
    // The connection survived every refusal.
    expect(await client.status()).toHaveProperty('connections');
  });

  it('lists many users page by page', async () => {
    const insert = f.db.prepare('INSERT INTO users (name, role, quota_bytes, salt, cost_n, cost_r, cost_p, stored_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    // Rows straight into the real table: 450 scrypt hashes would take half a minute.
    f.db.transaction(() => {
      for (let i = 0; i < 450; i += 1) insert.run(`bulk-${String(i).padStart(3, '0')}`, 'viewer', 1, Buffer.alloc(16), 16_384, 8, 1, Buffer.alloc(32), Date.now());
    })();
    const expected = f.users.list().map((u) => u.name);
    expect(expected.length).toBeGreaterThan(450);
    expect((await client.listUsers()).map((u) => u.name)).toEqual(expected);
    f.db.prepare("DELETE FROM users WHERE name LIKE 'bulk-%'").run();
  });

  it('audits every change, and no password reaches the audit log or the log lines', () => {
    const events = f.audit
      .recent(1000)
      .reverse()
      .map((row) => [row.event, row.actor, row.detail?.['name']]);
    expect(events).toEqual([
      ['admin.user_add', 'admin-socket', 'alice'],
      ['admin.user_add', 'admin-socket', 'bob'],
      ['admin.user_passwd', 'admin-socket', 'alice'],
      ['admin.user_quota', 'admin-socket', 'alice'],
      ['admin.user_role', 'admin-socket', 'alice'],
      ['admin.user_quota', 'admin-socket', 'alice'],
      ['admin.user_del', 'admin-socket', 'bob'],
      ['admin.user_add', 'admin-socket', 'carol'],
    ]);
    expect(f.audit.recent(1000).find((r) => r.event === 'admin.user_role')?.detail).toEqual({ name: 'alice', role: 'admin', previousRole: 'operator' });
    const rows = JSON.stringify(f.db.prepare('SELECT * FROM audit').all());
    const logs = f.logLines.join('');
    expect(logs).toContain('admin.user_passwd');
    for (const secret of [PASSWORD, OTHER_PASSWORD, 'short', 'x'.repeat(2000)]) {
      expect(rows).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
  });
});

describe('admin protocol robustness', () => {
  let f: AdminFixture;
  beforeAll(async () => {
    f = await startAdminFixture();
  });
  afterAll(async () => {
    await f.stop();
  });

  it('answers malformed requests with error frames and keeps serving the connection', async () => {
    const peer = await RawAdminPeer.open(f.socketPath);
    const requests = [
      '{"v":1,"id":1,"cmd":"user.frobnicate"}',
      '{"v":1,"id":2,"cmd":"user.add","name":5,"password":"long enough pw"}',
      '{"v":1,"id":3,"cmd":"user.quota","name":"a","quota":"1G"}',
      '{"v":1,"id":4,"cmd":"user.role","name":"a","role":"root"}',
      '{"v":1,"id":5,"cmd":"user.add","name":"a"}',
      '{"v":1,"id":-1,"cmd":"status"}',
      '{"v":1,"id":6,"cmd":"status","size":0}',
      '{"v":1,"id":7,"cmd":"exec","command":"rm -rf /"}',
      '{"v":1,"id":"last","cmd":"status"}',
    ];
    for (const json of requests) peer.write(rawHeader(json));
    const frames = await peer.waitFrames(requests.length);
    expect(frames.map((h) => [h['id'], h.cmd, h['code']])).toEqual([
      [1, 'error', 'GL_ERR_PROTO_UNKNOWN_CMD'],
      [2, 'error', 'GL_ERR_PROTO_BAD_FIELD'],
      [3, 'error', 'GL_ERR_PROTO_BAD_FIELD'],
      [4, 'error', 'GL_ERR_PROTO_BAD_FIELD'],
      [5, 'error', 'GL_ERR_PROTO_BAD_FIELD'],
      [null, 'error', 'GL_ERR_PROTO_BAD_FIELD'],
      [6, 'error', 'GL_ERR_PROTO_UNEXPECTED_BODY'],
      [7, 'error', 'GL_ERR_PROTO_UNKNOWN_CMD'],
      ['last', 'status', undefined],
    ]);
    expect(frames[1]?.['message']).toContain('"name"');
    expect(peer.closed).toBe(false);
    peer.destroy();
  });

  it('closes after a frame that breaks framing, with an error frame, and serves the next connection', async () => {
    const cases: [Buffer, string][] = [
      [rawHeader('{"v":1,"id":1,"cmd":'), 'GL_ERR_FRAME_BAD_JSON'],
      [rawHeader('[1,2]'), 'GL_ERR_FRAME_NOT_OBJECT'],
      [rawHeader('{"v":1,"id":1}'), 'GL_ERR_FRAME_NO_CMD'],
      [lengthPrefix(70_000), 'GL_ERR_FRAME_HEADER_LENGTH'],
      [lengthPrefix(0), 'GL_ERR_FRAME_HEADER_LENGTH'],
      [Buffer.concat([rawHeader('{"v":1,"id":1,"cmd":"status","size":10}'), Buffer.alloc(10)]), 'GL_ERR_FRAME_BODY_TOO_LARGE'],
      [rawHeader('{"id":1,"cmd":"status"}'), 'GL_ERR_PROTO_BAD_VERSION'],
      [rawHeader('{"v":2,"id":1,"cmd":"status"}'), 'GL_ERR_PROTO_BAD_VERSION'],
    ];
    for (const [bytes, code] of cases) {
      const peer = await RawAdminPeer.open(f.socketPath);
      peer.write(bytes);
      const frames = await peer.waitFrames(1);
      expect(frames[0]?.['code'], code).toBe(code);
      expect(await peer.waitClosed(), code).toBe(true);
    }
    const client = await AdminClient.connect(f.socketPath);
    expect(await client.status()).toHaveProperty('server', 'test');
    await client.close();
  });

  it('a client that hangs up mid-header does not disturb others', async () => {
    const peer = await RawAdminPeer.open(f.socketPath);
    peer.write(rawHeader('{"v":1,"id":1,"cmd":"status"}').subarray(0, 10));
    peer.destroy();
    const client = await AdminClient.connect(f.socketPath);
    expect(await client.status()).toHaveProperty('connections', 2);
    await client.close();
  });

  it('refuses connections beyond the limit, keeps serving the ones it holds, and frees a slot when one closes', async () => {
    const limited = await startAdminFixture({ maxConnections: 1 });
    try {
      const first = await AdminClient.connect(limited.socketPath);
      expect(await first.status()).toEqual({ uptimeMs: 3_723_000, connections: 2, server: 'test' });
      // The one beyond the limit: told why, then closed by the server.
      const refused = await RawAdminPeer.open(limited.socketPath);
      refused.write(rawHeader('{"v":1,"id":1,"cmd":"status"}'));
      const frames = await refused.waitFrames(1);
      expect(frames[0]).toMatchObject({ cmd: 'error', code: 'GL_ERR_SERVER_BUSY' });
      expect(await refused.waitClosed()).toBe(true);
      const second = await AdminClient.connect(limited.socketPath);
      expect(await codeOf(second.status())).toBe('GL_ERR_SERVER_BUSY');
      await second.close().catch(() => undefined);
      // The held connection was not disturbed by the refusals.
      expect(await first.status()).toEqual({ uptimeMs: 3_723_000, connections: 2, server: 'test' });
      await first.close();
      // Its slot is free again once the server has seen it close (refused peers never held one).
      const third = await until(async () => {
        const client = await AdminClient.connect(limited.socketPath);
        const answer = await client.status().catch((err: unknown) => err);
        if (answer instanceof GridlinkError && answer.code === 'GL_ERR_SERVER_BUSY') {
          await client.close().catch(() => undefined);
          return undefined;
        }
        return { client, answer };
      }, 10_000, 'the slot of the closed connection');
      expect(third.answer).toEqual({ uptimeMs: 3_723_000, connections: 2, server: 'test' });
      await third.client.close();
    } finally {
      await limited.stop();
    }
  });
});

describe('admin socket file (docs/architecture.md, docs/protocol.md §6)', () => {
  let temp: { path: string; cleanup: () => Promise<void> };
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    temp = await makeTempDir('gl-sock-');
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await temp.cleanup();
  });

  async function fixture(): Promise<AdminFixture> {
    const f = await startAdminFixture();
    cleanups.push(() => f.stop());
    return f;
  }

  it('is created with mode 0600 even under a permissive umask, and removed on close', async () => {
    const previous = process.umask(0);
    let f: AdminFixture;
    try {
      f = await startAdminFixture();
    } finally {
      process.umask(previous);
    }
    const stats = await lstat(f.socketPath);
    expect(stats.isSocket()).toBe(true);
    expect((stats.mode & 0o777).toString(8)).toBe('600');
    expect(stats.uid).toBe(process.getuid?.());
    await f.server.close();
    await expect(stat(f.socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
    await f.stop();
  });

  it('replaces a stale socket file left by a dead server', async () => {
    const f = await fixture();
    await f.server.close();
    await makeStaleSocket(f.socketPath);
    expect(await codeOf(AdminClient.connect(f.socketPath))).toBe('GL_ERR_ADMIN_UNREACHABLE');
    const revived = f.makeServer();
    await revived.listen();
    cleanups.push(() => revived.close());
    expect(f.logLines.join('')).toContain('admin.stale_socket');
    const client = await AdminClient.connect(f.socketPath);
    expect(await client.status()).toHaveProperty('server', 'test');
    await client.close();
  });

  it('refuses a second server on the same path while the first runs', async () => {
    const f = await fixture();
    const second = f.makeServer();
    const refused = await second.listen().then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(GridlinkError);
    expect((refused as GridlinkError).code).toBe('GL_ERR_ADMIN_SOCKET_IN_USE');
    expect((refused as GridlinkError).message).toContain(f.socketPath);
    await second.close(); // a no-op: it never listened, and must not remove the first one's socket
    const client = await AdminClient.connect(f.socketPath);
    expect(await client.status()).toHaveProperty('server', 'test');
    await client.close();
    expect((await lstat(f.socketPath)).isSocket()).toBe(true);
  });

  it('never removes a file that is not a socket, and refuses a path the kernel would truncate', async () => {
    const f = await fixture();
    const notSocket = join(temp.path, 'plain.sock');
    await writeFile(notSocket, 'precious');
    const onFile = f.makeServer({ socketPath: notSocket });
    expect(await codeOf(onFile.listen())).toBe('GL_ERR_ADMIN_SOCKET');
    expect(await readFile(notSocket, 'utf8')).toBe('precious');

    const long = join(temp.path, `${'d'.repeat(120)}.sock`);
    expect(await codeOf(f.makeServer({ socketPath: long }).listen())).toBe('GL_ERR_ADMIN_SOCKET');
    expect(await codeOf(AdminClient.connect(long))).toBe('GL_ERR_ADMIN_UNREACHABLE');
  });

  it('a missing socket is reported as unreachable, naming the path', async () => {
    const path = join(temp.path, 'none', 'admin.sock');
    const err = await AdminClient.connect(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GridlinkError);
    expect((err as GridlinkError).code).toBe('GL_ERR_ADMIN_UNREACHABLE');
    expect((err as GridlinkError).message).toContain(path);
  });

  it('close lets idle clients go and frees the path for the next server', async () => {
    const f = await fixture();
    const idle = await AdminClient.connect(f.socketPath);
    await f.server.close();
    expect(await codeOf(idle.status())).toMatch(/GL_ERR_SERVER_SHUTTING_DOWN|GL_ERR_CLIENT_CLOSED/u);
    await idle.close();
    const next = f.makeServer();
    await next.listen();
    await next.close();
  });
});

describe('admin announce and kick (docs/protocol.md §6)', () => {
  it('announces to every room and kicks a nickname from all of them, both audited', async () => {
    const { startAdminFixture } = await import('./fixture.js');
    const { AdminClient } = await import('../../src/admin/admin-client.js');
    const fixture = await startAdminFixture();
    try {
      const seen: string[] = [];
      const dropped: string[] = [];
      const sink = (who: string) => ({ deliver: (e: { type: string; text?: string }) => void seen.push(`${who}:${e.type}:${e.text ?? ''}`), drop: (reason: string) => void dropped.push(`${who}:${reason}`) });
      await fixture.chat.join('lobby', 'ann', sink('ann'));
      await fixture.chat.join('ops', 'ann', sink('ann-ops'));
      await fixture.chat.join('ops', 'ben', sink('ben'));
      const client = await AdminClient.connect(fixture.socketPath);
      expect(await client.announce('maintenance at 22:00')).toBe(2);
      expect(await client.kick('ann')).toBe(2);
      expect(await client.kick('nobody')).toBe(0);
      await client.close();
      await new Promise((r) => setTimeout(r, 20));
      expect(seen).toEqual(expect.arrayContaining(['ann:announce:maintenance at 22:00', 'ann-ops:announce:maintenance at 22:00', 'ben:announce:maintenance at 22:00', 'ben:left:']));
      expect(dropped.sort()).toEqual(['ann-ops:kicked', 'ann:kicked']);
      expect(fixture.chat.members('ops')).toEqual(['ben']);
      const events = fixture.audit.recent(10).map((e) => e.event);
      expect(events).toEqual(expect.arrayContaining(['admin.announce', 'admin.kick']));
    } finally {
      await fixture.stop();
    }
  });
});
