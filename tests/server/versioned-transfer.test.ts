import { appendFile, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameConnection, GridlinkClient } from '../../src/client/index.js';
import { GridlinkError } from '../../src/errors/index.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const ZERO_SHA = '0'.repeat(64);

async function expectCode(promise: Promise<unknown>, code: string): Promise<GridlinkError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GridlinkError);
  expect((err as GridlinkError).code).toBe(code);
  return err as GridlinkError;
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('versioned frames: transfers with checksums and resume', () => {
  let server: TestServer;
  let work: { path: string; cleanup: () => Promise<void> };
  const connect = () => GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
  const raw = () => FrameConnection.connect({ host: '127.0.0.1', port: server.port });
  const partials = () => readdir(join(server.dataDir, 'staging', 'partial'));

  beforeAll(async () => {
    server = await startTestServer();
    work = await makeTempDir();
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('hello describes the server; replies carry the request id, pipelined', async () => {
    const conn = await raw();
    const ids = [conn.open(), conn.open(), conn.open()];
    await Promise.all([
      conn.send({ v: 1, id: ids[0], cmd: 'hello' }),
      conn.send({ v: 1, id: ids[1], cmd: 'ping' }),
      conn.send({ v: 1, id: ids[2], cmd: 'stat', path: '/' }),
    ]);
    const replies = await Promise.all(ids.map((id) => conn.receive(id)));
    expect(replies.map((r) => r.header['id'])).toEqual(ids);
    expect(replies[0]!.header).toMatchObject({ server: 'gridlink', protocol: 1, maxHeaderBytes: 65536 });
    expect(replies[2]!.header['entry']).toMatchObject({ type: 'dir' });
    conn.destroy();
  });

  it('put and get round-trip with SHA-256 and MD5 verified on both ends', async () => {
    const local = join(work.path, 'rt.bin');
    const sum = await writeRandomFile(local, 5 * 1024 * 1024 + 3);
    const client = await connect();
    const put = await client.put(local, 'rt.bin', { md5: true });
    expect(put).toMatchObject({ path: 'rt.bin', length: 5 * 1024 * 1024 + 3, sha256: sum, resumedFrom: 0 });
    expect(put.md5).toMatch(/^[0-9a-f]{32}$/u);
    const out = join(work.path, 'rt.out');
    const got = await client.get('rt.bin', out, { md5: true });
    expect(got.sha256).toBe(sum);
    expect(got.md5).toBe(put.md5);
    expect(await sha256File(out)).toBe(sum);
    expect(await readdir(work.path)).not.toContain('rt.out.gridlink-part');
    await client.close();
  });

  it('resumes an upload that was cut mid-body, from the byte where it stopped', async () => {
    const local = join(work.path, 'resume-up.bin');
    const sum = await writeRandomFile(local, 3 * 1024 * 1024);
    const data = await readFile(local);
    const cutAt = 1_234_567;

    const conn = await raw();
    const open = await conn.request('put.open', { path: 'resume-up.bin', length: data.length });
    expect(open['offset']).toBe(0);
    const id = conn.open();
    void conn.send({ v: 1, id, cmd: 'put.data', upload: open['upload'], size: data.length }, Readable.from([data.subarray(0, cutAt)])).catch(() => undefined);
    await waitFor(async () => {
      const names = await partials();
      return names.length === 1 && (await stat(join(server.dataDir, 'staging', 'partial', names[0]!))).size === cutAt;
    });
    conn.destroy();
    expect(await readdir(server.publicDir)).not.toContain('resume-up.bin');

    const client = await connect();
    // The name is free again once the server has seen the cut.
    await waitFor(() => server.server.files.locks.size === 0);
    const result = await client.put(local, 'resume-up.bin');
    expect(result.resumedFrom).toBe(cutAt);
    expect(result.sha256).toBe(sum);
    expect(await sha256File(join(server.publicDir, 'resume-up.bin'))).toBe(sum);
    expect(await partials()).toEqual([]);
    await client.close();
  });

  it('resumes a download from a partial local file, and restarts if the remote file changed', async () => {
    const remote = join(server.publicDir, 'resume-down.bin');
    const sum = await writeRandomFile(remote, 2 * 1024 * 1024 + 11);
    const info = await stat(remote);
    const local = join(work.path, 'resume-down.bin');
    const full = await readFile(remote);
    await writeFile(`${local}.gridlink-part`, full.subarray(0, 700_000));
    await writeFile(`${local}.gridlink-part.json`, JSON.stringify({ remote: 'resume-down.bin', length: info.size, mtimeMs: info.mtimeMs }));
    const client = await connect();
    const result = await client.get('resume-down.bin', local);
    expect(result.resumedFrom).toBe(700_000);
    expect(await sha256File(local)).toBe(sum);

    // A stale partial of an older version must not be glued to the new one.
    await writeFile(`${local}.gridlink-part`, Buffer.alloc(500_000, 9));
    await writeFile(`${local}.gridlink-part.json`, JSON.stringify({ remote: 'resume-down.bin', length: info.size, mtimeMs: info.mtimeMs - 5000 }));
    const again = await client.get('resume-down.bin', local);
    expect(again.resumedFrom).toBe(0);
    expect(await sha256File(local)).toBe(sum);
    await client.close();
  });

  it('a wrong checksum at commit is refused: nothing becomes visible and the partial is dropped', async () => {
    const conn = await raw();
    const open = await conn.request('put.open', { path: 'bad-sum.bin', length: 4 });
    const dataId = conn.open();
    await conn.send({ v: 1, id: dataId, cmd: 'put.data', upload: open['upload'], size: 4 }, Readable.from([Buffer.from('abcd')]));
    expect((await conn.receive(dataId)).header['received']).toBe(4);
    await expectCode(conn.request('put.commit', { upload: open['upload'], sha256: ZERO_SHA }), 'GL_ERR_FILE_CHECKSUM_MISMATCH');
    expect(await readdir(server.publicDir)).not.toContain('bad-sum.bin');
    expect(await partials()).toEqual([]);
    // The connection is still usable.
    await conn.request('ping');
    conn.destroy();
  });

  it('an upload never shows a half-written file: the old version stays until commit', async () => {
    await writeFile(join(server.publicDir, 'atomic.txt'), 'old version');
    const conn = await raw();
    const open = await conn.request('put.open', { path: 'atomic.txt', length: 10 });
    const dataId = conn.open();
    await conn.send({ v: 1, id: dataId, cmd: 'put.data', upload: open['upload'], size: 5 }, Readable.from([Buffer.from('new v')]));
    await conn.receive(dataId);
    expect(await readFile(join(server.publicDir, 'atomic.txt'), 'utf8')).toBe('old version');
    conn.destroy();
    expect(await readFile(join(server.publicDir, 'atomic.txt'), 'utf8')).toBe('old version');
  });

  it('two writers of the same name never interleave: the second is refused while the first is open', async () => {
    const first = await raw();
    const second = await raw();
    await first.request('put.open', { path: 'contended.bin', length: 100 });
    await expectCode(second.request('put.open', { path: 'contended.bin', length: 100 }), 'GL_ERR_FILE_BUSY');
    await expectCode(second.request('put.open', { path: 'contended.bin', length: 50 }), 'GL_ERR_FILE_BUSY');
    first.destroy();
    await waitFor(() => server.server.files.locks.size === 0);
    const reopened = await second.request('put.open', { path: 'contended.bin', length: 100 });
    expect(reopened['offset']).toBe(0);
    second.destroy();
  });

  it('data beyond the announced length is refused before it is stored', async () => {
    const conn = await raw();
    const open = await conn.request('put.open', { path: 'over.bin', length: 3 });
    const id = conn.open();
    await conn.send({ v: 1, id, cmd: 'put.data', upload: open['upload'], size: 10 }, Readable.from([Buffer.alloc(10)]));
    await expectCode(conn.receive(id), 'GL_ERR_FILE_OFFSET_INVALID');
    await conn.request('ping');
    conn.destroy();
  });

  it('command errors carry the id and keep the connection; protocol-version errors close it', async () => {
    const conn = await raw();
    await expectCode(conn.request('frobnicate'), 'GL_ERR_PROTO_UNKNOWN_CMD');
    await expectCode(conn.request('stat', { path: 7 }), 'GL_ERR_PROTO_BAD_FIELD');
    await expectCode(conn.request('put.commit', { upload: 99, sha256: ZERO_SHA }), 'GL_ERR_PROTO_BAD_STATE');
    await expectCode(conn.request('get', { path: 'nothing-here' }), 'GL_ERR_FILE_NOT_FOUND');
    const id = conn.open();
    await conn.send({ v: 1, id, cmd: 'ping', size: 3 }, Readable.from([Buffer.from('xyz')]));
    await expectCode(conn.receive(id), 'GL_ERR_PROTO_UNEXPECTED_BODY');
    await conn.request('ping'); // body was skipped, framing kept
    await expectCode(conn.request('ping', { v: 2 }), 'GL_ERR_PROTO_BAD_VERSION');
    conn.destroy();
  });

  it('a local file that shrinks or grows while it is sent: a clear local error, nothing committed, a rerun completes', async () => {
    for (const [name, change] of [
      ['shrinks.bin', (path: string) => truncate(path, 1_500_000)],
      ['grows.bin', (path: string) => appendFile(path, Buffer.alloc(2 * 1024 * 1024, 1))],
    ] as const) {
      const local = join(work.path, name);
      await writeRandomFile(local, 8 * 1024 * 1024);
      const client = await connect();
      let changed: Promise<void> | null = null;
      const err = await expectCode(
        client.put(local, name, { onProgress: ({ done }) => void (done > 0 && (changed ??= change(local))) }),
        'GL_ERR_CLIENT_LOCAL_FILE',
      );
      expect(err.message).toContain('changed while it was sent');
      client.destroy();
      expect(await readdir(server.publicDir)).not.toContain(name);

      // Run again on the file as it is now: it is stored whole and verified.
      await waitFor(() => server.server.files.locks.size === 0);
      const again = await connect();
      const result = await again.put(local, name);
      expect(result.sha256).toBe(await sha256File(local));
      expect(await sha256File(join(server.publicDir, name))).toBe(result.sha256);
      await again.close();
    }
  });

  it('a get of a directory or of a path outside is refused', async () => {
    const client = await connect();
    await expectCode(client.get('/', join(work.path, 'dir.out')), 'GL_ERR_FILE_IS_DIRECTORY');
    await expectCode(client.get('../../etc/passwd', join(work.path, 'pw.out')), 'GL_ERR_PATH_FORBIDDEN');
    await client.close();
  });
});

describe('resume under repeated cuts', () => {
  it('an upload cut at random points and resumed at once, 15 times, ends byte-identical', { timeout: 60_000 }, async () => {
    const server = await startTestServer();
    const work = await makeTempDir();
    try {
      const local = join(work.path, 'cuts.bin');
      const sum = await writeRandomFile(local, 8 * 1024 * 1024);
      const data = await readFile(local);
      for (let attempt = 0; attempt < 15; attempt += 1) {
        const conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
        // Reconnecting at once may find the name still held while the cut flushes.
        let open: Record<string, unknown> | null = null;
        for (let tries = 0; open === null && tries < 100; tries += 1) {
          open = await conn.request('put.open', { path: 'cuts.bin', length: data.length }).catch(async (err: { code?: string }) => {
            if (err.code !== 'GL_ERR_FILE_BUSY') throw err;
            await new Promise((r) => setTimeout(r, 10));
            return null;
          });
        }
        const offset = open!['offset'] as number;
        const cut = Math.min(data.length, offset + 1 + Math.floor(Math.random() * 600_000));
        const id = conn.open();
        void conn.send({ v: 1, id, cmd: 'put.data', upload: open!['upload'], size: data.length - offset }, Readable.from([data.subarray(offset, cut)])).catch(() => undefined);
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 20)));
        conn.destroy();
      }
      await waitFor(() => server.server.files.locks.size === 0);
      const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
      const result = await client.put(local, 'cuts.bin');
      await client.close();
      expect(result.sha256).toBe(sum);
      expect(await sha256File(join(server.publicDir, 'cuts.bin'))).toBe(sum);
    } finally {
      await server.stop();
      await work.cleanup();
    }
  });
});
