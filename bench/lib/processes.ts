import { spawn, type ChildProcessByStdio, type StdioOptions } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { onCleanup } from './cleanup.js';

type Child = ChildProcessByStdio<null, Readable, Readable>;

export interface SpawnOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Open an IPC channel to a Node.js child (ServerProcess only). Nothing is
   * sent over it: it closes when the bench process dies, however it dies, so
   * the child can exit on 'disconnect' as forked children do
   * (./forked-child.ts) instead of outliving a SIGKILLed bench.
   */
  readonly ipc?: boolean;
}

/** Keep this much of a child's output, enough to explain why it failed. */
const OUTPUT_TAIL_CHARS = 4096;

/**
 * A long-running child (a server under test). It runs in its own process
 * group (`detached`), so stopping it also stops the workers it forks
 * (vsftpd's per-session processes) and a Ctrl-C meant for the benchmark
 * does not kill it before the benchmark has measured what it needs.
 */
export class ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly #child: Child;
  readonly #exited: Promise<number | string>;
  readonly #unregister: () => void;
  #output = '';
  #exitStatus: number | string | null = null;

  constructor(name: string, command: string, args: readonly string[], options: SpawnOptions = {}) {
    this.name = name;
    // With an IPC channel spawn() cannot type the stdio tuple; stdout and stderr are pipes either way.
    const stdio: StdioOptions = options.ipc === true ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
    this.#child = spawn(command, args, { cwd: options.cwd, env: options.env, detached: true, stdio }) as Child;
    if (this.#child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
    this.pid = this.#child.pid;
    // Always drain the pipes: a child blocked on a full pipe would look slow.
    for (const stream of [this.#child.stdout, this.#child.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (text: string) => {
        this.#output = (this.#output + text).slice(-OUTPUT_TAIL_CHARS);
      });
    }
    this.#exited = new Promise((resolve) => {
      this.#child.once('error', (err) => {
        this.#output += `\n${err.message}`;
        this.#exitStatus = 'spawn error';
        resolve(this.#exitStatus);
      });
      this.#child.once('exit', (code, signal) => {
        this.#exitStatus = code ?? signal ?? 'unknown';
        resolve(this.#exitStatus);
      });
    });
    this.#unregister = onCleanup(() => this.#killGroup('SIGKILL'));
  }

  /** Recent stdout+stderr, for error messages. */
  get output(): string {
    return this.#output.trim();
  }

  get running(): boolean {
    return this.#exitStatus === null;
  }

  /** Waits for the first match of `pattern` in the child's output (e.g. a "LISTENING <port>" line). */
  async waitForOutput(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.#output.match(pattern);
      if (match !== null) return match;
      this.#assertAlive();
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${String(pattern)} within ${timeoutMs} ms; output: ${this.output}`);
      await sleep(20);
    }
  }

  /** Waits until something accepts TCP connections on host:port, failing early if the child died. */
  async waitForPort(host: string, port: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await canConnect(host, port))) {
      this.#assertAlive();
      if (Date.now() > deadline) throw new Error(`${this.name}: not listening on ${host}:${port} after ${timeoutMs} ms; output: ${this.output}`);
      await sleep(20);
    }
  }

  /** SIGTERM to the whole group, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.running) {
      this.#killGroup('SIGTERM');
      const timer = sleep(graceMs).then(() => 'timeout' as const);
      if ((await Promise.race([this.#exited, timer])) === 'timeout') this.#killGroup('SIGKILL');
      await this.#exited;
    }
    // Workers of the group may outlive their leader by a moment.
    this.#killGroup('SIGKILL');
    this.#unregister();
  }

  #assertAlive(): void {
    if (!this.running) throw new Error(`${this.name} exited (${String(this.#exitStatus)}): ${this.output}`);
  }

  #killGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is gone already.
    }
  }
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a short command to completion (an FTP client, `sync`), killed at cleanup
 * if the benchmark is interrupted. Rejects on a non-zero exit, with its stderr.
 */
export function runCommand(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const unregister = onCleanup(() => {
      child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-OUTPUT_TAIL_CHARS)));
    child.once('error', (err) => {
      unregister();
      reject(new Error(`${command}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      unregister();
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} failed (${String(code ?? signal)}): ${stderr.trim()}`));
    });
  });
}

/**
 * A TCP port that is free right now on `host`. A child cannot report back a
 * port 0 it was given, so we ask the kernel for one and hand it over; the
 * window in which another process could take it is a few milliseconds.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}

/** Peak resident set size of a live process (VmHWM), in bytes. */
export function peakRssBytes(pid: number): Promise<number> {
  return procStatusBytes(pid, 'VmHWM');
}

/** Current resident set size of a live process (VmRSS), in bytes. */
export function rssBytes(pid: number): Promise<number> {
  return procStatusBytes(pid, 'VmRSS');
}

async function procStatusBytes(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(status);
  if (match?.[1] === undefined) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on every Linux build we run on). */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time (user + system) a live process has used so far, in seconds; its exited children are not counted. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3, state.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse /proc/${pid}/stat`);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** CPU time every core of the machine has spent busy so far (all processes, the kernel, interrupts), in seconds. */
export async function machineBusySeconds(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal …
  const fields = line.trim().split(/\s+/u);
  const [user, nice, system, , , irq, softirq] = fields.slice(1).map(Number);
  const busy = [user, nice, system, irq, softirq].reduce<number>((sum, value) => sum + (value ?? Number.NaN), 0);
  if (fields[0] !== 'cpu' || !Number.isFinite(busy)) throw new Error('cannot parse /proc/stat');
  return busy / CLOCK_TICKS_PER_SECOND;
}
