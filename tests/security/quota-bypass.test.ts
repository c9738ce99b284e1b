import { createHash } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameConnection } from '../../src/client/index.js';
import { codeOf } from '../helpers/code-of.js';
import { rawLogin } from '../helpers/raw-login.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const MiB = 1024 * 1024;

/** Bytes of the regular files below `dir`, as the disk has them. */
async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await diskBytes(path);
    else if (entry.isFile()) total += (await lstat(path)).size;
  }
  return total;
}

/** One whole versioned upload on a raw connection: open, one data frame, commit. */
async function rawPut(conn: FrameConnection, path: string, bytes: Buffer, between?: () => Promise<unknown>): Promise<void> {
  const open = await conn.request('put.open', { path, length: bytes.length });
  await between?.();
  const id = conn.open();
  try {
    await conn.send({ v: 1, id, cmd: 'put.data', upload: open['upload'], size: bytes.length }, Readable.from([bytes]));
    await conn.receive(id);
  } finally {
    conn.done(id);
  }
  await conn.request('put.commit', { upload: open['upload'], sha256: createHash('sha256').update(bytes).digest('hex') });
}

describe('quota: usage equals the disk after any interleaving of put, mv and rm (hardening finding 1)', () => {
  let server: TestServer;
  const home = (user: string): string => join(server.dataDir, 'home', user);
  const usage = async (user: string): Promise<number> => (await server.server.files.quotas.usage(`home:${user}`, home(user))).bytes;

  beforeAll(async () => {
    server = await startTestServer({ anonymous: { enabled: false } });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('replacing a file that is moved away meanwhile is charged in full: the quota holds and usage stays exact', async () => {
    await server.server.users.add('mallory', 'mallory-password', 'viewer', 10 * MiB);
    const conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
    try {
      await rawLogin(conn, 'mallory', 'mallory-password');
      const payload = Buffer.alloc(4 * MiB, 0x5a);
      await rawPut(conn, 'X', payload);
      // The reported attack: open a same-size replacement of X (claims 0 bytes),
      // move X away, then send and commit the replacement. Repeated, it grew the
      // home without bound while usage said 0.
      const outcomes: string[] = [];
      for (let n = 0; n < 6; n += 1) {
        outcomes.push(await codeOf(rawPut(conn, 'X', payload, () => conn.request('mv', { from: 'X', to: `copy${n}` }))));
      }
      expect(outcomes).toContain('GL_ERR_FILE_QUOTA');
      expect(await diskBytes(home('mallory'))).toBeLessThanOrEqual(10 * MiB);
      expect(await usage('mallory')).toBe(await diskBytes(home('mallory')));
    } finally {
      conn.destroy();
    }
  });

  it('racing put, mv and rm on three names from four connections: usage equals the disk, never over quota', async () => {
    await server.server.users.add('racer', 'racer-password', 'viewer', 6 * MiB);
    const conns = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
        await rawLogin(conn, 'racer', 'racer-password');
        return conn;
      }),
    );
    try {
      const names = ['a', 'b', 'c'];
      // A fixed pseudo-random sequence: the same interleavings every run.
      let seed = 12345;
      const next = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      const refusals = new Set(['resolved', 'GL_ERR_FILE_QUOTA', 'GL_ERR_FILE_BUSY', 'GL_ERR_FILE_NOT_FOUND', 'GL_ERR_FILE_EXISTS']);
      const work = conns.map(async (conn) => {
        for (let i = 0; i < 40; i += 1) {
          const name = names[next(3)]!;
          const other = names[next(3)]!;
          const op = next(4);
          const code =
            op <= 1
              ? await codeOf(rawPut(conn, name, Buffer.alloc((1 + next(3)) * MiB, i), () => (next(2) === 0 ? conn.request('rm', { path: name }).catch(() => undefined) : Promise.resolve())))
              : op === 2
                ? await codeOf(conn.request('mv', { from: name, to: other }))
                : await codeOf(conn.request('rm', { path: name }));
          expect(refusals, code).toContain(code);
        }
      });
      await Promise.all(work);
      const disk = await diskBytes(home('racer'));
      expect(disk).toBeLessThanOrEqual(6 * MiB);
      expect(await usage('racer')).toBe(disk);
    } finally {
      for (const conn of conns) conn.destroy();
    }
  });
});
