import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { makeTempDir } from './temp-dir.js';

/**
 * Debian's nats-server (2.9, scripts/system-deps.sh) for the cluster tests:
 * JetStream on, loopback only, ports the OS picked, a temporary store, and
 * an end that removes every process and file it made.
 */
export interface NatsServer {
  /** `nats://127.0.0.1:PORT` for clients. */
  readonly url: string;
  readonly port: number;
  /** Is the process running now? */
  readonly running: boolean;
  /** The process id while it runs (the benchmarks read its CPU time). */
  readonly pid: number | undefined;
  /** SIGKILL (or another signal), then wait for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same ports and store, waits until it is healthy. */
  restart(): Promise<void>;
}

export interface NatsSystem {
  readonly servers: readonly NatsServer[];
  /** Every client URL, comma-separated: what `--cluster` takes. */
  readonly urls: string;
  /** Ends every server and removes the stores. */
  stop(): Promise<void>;
}

/** A TCP port free on 127.0.0.1 now (the OS picks it; nats-server needs a number). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

interface Spec {
  readonly name: string;
  readonly port: number;
  readonly monitor: number;
  readonly routePort: number | null;
  readonly routes: readonly number[];
  readonly storeDir: string;
}

class Server implements NatsServer {
  readonly url: string;
  readonly port: number;
  readonly #spec: Spec;
  #child: ChildProcess | null = null;
  #log = '';

  constructor(spec: Spec) {
    this.#spec = spec;
    this.port = spec.port;
    this.url = `nats://127.0.0.1:${spec.port}`;
  }

  get running(): boolean {
    return this.#child !== null && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  async start(): Promise<void> {
    const s = this.#spec;
    const args = ['-js', '-sd', s.storeDir, '-a', '127.0.0.1', '-p', String(s.port), '-m', String(s.monitor), '-n', s.name];
    if (s.routePort !== null) {
      args.push('--cluster_name', 'gridlink-test', '--cluster', `nats://127.0.0.1:${s.routePort}`);
      args.push('--routes', s.routes.map((p) => `nats://127.0.0.1:${p}`).join(','));
    }
    const child = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    this.#log = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      // Bounded: only the tail is kept for error messages.
      this.#log = (this.#log + d).slice(-8_000);
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  }

  /** Waits until /healthz says the server (and JetStream, with its meta leader in a cluster) is ready. */
  async healthy(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`nats-server ${this.#spec.name} exited: ${this.#log}`);
      try {
        const res = await fetch(`http://127.0.0.1:${this.#spec.monitor}/healthz`, { signal: AbortSignal.timeout(1_000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`nats-server ${this.#spec.name} not healthy after ${timeoutMs} ms: ${this.#log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child === null || !this.running) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill(signal);
    });
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
    await this.healthy();
  }
}

/**
 * Starts `count` servers on free ports. A port found free can be taken by
 * another test file's process before nats-server binds it (the suite runs
 * files in parallel); such a start is tried again on new ports, twice at most.
 */
async function system(count: number): Promise<NatsSystem> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await systemOnce(count);
    } catch (err) {
      if (attempt >= 3 || !String(err).includes('address already in use')) throw err;
    }
  }
}

async function systemOnce(count: number): Promise<NatsSystem> {
  const temp = await makeTempDir('gridlink-nats-');
  const specs: Spec[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < count; i += 1) routePorts.push(await freePort());
  for (let i = 0; i < count; i += 1) {
    specs.push({
      name: `n${i + 1}`,
      port: await freePort(),
      monitor: await freePort(),
      routePort: count > 1 ? routePorts[i]! : null,
      routes: count > 1 ? routePorts.filter((_, j) => j !== i) : [],
      storeDir: join(temp.path, `n${i + 1}`),
    });
  }
  const servers = specs.map((spec) => new Server(spec));
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.kill('SIGTERM')));
    await temp.cleanup();
  };
  try {
    for (const server of servers) await server.start();
    await Promise.all(servers.map((s) => s.healthy()));
  } catch (err) {
    await stop();
    throw err;
  }
  return { servers, urls: servers.map((s) => s.url).join(','), stop };
}

/** One nats-server with JetStream on a free loopback port. */
export function startNats(): Promise<NatsSystem> {
  return system(1);
}

/** Three nats-servers routed into one cluster (JetStream clustered, replicas up to 3). */
export function startNatsCluster(count = 3): Promise<NatsSystem> {
  return system(count);
}
