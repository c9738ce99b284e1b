import { createHash } from 'node:crypto';
import { open, readdir, readFile, stat, utimes } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createXXHash128 } from 'hash-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameConnection, GridlinkClient } from '../../src/client/index.js';
import { GridlinkError } from '../../src/errors/index.js';
import type { DigestName } from '../../src/integrity/digests.js';
import { writeRandomFile } from '../helpers/files.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const DIGESTS: DigestName[] = ['xxh128', 'sha256', 'md5'];
const MiB = 1024 * 1024;

async function digestOf(path: string, name: DigestName): Promise<string> {
  const data = await readFile(path);
  if (name === 'xxh128') {
    const hasher = await createXXHash128();
    hasher.init();
    hasher.update(data);
    return hasher.digest('hex');
  }
  return createHash(name).update(data).digest('hex');
}

async function codeOf(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise;
    return null;
  } catch (err) {
    return err instanceof GridlinkError ? err.code : String(err);
  }
}

/**
 * A loopback TCP proxy that flips one bit of the byte at stream offset
 * `flipAt` in one direction (docs/protocol.md §3.3: the digest must catch it).
 */
async function bitFlipProxy(targetPort: number, direction: 'up' | 'down', flipAt: number): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    const relay = (from: Socket, to: Socket, flip: boolean): void => {
      let seen = 0;
      from.on('data', (chunk: Buffer) => {
        if (flip && flipAt >= seen && flipAt < seen + chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[flipAt - seen]! ^= 0x10;
        }
        seen += chunk.length;
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
      from.on('close', () => to.destroy());
    };
    relay(client, upstream, direction === 'up');
    relay(upstream, client, direction === 'down');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('end-to-end digests (docs/protocol.md §3.3, "Digests")', () => {
  let server: TestServer;
  let work: { path: string; cleanup: () => Promise<void> };
  const client = (port = server.port) => GridlinkClient.connect({ host: '127.0.0.1', port });

  beforeAll(async () => {
    server = await startTestServer();
    work = await makeTempDir();
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  for (const name of DIGESTS) {
    it(`${name}: a round trip is verified with the digest asked for`, async () => {
      const local = join(work.path, `rt-${name}.bin`);
      await writeRandomFile(local, 3 * MiB + 17);
      const expected = await digestOf(local, name);
      const c = await client();
      try {
        const put = await c.put(local, `rt-${name}.bin`, { verify: name });
        expect(put.digest).toBe(name);
        expect(put.digests[name]).toBe(expected);
        const out = join(work.path, `rt-${name}.out`);
        const got = await c.get(`rt-${name}.bin`, out, { verify: name });
        expect(got.digest).toBe(name);
        expect(got.digests[name]).toBe(expected);
        expect(await digestOf(out, name)).toBe(expected);
      } finally {
        await c.close();
      }
      // The server remembered the digest beside the file.
      const sidecars = await readdir(join(server.dataDir, 'digests'));
      const info = await stat(join(server.publicDir, `rt-${name}.bin`));
      const sidecar = JSON.parse(await readFile(join(server.dataDir, 'digests', `${info.dev}-${info.ino}.json`), 'utf8')) as { digests: Record<string, string> };
      expect(sidecars.length).toBeGreaterThan(0);
      expect(sidecar.digests[name]).toBe(expected);
    });

    it(`${name}: one bit flipped on the wire is caught, upload and download`, async () => {
      const local = join(work.path, `wire-${name}.bin`);
      await writeRandomFile(local, 2 * MiB);
      // Far past the request headers: inside the body.
      const flipAt = MiB + Math.floor(Math.random() * 1000);
      const up = await bitFlipProxy(server.port, 'up', flipAt);
      try {
        const c = await client(up.port);
        try {
          expect(await codeOf(c.put(local, `wire-${name}.bin`, { verify: name }))).toBe('GL_ERR_FILE_CHECKSUM_MISMATCH');
        } finally {
          await c.close().catch(() => undefined);
        }
      } finally {
        await up.close();
      }
      await expect(stat(join(server.publicDir, `wire-${name}.bin`))).rejects.toThrow();

      const direct = await client();
      try {
        await direct.put(local, `wire-${name}.bin`, { verify: name });
      } finally {
        await direct.close();
      }
      const down = await bitFlipProxy(server.port, 'down', flipAt);
      const out = join(work.path, `wire-${name}.out`);
      try {
        const c = await client(down.port);
        try {
          expect(await codeOf(c.get(`wire-${name}.bin`, out, { verify: name }))).toBe('GL_ERR_FILE_CHECKSUM_MISMATCH');
        } finally {
          await c.close().catch(() => undefined);
        }
      } finally {
        await down.close();
      }
      await expect(stat(out)).rejects.toThrow(); // never renamed into place
    });

    it(`${name}: one byte of a stored file that rots (size and mtime kept) is caught at get`, async () => {
      const local = join(work.path, `rot-${name}.bin`);
      await writeRandomFile(local, MiB + 5);
      const c = await client();
      try {
        await c.put(local, `rot-${name}.bin`, { verify: name });
        const stored = join(server.publicDir, `rot-${name}.bin`);
        // A whole-second mtime, which utimes can set back exactly; the first
        // get hashes the file again (its mtime changed) and remembers it.
        const mtime = Math.floor(Date.now() / 1000) - 3600;
        await utimes(stored, mtime, mtime);
        await c.get(`rot-${name}.bin`, join(work.path, `rot-${name}.first`), { verify: name });
        const file = await open(stored, 'r+');
        try {
          const byte = Buffer.alloc(1);
          await file.read(byte, 0, 1, 4242);
          byte[0]! ^= 0x01;
          await file.write(byte, 0, 1, 4242);
        } finally {
          await file.close();
        }
        await utimes(stored, mtime, mtime);
        expect(await codeOf(c.get(`rot-${name}.bin`, join(work.path, `rot-${name}.out`), { verify: name }))).toBe('GL_ERR_FILE_CHECKSUM_MISMATCH');
      } finally {
        await c.close();
      }
    });
  }

  it('a sidecar goes with its file: replacing a file drops the old one, removing it drops the last', async () => {
    const sidecarOf = async (name: string): Promise<string> => {
      const info = await stat(join(server.publicDir, name));
      return join(server.dataDir, 'digests', `${info.dev}-${info.ino}.json`);
    };
    const exists = (path: string) => stat(path).then(() => true, () => false);
    /** The sidecar is written and dropped off the reply's path: wait for it, within bounds. */
    const until = async (path: string, wanted: boolean): Promise<boolean> => {
      for (let i = 0; i < 200; i += 1) {
        if ((await exists(path)) === wanted) return true;
        await new Promise((r) => setTimeout(r, 10));
      }
      return false;
    };
    const local = join(work.path, 'gone.bin');
    await writeRandomFile(local, 256 * 1024);
    const c = await client();
    try {
      await c.put(local, 'gone.bin', { verify: 'xxh128' });
      const first = await sidecarOf('gone.bin');
      expect(await until(first, true)).toBe(true);
      // Replaced by a new version: the old version's sidecar leaves, the new one's comes.
      await writeRandomFile(local, 128 * 1024);
      await c.put(local, 'gone.bin', { verify: 'xxh128' });
      const second = await sidecarOf('gone.bin');
      expect(await until(second, true)).toBe(true);
      // The staged file had its own inode while the old one still existed.
      expect(second).not.toBe(first);
      expect(await until(first, false)).toBe(true);
      const stored = JSON.parse(await readFile(second, 'utf8')) as { size: number };
      expect(stored.size).toBe(128 * 1024);
      await c.rm('gone.bin');
      expect(await until(second, false)).toBe(true);
    } finally {
      await c.close();
    }
  });

  it('a stored file changed through its mtime is hashed again, not served with a stale digest', async () => {
    const local = join(work.path, 'changed.bin');
    await writeRandomFile(local, MiB);
    const c = await client();
    try {
      await c.put(local, 'changed.bin', { verify: 'xxh128' });
      const stored = join(server.publicDir, 'changed.bin');
      const file = await open(stored, 'r+');
      try {
        await file.write(Buffer.from('changed'), 0, 7, 100);
      } finally {
        await file.close();
      }
      const future = new Date(Date.now() + 5_000);
      await utimes(stored, future, future);
      const out = join(work.path, 'changed.out');
      const got = await c.get('changed.bin', out, { verify: 'xxh128' });
      expect(got.digests.xxh128).toBe(await digestOf(stored, 'xxh128'));
    } finally {
      await c.close();
    }
  });

  it('a client from before negotiation (a raw FrameConnection with only today’s fields) gets SHA-256 exactly as before', async () => {
    const data = Buffer.alloc(300_000, 7);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
    try {
      const opened = await conn.request('put.open', { path: 'old-client.bin', length: data.length });
      expect(opened['offset']).toBe(0);
      const dataId = conn.open();
      await conn.send({ v: 1, id: dataId, cmd: 'put.data', upload: opened['upload'], size: data.length }, Readable.from([data]));
      expect((await conn.receive(dataId)).header['received']).toBe(data.length);
      const committed = await conn.request('put.commit', { upload: opened['upload'], sha256 });
      expect(committed).toMatchObject({ path: 'old-client.bin', length: data.length, sha256 });
      expect(committed['xxh128']).toBeUndefined();

      const id = conn.open();
      await conn.send({ v: 1, id, cmd: 'get', path: 'old-client.bin' });
      const head = await conn.receive(id);
      expect(head.header['digest']).toBeUndefined();
      const chunks: Buffer[] = [];
      for await (const chunk of head.body!) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).equals(data)).toBe(true);
      const end = await conn.receive(id);
      expect(end.header['cmd']).toBe('get.end');
      expect(end.header['sha256']).toBe(sha256);
      expect(end.header['xxh128']).toBeUndefined();
      conn.done(id);

      // A wrong SHA-256 is still refused.
      const again = await conn.request('put.open', { path: 'old-client-2.bin', length: 3 });
      const id2 = conn.open();
      await conn.send({ v: 1, id: id2, cmd: 'put.data', upload: again['upload'], size: 3 }, Readable.from([Buffer.from('abc')]));
      await conn.receive(id2);
      expect(await codeOf(conn.request('put.commit', { upload: again['upload'], sha256: '0'.repeat(64) }))).toBe('GL_ERR_FILE_CHECKSUM_MISMATCH');
    } finally {
      conn.destroy();
    }
  });

  it('an offer of unknown names falls back to SHA-256; a commit without the chosen digest is refused', async () => {
    const conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
    try {
      const opened = await conn.request('put.open', { path: 'future.bin', length: 3, digests: ['blake9', 'xxh128'] });
      expect(opened['digest']).toBe('xxh128');
      const id = conn.open();
      await conn.send({ v: 1, id, cmd: 'put.data', upload: opened['upload'], size: 3 }, Readable.from([Buffer.from('abc')]));
      await conn.receive(id);
      // Only a SHA-256, but xxh128 was chosen: not verified, refused.
      const sha256 = createHash('sha256').update('abc').digest('hex');
      expect(await codeOf(conn.request('put.commit', { upload: opened['upload'], sha256 }))).toBe('GL_ERR_FILE_CHECKSUM_MISMATCH');
      const unknown = await conn.request('put.open', { path: 'future2.bin', length: 3, digests: ['blake9'] });
      expect(unknown['digest']).toBe('sha256');
    } finally {
      conn.destroy();
    }
  });
});
