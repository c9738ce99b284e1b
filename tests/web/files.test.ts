import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import { until } from '../helpers/until.js';
import { as, login, send, startWebServer, type Login, type WebTestServer } from './web-client.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('files over HTTP: the user’s home, as with the native protocol (docs/protocol.md §3.3)', () => {
  let server: WebTestServer;
  let alice: Login;
  let home: string;
  const put = (path: string, body: Buffer | string, extra: Record<string, string> = {}) =>
    send(server.httpPort, 'PUT', `/api/files/content?path=${encodeURIComponent(path)}`, { ...as(alice, server.httpPort), 'content-type': 'application/octet-stream', ...extra }, body);

  beforeAll(async () => {
    server = await startWebServer();
    await server.server.users.add('alice', 'alice-password', 'viewer', 4 * 1024 * 1024);
    alice = await login(server.httpPort, 'alice', 'alice-password');
    home = join(server.dataDir, 'home', 'alice');
  });
  afterAll(async () => {
    await server.stop();
  });

  it('upload: 201 with path, size and SHA-256; the bytes are in the home; audited', async () => {
    const data = randomBytes(200_000);
    const res = await put('report.bin', data);
    expect(res.status).toBe(201);
    expect(res.json()).toEqual({ path: 'report.bin', size: data.length, sha256: sha256(data) });
    expect((await readFile(join(home, 'report.bin'))).equals(data)).toBe(true);
    expect(server.server.audit.recent(20).some((e) => e.event === 'file.put' && e.actor === 'alice' && e.detail?.['via'] === 'web')).toBe(true);
    expect(await readdir(join(server.dataDir, 'staging', 'partial'))).toEqual([]);
  });

  it('upload with X-Content-SHA256: a mismatch is refused and nothing is stored', async () => {
    const data = Buffer.from('checked bytes');
    expect((await put('checked.txt', data, { 'x-content-sha256': sha256(data) })).status).toBe(201);
    const bad = await put('bad.txt', data, { 'x-content-sha256': sha256(Buffer.from('other')) });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'GL_ERR_FILE_CHECKSUM_MISMATCH' } });
    await expect(stat(join(home, 'bad.txt'))).rejects.toThrow();
  });

  it('an upload replaces a file atomically, and the file is readable by the native protocol', async () => {
    await put('doc.txt', 'version 1\n');
    await put('doc.txt', 'version 2, longer\n');
    expect(await readFile(join(home, 'doc.txt'), 'utf8')).toBe('version 2, longer\n');
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    await client.login('alice', 'alice-password');
    const names = (await client.ls()).entries.map((e) => e.name);
    expect(names).toContain('doc.txt');
    await client.close();
  });

  it('an upload without Content-Length (chunked) is 411; an empty file is fine', async () => {
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: server.httpPort, method: 'PUT', path: '/api/files/content?path=chunked.bin', headers: { ...as(alice, server.httpPort), 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.write('abc');
      req.end('def');
    });
    expect(chunked).toBe(411);
    await expect(stat(join(home, 'chunked.bin'))).rejects.toThrow();
    expect((await put('empty.txt', '')).json()).toMatchObject({ size: 0 });
  });

  it('an upload cut off mid-way stores nothing and leaves no partial file', async () => {
    await new Promise<void>((resolve) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port: server.httpPort,
        method: 'PUT',
        path: '/api/files/content?path=cut.bin',
        headers: { ...as(alice, server.httpPort), 'content-type': 'application/octet-stream', 'content-length': '1000000' },
      });
      req.on('error', () => resolve());
      req.write(randomBytes(100_000), () => setTimeout(() => req.destroy(), 100));
      req.on('close', () => resolve());
    });
    await new Promise((r) => setTimeout(r, 200));
    await expect(stat(join(home, 'cut.bin'))).rejects.toThrow();
    expect(await readdir(join(server.dataDir, 'staging', 'partial'))).toEqual([]);
    // The name is free again.
    expect((await put('cut.bin', 'whole')).status).toBe(201);
  });

  it('list: name, type, size, mtime; subdirectories; a file is not a directory', async () => {
    expect((await send(server.httpPort, 'POST', '/api/files/mkdir', { ...as(alice, server.httpPort), 'content-type': 'application/json' }, '{"path":"feeders/f1","parents":true}')).status).toBe(201);
    await put('feeders/f1/v.csv', 'a,b\n');
    const root = await send(server.httpPort, 'GET', '/api/files', { cookie: alice.cookie });
    expect(root.status).toBe(200);
    const entries = root.json<{ name: string; type: string; size: number; mtime: number }[]>();
    expect(entries.find((e) => e.name === 'feeders')).toMatchObject({ type: 'dir' });
    expect(entries.find((e) => e.name === 'doc.txt')).toMatchObject({ type: 'file', size: 18 });
    expect(typeof entries[0]!.mtime).toBe('number');
    const sub = await send(server.httpPort, 'GET', '/api/files?path=feeders/f1', { cookie: alice.cookie });
    expect(sub.json()).toEqual([expect.objectContaining({ name: 'v.csv', type: 'file', size: 4 })]);
    expect((await send(server.httpPort, 'GET', '/api/files?path=doc.txt', { cookie: alice.cookie })).status).toBe(409);
    expect((await send(server.httpPort, 'GET', '/api/files?path=nothing', { cookie: alice.cookie })).status).toBe(404);
  });

  it('mkdir of an existing directory is 409; without parents a missing parent is 404', async () => {
    const mk = (body: string) => send(server.httpPort, 'POST', '/api/files/mkdir', { ...as(alice, server.httpPort), 'content-type': 'application/json' }, body);
    expect((await mk('{"path":"feeders"}')).status).toBe(409);
    expect((await mk('{"path":"x/y/z"}')).status).toBe(404);
  });

  it('download: attachment with the bytes, ETag, ranges, 416 beyond the end', async () => {
    const data = randomBytes(300_000);
    await put('dl.bin', data);
    const whole = await send(server.httpPort, 'GET', '/api/files/content?path=dl.bin', { cookie: alice.cookie });
    expect(whole.status).toBe(200);
    expect(whole.headers['content-type']).toBe('application/octet-stream');
    expect(String(whole.headers['content-disposition'])).toContain('attachment; filename="dl.bin"');
    expect(whole.body.equals(data)).toBe(true);
    const etag = String(whole.headers.etag);
    const part = await send(server.httpPort, 'GET', '/api/files/content?path=dl.bin', { cookie: alice.cookie, range: 'bytes=1000-1999' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 1000-1999/${data.length}`);
    expect(part.body.equals(data.subarray(1000, 2000))).toBe(true);
    const resumed = await send(server.httpPort, 'GET', '/api/files/content?path=dl.bin', { cookie: alice.cookie, range: 'bytes=299000-', 'if-range': etag });
    expect(resumed.body.equals(data.subarray(299_000))).toBe(true);
    const stale = await send(server.httpPort, 'GET', '/api/files/content?path=dl.bin', { cookie: alice.cookie, range: 'bytes=0-9', 'if-range': '"stale"' });
    expect(stale.status).toBe(200);
    const beyond = await send(server.httpPort, 'GET', '/api/files/content?path=dl.bin', { cookie: alice.cookie, range: 'bytes=400000-' });
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe(`bytes */${data.length}`);
    expect((await send(server.httpPort, 'GET', '/api/files/content?path=feeders', { cookie: alice.cookie })).status).toBe(409);
    expect((await send(server.httpPort, 'GET', '/api/files/content?path=none.bin', { cookie: alice.cookie })).status).toBe(404);
  });

  it('a name with spaces and non-ASCII letters round-trips', async () => {
    const name = '报告 2026.txt';
    expect((await put(name, 'unicode\n')).status).toBe(201);
    const res = await send(server.httpPort, 'GET', `/api/files/content?path=${encodeURIComponent(name)}`, { cookie: alice.cookie });
    expect(res.text).toBe('unicode\n');
    expect(String(res.headers['content-disposition'])).toContain(`filename*=UTF-8''${encodeURIComponent(name)}`);
  });

  it('delete: a file (quota given back), an empty directory; a full directory is 409', async () => {
    const del = (path: string) => send(server.httpPort, 'DELETE', `/api/files?path=${encodeURIComponent(path)}`, as(alice, server.httpPort));
    expect((await del('feeders')).status).toBe(409);
    expect((await del('feeders/f1/v.csv')).status).toBe(204);
    expect((await del('feeders/f1')).status).toBe(204);
    expect((await del('feeders')).status).toBe(204);
    expect((await del('feeders')).status).toBe(404);
    expect((await del('/')).status).toBe(403);
    expect(server.server.audit.recent(20).some((e) => e.event === 'file.rmdir' && e.detail?.['via'] === 'web')).toBe(true);
  });

  it('the quota counts web uploads: refused with 413 before any byte is stored, accepted again after a delete', async () => {
    const big = randomBytes(3 * 1024 * 1024);
    expect((await put('big1.bin', big)).status).toBe(201);
    const refused = await put('big2.bin', big);
    expect(refused.status).toBe(413);
    expect(refused.json<{ error: { message: string } }>().error.message).toMatch(/quota 4\.0 MiB/u);
    await expect(stat(join(home, 'big2.bin'))).rejects.toThrow();
    expect((await send(server.httpPort, 'DELETE', '/api/files?path=big1.bin', as(alice, server.httpPort))).status).toBe(204);
    expect((await put('big2.bin', big)).status).toBe(201);
  });

  it('two uploads of one name at once: the second is refused (409) while the first runs, which then completes whole — never interleaved', async () => {
    const a = Buffer.alloc(1024 * 1024, 0x61);
    const b = Buffer.alloc(1024 * 1024, 0x62);
    await send(server.httpPort, 'DELETE', '/api/files?path=big2.bin', as(alice, server.httpPort));
    const partial = join(server.dataDir, 'staging', 'partial');
    expect(await readdir(partial)).toEqual([]);
    // The first upload sends half of its body and waits: it holds the name.
    let first!: ClientRequest;
    const firstAnswer = new Promise<number>((resolve, reject) => {
      first = httpRequest(
        {
          host: '127.0.0.1',
          port: server.httpPort,
          method: 'PUT',
          path: '/api/files/content?path=race.bin',
          headers: { ...as(alice, server.httpPort), 'content-type': 'application/octet-stream', 'content-length': String(a.length) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      first.on('error', reject);
    });
    firstAnswer.catch(() => undefined); // awaited below; destroyed only when a check failed
    try {
      first.write(a.subarray(0, a.length / 2));
      // Its partial file exists once the upload is open and holds the name
      // (bytes reach it in 1 MiB batches, so its size says nothing yet).
      await until(async () => (await readdir(partial)).length === 1, 10_000, 'the first upload to reach the staging area');
      const second = await put('race.bin', b);
      expect(second.status).toBe(409);
      expect(second.json<{ error: { code: string } }>().error.code).toBe('GL_ERR_FILE_BUSY');
      first.end(a.subarray(a.length / 2));
      expect(await firstAnswer).toBe(201);
      expect((await readFile(join(home, 'race.bin'))).equals(a)).toBe(true);
    } finally {
      if (!first.writableEnded) first.destroy(); // a failed check must not leave the upload hanging
    }
    expect(await readdir(partial)).toEqual([]);
  });
});
