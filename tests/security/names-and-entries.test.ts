import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameConnection } from '../../src/client/index.js';
import { codeOf } from '../helpers/code-of.js';
import { rawLogin } from '../helpers/raw-login.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

describe('names that mislead operators, and a bound on entries (hardening finding 7)', () => {
  let server: TestServer;
  let conn: FrameConnection;

  beforeAll(async () => {
    server = await startTestServer({ anonymous: { enabled: false }, files: { durable: false, maxEntries: 50 } });
    await server.server.users.add('nina', 'nina-password', 'viewer', 1024);
    conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
    await rawLogin(conn, 'nina', 'nina-password');
  });
  afterAll(async () => {
    conn.destroy();
    await server.stop();
  });

  const misleading = [
    'report\u202Egpj.exe', // right-to-left override: shown as "reportexe.jpg"
    'a\u202Db', // left-to-right override
    'iso\u2066late', // isolate controls
    'mark\u200Fx', // right-to-left mark
    'two\u2028lines', // line separator
    'two\u2029paras', // paragraph separator
    '   ', // only spaces
    '\u3000', // only an ideographic space
    'trailing ', // a trailing space
    'dir /file', // a directory name with a trailing space
  ];

  it.each(misleading.map((name) => [JSON.stringify(name), name]))('%s is refused for mkdir, put and mv, and nothing is created', async (_shown, name) => {
    expect(await codeOf(conn.request('mkdir', { path: name }))).toBe('GL_ERR_PATH_INVALID');
    expect(await codeOf(conn.request('put.open', { path: name, length: 0 }))).toBe('GL_ERR_PATH_INVALID');
    expect(await codeOf(conn.request('mv', { from: 'nothing', to: name }))).toBe('GL_ERR_PATH_INVALID');
    const listing = await conn.request('ls', {});
    expect(listing['entries']).toEqual([]);
  });

  it('a user over quota cannot create files and directories without bound: files.maxEntries stops them', async () => {
    const codes: string[] = [];
    for (let i = 0; i < 60; i += 1) {
      const code = await codeOf(
        i % 2 === 0
          ? conn.request('mkdir', { path: `d${i}` })
          : conn.request('put.open', { path: `f${i}`, length: 0 }).then((open) => conn.request('put.commit', { upload: open['upload'], sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' })),
      );
      codes.push(code);
    }
    expect(codes.slice(0, 50)).toEqual(Array(50).fill('resolved'));
    expect(codes.slice(50)).toEqual(Array(10).fill('GL_ERR_FILE_TOO_MANY_ENTRIES'));
    // mkdir -p counts every directory it would create.
    await conn.request('rmdir', { path: 'd0' });
    expect(await codeOf(conn.request('mkdir', { path: 'p/q/r', parents: true }))).toBe('GL_ERR_FILE_TOO_MANY_ENTRIES');
    // Removing frees room again.
    expect(await codeOf(conn.request('mkdir', { path: 'again' }))).toBe('resolved');
    const listing = await conn.request('ls', {});
    expect((listing['entries'] as unknown[]).length).toBe(50);
  });
});
