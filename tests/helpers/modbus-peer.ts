import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { PEERS_DIR } from './python.js';

/** Debian's python3 with python3-pymodbus (the `python3` on PATH may be another one). */
export const PYMODBUS_PYTHON = '/usr/bin/python3';

export type Mode = 'normal' | 'exception' | 'garbage' | 'silent';

/**
 * tests/peers/modbus_server.py, an independent field device on pymodbus,
 * driven over its stdin control channel. `start` registers the peer in
 * `registry` so the caller's afterEach can stop it.
 */
export class ModbusPeer {
  readonly child: ChildProcessWithoutNullStreams;
  port = 0;
  stderr = '';
  readonly #lines: string[] = [];
  #waiter: ((line: string | null) => void) | null = null;
  #ended = false;

  constructor(args: string[]) {
    this.child = spawn(PYMODBUS_PYTHON, [`${PEERS_DIR}modbus_server.py`, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.child.stdin.on('error', () => undefined);
    const lines = createInterface({ input: this.child.stdout });
    lines.on('line', (line) => {
      const waiter = this.#waiter;
      this.#waiter = null;
      if (waiter !== null) waiter(line);
      else this.#lines.push(line);
    });
    lines.on('close', () => {
      this.#ended = true;
      this.#waiter?.(null);
      this.#waiter = null;
    });
  }

  static async start(registry: ModbusPeer[], mode: Mode = 'normal', extra: string[] = []): Promise<ModbusPeer> {
    const peer = new ModbusPeer(['--port', '0', '--mode', mode, ...extra]);
    registry.push(peer);
    const ready = (await peer.line(10_000)) as { ready?: boolean; port?: number; mode?: string };
    if (ready.ready !== true || ready.mode !== mode || typeof ready.port !== 'number') throw new Error(`modbus_server.py did not start: ${JSON.stringify(ready)} ${peer.stderr}`);
    peer.port = ready.port!;
    return peer;
  }

  /** The next JSON line on stdout. */
  line(timeoutMs = 5_000): Promise<unknown> {
    const queued = this.#lines.shift();
    if (queued !== undefined) return Promise.resolve(JSON.parse(queued));
    if (this.#ended) return Promise.reject(new Error(`modbus_server.py ended: ${this.stderr}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        reject(new Error(`no line from modbus_server.py within ${timeoutMs} ms: ${this.stderr}`));
      }, timeoutMs);
      this.#waiter = (line) => {
        clearTimeout(timer);
        if (line === null) reject(new Error(`modbus_server.py ended: ${this.stderr}`));
        else resolve(JSON.parse(line));
      };
    });
  }

  /** One control-channel command and its reply. */
  command(text: string): Promise<unknown> {
    this.child.stdin.write(`${text}\n`);
    return this.line();
  }

  exited(timeoutMs: number): Promise<number | null | 'timeout'> {
    if (this.child.exitCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), timeoutMs);
      this.child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  /** Ends stdin (the peer's shutdown signal); kills it if it does not go. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin.end();
    if ((await this.exited(3_000)) === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited(3_000);
    }
  }
}

