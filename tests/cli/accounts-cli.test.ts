import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitWords } from '../../src/cli/commands/shell.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { run } from '../helpers/python.js';
import { GRIDLINK_BIN } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

describe('CLI with accounts: --user, ls/mkdir/rm/mv, shell', () => {
  let server: TestServer;
  let work: { path: string; cleanup: () => Promise<void> };
  /** `null`: no GRIDLINK_PASSWORD at all. */
  const env = (password: string | null) => {
    const e: NodeJS.ProcessEnv = { ...process.env };
    delete e['GRIDLINK_PASSWORD'];
    if (password !== null) e['GRIDLINK_PASSWORD'] = password;
    return e;
  };
  const gridlink = (args: string[], password: string | null = 'dora-password', input?: string) =>
    run(process.execPath, [GRIDLINK_BIN, ...args, '--server', `127.0.0.1:${server.port}`], { env: env(password), input, cwd: work.path, timeoutMs: 60_000 });

  beforeAll(async () => {
    server = await startTestServer({ anonymous: { enabled: false } });
    work = await makeTempDir();
    await server.server.users.add('dora', 'dora-password', 'operator');
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('mkdir -p, put, ls (and --json), mv, get, rm with --user and GRIDLINK_PASSWORD', async () => {
    expect((await gridlink(['mkdir', '-p', 'reports/2026', '--user', 'dora'])).code).toBe(0);
    const local = join(work.path, 'r.bin');
    const sum = await writeRandomFile(local, 300_000);
    const put = await gridlink(['put', local, 'reports/2026/r.bin', '--user', 'dora', '--no-progress']);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    const ls = await gridlink(['ls', 'reports/2026', '--user', 'dora']);
    expect(ls.stdout).toMatch(/^file +293\.0 KiB +\d{4}-\d\d-\d\d \d\d:\d\d +r\.bin$/mu);
    const json = JSON.parse((await gridlink(['ls', '/reports', '--user', 'dora', '--json'])).stdout) as { entries: { name: string; type: string }[] };
    expect(json.entries).toEqual([expect.objectContaining({ name: '2026', type: 'dir' })]);
    expect((await gridlink(['mv', 'reports/2026/r.bin', 'r2.bin', '--user', 'dora'])).code).toBe(0);
    const out = join(work.path, 'back.bin');
    expect((await gridlink(['get', 'r2.bin', out, '--user', 'dora', '--no-progress'])).code).toBe(0);
    expect(await sha256File(out)).toBe(sum);
    expect((await gridlink(['rm', 'r2.bin', '--user', 'dora'])).code).toBe(0);
    const gone = await gridlink(['rm', 'r2.bin', '--user', 'dora']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('GL_ERR_FILE_NOT_FOUND');
  });

  it('a wrong password, or none without a terminal, fails with one clear line', async () => {
    const wrong = await gridlink(['ls', '--user', 'dora'], 'not-the-password');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toContain('GL_ERR_AUTH_FAILED');
    const none = await gridlink(['ls', '--user', 'dora'], null);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('GRIDLINK_PASSWORD');
    const anonymous = await gridlink(['ls'], null);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain('GL_ERR_AUTH_REQUIRED');
  });

  it('shell: a script of commands runs on one connection, the prompt shows the remote directory', async () => {
    const local = join(work.path, 'shell-in.txt');
    await writeFile(local, 'from the shell');
    const script = ['pwd', 'mkdir -p "dir with space"', 'cd "dir with space"', `put ${local} s.txt`, 'ls', 'get s.txt shell-out.txt', 'rm s.txt', 'cd ..', 'rmdir "dir with space"', 'quit', ''].join('\n');
    const out = await gridlink(['shell', '--user', 'dora'], 'dora-password', script);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('gridlink:/> ');
    expect(out.stdout).toContain('gridlink:/dir with space> ');
    expect(out.stdout).toMatch(/file +14 B .* s\.txt/u);
    expect(await readFile(join(work.path, 'shell-out.txt'), 'utf8')).toBe('from the shell');
  });

  it('shell: a failing command reports its error, the shell goes on, and the exit status says a command failed', async () => {
    const out = await gridlink(['shell', '--user', 'dora'], 'dora-password', 'cd /nowhere\nfrobnicate\npwd\n');
    expect(out.stdout).toContain('error: no such file or directory');
    expect(out.stdout).toContain('unknown command "frobnicate"');
    expect(out.stdout).toContain('gridlink:/> /\n'); // pwd still works after the errors
    expect(out.code).toBe(1);
  });

  it('splitWords keeps quoted spaces', () => {
    expect(splitWords(`put "a b.txt" 'c d'  e`)).toEqual(['put', 'a b.txt', 'c d', 'e']);
    expect(splitWords('   ')).toEqual([]);
  });
});
