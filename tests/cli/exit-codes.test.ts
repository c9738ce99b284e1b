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
    const cases: [string[], string][] = [
      [['ls', '--bogus', ...nowhere], "unknown option '--bogus'"],
      [['get', ...nowhere], "missing required argument 'remote'"],
      [['frobnicate'], "unknown command 'frobnicate'"],
      [['get', 'x', '--server', 'host:99999'], 'port must be 1..65535'],
      [['history', 'sub1.f1.breaker', '--since', 'yesterday', ...nowhere], 'is not a time'],
      [['chat', ...nowhere], "required option '--name <nick>'"],
    ];
    for (const [args, detail] of cases) {
      const result = await gridlink(args);
      expect(result.code, args.join(' ')).toBe(2);
      const line = oneLine(result, 'GL_ERR_CLIENT_USAGE');
      expect(line).toContain(detail);
      expect(line).toMatch(/; run the command with --help$/u);
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
    expect(result.stderr.trimEnd().split('\n').at(-1)).toMatch(/^gridlink: .*\(GL_ERR_CLIENT_USAGE\)/u);
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
