import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type RunResult } from '../helpers/python.js';
import { GRIDLINK_BIN } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

// The built CLI, as a user runs it: README.md ("Exit status") and docs/errors.md
// promise 0 on success, 2 for a usage error, 1 for every other failure, with
// one `gridlink:` line on stderr.
const env = { ...process.env, GRIDLINK_PASSWORD: '' };
const gridlink = (args: string[]) => run(process.execPath, [GRIDLINK_BIN, ...args], { timeoutMs: 30_000, env });

/** The one stderr line of a failure, checked for its shape and code. */
function oneLine(result: RunResult, code: string): string {
  expect(result.stdout, result.stderr).toBe('');
  const lines = result.stderr.split('\n');
  expect(lines, result.stderr).toHaveLength(2); // the line, then the final newline
  expect(lines[1]).toBe('');
  expect(lines[0]).toMatch(/^gridlink: \S.*; \S/u);
  expect(lines[0]).toContain(`(${code})`);
  return lines[0]!;
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('gridlink exit status', () => {
  let server: TestServer;
  let work: { path: string; cleanup: () => Promise<void> };
  let at: string[];
  let nowhere: string[];

  beforeAll(async () => {
    server = await startTestServer();
    work = await makeTempDir();
    at = ['--server', `127.0.0.1:${server.port}`];
    nowhere = ['--server', `127.0.0.1:${await closedPort()}`];
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('usage errors found by the argument parser exit 2 with one gridlink: line', async () => {
    // [arguments, what the line says, the command whose --help it points to]
    const cases: [string[], string, string][] = [
      [['ls', '--bogus', ...nowhere], "unknown option '--bogus'", 'gridlink ls'],
      [['get', ...nowhere], "missing required argument 'remote'", 'gridlink get'],
      [['frobnicate'], "unknown command 'frobnicate'", 'gridlink'],
      [['get', 'x', '--server', 'host:99999'], ': --server "host:99999": port must be 1..65535 (', 'gridlink get'],
      [['history', 'sub1.f1.breaker', '--since', 'yesterday', ...nowhere], ': --since: "yesterday" is not a time (e.g. 15m, 2h, now, 2026-11-22T10:00Z) (', 'gridlink history'],
      [['chat', ...nowhere], "required option '--name <nick>'", 'gridlink chat'],
      [['admin', 'user', 'add', '--data', work.path], "missing required argument 'name'", 'gridlink admin user add'],
      [['points', 'sub1.>', '--limit', '3', ...nowhere], "unknown option '--limit'", 'gridlink points'],
    ];
    for (const [args, detail, command] of cases) {
      const result = await gridlink(args);
      expect(result.code, args.join(' ')).toBe(2);
      const line = oneLine(result, 'GL_ERR_CLIENT_USAGE');
      expect(line).toContain(detail);
      expect(line).toMatch(new RegExp(`; run "${command} --help"$`, 'u'));
      // One terminal line or two, not three; commander's own wording is gone.
      expect(line.length, line).toBeLessThanOrEqual(140);
      expect(line).not.toMatch(/error:|argument '.*' is invalid/u);
    }
  });

  it('GL_ERR_CLIENT_USAGE raised by a command itself exits 2 as well', async () => {
    const badAck = await gridlink(['alarms', 'ack', 'x1', ...nowhere]);
    expect(badAck.code).toBe(2);
    expect(oneLine(badAck, 'GL_ERR_CLIENT_USAGE')).toContain('usage: gridlink alarms');
  });

  it('a command given without one exits 2 after the list of commands', async () => {
    const result = await gridlink([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Usage: gridlink');
    expect(result.stderr.trimEnd().split('\n').at(-1)).toMatch(/^gridlink: .*a command is missing.*\(GL_ERR_CLIENT_USAGE\); run "gridlink --help"$/u);
    // help for a command that does not exist says so, not that one is missing.
    const unknown = await gridlink(['help', 'frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trimEnd().split('\n').at(-1)).toMatch(/^gridlink: .*unknown command 'frobnicate'.*; run "gridlink --help"$/u);
  });

  it('--help shows defaults as typed, examples, and how point patterns read', async () => {
    const top = await gridlink(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Examples:\n {2}\$ gridlink serve /mu);
    expect(top.stdout).toContain("$ gridlink points 'sub1.>'");
    expect(top.stdout).toMatch(/Exit status: 0 success, 1 failure, 2 usage error/u);
    for (const command of ['points', 'watch', 'ls', 'put']) {
      const help = await gridlink([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toMatch(/--server <host:port>\s+server address \(default: 127\.0\.0\.1:8889\)/u);
      expect(help.stdout, command).not.toContain('{"host"');
    }
    const admin = await gridlink(['admin', '--help']);
    expect(admin.stdout).toMatch(/--data <dir>\s+data directory of the running server \(default:\s+\.\/gridlink-data\)/u);
    for (const command of ['points', 'watch']) {
      const help = (await gridlink([command, '--help'])).stdout;
      expect(help, command).toMatch(/^Examples:\n {2}\$ gridlink /mu);
      expect(help, command).toMatch(/\* stands for exactly one part and a final > for one or more parts/u);
      expect(help, command).toMatch(/sub1\.> +every point of sub1/u);
      expect(help, command).toContain('A pattern that matches no point is an error (exit status 1).');
    }
  });

  it('runtime failures exit 1 with one gridlink: line: no server, a server refusal, a local file', async () => {
    const refused = await gridlink(['ls', ...nowhere]);
    expect(refused.code).toBe(1);
    oneLine(refused, 'GL_ERR_CLIENT_CONNECT');

    const missing = await gridlink(['get', 'missing.bin', join(work.path, 'missing.bin'), '--no-progress', ...at]);
    expect(missing.code).toBe(1);
    oneLine(missing, 'GL_ERR_FILE_NOT_FOUND');

    const noLocal = await gridlink(['put', join(work.path, 'nope.bin'), ...at]);
    expect(noLocal.code).toBe(1);
    oneLine(noLocal, 'GL_ERR_CLIENT_LOCAL_FILE');
  });

  it('--help and --version exit 0 and print nothing on stderr', async () => {
    for (const args of [['--help'], ['--version'], ['get', '--help']]) {
      const result = await gridlink(args);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).not.toBe('');
    }
  });
});
