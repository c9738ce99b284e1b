import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameConnection } from '../../src/client/index.js';
import { GridlinkError } from '../../src/errors/index.js';
import { PathLocks, type LockHolder } from '../../src/services/files/path-locks.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { run } from '../helpers/python.js';
import { GRIDLINK_BIN } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const MiB = 1024 * 1024;

/**
 * A client whose link died without a FIN: it opened an upload, sent `sent`
 * bytes of a put.data announcing the rest of the file, and then nothing more,
 * with its connection still open as far as the server can tell.
 */
async function stalledUpload(port: number, path: string, data: Buffer, sent: number): Promise<{ reply: Promise<unknown>; trickle: (bytes: number) => void; conn: FrameConnection }> {
  const conn = await FrameConnection.connect({ host: '127.0.0.1', port });
  const open = await conn.request('put.open', { path, length: data.length });
  expect(open['offset']).toBe(0);
  const body = new PassThrough();
  const dataId = conn.open();
  void conn.send({ v: 1, id: dataId, cmd: 'put.data', upload: open['upload'], size: data.length }, body).catch(() => undefined);
  body.write(data.subarray(0, sent));
  let at = sent;
  const reply = conn.receive(dataId).then(
    (frame) => frame.header,
    (err: unknown) => err,
  );
  return {
    reply,
    trickle: (bytes) => {
      body.write(data.subarray(at, at + bytes));
      at += bytes;
    },
    conn,
  };
}

describe('a stalled upload and its rerun (files.takeOverIdleUploadMs)', () => {
  let server: TestServer;
  let work: { path: string; cleanup: () => Promise<void> };
  const partials = () => readdir(join(server.dataDir, 'staging', 'partial')).catch(() => [] as string[]);

  beforeAll(async () => {
    server = await startTestServer();
    work = await makeTempDir();
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('the CLI rerun takes over an upload whose client went silent, resumes from every byte it stored, and the file is whole', { timeout: 60_000 }, async () => {
    const local = join(work.path, 'cut.bin');
    const sum = await writeRandomFile(local, 16 * MiB);
    const data = await readFile(local);
    const stalled = await stalledUpload(server.port, 'cut.bin', data, 5 * MiB);
    // Every byte it sent is stored before the rerun starts.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const names = await partials();
      const sizes = await Promise.all(names.map(async (n) => stat(join(server.dataDir, 'staging', 'partial', n)).then((s) => s.size)));
      if (sizes.some((s) => s >= 5 * MiB)) break;
      if (Date.now() > deadline) throw new Error(`the stalled upload's 5 MiB never reached the partial file: ${sizes.join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const started = Date.now();
    const rerun = await run(process.execPath, [GRIDLINK_BIN, 'put', local, 'cut.bin', '--server', `127.0.0.1:${server.port}`, '--no-progress'], { timeoutMs: 30_000 });
    expect(rerun.stderr).toBe('');
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toMatch(/resumed at 5\.0 MiB/u);
    expect(rerun.stdout).toMatch(/verified xxh128 [0-9a-f]{32}/u);
    // Well before the server's idle timeout (5 minutes) would have freed the name.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await sha256File(join(server.publicDir, 'cut.bin'))).toBe(sum);
    expect(await partials()).toEqual([]);
    // The stalled session is told why its upload ended.
    const reply = await stalled.reply;
    expect(reply).toBeInstanceOf(GridlinkError);
    expect((reply as GridlinkError).code).toBe('GL_ERR_FILE_SUPERSEDED');
    stalled.conn.destroy();
  });

  it('eight reruns racing for one stalled upload: exactly one takes it over, the rest are GL_ERR_FILE_BUSY, and the file ends whole', { timeout: 60_000 }, async () => {
    const data = Buffer.alloc(6 * MiB);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
    const stalled = await stalledUpload(server.port, 'raced.bin', data, 2 * MiB);
    await new Promise((r) => setTimeout(r, 2_300)); // silent past files.takeOverIdleUploadMs
    const racers = await Promise.all(Array.from({ length: 8 }, () => FrameConnection.connect({ host: '127.0.0.1', port: server.port })));
    const opens = await Promise.all(
      racers.map((conn) =>
        conn.request('put.open', { path: 'raced.bin', length: data.length }).then(
          (reply) => ({ conn, reply }),
          (err: unknown) => ({ conn, err }),
        ),
      ),
    );
    const winners = opens.filter((o): o is { conn: FrameConnection; reply: Record<string, unknown> } => 'reply' in o);
    const losers = opens.filter((o): o is { conn: FrameConnection; err: unknown } => 'err' in o);
    expect(winners).toHaveLength(1);
    for (const loser of losers) expect((loser.err as GridlinkError).code).toBe('GL_ERR_FILE_BUSY');
    // The winner resumes where the stalled one's bytes end, and finishes the file.
    const { conn, reply } = winners[0]!;
    expect(reply['offset']).toBe(2 * MiB);
    const dataId = conn.open();
    await conn.send({ v: 1, id: dataId, cmd: 'put.data', upload: reply['upload'], size: data.length - 2 * MiB }, PassThrough.from([data.subarray(2 * MiB)]));
    await conn.receive(dataId);
    await conn.request('put.commit', { upload: reply['upload'], sha256: createHash('sha256').update(data).digest('hex') });
    expect((await readFile(join(server.publicDir, 'raced.bin'))).equals(data)).toBe(true);
    expect(((await stalled.reply) as GridlinkError).code).toBe('GL_ERR_FILE_SUPERSEDED');
    for (const racer of racers) racer.destroy();
    stalled.conn.destroy();
  });

  it('an upload that keeps receiving is not taken over: the same client gets GL_ERR_FILE_BUSY after the idle time', { timeout: 30_000 }, async () => {
    const data = Buffer.alloc(8 * MiB, 7);
    const live = await stalledUpload(server.port, 'live.bin', data, 64 * 1024);
    const timer = setInterval(() => live.trickle(4096), 200);
    try {
      await new Promise((r) => setTimeout(r, 3_000)); // past files.takeOverIdleUploadMs (2 s)
      const second = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
      const refused = await second.request('put.open', { path: 'live.bin', length: data.length }).then(
        () => null,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(GridlinkError);
      expect((refused as GridlinkError).code).toBe('GL_ERR_FILE_BUSY');
      second.destroy();
    } finally {
      clearInterval(timer);
      live.conn.destroy();
    }
  });

  it('a stalled upload is taken over only by its own owner, only after the idle time, and never twice at once', async () => {
    const locks = new PathLocks();
    let idle = 0;
    let superseded = 0;
    let releaseHeld: (() => void) | null = null;
    const holder = (owner: string): LockHolder => ({
      owner,
      idleMs: () => idle,
      supersede: () => {
        superseded += 1;
        releaseHeld?.();
        return Promise.resolve();
      },
    });
    const first = locks.tryAcquire('k', holder('user:ann'));
    if (first === null) throw new Error('a free name was not acquired');
    releaseHeld = first;
    // Another account, however idle the holder: refused, nothing ended.
    idle = 60_000;
    expect(await locks.acquireOrSupersede('k', holder('user:bob'), 2_000)).toBeNull();
    expect(superseded).toBe(0);
    // The same account, holder still active: refused.
    idle = 1_999;
    expect(await locks.acquireOrSupersede('k', holder('user:ann'), 2_000)).toBeNull();
    expect(superseded).toBe(0);
    // The same account, holder idle long enough: it is ended and the name is the newcomer's.
    idle = 2_000;
    const mine = await locks.acquireOrSupersede('k', holder('user:ann'), 2_000);
    expect(mine).not.toBeNull();
    expect(superseded).toBe(1);
    // The old holder's late release does not free the newcomer's claim.
    first();
    expect(locks.tryAcquire('k')).toBeNull();
    // A holder that cannot be taken over (committing) keeps the name.
    mine?.();
    const committing = locks.tryAcquire('c', { owner: 'user:ann', idleMs: () => 60_000, supersede: () => Promise.resolve() });
    expect(committing).not.toBeNull();
    expect(await locks.acquireOrSupersede('c', holder('user:ann'), 2_000)).toBeNull();
  });
});
