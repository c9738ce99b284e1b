import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, encodeHeader } from '../../src/codec/index.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { runPython } from '../helpers/python.js';
import { rawExchange, rawHeader } from '../helpers/raw-peer.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * docs/protocol.md §2 against an independent peer: tests/peers/legacy_client.py was
 * written from the spec alone (struct "i" + JSON + 10240-byte chunks).
 */
describe('legacy frames (course protocol) with the independent Python client', () => {
  let server: TestServer;
  let work: { path: string; cleanup: () => Promise<void> };
  const py = (...args: string[]) => runPython('legacy_client.py', ['--host', '127.0.0.1', '--port', String(server.port), ...args]);

  beforeAll(async () => {
    server = await startTestServer();
    work = await makeTempDir();
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('puts a 3 MiB file in 10240-byte chunks and gets it back byte-identical', async () => {
    const local = join(work.path, 'feeder.bin');
    const sum = await writeRandomFile(local, 3 * 1024 * 1024 + 17);
    const put = await py('put', local, 'feeder.bin');
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    expect(await sha256File(join(server.publicDir, 'feeder.bin'))).toBe(sum);
    const out = join(work.path, 'feeder.out');
    const get = await py('get', 'feeder.bin', out);
    expect(get.code).toBe(0);
    expect(await sha256File(out)).toBe(sum);
  });

  it('put then get on the same connection: no reply is sent after put', async () => {
    const local = join(work.path, 'same.bin');
    const sum = await writeRandomFile(local, 200_000);
    const out = join(work.path, 'same.out');
    const result = await py('putget', local, 'same.bin', out);
    expect(result.code).toBe(0);
    expect(await sha256File(out)).toBe(sum);
  });

  it('an empty file round-trips', async () => {
    const local = join(work.path, 'empty.bin');
    await writeFile(local, '');
    expect((await py('put', local, 'empty.bin')).code).toBe(0);
    const out = join(work.path, 'empty.out');
    expect((await py('get', 'empty.bin', out)).code).toBe(0);
    expect((await readFile(out)).length).toBe(0);
  });

  it('a missing file is an error frame, then the connection closes', async () => {
    const result = await py('get', 'no-such-file.bin', join(work.path, 'x'));
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stderr.trim())).toMatchObject({ cmd: 'error', code: 'GL_ERR_FILE_NOT_FOUND' });
  });

  it('the get reply header is exactly {"name","size","cmd":"get"}', async () => {
    await writeFile(join(server.publicDir, 'reply.txt'), 'hello grid');
    const out = await rawExchange(server.port, [encodeHeader({ cmd: 'get', name: 'reply.txt' })], { waitMs: 500 });
    expect(out.frames[0]).toEqual({ name: 'reply.txt', size: 10, cmd: 'get' });
    expect(out.bodies[0]!.toString()).toBe('hello grid');
  });

  it('an unknown legacy command gets an error frame and the connection closes', async () => {
    const out = await rawExchange(server.port, [encodeHeader({ cmd: 'delete', name: 'reply.txt' })]);
    expect(out.frames).toEqual([expect.objectContaining({ cmd: 'error', code: 'GL_ERR_PROTO_UNKNOWN_CMD' })]);
    expect(out.closed).toBe(true);
  });

  it('a put with a wrong field type is refused and nothing is stored', async () => {
    const out = await rawExchange(server.port, [encodeFrame({ cmd: 'put', name: 42 }, Buffer.from('data'))]);
    expect(out.frames[0]).toMatchObject({ cmd: 'error', code: 'GL_ERR_PROTO_BAD_FIELD' });
    expect(out.closed).toBe(true);
  });

  it('a put whose body is cut short leaves nothing visible', async () => {
    const before = await readdir(server.publicDir);
    const out = await rawExchange(server.port, [rawHeader('{"cmd":"put","name":"cut.bin","size":100000}'), Buffer.alloc(5000, 1)], { endAfterWrite: true });
    expect(out.closed).toBe(true);
    expect(await readdir(server.publicDir)).toEqual(before);
    expect(await readdir(join(server.dataDir, 'staging', 'tmp'))).toEqual([]);
  });

  it('a framing error gets an error frame, then close', async () => {
    const out = await rawExchange(server.port, [rawHeader('not json at all')]);
    expect(out.frames).toEqual([expect.objectContaining({ cmd: 'error', code: 'GL_ERR_FRAME_BAD_JSON' })]);
    expect(out.closed).toBe(true);
  });

  it('with the anonymous area off, legacy frames are refused', async () => {
    const off = await startTestServer({ anonymous: { enabled: false } });
    try {
      const out = await rawExchange(off.port, [encodeHeader({ cmd: 'get', name: 'a' })]);
      expect(out.frames[0]).toMatchObject({ cmd: 'error', code: 'GL_ERR_FILE_AREA_DISABLED' });
      expect(out.closed).toBe(true);
    } finally {
      await off.stop();
    }
  });

  it('a read-only anonymous area serves gets and refuses puts', async () => {
    const ro = await startTestServer({ anonymous: { enabled: true, writable: false } });
    try {
      await writeFile(join(ro.publicDir, 'r.txt'), 'read me');
      const got = await rawExchange(ro.port, [encodeHeader({ cmd: 'get', name: 'r.txt' })], { waitMs: 500 });
      expect(got.bodies[0]!.toString()).toBe('read me');
      const put = await rawExchange(ro.port, [encodeFrame({ cmd: 'put', name: 'w.txt' }, Buffer.from('x'))]);
      expect(put.frames[0]).toMatchObject({ cmd: 'error', code: 'GL_ERR_FILE_READ_ONLY' });
      expect(await readdir(ro.publicDir)).toEqual(['r.txt']);
    } finally {
      await ro.stop();
    }
  });
});
