import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../helpers/python.js';
import { GRIDLINK_BIN } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { terminalArgs } from '../helpers/terminal.js';

/**
 * What `gridlink serve` prints, as a person at a terminal sees it (a real
 * pseudo-terminal from util-linux `script`) and as a pipe reads it.
 */
describe('gridlink serve output', () => {
  let work: { path: string; cleanup: () => Promise<void> };
  const configFor = async (name: string): Promise<string> => {
    const path = join(work.path, `${name}.json`);
    await writeFile(
      path,
      JSON.stringify({
        dataDir: join(work.path, name),
        log: { level: 'info' },
        native: { port: 0 },
        http: { port: 0 },
        ftp: { enabled: true, port: 0, passivePorts: 0 },
        iec104: { enabled: true, port: 0 },
        legacyChat: { enabled: true, port: 0 },
        scada: { simulator: { port: 0 } },
      }),
    );
    return path;
  };

  beforeAll(async () => {
    work = await makeTempDir();
  });
  afterAll(async () => {
    await work.cleanup();
  });

  it('on a terminal: a summary of what listens where, the admin password once, then readable log lines', { timeout: 40_000 }, async () => {
    const config = await configFor('tty');
    const child = spawn('script', terminalArgs([process.execPath, GRIDLINK_BIN, 'serve', '--config', config]), { env: { ...process.env, TERM: 'xterm', NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (screen += d));
    const waitFor = async (pattern: RegExp): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!pattern.test(screen)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`never saw ${String(pattern)} in ${JSON.stringify(screen)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await waitFor(/server\.started gridlink is serving/u);
      await waitFor(/INFO: \[scada\] /u); // the SCADA service's child logger binds its own service
      const text = screen.replace(/\r\n/gu, '\n');
      const password = (await readFile(join(work.path, 'tty', 'initial-admin-password'), 'utf8')).trim();
      expect(password).toMatch(/^\S{16,}$/u);
      // The summary comes first, before any log line.
      const lines = text.split('\n');
      expect(lines[0]).toBe(`gridlink 0.1.0 is serving; data in ${join(work.path, 'tty')}`);
      expect(text).toMatch(/^ {2}native protocol +127\.0\.0\.1:\d+$/mu);
      expect(text).toMatch(/^ {2}web HMI +http:\/\/127\.0\.0\.1:\d+\/$/mu);
      expect(text).toMatch(/^ {2}FTP +ftp:\/\/127\.0\.0\.1:\d+$/mu);
      expect(text).toMatch(/^ {2}IEC 104 station +127\.0\.0\.1:\d+$/mu);
      expect(text).toMatch(/^ {2}legacy chat \(UDP\) +127\.0\.0\.1:\d+$/mu);
      expect(text).toMatch(/^ {2}Modbus simulator +127\.0\.0\.1:\d+$/mu);
      expect(text.split(password)).toHaveLength(2); // shown exactly once
      expect(text).toContain(`created user "admin" with password ${password}`);
      const logStart = lines.indexOf('Log follows; Ctrl-C stops the server.');
      expect(logStart).toBeGreaterThan(0);
      expect(lines.slice(0, logStart).some((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\]/u.test(l))).toBe(false);
      // Readable lines, not JSON: time, level, event, message, then the other fields.
      expect(text).not.toContain('{"level"');
      expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: server\.started gridlink is serving \{"native":"127\.0\.0\.1:\d+"/mu);
      expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[scada\] scada\./mu);
      // The native port the summary names is the one that listens,
      const port = Number(/native protocol +127\.0\.0\.1:(\d+)/u.exec(text)![1]);
      // …and the password it shows logs in as admin there.
      const ls = await run(process.execPath, [GRIDLINK_BIN, 'ls', '--server', `127.0.0.1:${port}`, '--user', 'admin'], { timeoutMs: 20_000, env: { ...process.env, GRIDLINK_PASSWORD: password } });
      expect(ls.stderr).toBe('');
      expect(ls.code).toBe(0);

      child.stdin.write('\u0003'); // Ctrl-C, through the terminal
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      expect(code).toBe(0);
      expect(screen).toMatch(/INFO: server\.stopped/u);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('into a pipe: JSON lines that name their service once, and the password on stderr only', { timeout: 40_000 }, async () => {
    const config = await configFor('pipe');
    const child = spawn(process.execPath, [GRIDLINK_BIN, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    try {
      const deadline = Date.now() + 20_000;
      // Until the SCADA service has logged too: its lines bind service "scada".
      while (!/"event":"server\.started"/u.test(stdout) || !/"service":"scada"/u.test(stdout)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no start: ${stdout} ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill('SIGTERM');
      expect(await new Promise<number | null>((r) => child.once('exit', r))).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    const password = (await readFile(join(work.path, 'pipe', 'initial-admin-password'), 'utf8')).trim();
    expect(stderr).toContain(`created user "admin" with password ${password}`);
    expect(stdout).not.toContain(password);
    expect(stdout).not.toContain('is serving; data in');
    const lines = stdout.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(3);
    const services = new Set<string>();
    for (const line of lines) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      expect(line.match(/"service":/gu), line).toHaveLength(1);
      services.add(String(entry['service']));
    }
    expect([...services].sort()).toEqual(['gridlink', 'scada']);
  });
});
