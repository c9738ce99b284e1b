import { spawn } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { PEERS_DIR, run } from '../helpers/python.js';
import { GRIDLINK_BIN } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { terminalArgs } from '../helpers/terminal.js';

const gridlink = (args: string[], cwd?: string) => run(process.execPath, [GRIDLINK_BIN, ...args], { timeoutMs: 60_000, cwd });

describe('gridlink put/get (CLI)', () => {
  let server: TestServer;
  let work: { path: string; cleanup: () => Promise<void> };
  let at: string[];

  beforeAll(async () => {
    server = await startTestServer();
    work = await makeTempDir();
    at = ['--server', `127.0.0.1:${server.port}`];
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('uploads and downloads with plain progress lines when stdout is not a terminal', async () => {
    const local = join(work.path, 'cli.bin');
    const sum = await writeRandomFile(local, 3 * 1024 * 1024);
    const put = await gridlink(['put', local, 'remote/../cli-remote.bin', ...at]);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    expect(put.stdout).toMatch(/^put cli\.bin: .*\(\d+%\) .*MiB\/s ETA/mu);
    // Once every byte is there: how long it took, not "ETA 0s".
    expect(put.stdout).toMatch(/^put cli\.bin: 3\.0 MiB \/ 3\.0 MiB \(100%\) [\d.]+ MiB\/s in \d+(\.\d)?s \[xxh128\]$/mu);
    expect(put.stdout).not.toMatch(/\(100%\).*ETA/u);
    // XXH3-128 by default, named with its digest (docs/protocol.md §3.3).
    expect(put.stdout).toMatch(/verified xxh128 [0-9a-f]{32}/u);
    const again = await gridlink(['put', local, 'cli-remote-sha.bin', '--verify', 'sha256', '--no-progress', ...at]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`sha256 ${sum}`);
    const out = join(work.path, 'cli.out');
    const get = await gridlink(['get', 'cli-remote.bin', out, '--no-progress', ...at]);
    expect(get.code).toBe(0);
    expect(get.stdout.trim().split('\n')).toHaveLength(1);
    expect(await sha256File(out)).toBe(sum);
  });

  it('on a terminal the bar ends with how long the transfer took, not a bare ETA number', { timeout: 60_000 }, async () => {
    const local = join(work.path, 'tty.bin');
    await writeRandomFile(local, 2 * 1024 * 1024);
    const result = await run('script', terminalArgs([process.execPath, GRIDLINK_BIN, 'put', local, 'tty-remote.bin', '--server', `127.0.0.1:${server.port}`]), { timeoutMs: 30_000, env: { ...process.env, TERM: 'xterm', COLUMNS: '200' } });
    expect(result.code, result.stdout).toBe(0);
    // The bar redraws in place; its last state is the text after the last carriage return.
    const frames = result.stdout
      .replaceAll('\u001b[1G', '\r') // cursor to column 1: the next frame
      .replaceAll('\u001b[0K', '')
      .split('\r')
      .map((f) => f.trim())
      .filter((f) => f.includes('put tty.bin ['));
    const last = frames.at(-1) ?? '';
    expect(last, JSON.stringify(result.stdout.slice(-600))).toMatch(/^put tty\.bin \[=+\] 100% \| 2\.0 MiB \/ 2\.0 MiB \| [\d.]+ MiB\/s \| in \d+(\.\d)?s \| xxh128/u);
    expect(result.stdout).not.toMatch(/ETA \d+(?!\d*[smh])/u);
  });

  it('get into a directory keeps the remote name; --md5 adds an MD5 check', async () => {
    const dir = join(work.path, 'into');
    await mkdir(dir);
    await writeFile(join(server.publicDir, 'named.txt'), 'breaker 3 open');
    const get = await gridlink(['get', 'named.txt', dir, '--md5', '--no-progress', ...at]);
    expect(get.code).toBe(0);
    expect(get.stdout).toMatch(/md5 [0-9a-f]{32}/u);
    expect(await readFile(join(dir, 'named.txt'), 'utf8')).toBe('breaker 3 open');
  });

  it('failures exit non-zero with one line saying what to do', async () => {
    const missing = await gridlink(['get', 'missing.bin', join(work.path, 'm'), ...at]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('GL_ERR_FILE_NOT_FOUND');
    await expect(stat(join(work.path, 'm'))).rejects.toThrow();

    const refused = await gridlink(['put', join(work.path, 'cli.bin'), '--server', '127.0.0.1:1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/GL_ERR_CLIENT_CONNECT.*gridlink serve/u);

    const noLocal = await gridlink(['put', join(work.path, 'nope.bin'), ...at]);
    expect(noLocal.code).toBe(1);
    expect(noLocal.stderr).toContain('GL_ERR_CLIENT_LOCAL_FILE');

    const badServer = await gridlink(['get', 'x', '--server', 'host:99999']);
    expect(badServer.code).toBe(2);
    expect(badServer.stderr).toContain('port must be 1..65535');

    const unknown = await gridlink(['frobnicate']);
    expect(unknown.code).toBe(2);
  });

  it('--help works for every command', async () => {
    for (const args of [['--help'], ['serve', '--help'], ['put', '--help'], ['get', '--help']]) {
      const out = await gridlink(args);
      expect(out.code, args.join(' ')).toBe(0);
      expect(out.stdout).toContain('Usage: gridlink');
    }
  });
});

describe('gridlink put/get --legacy against an independent course-style server', () => {
  let work: { path: string; cleanup: () => Promise<void> };
  let peer: ReturnType<typeof spawn>;
  let port: number;

  beforeAll(async () => {
    work = await makeTempDir();
    await mkdir(join(work.path, 'root'));
    peer = spawn('python3', [join(PEERS_DIR, 'legacy_server.py'), '--host', '127.0.0.1', '--port', '0', '--root', join(work.path, 'root')], { stdio: ['ignore', 'pipe', 'inherit'] });
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('python legacy server did not start')), 10_000);
      createInterface({ input: peer.stdout! }).on('line', (line) => {
        const m = /^LISTENING (\d+)$/u.exec(line);
        if (m !== null) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
  });
  afterAll(async () => {
    peer.kill('SIGTERM');
    await new Promise((r) => peer.once('exit', r));
    await work.cleanup();
  });

  it('puts and gets byte-identically', async () => {
    const local = join(work.path, 'legacy.bin');
    const sum = await writeRandomFile(local, 2 * 1024 * 1024 + 5);
    const put = await gridlink(['put', local, 'legacy.bin', '--legacy', '--server', `127.0.0.1:${port}`]);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    expect(await sha256File(join(work.path, 'root', 'legacy.bin'))).toBe(sum);
    const out = join(work.path, 'legacy.out');
    const get = await gridlink(['get', 'legacy.bin', out, '--legacy', '--server', `127.0.0.1:${port}`]);
    expect(get.code).toBe(0);
    expect(await sha256File(out)).toBe(sum);
  });

  it("reports the course server's error frame and leaves no partial file", async () => {
    const out = join(work.path, 'absent.out');
    const get = await gridlink(['get', 'absent.bin', out, '--legacy', '--server', `127.0.0.1:${port}`]);
    expect(get.code).toBe(1);
    expect(get.stderr).toContain('GL_ERR_FILE_NOT_FOUND');
    await expect(stat(out)).rejects.toThrow();
    await expect(stat(`${out}.gridlink-part`)).rejects.toThrow();
    const put = await gridlink(['put', join(work.path, 'legacy.bin'), '../escape.bin', '--legacy', '--server', `127.0.0.1:${port}`]);
    expect(put.code).toBe(1);
    expect(put.stderr).toContain('GL_ERR_PATH_FORBIDDEN');
  });
});

describe('gridlink serve', () => {
  it('runs on the embedded defaults in an empty directory and stops cleanly on SIGTERM', async () => {
    const work = await makeTempDir();
    // A failed assertion must not leave a server running: port 0, so nothing else collides.
    const child = spawn(process.execPath, [GRIDLINK_BIN, 'serve', '--port', '0'], { cwd: work.path, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let stderr = '';
      const stdoutLines: string[] = [];
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no server.started line')), 15_000);
        createInterface({ input: child.stdout }).on('line', (line) => {
          stdoutLines.push(line);
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry['event'] === 'server.started') {
            clearTimeout(timer);
            resolve(entry);
          }
        });
      });
      expect(String(started['native'])).toMatch(/^127\.0\.0\.1:\d+$/u);
      // The first start shows the new admin password once, on the terminal, never in the log.
      const password = (await readFile(join(work.path, 'gridlink-data', 'initial-admin-password'), 'utf8')).trim();
      await new Promise((r) => setTimeout(r, 200));
      expect(stderr).toContain(`created user "admin" with password ${password}`);
      expect(stdoutLines.join('\n')).not.toContain(password);
      expect(started['anonymous']).toMatchObject({ writable: true });
      expect((await stat(join(work.path, 'gridlink-data', 'public'))).isDirectory()).toBe(true);
      const exit = new Promise<number | null>((r) => child.once('exit', r));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await work.cleanup();
    }
  });

  it('a config file with a bad key is refused with a message naming the key', async () => {
    const work = await makeTempDir();
    try {
      const cases: [unknown, RegExp][] = [
        [{ native: { port: 'eighty' } }, /native\.port/u],
        [{ native: { prot: 1 } }, /unknown key native\.prot/u],
        [{ anonymous: { enabled: 'yes' } }, /anonymous\.enabled/u],
        [[1, 2], /top level must be a JSON object/u],
      ];
      for (const [config, message] of cases) {
        const file = join(work.path, 'bad.json');
        await writeFile(file, JSON.stringify(config));
        const out = await gridlink(['serve', '--config', file], work.path);
        expect(out.code).toBe(1);
        expect(out.stderr).toMatch(message);
        expect(out.stderr).toContain('GL_ERR_CONFIG_INVALID');
      }
      await writeFile(join(work.path, 'broken.json'), '{"native": ');
      const broken = await gridlink(['serve', '--config', join(work.path, 'broken.json')], work.path);
      expect(broken.code).toBe(1);
      expect(broken.stderr).toContain('GL_ERR_CONFIG_READ');
    } finally {
      await work.cleanup();
    }
  });
});
