import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameConnection, GridlinkClient } from '../../src/client/index.js';
import { GridlinkError } from '../../src/errors/index.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { rawLogin } from '../helpers/raw-login.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { codeOf } from '../helpers/code-of.js';

describe('accounts: login, homes, file commands, quota', () => {
  let server: TestServer;
  let work: { path: string; cleanup: () => Promise<void> };
  const connect = () => GridlinkClient.connect({ host: '127.0.0.1', port: server.port });

  beforeAll(async () => {
    server = await startTestServer({ anonymous: { enabled: false } });
    work = await makeTempDir();
    await server.server.users.add('alice', 'alice-password', 'operator', 3 * 1024 * 1024);
    await server.server.users.add('bob', 'bob-password-1', 'viewer');
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('the first start created admin with a password file of mode 0600', async () => {
    const file = join(server.dataDir, 'initial-admin-password');
    expect(((await stat(file)).mode & 0o777).toString(8)).toBe('600');
    const password = (await readFile(file, 'utf8')).trim();
    expect(password).toBe(server.server.initialAdminPassword);
    const client = await connect();
    expect(await client.login('admin', password)).toEqual({ v: 1, id: expect.any(Number) as number, cmd: 'auth.proof', user: 'admin', role: 'admin' });
    await client.close();
    const db = await readFile(join(server.dataDir, 'gridlink.db'));
    expect(db.includes(Buffer.from(password))).toBe(false);
  });

  it('without login, file commands say to log in (anonymous area off)', async () => {
    const client = await connect();
    expect(await codeOf(client.ls())).toBe('GL_ERR_AUTH_REQUIRED');
    expect(await codeOf(client.put(join(work.path, 'x'), 'x'))).not.toBe('resolved');
    await client.ping(); // the connection stays usable
    await client.close();
  });

  it('wrong password, unknown user, replayed proof and a proof without challenge all fail the same way', async () => {
    const client = await connect();
    expect(await codeOf(client.login('alice', 'wrong-password'))).toBe('GL_ERR_AUTH_FAILED');
    expect(await codeOf(client.login('nobody', 'whatever-password'))).toBe('GL_ERR_AUTH_FAILED');
    await client.close();

    // Replay: record a good proof on one connection, send it on another.
    const a = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
    const proof = await rawLogin(a, 'bob', 'bob-password-1');
    // The same proof again on the same connection: the nonce was used up.
    expect(await codeOf(a.request('auth.proof', { proof }))).toBe('GL_ERR_AUTH_NO_CHALLENGE');
    const b = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
    expect(await codeOf(b.request('auth.proof', { proof }))).toBe('GL_ERR_AUTH_NO_CHALLENGE');
    await b.request('auth.challenge', { user: 'bob' });
    expect(await codeOf(b.request('auth.proof', { proof }))).toBe('GL_ERR_AUTH_FAILED');
    a.destroy();
    b.destroy();
  });

  it('password login works from loopback; every login and failure is audited without the password', async () => {
    const client = await connect();
    expect(await client.loginWithPassword('alice', 'alice-password')).toMatchObject({ user: 'alice', role: 'operator' });
    await client.close();
    const events = server.server.audit.recent(200);
    expect(events.some((e) => e.event === 'auth.login' && e.actor === 'alice' && e.detail?.['method'] === 'password')).toBe(true);
    expect(events.some((e) => e.event === 'auth.failure' && e.actor === 'nobody')).toBe(true);
    expect(JSON.stringify(events)).not.toContain('alice-password');
  });

  it('a user is confined to their home: pwd, cd, mkdir -p, ls, mv, rm, rmdir', async () => {
    const client = await connect();
    await client.login('alice', 'alice-password');
    expect(await client.pwd()).toBe('/');
    expect(await client.mkdir('feeders/f1/logs', true)).toBe('/feeders/f1/logs');
    expect(await codeOf(client.mkdir('feeders'))).toBe('GL_ERR_FILE_EXISTS');
    expect(await codeOf(client.mkdir('a/b'))).toBe('GL_ERR_FILE_NOT_FOUND');
    expect(await client.cd('feeders/f1')).toBe('/feeders/f1');
    const local = join(work.path, 'tele.csv');
    await writeFile(local, 'ts,value\n1,230.1\n');
    await client.put(local, 'tele.csv');
    expect((await client.ls()).entries.map((e) => [e.name, e.type])).toEqual([
      ['logs', 'dir'],
      ['tele.csv', 'file'],
    ]);
    expect(await client.cd('..')).toBe('/feeders');
    expect(await codeOf(client.cd('../..'))).toBe('GL_ERR_PATH_FORBIDDEN');
    expect(await codeOf(client.cd('/feeders/f1/tele.csv'))).toBe('GL_ERR_FILE_NOT_DIRECTORY');
    await client.mv('f1/tele.csv', '/tele-moved.csv');
    expect(await codeOf(client.mv('/tele-moved.csv', '/feeders'))).toBe('GL_ERR_FILE_EXISTS');
    expect(await codeOf(client.rmdir('f1'))).toBe('GL_ERR_FILE_NOT_EMPTY');
    expect(await codeOf(client.rm('f1'))).toBe('GL_ERR_FILE_IS_DIRECTORY');
    expect(await codeOf(client.rmdir('/'))).toBe('GL_ERR_PATH_FORBIDDEN');
    await client.rmdir('f1/logs');
    await client.rmdir('f1');
    await client.rm('/tele-moved.csv');
    expect((await client.ls('/')).entries.map((e) => e.name)).toEqual(['feeders']);
    // On disk, all of it happened inside <data>/home/alice.
    expect((await stat(join(server.dataDir, 'home', 'alice', 'feeders'))).isDirectory()).toBe(true);
    const changes = server.server.audit.recent(50).filter((e) => e.actor === 'alice' && e.event.startsWith('file.'));
    expect(changes.map((e) => e.event)).toEqual(expect.arrayContaining(['file.mkdir', 'file.put', 'file.mv', 'file.rm', 'file.rmdir']));
    await client.close();
  });

  it('users cannot see each other: bob does not reach alice\'s files', async () => {
    const alice = await connect();
    await alice.login('alice', 'alice-password');
    const local = join(work.path, 'private.txt');
    await writeFile(local, 'alice only');
    await alice.put(local, '/private.txt');
    await alice.close();
    const bob = await connect();
    await bob.login('bob', 'bob-password-1');
    expect((await bob.ls('/')).entries).toEqual([]);
    expect(await codeOf(bob.get('../alice/private.txt', join(work.path, 'stolen')))).toBe('GL_ERR_PATH_FORBIDDEN');
    expect(await codeOf(bob.get('/private.txt', join(work.path, 'stolen')))).toBe('GL_ERR_FILE_NOT_FOUND');
    await bob.close();
  });

  it('a put over the quota is refused before any byte is stored, with usage and quota in the message', async () => {
    const client = await connect();
    await client.login('alice', 'alice-password');
    const big = join(work.path, 'big.bin');
    const sum = await writeRandomFile(big, 2 * 1024 * 1024);
    await client.put(big, '/one.bin'); // 2 MiB of 3 MiB
    const err = await client.put(big, '/two.bin').catch((e: unknown) => e as GridlinkError);
    expect((err as GridlinkError).code).toBe('GL_ERR_FILE_QUOTA');
    expect((err as GridlinkError).message).toMatch(/quota 3\.0 MiB, used 2\.0 MiB.*needs 2\.0 MiB/u);
    expect((await client.ls('/')).entries.map((e) => e.name)).not.toContain('two.bin');
    // Replacing a file only needs the difference; removing frees space.
    await client.put(big, '/one.bin');
    await client.rm('/one.bin');
    await client.put(big, '/two.bin');
    expect(await sha256File(join(server.dataDir, 'home', 'alice', 'two.bin'))).toBe(sum);
    await client.close();
  });
});

describe('login throttling (its own server: it blocks the loopback address)', () => {
  it('a brute-force loop is throttled, and the throttle names the wait', async () => {
    const server = await startTestServer({ anonymous: { enabled: false } });
    await server.server.users.add('carol', 'carol-password', 'viewer');
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    const codes: string[] = [];
    for (let i = 0; i < 8; i += 1) codes.push(await codeOf(client.login('carol', `guess-${i}-xxxx`)));
    expect(codes.slice(0, 5)).toEqual(Array(5).fill('GL_ERR_AUTH_FAILED'));
    expect(codes.slice(5)).toEqual(Array(3).fill('GL_ERR_AUTH_THROTTLED'));
    // Even the right password is refused while throttled.
    const err = await client.login('carol', 'carol-password').catch((e: unknown) => e as GridlinkError);
    expect((err as GridlinkError).code).toBe('GL_ERR_AUTH_THROTTLED');
    expect((err as GridlinkError).message).toMatch(/try again in \d+ s/u);
    await client.close();
    expect(server.server.audit.recent(50).filter((e) => e.event === 'auth.throttled').length).toBeGreaterThanOrEqual(3);
    await server.stop();
  });

});

describe('quota counts unfinished uploads kept for a resume', () => {
  it('abandoned partial uploads cannot be used to store more than the quota', async () => {
    const { Readable } = await import('node:stream');
    const { FrameConnection } = await import('../../src/client/index.js');
    const server = await startTestServer({ anonymous: { enabled: false } });
    try {
      await server.server.users.add('lena', 'lena-password', 'operator', 3.5 * 1024 * 1024);
      const chunk = Buffer.alloc(1024 * 1024, 7);
      // Three uploads of 1.5 MiB, each abandoned after 1 MiB: 3 MiB parked.
      for (const name of ['a.bin', 'b.bin', 'c.bin']) {
        const conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
        await rawLogin(conn, 'lena', 'lena-password');
        const open = await conn.request('put.open', { path: name, length: 1.5 * 1024 * 1024 });
        const id = conn.open();
        await conn.send({ v: 1, id, cmd: 'put.data', upload: open['upload'], size: chunk.length }, Readable.from([chunk]));
        await conn.receive(id);
        conn.destroy();
      }
      await new Promise((r) => setTimeout(r, 100));
      const conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
      await rawLogin(conn, 'lena', 'lena-password');
      const err = await conn.request('put.open', { path: 'd.bin', length: 1024 * 1024 }).catch((e: unknown) => e as GridlinkError);
      expect((err as GridlinkError).code).toBe('GL_ERR_FILE_QUOTA');
      expect((err as GridlinkError).message).toContain('3.0 MiB of it in unfinished uploads');
      // Resuming one of them is allowed: its own bytes are its reservation.
      const resume = await conn.request('put.open', { path: 'a.bin', length: 1.5 * 1024 * 1024 });
      expect(resume['offset']).toBe(1024 * 1024);
      conn.destroy();
    } finally {
      await server.stop();
    }
  });
});

describe('a deleted account', () => {
  it('loses access at once on connections that are already logged in', async () => {
    const server = await startTestServer({ anonymous: { enabled: false } });
    try {
      await server.server.users.add('mia', 'mia-password', 'operator');
      const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
      await client.login('mia', 'mia-password');
      await client.mkdir('kept');
      server.server.users.delete('mia');
      expect(await codeOf(client.ls('/'))).toBe('GL_ERR_AUTH_REQUIRED');
      expect(await codeOf(client.rmdir('kept'))).toBe('GL_ERR_AUTH_REQUIRED');
      expect(await codeOf(client.login('mia', 'mia-password'))).toBe('GL_ERR_AUTH_FAILED');
      await client.close();
      expect(server.server.audit.recent(5).some((e) => e.event === 'auth.account_gone' && e.actor === 'mia')).toBe(true);
    } finally {
      await server.stop();
    }
  });
});

describe('hostile login input', () => {
  it('garbage, non-base64, short, long and empty proofs fail cleanly; the connection stays usable', async () => {
    const server = await startTestServer({ anonymous: { enabled: false } });
    try {
      await server.server.users.add('oleg', 'oleg-password', 'viewer');
      const conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
      const attempt = async (fields: Record<string, unknown>): Promise<string> => {
        await conn.request('auth.challenge', { user: 'oleg' });
        return codeOf(conn.request('auth.proof', fields));
      };
      expect(await attempt({ proof: '!!!not base64!!!' })).toBe('GL_ERR_AUTH_FAILED');
      expect(await attempt({ proof: Buffer.alloc(31).toString('base64') })).toBe('GL_ERR_AUTH_FAILED');
      expect(await attempt({ proof: Buffer.alloc(33, 1).toString('base64') })).toBe('GL_ERR_AUTH_FAILED');
      expect(await attempt({ proof: 'A'.repeat(129) })).toBe('GL_ERR_PROTO_BAD_FIELD');
      expect(await attempt({ proof: '' })).toBe('GL_ERR_PROTO_BAD_FIELD');
      expect(await attempt({ proof: 42 })).toBe('GL_ERR_PROTO_BAD_FIELD');
      expect(await codeOf(conn.request('auth.challenge', { user: 'x'.repeat(65) }))).toBe('GL_ERR_PROTO_BAD_FIELD');
      expect(await codeOf(conn.request('auth.password', { user: 'oleg', password: 'p'.repeat(1025) }))).toBe('GL_ERR_PROTO_BAD_FIELD');
      await conn.request('ping');
      conn.destroy();
    } finally {
      await server.stop();
    }
  });
});
