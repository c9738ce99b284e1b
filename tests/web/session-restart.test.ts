import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_FILE, openDatabase } from '../../src/accounts/database.js';
import { UserStore } from '../../src/accounts/user-store.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { GridlinkServer } from '../../src/server/gridlink-server.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { as, JSON_TYPE, login, send, type Login } from './web-client.js';

/**
 * Web sessions outlive a restart (docs/http-api.md "Sessions and CSRF"): they
 * are kept, by the hash of their token, in the accounts database with their
 * last use; a deleted account or a changed password still ends them.
 */
describe('web sessions across a restart', () => {
  let temp: { path: string; cleanup: () => Promise<void> };
  let dataDir: string;
  let server: GridlinkServer | null = null;
  let port = 0;

  const start = async (idleMinutes = 30): Promise<void> => {
    const config = parseConfig({
      dataDir,
      log: { level: 'silent' },
      files: { durable: false },
      native: { port: 0 },
      legacyChat: { enabled: false },
      ftp: { enabled: false },
      iec104: { enabled: false },
      scada: { enabled: false },
      http: { port: 0, sessionIdleMinutes: idleMinutes },
    });
    server = await GridlinkServer.start(config, createLogger('silent'));
    port = server.httpAddress?.port ?? 0;
  };
  const stop = async (): Promise<void> => {
    await server?.stop(1_000);
    server = null;
  };
  /** The accounts database while the server is down, as a script of the administrator's would open it. */
  const offline = <T>(use: (users: UserStore, db: ReturnType<typeof openDatabase>) => T): T => {
    const db = openDatabase(join(dataDir, DATABASE_FILE));
    try {
      return use(new UserStore(db), db);
    } finally {
      db.close();
    }
  };
  const sessionOf = (session: Login) => send(port, 'GET', '/api/session', { cookie: session.cookie });

  beforeAll(async () => {
    temp = await makeTempDir();
    dataDir = join(temp.path, 'data');
    await start();
    for (const name of ['alice', 'bob', 'carol', 'dave']) await server!.users.add(name, `${name}-password-1`, name === 'alice' ? 'operator' : 'viewer');
  });

  afterAll(async () => {
    await stop();
    await temp.cleanup();
  });

  it('a restart logs nobody out: the same cookie and CSRF token work; a password changed meanwhile, a deleted account or a logout end theirs', async () => {
    const alice = await login(port, 'alice', 'alice-password-1');
    const bob = await login(port, 'bob', 'bob-password-1');
    const carol = await login(port, 'carol', 'carol-password-1');
    const dave = await login(port, 'dave', 'dave-password-1');
    expect((await sessionOf(alice)).status).toBe(200);

    await stop();
    // Stored by the hash of the token: the database holds no cookie value.
    const rows = offline((_users, db) => db.prepare('SELECT * FROM web_sessions').all() as Array<Record<string, unknown>>);
    expect(rows.map((r) => r['user']).sort()).toEqual(['alice', 'bob', 'carol', 'dave']);
    const dump = JSON.stringify(rows);
    for (const session of [alice, bob, carol, dave]) expect(dump).not.toContain(session.cookie.split('=')[1]);
    // While it is down, bob's password changes.
    const db = openDatabase(join(dataDir, DATABASE_FILE));
    await new UserStore(db).setPassword('bob', 'bob-password-2');
    db.close();
    await start();

    const again = await sessionOf(alice);
    expect(again.status).toBe(200);
    expect(again.json()).toEqual({ user: 'alice', role: 'operator', csrf: alice.csrf });
    // A state-changing request with the CSRF token of before the restart.
    const mkdir = await send(port, 'POST', '/api/files/mkdir', { ...as(alice, port), ...JSON_TYPE }, JSON.stringify({ path: '/after-restart' }));
    expect(mkdir.status).toBe(201);

    const bobAfter = await sessionOf(bob);
    expect(bobAfter.status).toBe(401);
    expect(bobAfter.json()).toMatchObject({ error: { code: 'GL_ERR_AUTH_REQUIRED' } });

    expect((await sessionOf(carol)).status).toBe(200);
    server!.users.delete('carol');
    expect((await sessionOf(carol)).status).toBe(401);

    expect((await send(port, 'POST', '/api/logout', as(dave, port))).status).toBe(204);
    await stop();
    const left = offline((_users, db) => (db.prepare('SELECT user FROM web_sessions ORDER BY user').all() as Array<{ user: string }>).map((r) => r.user));
    expect(left).toEqual(['alice']);
    await start();
    expect((await sessionOf(dave)).status).toBe(401);
    expect((await sessionOf(carol)).status).toBe(401);
    expect((await sessionOf(alice)).status).toBe(200);
  }, 60_000);

  it('a session idle beyond the limit while the server was down has ended', async () => {
    const bob = await login(port, 'bob', 'bob-password-2');
    const alice = await login(port, 'alice', 'alice-password-1');
    await stop();
    // Bob's last use 31 minutes ago (the limit is 30).
    offline((_users, db) => db.prepare("UPDATE web_sessions SET last_used = ? WHERE user = 'bob'").run(Date.now() - 31 * 60_000));
    await start();
    expect((await sessionOf(bob)).status).toBe(401);
    expect((await sessionOf(alice)).status).toBe(200);
    await stop();
    expect(offline((_users, db) => (db.prepare("SELECT count(*) AS n FROM web_sessions WHERE user = 'bob'").get() as { n: number }).n)).toBe(0);
    await start();
  }, 60_000);

  it('fewer sessions allowed than stored: the most recently used are kept', async () => {
    await stop();
    offline((_users, db) => {
      db.prepare('DELETE FROM web_sessions').run();
      const insert = db.prepare("INSERT INTO web_sessions (key, handle, user, role, csrf, credential, address, created_at, last_used) VALUES (?, ?, 'alice', 'operator', 'c', 'x', '127.0.0.1', ?, ?)");
      for (let i = 0; i < 20; i += 1) insert.run(`k${i}`, `h${i}`, Date.now(), Date.now() - (20 - i) * 1_000);
    });
    const config = parseConfig({ dataDir, log: { level: 'silent' }, files: { durable: false }, native: { port: 0 }, legacyChat: { enabled: false }, ftp: { enabled: false }, iec104: { enabled: false }, scada: { enabled: false }, http: { port: 0, maxSessions: 5 } });
    server = await GridlinkServer.start(config, createLogger('silent'));
    port = server.httpAddress?.port ?? 0;
    await stop();
    const keys = offline((_users, db) => (db.prepare('SELECT key FROM web_sessions ORDER BY last_used').all() as Array<{ key: string }>).map((r) => r.key));
    expect(keys).toEqual(['k15', 'k16', 'k17', 'k18', 'k19']);
    await start();
  }, 60_000);
});
