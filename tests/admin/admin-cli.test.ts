import { GRIDLINK_BIN } from '../helpers/server-process.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/accounts/credentials.js';
import { run, type RunResult } from '../helpers/python.js';
import { startAdminFixture, type AdminFixture } from './fixture.js';
import { terminalArgs } from '../helpers/terminal.js';

const ENTRY = GRIDLINK_BIN;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PASSWORD = 'cli-secret-Password-1';

/** Runs `gridlink admin …` as a real process; GRIDLINK_PASSWORD is set only when given. */
function gridlink(args: readonly string[], password?: string): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['GRIDLINK_PASSWORD'];
  if (password !== undefined) env['GRIDLINK_PASSWORD'] = password;
  return run(process.execPath, [ENTRY, ...args], { env, cwd: ROOT, timeoutMs: 30_000 });
}

describe('gridlink admin (CLI, README.md "Quick tour")', () => {
  let f: AdminFixture;
  let data: string[];

  beforeAll(async () => {
    f = await startAdminFixture();
    data = ['--data', f.dir];
  });
  afterAll(async () => {
    await f.stop();
  });

  it('status prints readable lines, or JSON with --json', async () => {
    const human = await gridlink(['admin', ...data, 'status']);
    expect(human.stderr).toBe('');
    expect(human.code).toBe(0);
    expect(human.stdout).toBe('uptime: 1h 2m 3s\nconnections: 2\nserver: test\n');
    const json = await gridlink(['admin', ...data, 'status', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ uptimeMs: 3_723_000, connections: 2, server: 'test' });
  });

  it('status shows each section on its own indented lines and a list of records one a line', async () => {
    const nested = await startAdminFixture({
      status: () => ({
        chatRooms: {},
        bus: { published: 5, dropped: 0 },
        iec104: null,
        eventLoop: { windowSeconds: 60, p50Ms: 0.42, p99Ms: 12.3, maxMs: 830 },
        cluster: { node: 'b', nats: { state: 'connected', failed: 0 }, nodes: [{ node: 'a', self: false }, { node: 'b', self: true }], owners: {} },
        config: { file: '/etc/gridlink.json', lastReloadAt: Date.UTC(2026, 11, 5, 6, 30), restartPending: ['native.port', 'http.port'] },
      }),
    });
    try {
      const human = await gridlink(['admin', '--data', nested.dir, 'status']);
      expect(human.code).toBe(0);
      expect(human.stdout).toBe(
        [
          'chatRooms: -',
          'bus:',
          '  published: 5',
          '  dropped: 0',
          'iec104: -',
          'eventLoop:',
          '  windowSeconds: 60',
          '  p50: 0.4 ms',
          '  p99: 12 ms',
          '  max: 830 ms',
          'cluster:',
          '  node: b',
          '  nats:',
          '    state: connected',
          '    failed: 0',
          '  nodes:',
          '    - node=a self=false',
          '    - node=b self=true',
          '  owners: -',
          'config:',
          '  file: /etc/gridlink.json',
          '  lastReloadAt: 2026-12-05T06:30:00.000Z',
          '  restartPending: native.port, http.port',
          '',
        ].join('\n'),
      );
    } finally {
      await nested.stop();
    }
  });

  it('user add, list, passwd, quota, role and del', async () => {
    const add = await gridlink(['admin', ...data, 'user', 'add', 'erin', '--role', 'operator', '--quota', '500M'], PASSWORD);
    expect(add.stderr).toBe('');
    expect(add.stdout).toBe('added user erin (operator, quota 500.0 MiB)\n');
    expect(await verifyPassword(PASSWORD, f.users.get('erin')!.credential)).toBe(true);
    // --data may also follow the subcommand.
    expect((await gridlink(['admin', 'user', 'add', 'frank', ...data], PASSWORD)).code).toBe(0);

    const table = await gridlink(['admin', ...data, 'user', 'list']);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME +ROLE +QUOTA +CREATED$/u);
    expect(lines[1]).toMatch(/^erin +operator +500\.0 MiB +\d{4}-\d\d-\d\d \d\d:\d\d$/u);
    expect(lines[2]).toMatch(/^frank +viewer +1\.0 GiB /u);
    const json = JSON.parse((await gridlink(['admin', ...data, 'user', 'list', '--json'])).stdout) as { name: string; quotaBytes: number }[];
    expect(json.map((u) => [u.name, u.quotaBytes])).toEqual([
      ['erin', 500 * 1024 ** 2],
      ['frank', 1024 ** 3],
    ]);

    const passwd = await gridlink(['admin', ...data, 'user', 'passwd', 'erin'], 'another-Password-2');
    expect(passwd.stdout).toBe('password of erin changed\n');
    expect(await verifyPassword('another-Password-2', f.users.get('erin')!.credential)).toBe(true);

    expect((await gridlink(['admin', ...data, 'user', 'quota', 'erin', '1.5GiB'])).stdout).toBe('quota of erin set to 1.5 GiB\n');
    expect(f.users.get('erin')?.quotaBytes).toBe(1.5 * 1024 ** 3);
    expect((await gridlink(['admin', ...data, 'user', 'role', 'erin', 'admin'])).stdout).toBe('role of erin set to admin\n');
    expect(f.users.get('erin')?.role).toBe('admin');
    expect((await gridlink(['admin', ...data, 'user', 'del', 'frank'])).stdout).toBe('deleted user frank\n');
    expect(f.users.get('frank')).toBeUndefined();
  });

  it('failures exit 1 with one line naming the code; usage errors exit 2', async () => {
    const oneLine = (r: RunResult, code: string): void => {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(code);
    };
    oneLine(await gridlink(['admin', ...data, 'user', 'add', 'erin'], PASSWORD), 'GL_ERR_ADMIN_USER_EXISTS');
    oneLine(await gridlink(['admin', ...data, 'user', 'del', 'nobody']), 'GL_ERR_ADMIN_NO_USER');
    oneLine(await gridlink(['admin', ...data, 'user', 'add', '../x'], PASSWORD), 'GL_ERR_ADMIN_BAD_NAME');
    oneLine(await gridlink(['admin', ...data, 'user', 'add', 'gina'], 'short'), 'GL_ERR_ADMIN_WEAK_PASSWORD');
    oneLine(await gridlink(['admin', ...data, 'user', 'add', 'gina'], ''), 'GL_ERR_ADMIN_NO_PASSWORD');
    // No GRIDLINK_PASSWORD and stdin is a pipe: refuse rather than wait for a prompt nobody sees.
    oneLine(await gridlink(['admin', ...data, 'user', 'add', 'gina']), 'GL_ERR_ADMIN_NO_PASSWORD');
    const unreachable = await gridlink(['admin', '--data', `${f.dir}/elsewhere`, 'status']);
    oneLine(unreachable, 'GL_ERR_ADMIN_UNREACHABLE');
    expect(unreachable.stderr).toContain(`${f.dir}/elsewhere/admin.sock`);
    expect(f.users.get('gina')).toBeUndefined();

    for (const args of [
      ['user', 'quota', 'erin', '5X'],
      ['user', 'quota', 'erin', '-1'],
      ['user', 'role', 'erin', 'root'],
      ['user', 'add', 'gina', '--role', 'superuser'],
      ['user', 'add'],
    ]) {
      const r = await gridlink(['admin', ...data, ...args], PASSWORD);
      expect(r.code, args.join(' ')).toBe(2);
    }
  });

  it('--help documents every admin command and the SIZE units', async () => {
    for (const args of [['admin'], ['admin', 'status'], ['admin', 'user'], ['admin', 'user', 'add'], ['admin', 'user', 'quota'], ['admin', 'user', 'list']]) {
      const r = await gridlink([...args, '--help']);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toContain('Usage: gridlink');
    }
    const quota = await gridlink(['admin', 'user', 'quota', '--help']);
    expect(quota.stdout.replace(/\s+/gu, ' ')).toContain('powers of 1024');
  });


  // util-linux `script` gives a real pseudo-terminal (Debian: bsdutils, essential).
  it('prompts twice on a terminal without echoing the password', async () => {
    const typed = 'typed-Secret-9';
    const prompt = await onTerminal(['admin', ...data, 'user', 'add', 'hank'], [typed, typed]);
    expect(prompt.code, prompt.output).toBe(0);
    expect(prompt.output).toContain('New password for hank:');
    expect(prompt.output).toContain('added user hank');
    expect(prompt.output).not.toContain(typed);
    expect(await verifyPassword(typed, f.users.get('hank')!.credential)).toBe(true);

    const mismatch = await onTerminal(['admin', ...data, 'user', 'passwd', 'hank'], [typed, 'typed-Secret-8']);
    expect(mismatch.code).toBe(1);
    expect(mismatch.output).toContain('GL_ERR_ADMIN_PASSWORD_MISMATCH');
    expect(await verifyPassword(typed, f.users.get('hank')!.credential)).toBe(true);
  });
});

/**
 * Runs the CLI on a pseudo-terminal (util-linux `script`), typing each answer
 * once its prompt has appeared, so the terminal is already in raw mode.
 */
function onTerminal(args: readonly string[], answers: readonly string[]): Promise<{ code: number | null; output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['GRIDLINK_PASSWORD'];
  const child = spawn('script', terminalArgs([process.execPath, ENTRY, ...args]), { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let answered = 0;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    const prompts = output.split(/New password for|Type it again/u).length - 1;
    if (prompts > answered && answered < answers.length) child.stdin.write(`${answers[answered++]}\r`);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
