import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { until } from './until.js';

export const GRIDLINK_BIN = fileURLToPath(new URL('../../bin/gridlink.js', import.meta.url));

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** Every log line the server printed so far (parsed JSON). */
  readonly logs: Record<string, unknown>[];
  /** The inspector's ws:// address, when started with `inspect` (see tests/helpers/inspector.ts). */
  readonly inspectorUrl: string | null;
  /** Resident memory of the server now, in bytes (from /proc). */
  rss(): Promise<number>;
  /** The most resident memory the server has had so far (VmHWM), in bytes. */
  peakRss(): Promise<number>;
  /** Sends a signal and waits for the process to exit; returns its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ServerProcessOptions {
  /** Start Node's inspector on a free loopback port (`--inspect=127.0.0.1:0`): close any session on it before `stop()`. */
  readonly inspect?: boolean;
}

/**
 * Runs the built `gridlink serve` as a separate process (as a user would) with
 * a config file in `dir`, and waits for its `server.started` log line.
 */
export async function startServerProcess(dir: string, config: Record<string, unknown>, options: ServerProcessOptions = {}): Promise<ServerProcess> {
  const configPath = join(dir, 'config.json');
  // Info level: the harness reads the `server.started` line to learn the port.
  const scada = (config['scada'] as Record<string, unknown> | undefined) ?? {};
  await writeFile(
    configPath,
    JSON.stringify({
      ...config,
      log: { level: 'info' },
      native: { port: 0, ...((config['native'] as object | undefined) ?? {}) },
      // Every listener on a port the OS picks: test processes never collide.
      http: { port: 0, ...((config['http'] as object | undefined) ?? {}) },
      ftp: { port: 0, passivePorts: 0, ...((config['ftp'] as object | undefined) ?? {}) },
      iec104: { port: 0, ...((config['iec104'] as object | undefined) ?? {}) },
      scada: { ...scada, simulator: { port: 0, ...((scada['simulator'] as object | undefined) ?? {}) } },
    }),
  );
  const nodeArgs = options.inspect === true ? ['--inspect=127.0.0.1:0'] : [];
  const child = spawn(process.execPath, [...nodeArgs, GRIDLINK_BIN, 'serve', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 15_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry['event'] === 'server.started') {
          clearTimeout(timer);
          resolve(Number(String(entry['native']).split(':').pop()));
        }
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
  // Node prints the inspector's address on stderr before it runs the program (read here maybe after stdout's line).
  let inspectorUrl: string | null = null;
  if (options.inspect === true) {
    try {
      inspectorUrl = await until(() => /Debugger listening on (ws:\/\/\S+)/u.exec(stderr)?.[1], 5_000, "the server's inspector address on stderr");
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }
  return {
    child,
    port,
    logs,
    inspectorUrl,
    rss: () => procStatusBytes(child, 'VmRSS'),
    peakRss: () => procStatusBytes(child, 'VmHWM'),
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null) {
          resolve(child.exitCode);
          return;
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.once('exit', (code) => {
          clearTimeout(timer);
          resolve(code);
        });
        child.kill(signal);
      }),
  };
}

async function procStatusBytes(child: ChildProcess, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
  const kb = new RegExp(`${field}:\\s+(\\d+)`, 'u').exec(status)?.[1];
  if (kb === undefined) throw new Error(`no ${field} in /proc/${child.pid}/status`);
  return Number(kb) * 1024;
}
