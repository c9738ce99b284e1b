/**
 * Static files over HTTP (docs/http-api.md): gridlink's web listener side by side
 * with Debian's nginx serving the same two files — a small page (index.html,
 * about 2 KiB) and a 1 MiB file — measured by wrk with the same threads,
 * connections and duration, on loopback. Reports requests per second and
 * p99 latency for each, and gridlink's ratio to nginx (target: ≥ 0.60 of
 * nginx's requests/s on both files). Prints a markdown table and writes
 * bench/results/http-static.json.
 *
 *   npx tsx bench/http-static.ts [--quick]
 *
 * --quick: one short round (a smoke test). Needs nginx and wrk (Debian
 * packages); bash bench/run.sh installs them, and builds gridlink first.
 *
 * nginx runs as a foreground process of this benchmark (`daemon off`) on a
 * free loopback port, with a generated minimal config in a temp directory:
 * no access log, sendfile on, everything else Debian's defaults. It is
 * measured twice: with one worker (one event loop, as gridlink has) and with
 * `worker_processes auto` (Debian's default, two workers here). Runs of the
 * peers alternate, round after round, so drift of this shared machine hits
 * them alike; each figure is the median over the rounds.
 *
 * A reference runs in the same rounds: bare node:http (bench/lib/node-http.ts),
 * Node.js's own `createServer` answering the same files from memory with the
 * usual headers and nothing else, in one process with one event loop. It is
 * the ceiling of the runtime on this machine in this run, so the gap to nginx
 * splits into what Node.js itself costs (node:http / nginx) and what gridlink
 * adds on top (gridlink / node:http). It is not a target: the target is still
 * gridlink against nginx.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { makeTempDir, runBenchmark } from './lib/cleanup.js';
import { LOOPBACK, REPO_ROOT, startGridlink } from './lib/peers.js';
import { freePort, runCommand, ServerProcess } from './lib/processes.js';
import { fixed, markdownTable, median, runInfo, writeJson } from './lib/report.js';

interface WrkResult {
  readonly requestsPerSecond: number;
  readonly p99Ms: number;
  readonly transferMBps: number;
  readonly errors: number;
}

type Peer = 'gridlink' | 'node-http' | 'nginx (1 worker)' | 'nginx (auto)';
const PEERS: readonly Peer[] = ['gridlink', 'node-http', 'nginx (1 worker)', 'nginx (auto)'];

/** How a peer is named in progress lines and errors; the nginx peers are their own labels. */
const PEER_LABELS: Record<Peer, string> = {
  gridlink: 'gridlink',
  'node-http': 'bare node:http (reference)',
  'nginx (1 worker)': 'nginx (1 worker)',
  'nginx (auto)': 'nginx (auto)',
};

const NODE_HTTP_SCRIPT = join(REPO_ROOT, 'bench', 'lib', 'node-http.ts');

const FILES = [
  { label: 'small page (index.html)', path: '/' },
  { label: '1 MiB file', path: '/big.bin' },
] as const;

/** wrk settings, the same for every peer: one client thread (one core left to the server), 50 connections. */
const WRK_THREADS = 1;
const WRK_CONNECTIONS = 50;

/** A page of about 2 KiB, like the HMI's index.html. */
function smallPage(): string {
  const rows = Array.from({ length: 20 }, (_, i) => `<tr><td>sub1.f${i}.current</td><td>${(100 + i).toFixed(1)} A</td></tr>`).join('\n');
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>gridlink HMI</title><link rel="stylesheet" href="/assets/app.css"></head>\n<body><h1>Substation 1</h1><table>\n${rows}\n</table><script type="module" src="/assets/app.js"></script></body></html>\n`;
}

function nginxConfig(dir: string, root: string, port: number, workers: string): string {
  return `worker_processes ${workers};
daemon off;
master_process on;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path ${join(dir, 'tmp')};
  proxy_temp_path ${join(dir, 'tmp')};
  fastcgi_temp_path ${join(dir, 'tmp')};
  uwsgi_temp_path ${join(dir, 'tmp')};
  scgi_temp_path ${join(dir, 'tmp')};
  server {
    listen ${LOOPBACK}:${port};
    root ${root};
    index index.html;
  }
}
`;
}

/** Milliseconds from a wrk latency such as `812.00us`, `1.23ms`, `2.01s`. */
function toMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/u.exec(text.trim());
  if (match === null) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 'ms' ? value : match[2] === 's' ? value * 1000 : value * 60_000;
}

function toMBps(text: string): number {
  const match = /^([\d.]+)(B|KB|MB|GB)$/u.exec(text.trim());
  if (match === null) return Number.NaN;
  const scale = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[match[2] as 'B' | 'KB' | 'MB' | 'GB'];
  return (Number(match[1]) * scale) / 1e6;
}

/**
 * The reference server (bench/lib/node-http.ts) on `port`, serving `root`.
 * It is a TypeScript file: started with this process's own Node.js flags
 * (tsx's loader, as child_process.fork would pass them), as a ServerProcess
 * like nginx, so it is waited for, stopped and cleaned up the same way.
 */
async function startNodeHttp(root: string, port: number): Promise<ServerProcess> {
  const args = [...process.execArgv, NODE_HTTP_SCRIPT, '--host', LOOPBACK, '--port', String(port), '--root', root];
  // ipc: the child exits when this process is gone, however it ends (bench/lib/node-http.ts).
  const server = new ServerProcess(PEER_LABELS['node-http'], process.execPath, args, { cwd: REPO_ROOT, ipc: true });
  await server.waitForPort(LOOPBACK, port);
  return server;
}

async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const { stdout } = await runCommand('wrk', [`-t${WRK_THREADS}`, `-c${WRK_CONNECTIONS}`, `-d${seconds}s`, '--latency', url]);
  const rps = /Requests\/sec:\s+([\d.]+)/u.exec(stdout)?.[1];
  const p99 = /^\s+99%\s+(\S+)/mu.exec(stdout)?.[1];
  const transfer = /Transfer\/sec:\s+(\S+)/u.exec(stdout)?.[1];
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/u.exec(stdout)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/u.exec(stdout);
  const errors = non2xx + (socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0));
  if (rps === undefined || p99 === undefined) throw new Error(`cannot read wrk's output:\n${stdout}`);
  return { requestsPerSecond: Number(rps), p99Ms: toMs(p99), transferMBps: transfer === undefined ? Number.NaN : toMBps(transfer), errors };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const quick = values.quick === true;
  const rounds = quick ? 1 : 3;
  const seconds = quick ? 3 : 10;

  const dir = await makeTempDir('gridlink-bench-http-');
  const root = join(dir, 'www');
  await mkdir(join(dir, 'tmp'), { recursive: true });
  await mkdir(root, { recursive: true });
  await mkdir(join(dir, 'gridlink'), { recursive: true });
  // nginx's workers drop root for `nobody`: they must be able to read the files.
  await chmod(dir, 0o755);
  const page = smallPage();
  await writeFile(join(root, 'index.html'), page);
  await writeFile(join(root, 'big.bin'), randomBytes(1024 * 1024));

  const httpPort = await freePort();
  const gridlink = await startGridlink({
    dir: join(dir, 'gridlink'),
    anonymous: false,
    config: { http: { host: LOOPBACK, port: httpPort, staticDir: root }, scada: { enabled: false } },
  });
  await gridlink.process.waitForPort(LOOPBACK, httpPort);

  const nodeHttpPort = await freePort();
  const nodeHttp = await startNodeHttp(root, nodeHttpPort);

  const nginxPorts: Record<Exclude<Peer, 'gridlink' | 'node-http'>, number> = { 'nginx (1 worker)': await freePort(), 'nginx (auto)': await freePort() };
  const nginx: ServerProcess[] = [];
  for (const [name, workers] of [['nginx (1 worker)', '1'], ['nginx (auto)', 'auto']] as const) {
    const confDir = join(dir, `nginx-${workers}`);
    await mkdir(confDir, { recursive: true });
    const confPath = join(confDir, 'nginx.conf');
    await writeFile(confPath, nginxConfig(dir, root, nginxPorts[name], workers));
    const process_ = new ServerProcess(name, '/usr/sbin/nginx', ['-c', confPath, '-p', confDir], { cwd: REPO_ROOT });
    await process_.waitForPort(LOOPBACK, nginxPorts[name]);
    nginx.push(process_);
  }
  const portOf = (peer: Peer): number => (peer === 'gridlink' ? httpPort : peer === 'node-http' ? nodeHttpPort : nginxPorts[peer]);
  const urlOf = (peer: Peer, path: string): string => `http://${LOOPBACK}:${portOf(peer)}${path}`;

  // Same bytes from all: a quick check before measuring.
  for (const peer of PEERS) {
    const body = await (await fetch(urlOf(peer, '/'))).text();
    if (body !== page) throw new Error(`${PEER_LABELS[peer]} does not serve the page`);
  }

  const results = new Map<string, WrkResult[]>();
  for (let round = 0; round < rounds; round += 1) {
    for (const file of FILES) {
      for (const peer of PEERS) {
        await wrk(urlOf(peer, file.path), 1); // warm-up
        const result = await wrk(urlOf(peer, file.path), seconds);
        if (result.errors > 0) throw new Error(`${PEER_LABELS[peer]} ${file.path}: ${result.errors} errors`);
        const key = `${file.label}|${peer}`;
        results.set(key, [...(results.get(key) ?? []), result]);
        process.stderr.write(`bench: round ${round + 1} ${file.label} ${PEER_LABELS[peer]}: ${result.requestsPerSecond.toFixed(0)} req/s, p99 ${result.p99Ms.toFixed(2)} ms\n`);
        await sleep(200);
      }
    }
  }

  const summary = FILES.map((file) => {
    const of = (peer: Peer) => {
      const runs = results.get(`${file.label}|${peer}`) ?? [];
      return { requestsPerSecond: median(runs.map((r) => r.requestsPerSecond)), p99Ms: median(runs.map((r) => r.p99Ms)), transferMBps: median(runs.map((r) => r.transferMBps)), runs };
    };
    const g = of('gridlink');
    const node = of('node-http');
    const one = of('nginx (1 worker)');
    const auto = of('nginx (auto)');
    // Ratios within each round (the peers ran back to back), then their median:
    // the load of this shared machine changes between rounds more than between peers.
    const ratio = (a: typeof g, b: typeof g) => median(a.runs.map((run, i) => run.requestsPerSecond / (b.runs[i]?.requestsPerSecond ?? Number.NaN)));
    return {
      file: file.label,
      path: file.path,
      gridlink: g,
      nodeHttp: node,
      nginx1: one,
      nginxAuto: auto,
      ratio1: ratio(g, one),
      ratioAuto: ratio(g, auto),
      // The reference's split of the gap: the runtime's share, then gridlink's own.
      nodeHttpToNginxAuto: ratio(node, auto),
      gridlinkToNodeHttp: ratio(g, node),
    };
  });

  const table = markdownTable(
    ['file', 'gridlink req/s', 'nginx 1w req/s', 'nginx auto req/s', 'ratio (1w)', 'ratio (auto)', 'node:http req/s', 'gridlink p99 ms', 'nginx 1w p99 ms', 'nginx auto p99 ms', 'node:http p99 ms'],
    summary.map((s) => [
      s.file,
      fixed(s.gridlink.requestsPerSecond, 0),
      fixed(s.nginx1.requestsPerSecond, 0),
      fixed(s.nginxAuto.requestsPerSecond, 0),
      fixed(s.ratio1, 2),
      fixed(s.ratioAuto, 2),
      fixed(s.nodeHttp.requestsPerSecond, 0),
      fixed(s.gridlink.p99Ms, 2),
      fixed(s.nginx1.p99Ms, 2),
      fixed(s.nginxAuto.p99Ms, 2),
      fixed(s.nodeHttp.p99Ms, 2),
    ]),
  );
  process.stdout.write(`\nStatic files, wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS} -d${seconds}s, median of ${rounds} round(s) (ratios: median of the per-round ratios); target: gridlink ≥ 0.60 × nginx req/s; node:http is ${PEER_LABELS['node-http']}, not a target\n\n${table}\n`);
  const split = summary.map((s) => `${s.file}: bare node:http / nginx (auto): ${fixed(s.nodeHttpToNginxAuto, 2)}; gridlink / bare node:http: ${fixed(s.gridlinkToNodeHttp, 2)}`);
  process.stdout.write(`\n${split.join('\n')}\n`);
  await writeJson(join(REPO_ROOT, 'bench', 'results', 'http-static.json'), {
    ...runInfo('http-static', quick),
    wrk: { threads: WRK_THREADS, connections: WRK_CONNECTIONS, seconds, rounds },
    reference: { nodeHttp: `${PEER_LABELS['node-http']}: node:http createServer, files from memory, one process (bench/lib/node-http.ts); not a target` },
    results: summary,
  });
  for (const server of nginx) await server.stop();
  await nodeHttp.stop();
  await gridlink.process.stop();
}

await runBenchmark(main);
