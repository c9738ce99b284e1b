import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRandomFile } from '../helpers/files.js';
import { GRIDLINK_BIN } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const MiB = 1024 * 1024;
const SIZE = 24 * MiB;
/** Bytes per second through the proxy: slow enough to kill the client mid-transfer. */
const RATE = 12 * MiB;

/**
 * How far the next connection may go: at most `bytes` relayed in `direction`,
 * then that direction stalls. A kill point is then always reached mid-transfer,
 * never after the file is complete, however late a loaded machine polls.
 */
type Limit = { direction: 'up' | 'down'; bytes: number };

/** A loopback relay that paces both directions to `RATE`, so a transfer takes seconds. */
async function slowProxy(targetPort: number): Promise<{ port: number; limitNext: (limit: Limit | null) => void; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let nextLimit: Limit | null = null;
  const server = createServer((client) => {
    const limit = nextLimit;
    nextLimit = null;
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    const relay = (from: Socket, to: Socket, budget: number): void => {
      let left = budget;
      from.on('data', (chunk: Buffer) => {
        const part = chunk.length <= left ? chunk : chunk.subarray(0, left);
        left -= part.length;
        if (part.length > 0) to.write(part);
        // Past the budget the bytes are read and dropped, not left unread: a
        // paused socket would never see its peer's end, and the server would
        // hold a half-open connection (and the name's upload lock) for its
        // idle timeout.
        if (left === 0) return;
        from.pause();
        setTimeout(() => from.resume(), Math.max(1, (chunk.length / RATE) * 1000));
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
      from.on('close', () => to.destroy());
    };
    relay(client, upstream, limit?.direction === 'up' ? limit.bytes : Infinity);
    relay(upstream, client, limit?.direction === 'down' ? limit.bytes : Infinity);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    limitNext: (limit) => (nextLimit = limit),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function runCli(args: string[]): { done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }>; kill: () => void } {
  const child = spawn(process.execPath, [GRIDLINK_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout })));
  return { done, kill: () => child.kill('SIGKILL') };
}

/** Sorted random kill points within (10 %, 80 %) of the file, so a point plus SLACK is short of the end. */
function killPoints(): number[] {
  return Array.from({ length: 5 }, () => Math.floor(SIZE * (0.1 + Math.random() * 0.7))).sort((a, b) => a - b);
}

async function sizeOf(path: () => Promise<string | null>): Promise<number> {
  const p = await path();
  if (p === null) return 0;
  return (await stat(p).catch(() => ({ size: 0 }))).size;
}

/** Headroom over a kill point: the protocol's own bytes (login, requests, frame headers) and the bytes buffered on each side before they reach the file. */
const SLACK = 2 * MiB;

/**
 * Runs the command through a proxy that stalls the transfer a little past
 * `point`, SIGKILLs it once `progress()` reaches `point` (bounded wait);
 * true if it was killed there. A run that ends by itself (an error) is not
 * a kill, so three of the five must have been.
 */
async function killAt(args: string[], point: number, progress: () => Promise<number>, stallAt: (limit: Limit) => void, direction: Limit['direction']): Promise<boolean> {
  stallAt({ direction, bytes: point - (await progress()) + SLACK });
  const cli = runCli(args);
  let finished = false;
  void cli.done.then(() => (finished = true));
  const deadline = Date.now() + 30_000;
  while (!finished && Date.now() < deadline && (await progress()) < point) await new Promise((r) => setTimeout(r, 5));
  if (finished) return false;
  cli.kill();
  const end = await cli.done;
  return end.signal === 'SIGKILL';
}

describe('resume after SIGKILL of the client (docs/protocol.md §3.3)', () => {
  let server: TestServer;
  let work: { path: string; cleanup: () => Promise<void> };
  let proxy: Awaited<ReturnType<typeof slowProxy>>;
  let local: string;
  let sum: string;

  beforeAll(async () => {
    server = await startTestServer();
    work = await makeTempDir();
    proxy = await slowProxy(server.port);
    local = join(work.path, 'big.bin');
    sum = await writeRandomFile(local, SIZE);
  });
  afterAll(async () => {
    await proxy.close();
    await server.stop();
    await work.cleanup();
  });

  const at = () => ['--server', `127.0.0.1:${proxy.port}`, '--no-progress'];
  const sha256Of = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

  it('put: killed at 5 random points, the rerun ends verified (xxh128)', async () => {
    const partialDir = join(server.dataDir, 'staging', 'partial');
    const partial = async (): Promise<string | null> => {
      const names = await readdir(partialDir).catch(() => []);
      const name = names.find((n) => n.endsWith(`-${SIZE}.part`));
      return name === undefined ? null : join(partialDir, name);
    };
    let kills = 0;
    for (const point of killPoints()) {
      if (await killAt(['put', local, 'big.bin', ...at()], point, () => sizeOf(partial), proxy.limitNext, 'up')) kills += 1;
    }
    expect(kills).toBeGreaterThanOrEqual(3);
    // The last kill left a partial file short of the whole: the rerun must resume it.
    const left = await sizeOf(partial);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(SIZE);
    proxy.limitNext(null);
    const last = await runCli(['put', local, 'big.bin', ...at()]).done;
    expect(last.code, last.stdout).toBe(0);
    expect(last.stdout).toMatch(/verified xxh128 [0-9a-f]{32}/u);
    expect(last.stdout).toMatch(/resumed at/u);
    expect(await sha256Of(join(server.publicDir, 'big.bin'))).toBe(sum);
  }, 240_000);

  it('get: killed at 5 random points, the rerun ends verified (sha256)', async () => {
    const out = join(work.path, 'big.out');
    let kills = 0;
    for (const point of killPoints()) {
      if (await killAt(['get', 'big.bin', out, '--verify', 'sha256', ...at()], point, () => sizeOf(() => Promise.resolve(`${out}.gridlink-part`)), proxy.limitNext, 'down')) kills += 1;
    }
    expect(kills).toBeGreaterThanOrEqual(3);
    const left = await sizeOf(() => Promise.resolve(`${out}.gridlink-part`));
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(SIZE);
    proxy.limitNext(null);
    const last = await runCli(['get', 'big.bin', out, '--verify', 'sha256', ...at()]).done;
    expect(last.code, last.stdout).toBe(0);
    expect(last.stdout).toContain(`verified sha256 ${sum}`);
    expect(last.stdout).toMatch(/resumed at/u);
    expect(await sha256Of(out)).toBe(sum);
  }, 240_000);
});
