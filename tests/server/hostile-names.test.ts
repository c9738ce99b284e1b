import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, encodeHeader } from '../../src/codec/index.js';
import { FrameConnection } from '../../src/client/index.js';
import { hostilePaths } from '../helpers/hostile-paths.js';
import { rawExchange } from '../helpers/raw-peer.js';
import { snapshot } from '../helpers/snapshot.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const SECRET = 'grid secret: do not leak';
const INTRUDER_SHA = createHash('sha256').update('intruder').digest('hex');

/**
 * True when `path`, read as the versioned protocol reads it ("/" between names,
 * a leading "/" for the area root), has a ".." above the root.
 */
function climbsAboveRoot(path: string): boolean {
  let depth = 0;
  for (const name of path.split('/')) {
    if (name === '' || name === '.') continue;
    if (name !== '..') depth += 1;
    else if (depth === 0) return true;
    else depth -= 1;
  }
  return false;
}

describe('hostile names in the anonymous area', () => {
  let server: TestServer;
  let outside: { path: string; cleanup: () => Promise<void> };
  let before: Record<string, string>;
  const corpus = hostilePaths();
  const climbers = corpus.filter(climbsAboveRoot);

  beforeAll(async () => {
    server = await startTestServer();
    outside = await makeTempDir('gridlink-outside-');
    await writeFile(join(outside.path, 'secret.txt'), SECRET);
    await mkdir(join(outside.path, 'etc'));
    await writeFile(join(outside.path, 'etc', 'passwd'), SECRET);
    await plantLinks();
    before = await snapshot(outside.path);
  });

  /** (Re)creates the links to outside; a put of the bare name may have replaced one with a file, inside. */
  async function plantLinks(): Promise<void> {
    for (const [name, target] of [
      ['link-dir', outside.path],
      ['link-file', join(outside.path, 'secret.txt')],
    ] as const) {
      await rm(join(server.publicDir, name), { recursive: true, force: true });
      await symlink(target, join(server.publicDir, name));
    }
  }
  afterAll(async () => {
    await server.stop();
    await outside.cleanup();
  });

  it(`a name that climbs above the area root is refused, never clamped into the area (${climbers.length} of the ${corpus.length} names)`, async () => {
    // Clamping ("../secret.txt" read as "secret.txt") would keep every byte
    // inside, so the tests below would not notice it; the refusal is what
    // tells a client its path was wrong (src/services/files/path-rules.ts).
    expect(climbers.length).toBeGreaterThan(50);
    const conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
    try {
      for (const path of climbers) {
        const code = await conn.request('stat', { path }).then(
          () => 'answered',
          (err: { code: string }) => err.code,
        );
        expect(code, JSON.stringify(path)).toMatch(/^GL_ERR_PATH_(FORBIDDEN|INVALID)$/u);
      }
    } finally {
      conn.destroy();
    }
  });

  it('legacy get: every hostile name is refused with a clear error and leaks nothing', async () => {
    await plantLinks();
    for (const name of corpus) {
      const out = await rawExchange(server.port, [encodeHeader({ cmd: 'get', name })], { waitMs: 2_000 });
      expect(out.bodies.map((b) => b.toString()).join(''), name).not.toContain('secret');
      expect(out.frames[0], JSON.stringify(name)).toMatchObject({ cmd: 'error' });
      expect(String(out.frames[0]!['code'])).toMatch(/^GL_ERR_(PATH_FORBIDDEN|PATH_INVALID|FILE_NOT_FOUND|FILE_NOT_DIRECTORY|FILE_IS_DIRECTORY|PROTO_BAD_FIELD)$/u);
      expect(out.closed).toBe(true);
    }
  });

  it('legacy put: nothing is written outside the area', async () => {
    await plantLinks();
    for (const name of corpus) {
      const out = await rawExchange(server.port, [encodeFrame({ cmd: 'put', name }, Buffer.from('intruder'))], { waitMs: 2_000, endAfterWrite: true });
      expect(out.closed).toBe(true);
    }
    expect(await snapshot(outside.path)).toEqual(before);
  });

  it('versioned get/put/stat: refused or kept inside, never outside', async () => {
    await plantLinks();
    const conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
    for (const path of corpus) {
      for (const cmd of ['get', 'stat']) {
        const id = conn.open();
        await conn.send({ v: 1, id, cmd, path });
        const reply = await conn.receive(id).then(
          (frame) => frame,
          (err: { code: string }) => err,
        );
        if ('code' in reply) {
          expect(reply.code, `${cmd} ${JSON.stringify(path)}`).toMatch(/^GL_ERR_(PATH_|FILE_NOT_FOUND|FILE_NOT_DIRECTORY|FILE_IS_DIRECTORY|PROTO_BAD_FIELD)/u);
        } else if (cmd === 'get') {
          // A success may only read a file inside the area: the ones this test put there.
          const chunks: Buffer[] = [];
          for await (const chunk of reply.body!) chunks.push(chunk as Buffer);
          expect(Buffer.concat(chunks).toString(), JSON.stringify(path)).toBe('intruder');
          expect((await conn.receive(id)).header.cmd).toBe('get.end');
        } else {
          expect(reply.header['entry'], JSON.stringify(path)).not.toMatchObject({ length: SECRET.length, type: 'file' });
        }
        conn.done(id);
      }
      const open = await conn.request('put.open', { path, length: 8 }).catch((err: { code: string }) => err);
      if (!('code' in open)) {
        const id = conn.open();
        await conn.send({ v: 1, id, cmd: 'put.data', upload: open['upload'], size: 8 }, Readable.from([Buffer.from('intruder')]));
        await conn.receive(id);
        await conn.request('put.commit', { upload: open['upload'], sha256: INTRUDER_SHA }).catch(() => undefined);
        conn.done(id);
      }
    }
    conn.destroy();
    expect(await snapshot(outside.path)).toEqual(before);
  });

  it('a directory swapped for a link to outside during an upload: the commit is refused', async () => {
    const dir = join(server.publicDir, 'swap');
    await mkdir(dir);
    const conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
    const open = await conn.request('put.open', { path: 'swap/payload.bin', length: 8 });
    const id = conn.open();
    await conn.send({ v: 1, id, cmd: 'put.data', upload: open['upload'], size: 8 }, Readable.from([Buffer.from('intruder')]));
    await conn.receive(id);
    // The attacker (with shell access on the server) swaps the directory.
    await rename(dir, join(server.publicDir, 'swap-old'));
    await symlink(outside.path, dir);
    const err = await conn.request('put.commit', { upload: open['upload'], sha256: INTRUDER_SHA }).catch((e: { code: string }) => e);
    expect(err).toMatchObject({ code: 'GL_ERR_PATH_FORBIDDEN' });
    expect(await snapshot(outside.path)).toEqual(before);
    await expect(stat(join(outside.path, 'payload.bin'))).rejects.toThrow();
    conn.destroy();
  });
});
