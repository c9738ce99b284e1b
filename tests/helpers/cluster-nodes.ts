import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { AdminClient } from '../../src/admin/admin-client.js';
import { GRIDLINK_BIN } from './server-process.js';
import { makeTempDir } from './temp-dir.js';

/** Where a running node listens (read from its `server.started` line). */
export interface NodeAddresses {
  readonly native: number;
  /** The legacy UDP chat's port (0 when it is off). */
  readonly legacyChat: number;
  /** The web HMI's port (0 when it is off). */
  readonly http: number;
}

export interface ClusterNodeProcess {
  readonly name: string;
  readonly dataDir: string;
  /** Addresses of the current run (they change at a restart: every port is picked by the OS). */
  readonly addresses: NodeAddresses;
  readonly child: ChildProcess;
  /** Every log line of the current run, parsed. */
  readonly logs: Record<string, unknown>[];
  /** `gridlink admin status` of this node, through its admin socket. */
  status(): Promise<Record<string, unknown>>;
  /** Sends a signal (SIGTERM by default) and waits for the exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts the node again with the same name, data directory and config. */
  restart(): Promise<void>;
}

export interface ClusterNodes {
  readonly nodes: readonly ClusterNodeProcess[];
  /** Stops every node and removes their data directories. */
  stop(): Promise<void>;
}

export interface ClusterNodeOptions {
  /** What `--cluster` gets: comma-separated nats:// URLs. */
  readonly nats: string;
  /** Node names (one process each). */
  readonly names: readonly string[];
  /** Config merged over the test defaults (ports 0, legacy UDP chat on, anonymous chat, no SCADA). */
  readonly config?: Record<string, unknown>;
}

/** The config file every test node starts with, before `options.config`. */
function baseConfig(dataDir: string, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    dataDir,
    log: { level: 'info' },
    native: { port: 0 },
    http: { enabled: false, port: 0 },
    ftp: { enabled: false, port: 0, passivePorts: 0 },
    iec104: { enabled: false, port: 0 },
    legacyChat: { enabled: true, port: 0 },
    chat: { allowAnonymous: true },
    scada: { enabled: false, simulator: { port: 0 } },
    cluster: { nodeTimeoutMs: 3_000 },
    files: { durable: false },
    ...extra,
  };
}

/**
 * Runs the built `gridlink serve --cluster URLS --node NAME` once per name,
 * as separate processes with their own data directories and OS-picked ports
 * (like tests/helpers/server-process.ts for one server), and waits for each
 * `server.started` line.
 */
export async function startClusterNodes(options: ClusterNodeOptions): Promise<ClusterNodes> {
  const temp = await makeTempDir('gridlink-cluster-');
  const nodes: ClusterNodeProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
    await temp.cleanup();
  };
  try {
    for (const name of options.names) nodes.push(await startNode(temp.path, name, options));
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, stop };
}

/** Starts one node process (also usable for a node that is expected to be refused: see {@link runNode}). */
async function startNode(root: string, name: string, options: ClusterNodeOptions): Promise<ClusterNodeProcess> {
  const dataDir = join(root, name);
  await mkdir(dataDir, { recursive: true });
  const configPath = join(root, `${name}.json`);
  await writeFile(configPath, JSON.stringify(baseConfig(dataDir, options.config ?? {})));
  let run = await launch(configPath, options.nats, name);
  const node: ClusterNodeProcess = {
    name,
    dataDir,
    get addresses() {
      return run.addresses;
    },
    get child() {
      return run.child;
    },
    get logs() {
      return run.logs;
    },
    async status() {
      const admin = await AdminClient.connect(join(dataDir, 'admin.sock'));
      try {
        return await admin.status();
      } finally {
        await admin.close();
      }
    },
    stop: (signal = 'SIGTERM') => exit(run.child, signal),
    async restart() {
      await exit(run.child, 'SIGTERM');
      run = await launch(configPath, options.nats, name);
    },
  };
  return node;
}

interface Run {
  readonly child: ChildProcess;
  readonly logs: Record<string, unknown>[];
  readonly addresses: NodeAddresses;
}

const portOf = (value: unknown): number => (typeof value === 'string' ? Number(value.split(':').pop()) : 0);

async function launch(configPath: string, nats: string, name: string): Promise<Run> {
  const child = spawn(process.execPath, [GRIDLINK_BIN, 'serve', '--config', configPath, '--cluster', nats, '--node', name], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8_000)));
  const addresses = await new Promise<NodeAddresses>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${name} did not start: ${stderr}`)), 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      // Bounded: a long chaos run logs a lot.
      if (logs.length < 10_000) logs.push(entry);
      if (entry['event'] === 'server.started') {
        clearTimeout(timer);
        resolve({ native: portOf(entry['native']), legacyChat: portOf(entry['legacyChat']), http: portOf(entry['http']) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node ${name} exited with ${code}: ${stderr}`));
    });
  });
  return { child, logs, addresses };
}

function exit(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve(child.exitCode);
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill(signal);
  });
}

/**
 * Runs `gridlink serve --cluster … --node NAME` to its end (for a node that
 * must be refused): its exit code and what it printed on stderr.
 */
export async function runNode(nats: string, name: string, timeoutMs = 30_000): Promise<{ code: number | null; stderr: string }> {
  const temp = await makeTempDir('gridlink-refused-');
  try {
    const configPath = join(temp.path, 'config.json');
    await writeFile(configPath, JSON.stringify(baseConfig(join(temp.path, 'data'), {})));
    const child = spawn(process.execPath, [GRIDLINK_BIN, 'serve', '--config', configPath, '--cluster', nats, '--node', name], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8_000)));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    return { code, stderr };
  } finally {
    await temp.cleanup();
  }
}
