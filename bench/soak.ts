/**
 * Soak (issue 15, docs/security.md): SOAK_MINUTES (default 30; `--quick`: 2)
 * of mixed legitimate load on one gridlink server, from 127.0.0.1, while the
 * hostile loads of the hardening review run beside it from other loopback
 * addresses (127.0.0.2 …), each bounded in count and time:
 *
 * - legitimate: two clients putting and getting 1 MiB files (SHA-256
 *   checked), a `points` call every 100 ms, a `watch` of every point, a chat
 *   room with numbered messages checked for loss and order, a UDP chat member
 *   whose lines reach a native member, and a web session reading
 *   /api/session, /api/points and the page;
 * - hostile: bursts of parallel password guesses (native and web, wrong and
 *   unknown names), 300 sockets from one address held and released, frame
 *   headers sent a byte a second, UDP names grabbed and a flood of `C`
 *   towards a room holding a listener, web requests naming another Host,
 *   100 MB bodies sent to /metrics, the page and unknown routes, the quota
 *   bypass sequence (put.open X → mv X → put.data → put.commit), misleading
 *   names and many entries, and large anonymous uploads.
 *
 * Prints: legitimate operations correct (%), p99 of a `points` call and of a
 * 1 MiB put, the server's RSS (max), what each hostile load achieved, and per
 * area the usage the server counts against the disk at the end. Writes
 * bench/results/soak.json.
 *
 *   SOAK=1 npm run bench                       (bench/run.sh runs it last)
 *   SOAK_MINUTES=2 npx tsx bench/soak.ts       (after npm run build)
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readdir, lstat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { AdminClient } from '../dist/admin/admin-client.js';
import { GridlinkClient } from '../dist/client/index.js';
import { encodeHeader, FrameDecoder, type FrameHeader } from '../dist/codec/index.js';
import { formatBytes } from '../dist/units/bytes.js';
import { makeTempDir, runBenchmark } from './lib/cleanup.js';
import { MiB, sha256File, writeRandomFile } from './lib/files.js';
import { gridlinkHomeDir, LOOPBACK, REPO_ROOT, startGridlink } from './lib/peers.js';
import { freePort, peakRssBytes, rssBytes } from './lib/processes.js';
import { fixed, markdownTable, percentile, runInfo, toMB, writeJson } from './lib/report.js';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false } }, strict: false });
const MINUTES = Number(process.env['SOAK_MINUTES'] ?? (args.quick === true ? 2 : 30));
if (!Number.isFinite(MINUTES) || MINUTES <= 0) throw new Error(`SOAK_MINUTES must be a positive number, not ${process.env['SOAK_MINUTES']}`);

const OPERATOR = { name: 'soak-operator', password: 'soak-operator-password' };
const VIEWER = { name: 'soak-viewer', password: 'soak-viewer-password' };
const VICTIM = { name: 'soak-victim', password: 'soak-victim-password' };
const MALLORY = { name: 'mallory', password: 'mallory-password', quota: 8 * MiB };
const ANONYMOUS_QUOTA = 64 * MiB;
/** Hostile addresses, one per load, so one load's throttling does not hide another's. */
const HOSTILE = {
  nativeGuess: '127.0.0.2',
  webGuess: '127.0.0.3',
  exhaust: '127.0.0.4',
  slowHeader: '127.0.0.5',
  udpGrab: '127.0.0.6',
  udpVictim: '127.0.0.7',
  foreignHost: '127.0.0.8',
  bigBody: '127.0.0.9',
  files: '127.0.0.10',
  anonymous: '127.0.0.11',
} as const;

// ---------------------------------------------------------------------------
// Bookkeeping

/** Legitimate operations by kind: how many, how many correct, and the first few failures. */
class Ledger {
  readonly #kinds = new Map<string, { ok: number; failed: number }>();
  readonly failures: string[] = [];

  ok(kind: string): void {
    this.#entry(kind).ok += 1;
  }

  failed(kind: string, why: unknown): void {
    this.#entry(kind).failed += 1;
    if (this.failures.length < 20) this.failures.push(`${kind}: ${why instanceof Error ? why.message : String(why)}`);
  }

  rows(): Array<{ kind: string; ok: number; failed: number }> {
    return [...this.#kinds].map(([kind, e]) => ({ kind, ...e }));
  }

  get total(): { ok: number; failed: number } {
    return this.rows().reduce((sum, r) => ({ ok: sum.ok + r.ok, failed: sum.failed + r.failed }), { ok: 0, failed: 0 });
  }

  #entry(kind: string): { ok: number; failed: number } {
    let entry = this.#kinds.get(kind);
    if (entry === undefined) this.#kinds.set(kind, (entry = { ok: 0, failed: 0 }));
    return entry;
  }
}

/** What the hostile loads saw, by name. */
const hostile = new Map<string, Record<string, number>>();
function tally(load: string, key: string, n = 1): void {
  const entry = hostile.get(load) ?? {};
  entry[key] = (entry[key] ?? 0) + n;
  hostile.set(load, entry);
}
function highest(load: string, key: string, value: number): void {
  const entry = hostile.get(load) ?? {};
  entry[key] = Math.max(entry[key] ?? 0, value);
  hostile.set(load, entry);
}

/** Runs `round` until `until`, sleeping `pauseMs` between rounds; a failing round is counted, not fatal. */
async function loop(until: number, pauseMs: number, round: () => Promise<void>, onError: (err: unknown) => void): Promise<void> {
  while (Date.now() < until) {
    try {
      await round();
    } catch (err) {
      onError(err);
    }
    await sleep(Math.max(0, Math.min(pauseMs, until - Date.now())));
  }
}

async function timed<T>(samples: number[], work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await work();
  samples.push(performance.now() - start);
  return result;
}

// ---------------------------------------------------------------------------
// Raw clients (the typed client cannot choose its source address)

/** A native-protocol connection from a chosen loopback address, one request at a time. */
class RawNative {
  readonly #socket: Socket;
  readonly #waiting = new Map<number, (header: FrameHeader) => void>();
  #nextId = 1;
  #closed = false;
  /** An error frame without id (a refusal, a timeout) or the end of the connection. */
  readonly ended: Promise<string>;

  private constructor(socket: Socket) {
    this.#socket = socket;
    let end: (why: string) => void = () => undefined;
    this.ended = new Promise((resolve) => (end = resolve));
    const decoder = new FrameDecoder(
      (frame) => {
        const id = frame.header['id'];
        frame.body?.resume();
        const waiter = typeof id === 'number' ? this.#waiting.get(id) : undefined;
        if (waiter !== undefined) {
          this.#waiting.delete(id as number);
          waiter(frame.header);
        } else if (frame.header.cmd === 'error') end(String(frame.header['code']));
      },
      undefined,
      true,
    );
    decoder.on('error', () => socket.destroy());
    socket.pipe(decoder);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      this.#closed = true;
      end('closed');
      for (const waiter of this.#waiting.values()) waiter({ cmd: 'error', code: 'closed' });
      this.#waiting.clear();
    });
  }

  static open(port: number, localAddress: string): Promise<RawNative> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: LOOPBACK, port, localAddress });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawNative(socket));
      });
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a request (with a body when given) and resolves with its reply header; an error frame is a reply too. */
  request(fields: Record<string, unknown> & { cmd: string }, body?: Buffer): Promise<FrameHeader> {
    if (this.#closed) return Promise.resolve({ cmd: 'error', code: 'closed' });
    const id = this.#nextId++;
    const reply = new Promise<FrameHeader>((resolve) => this.#waiting.set(id, resolve));
    const header = encodeHeader({ v: 1, id, ...fields, ...(body === undefined ? {} : { size: body.length }) });
    this.#socket.write(body === undefined ? header : Buffer.concat([header, body]));
    return reply;
  }

  close(): void {
    this.#socket.destroy();
  }
}

interface HttpAnswer {
  readonly status: number;
  readonly body: string;
  readonly setCookie: string | undefined;
}

function http(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string, localAddress = LOOPBACK): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: LOOPBACK, port, method, path, headers, localAddress, agent: false, timeout: 30_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const cookie = res.headers['set-cookie']?.[0]?.split(';')[0];
        resolve({ status: res.statusCode ?? 0, body: text, setCookie: cookie });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------
// Legitimate load (127.0.0.1)

interface Ports {
  readonly native: number;
  readonly http: number;
  readonly udp: number;
}

interface Latencies {
  readonly points: number[];
  readonly put: number[];
}

async function legitimateLoad(ports: Ports, until: number, ledger: Ledger, latency: Latencies, workDir: string): Promise<void> {
  const sources = await Promise.all([0, 1, 2, 3].map(async (i) => {
    const path = join(workDir, `source-${i}.bin`);
    return { path, sha256: await writeRandomFile(path, MiB) };
  }));
  const loggedIn = async (who: { name: string; password: string }): Promise<GridlinkClient> => {
    const client = await GridlinkClient.connect({ host: LOOPBACK, port: ports.native });
    await client.login(who.name, who.password);
    return client;
  };

  const transfers = [0, 1].map(async (c) => {
    const client = await loggedIn(OPERATOR);
    await client.mkdir(`soak-${c}`, true);
    let i = 0;
    await loop(until, 200, async () => {
      const source = sources[i % sources.length]!;
      const remote = `soak-${c}/file-${i % 8}.bin`;
      const back = join(workDir, `back-${c}.bin`);
      i += 1;
      const put = await timed(latency.put, () => client.put(source.path, remote));
      if (put.sha256 !== source.sha256) throw new Error(`put ${remote}: sha256 ${put.sha256}`);
      await client.get(remote, back);
      if ((await sha256File(back)) !== source.sha256) throw new Error(`get ${remote}: bytes differ`);
      if (i % 5 === 0) await client.rm(remote);
      ledger.ok('transfer');
    }, (err) => ledger.failed('transfer', err));
    await client.close();
  });

  const points = (async () => {
    const client = await loggedIn(VIEWER);
    await loop(until, 100, async () => {
      const list = await timed(latency.points, () => client.points());
      if (list.length === 0) throw new Error('points: none');
      ledger.ok('points');
    }, (err) => ledger.failed('points', err));
    await client.close();
  })();

  const watch = (async () => {
    const client = await loggedIn(VIEWER);
    let events = 0;
    await client.watch(undefined, { onEvent: () => (events += 1) });
    // The simulator's noise moves values every second: each 10 s window must bring events.
    await loop(until, 10_000, async () => {
      const before = events;
      await sleep(Math.min(10_000, Math.max(0, until - Date.now())));
      if (Date.now() < until - 100) {
        if (events === before) throw new Error('watch: no event in 10 s');
        ledger.ok('watch');
      }
    }, (err) => ledger.failed('watch', err));
    await client.unwatch();
    await client.close();
  })();

  const chat = (async () => {
    const speaker = await loggedIn(OPERATOR);
    const listener = await loggedIn(VIEWER);
    const seen: number[] = [];
    await listener.joinChat('ops', 'listener', (event) => {
      if (event.type === 'message' && event.from === 'speaker') seen.push(Number(event.text));
    });
    await speaker.joinChat('ops', 'speaker', () => undefined);
    let sent = 0;
    await loop(until, 250, async () => {
      sent += 1;
      await speaker.say('ops', String(sent));
      ledger.ok('chat say');
    }, (err) => ledger.failed('chat say', err));
    await sleep(1_000);
    // Every message arrived once, in order.
    for (let n = 1; n <= sent; n += 1) {
      if (seen[n - 1] === n) ledger.ok('chat delivery');
      else ledger.failed('chat delivery', `message ${n} missing or out of order (got ${seen[n - 1]})`);
    }
    await speaker.close();
    await listener.close();
  })();

  // A UDP member of the lobby (the course's client) and a native member that must hear it.
  const legacy = (async () => {
    const lobby = await loggedIn(VIEWER);
    const heard = new Set<string>();
    await lobby.joinChat('lobby', 'desk', (event) => {
      if (event.type === 'message' && event.from === 'fieldman') heard.add(event.text ?? '');
    });
    const udp = createSocket('udp4');
    const got: string[] = [];
    udp.on('message', (data) => got.push(data.toString('utf8')));
    await new Promise<void>((resolve) => udp.bind(0, LOOPBACK, () => resolve()));
    const say = (text: string): void => udp.send(Buffer.from(text, 'utf8'), ports.udp, LOOPBACK);
    say('L fieldman');
    await sleep(500);
    if (got[0] === 'OK') ledger.ok('udp login');
    else ledger.failed('udp login', `answer ${JSON.stringify(got[0])}`);
    let n = 0;
    await loop(until, 1_000, async () => {
      n += 1;
      const text = `reading ${n}`;
      say(`C fieldman ${text}`);
      await sleep(500);
      if (!heard.has(text)) throw new Error(`${text} not heard in lobby`);
      ledger.ok('udp line');
    }, (err) => ledger.failed('udp line', err));
    say('Q fieldman');
    await sleep(200);
    udp.close();
    await lobby.close();
  })();

  const web = (async () => {
    const loginAnswer = await http(ports.http, 'POST', '/api/login', { 'content-type': 'application/json' }, JSON.stringify({ user: VIEWER.name, password: VIEWER.password }));
    if (loginAnswer.status !== 200 || loginAnswer.setCookie === undefined) throw new Error(`web login: ${loginAnswer.status} ${loginAnswer.body}`);
    const cookie = loginAnswer.setCookie;
    await loop(until, 500, async () => {
      for (const path of ['/api/session', '/api/points', '/']) {
        const res = await http(ports.http, 'GET', path, path === '/' ? {} : { cookie });
        if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.body.slice(0, 200)}`);
      }
      ledger.ok('web');
    }, (err) => ledger.failed('web', err));
  })();

  const results = await Promise.allSettled([...transfers, points, watch, chat, legacy, web]);
  for (const r of results) if (r.status === 'rejected') ledger.failed('setup', r.reason);
}

// ---------------------------------------------------------------------------
// Hostile loads (127.0.0.2 …), each bounded in count and time

async function guessPasswords(ports: Ports, until: number): Promise<void> {
  // Every 5 s: 20 simultaneous native password guesses and 20 web ones, half for a real name, half for unknown ones.
  await loop(until, 5_000, async () => {
    const conns = await Promise.all(Array.from({ length: 20 }, () => RawNative.open(ports.native, HOSTILE.nativeGuess)));
    const native = await Promise.all(conns.map((c, i) => c.request({ cmd: 'auth.password', user: i % 2 === 0 ? VICTIM.name : `nobody-${i}`, password: `guess-${i}` })));
    for (const c of conns) c.close();
    for (const reply of native) tally('password guesses (native)', reply.cmd === 'error' ? String(reply['code']) : 'LOGGED IN');
    const web = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      http(ports.http, 'POST', '/api/login', { 'content-type': 'application/json' }, JSON.stringify({ user: i % 2 === 0 ? VICTIM.name : `nobody-${i}`, password: `guess-${i}` }), HOSTILE.webGuess),
    ));
    for (const res of web) tally('password guesses (web)', `HTTP ${res.status}`);
  }, (err) => tally('password guesses (native)', `round failed: ${String(err).slice(0, 60)}`));
}

async function exhaustConnections(ports: Ports, until: number): Promise<void> {
  // Every 30 s: 300 sockets from one address, held 10 s, then released.
  await loop(until, 20_000, async () => {
    const sockets: Socket[] = [];
    const busy = { refused: 0 };
    for (let i = 0; i < 300 && Date.now() < until; i += 1) {
      const socket = connect({ host: LOOPBACK, port: ports.native, localAddress: HOSTILE.exhaust });
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        if (chunk.includes('GL_ERR_SERVER_BUSY')) busy.refused += 1;
      });
      sockets.push(socket);
      await new Promise((resolve) => socket.once('connect', resolve).once('error', resolve));
    }
    await sleep(Math.min(10_000, Math.max(0, until - Date.now())));
    tally('300 sockets from one address', 'rounds');
    highest('300 sockets from one address', 'refused GL_ERR_SERVER_BUSY per round', busy.refused);
    for (const socket of sockets) socket.destroy();
  }, () => tally('300 sockets from one address', 'round failed'));
}

async function slowHeaders(ports: Ports, until: number): Promise<void> {
  // 10 connections, each sending a header one byte a second; a closed one is replaced.
  const frame = encodeHeader({ v: 1, id: 1, cmd: 'ping' });
  await Promise.all(Array.from({ length: 10 }, async () => {
    while (Date.now() < until) {
      const started = Date.now();
      const socket = connect({ host: LOOPBACK, port: ports.native, localAddress: HOSTILE.slowHeader });
      let received = '';
      let closed = false;
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
      socket.once('close', () => (closed = true));
      for (let i = 0; !closed && Date.now() < until; i = (i + 1) % frame.length) {
        socket.write(frame.subarray(i, i + 1));
        if (i === frame.length - 1) tally('headers at 1 byte/s', 'HEADER COMPLETED');
        await sleep(1_000);
      }
      socket.destroy();
      if (closed) {
        tally('headers at 1 byte/s', received.includes('GL_ERR_SERVER_TIMEOUT') ? 'closed GL_ERR_SERVER_TIMEOUT' : 'closed otherwise');
        highest('headers at 1 byte/s', 'longest life (s)', Math.round((Date.now() - started) / 1000));
      }
    }
  }));
}

async function udpAmplification(ports: Ports, until: number): Promise<void> {
  const sockets: UdpSocket[] = [];
  const open = async (address: string, onMessage: (data: Buffer) => void): Promise<UdpSocket> => {
    const socket = createSocket('udp4');
    socket.on('message', onMessage);
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.bind(0, address, () => resolve()));
    sockets.push(socket);
    return socket;
  };
  const send = (socket: UdpSocket, text: string): void => socket.send(Buffer.from(text, 'utf8'), ports.udp, LOOPBACK);
  // The reflection target: an address holding names, whose bytes received are measured.
  let received = 0;
  const victim = await open(HOSTILE.udpVictim, (data) => (received += data.length));
  for (let i = 0; i < 10; i += 1) send(victim, `L target${i}`);
  // One address tries to grab 40 names from 40 ports; the accepted ones then flood the lobby.
  const talkers: Array<{ socket: UdpSocket; name: string }> = [];
  for (let i = 0; i < 40; i += 1) {
    const name = `grab${i}`;
    const socket = await open(HOSTILE.udpGrab, (data) => {
      const text = data.toString('utf8');
      if (text === 'OK') {
        talkers.push({ socket, name });
        tally('UDP names and flood', 'names granted to one address');
      } else if (text.startsWith('ERROR GL_ERR_SERVER_BUSY')) tally('UDP names and flood', 'names refused');
    });
    send(socket, `L ${name}`);
  }
  await sleep(500);
  const floodStart = Date.now();
  received = 0;
  const line = 'x'.repeat(1_000);
  // 100 lines of 1,000 bytes a second into the lobby.
  await loop(until, 100, () => {
    for (const { socket, name } of talkers.slice(0, 4)) for (let i = 0; i < 2; i += 1) send(socket, `C ${name} ${line}`);
    tally('UDP names and flood', 'lines sent', Math.min(4, talkers.length) * 2);
    return Promise.resolve();
  }, () => undefined);
  for (const { socket, name } of talkers) send(socket, `Q ${name}`);
  for (let i = 0; i < 10; i += 1) send(victim, `Q target${i}`);
  await sleep(300);
  // Averaged over the flood: bucketing by arrival second would blame one second for datagrams this busy process read late.
  highest('UDP names and flood', 'bytes/s to the target address (mean over the flood)', Math.round(received / ((Date.now() - floodStart) / 1000)));
  for (const socket of sockets) socket.close();
}

async function foreignHost(ports: Ports, until: number): Promise<void> {
  await loop(until, 2_000, async () => {
    const evil = { host: 'evil.example', origin: 'http://evil.example' };
    const page = await http(ports.http, 'GET', '/', evil, undefined, HOSTILE.foreignHost);
    const login = await http(ports.http, 'POST', '/api/login', { ...evil, 'content-type': 'application/json' }, JSON.stringify({ user: VIEWER.name, password: VIEWER.password }), HOSTILE.foreignHost);
    tally('Host: evil.example', `page HTTP ${page.status}`);
    tally('Host: evil.example', `login HTTP ${login.status}`);
  }, () => tally('Host: evil.example', 'round failed'));
}

/** Announces 100 MB and writes until the server closes; resolves with the bytes written. */
function bigBody(port: number, method: string, path: string): Promise<{ status: string; written: number }> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port, localAddress: HOSTILE.bigBody });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const total = 100_000_000;
    let written = 0;
    let status = '';
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status, written });
    };
    const timer = setTimeout(finish, 30_000);
    socket.on('data', (data: Buffer) => (status ||= data.toString('latin1').split('\r\n', 1)[0] ?? ''));
    socket.on('error', finish);
    socket.on('close', finish);
    socket.once('connect', () => {
      socket.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${total}\r\n\r\n`);
      const pump = (): void => {
        while (!done && written < total) {
          written += chunk.length;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
        if (written >= total) setTimeout(finish, 1_000);
      };
      pump();
    });
  });
}

async function bigBodies(ports: Ports, until: number): Promise<void> {
  await loop(until, 10_000, async () => {
    for (const [method, path] of [['GET', '/metrics'], ['GET', '/'], ['POST', '/api/nowhere']] as const) {
      const out = await bigBody(ports.http, method, path);
      tally('100 MB bodies', `${out.status.slice(9, 12)} answers`);
      highest('100 MB bodies', 'max MB written before close', Math.round(toMB(out.written)));
    }
  }, () => tally('100 MB bodies', 'round failed'));
}

async function fileAttacks(ports: Ports, until: number): Promise<void> {
  const conn = await RawNative.open(ports.native, HOSTILE.files);
  const login = await conn.request({ cmd: 'auth.password', user: MALLORY.name, password: MALLORY.password });
  if (login.cmd === 'error') throw new Error(`mallory login: ${String(login['code'])}`);
  const body = randomBytes(MiB);
  const sha256 = createHash('sha256').update(body).digest('hex');
  const put = async (path: string): Promise<FrameHeader> => {
    const open = await conn.request({ cmd: 'put.open', path, length: body.length });
    if (open.cmd === 'error') return open;
    const data = await conn.request({ cmd: 'put.data', upload: open['upload'], size: body.length }, body);
    if (data.cmd === 'error') return data;
    return conn.request({ cmd: 'put.commit', upload: open['upload'], sha256 });
  };
  await put('X');
  let copy = 0;
  await loop(until, 1_000, async () => {
    if (conn.closed) throw new Error('mallory connection closed');
    // Finding 1: replace X with a same-size upload, move X away before the data comes.
    const open = await conn.request({ cmd: 'put.open', path: 'X', length: body.length });
    if (open.cmd === 'error') tally('quota bypass (put.open X, mv X, put.data)', String(open['code']));
    else {
      copy += 1;
      const mv = await conn.request({ cmd: 'mv', from: 'X', to: `copy${copy}` });
      const data = await conn.request({ cmd: 'put.data', upload: open['upload'], size: body.length }, body);
      const commit = data.cmd === 'error' ? data : await conn.request({ cmd: 'put.commit', upload: open['upload'], sha256 });
      tally('quota bypass (put.open X, mv X, put.data)', `mv ${mv.cmd === 'error' ? String(mv['code']) : 'ok'}, commit ${commit.cmd === 'error' ? String(commit['code']) : 'ok'}`);
    }
    // Finding 7: names that mislead operators, and many entries.
    for (const name of ['evil\u202Etxt.exe', 'line\u2028break', '   ', 'trailing ']) {
      const reply = await conn.request({ cmd: 'mkdir', path: name });
      tally('misleading names', reply.cmd === 'error' ? String(reply['code']) : 'CREATED');
    }
    const made: string[] = [];
    for (let i = 0; i < 50; i += 1) {
      const reply = await conn.request({ cmd: 'mkdir', path: `d${copy}-${i}` });
      if (reply.cmd !== 'error') made.push(`d${copy}-${i}`);
    }
    for (const dir of made) await conn.request({ cmd: 'rmdir', path: dir });
    // Keep going: clear the copies now and then, as an attacker freeing space would.
    if (copy % 10 === 0) for (let i = copy - 9; i <= copy; i += 1) await conn.request({ cmd: 'rm', path: `copy${i}` });
  }, (err) => tally('quota bypass (put.open X, mv X, put.data)', `round failed: ${String(err).slice(0, 60)}`));
  conn.close();
}

async function anonymousUploads(ports: Ports, until: number): Promise<void> {
  const body = randomBytes(50 * MiB);
  const sha256 = createHash('sha256').update(body).digest('hex');
  let n = 0;
  await loop(until, 20_000, async () => {
    const conn = await RawNative.open(ports.native, HOSTILE.anonymous);
    try {
      n += 1;
      const open = await conn.request({ cmd: 'put.open', path: `anon-${n}.bin`, length: body.length });
      const data = open.cmd === 'error' ? open : await conn.request({ cmd: 'put.data', upload: open['upload'], size: body.length }, body);
      const commit = data.cmd === 'error' ? data : await conn.request({ cmd: 'put.commit', upload: open['upload'], sha256 });
      tally('50 MiB anonymous uploads', commit.cmd === 'error' ? String(commit['code']) : 'stored');
    } finally {
      conn.close();
    }
  }, () => tally('50 MiB anonymous uploads', 'round failed'));
}

// ---------------------------------------------------------------------------
// Usage against the disk

async function diskBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) bytes += await diskBytes(path);
    else if (entry.isFile()) bytes += (await lstat(path)).size;
  }
  return bytes;
}

/** The usage the server counts for an area, from the GL_ERR_FILE_QUOTA of an upload one byte over any quota. */
async function countedUsage(port: number, who: { name: string; password: string } | null, quota: number): Promise<string> {
  const conn = await RawNative.open(port, LOOPBACK);
  try {
    if (who !== null) await conn.request({ cmd: 'auth.password', user: who.name, password: who.password });
    const reply = await conn.request({ cmd: 'put.open', path: 'usage-probe.bin', length: quota + 1 });
    return /used ([\d.]+ [KMGT]?i?B)/u.exec(String(reply['message']))?.[1] ?? `(no usage in ${typeof reply['code'] === 'string' ? reply['code'] : reply.cmd})`;
  } finally {
    conn.close();
  }
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const workDir = await makeTempDir('gridlink-soak-');
  const ports = { http: await freePort(), udp: await freePort(), modbus: await freePort() };
  const server = await startGridlink({
    dir: workDir,
    config: {
      http: { enabled: true, host: LOOPBACK, port: ports.http },
      legacyChat: { enabled: true, host: LOOPBACK, port: ports.udp },
      scada: { enabled: true, simulator: { port: ports.modbus } },
      anonymous: { enabled: true, writable: true, quota: ANONYMOUS_QUOTA },
      files: { durable: false },
    },
  });
  const all: Ports = { native: server.port, http: ports.http, udp: ports.udp };
  const admin = await AdminClient.connect(join(server.dataDir, 'admin.sock'));
  await admin.addUser(OPERATOR.name, OPERATOR.password, { role: 'operator', quotaBytes: 256 * MiB });
  await admin.addUser(VIEWER.name, VIEWER.password, { role: 'viewer' });
  await admin.addUser(VICTIM.name, VICTIM.password, { role: 'operator' });
  await admin.addUser(MALLORY.name, MALLORY.password, { role: 'viewer', quotaBytes: MALLORY.quota });
  await admin.close();

  const start = Date.now();
  const until = start + MINUTES * 60_000;
  process.stderr.write(`soak: ${MINUTES} min against ${REPO_ROOT}/bin/gridlink.js (pid ${server.process.pid}), hostile loads from 127.0.0.2-11\n`);
  let rssMax = 0;
  const sampler = (async () => {
    while (Date.now() < until) {
      rssMax = Math.max(rssMax, await rssBytes(server.process.pid).catch(() => 0));
      await sleep(1_000);
    }
  })();
  const rssByMinute: number[] = [];
  const progress = setInterval(() => {
    void rssBytes(server.process.pid).then((rss) => {
      rssByMinute.push(rss);
      process.stderr.write(`soak: ${Math.round((Date.now() - start) / 60_000)} of ${MINUTES} min, server RSS ${fixed(toMB(rss))} MB\n`);
    }, () => undefined);
  }, 60_000);
  const ledger = new Ledger();
  const latency: Latencies = { points: [], put: [] };
  await Promise.all([
    legitimateLoad(all, until, ledger, latency, workDir),
    guessPasswords(all, until),
    exhaustConnections(all, until),
    slowHeaders(all, until),
    udpAmplification(all, until),
    foreignHost(all, until),
    bigBodies(all, until),
    fileAttacks(all, until),
    anonymousUploads(all, until),
    sampler,
  ]);
  clearInterval(progress);
  const peak = await peakRssBytes(server.process.pid);
  await sleep(1_000); // the last uploads settle

  const areas = [
    { area: `home of ${OPERATOR.name}`, dir: gridlinkHomeDir(server.dataDir, OPERATOR.name), who: OPERATOR, quota: 256 * MiB },
    { area: `home of ${MALLORY.name} (quota bypass)`, dir: gridlinkHomeDir(server.dataDir, MALLORY.name), who: MALLORY, quota: MALLORY.quota },
    { area: 'anonymous area', dir: server.anonymousDir, who: null, quota: ANONYMOUS_QUOTA },
  ];
  const usage = await Promise.all(areas.map(async (a) => {
    const disk = await diskBytes(a.dir);
    const counted = await countedUsage(server.port, a.who, a.quota);
    return { area: a.area, quota: formatBytes(a.quota), disk: formatBytes(disk), diskBytes: disk, counted, equal: counted === formatBytes(disk) };
  }));
  await server.process.stop();

  const total = ledger.total;
  const correct = (100 * total.ok) / Math.max(1, total.ok + total.failed);
  const pointsSorted = [...latency.points].sort((a, b) => a - b);
  const putSorted = [...latency.put].sort((a, b) => a - b);
  const p = (sorted: number[], q: number): number => (sorted.length === 0 ? Number.NaN : percentile(sorted, q));
  console.log(`\n## Soak: ${MINUTES} min of legitimate load beside the hostile loads\n`);
  console.log(markdownTable(['legitimate operation', 'correct', 'failed'], ledger.rows().map((r) => [r.kind, String(r.ok), String(r.failed)])));
  console.log(`\nlegitimate operations correct: ${fixed(correct, 3)} % (${total.ok} of ${total.ok + total.failed})`);
  console.log(`points call: p50 ${fixed(p(pointsSorted, 50))} ms, p99 ${fixed(p(pointsSorted, 99))} ms (${pointsSorted.length} calls)`);
  console.log(`1 MiB put: p50 ${fixed(p(putSorted, 50))} ms, p99 ${fixed(p(putSorted, 99))} ms (${putSorted.length} puts)`);
  console.log(`server RSS: max ${fixed(toMB(rssMax))} MB sampled each second, VmHWM ${fixed(toMB(peak))} MB; by minute: ${rssByMinute.map((r) => fixed(toMB(r), 0)).join(', ')} MB`);
  console.log('\n### Hostile loads\n');
  console.log(markdownTable(['load', 'outcome', 'count'], [...hostile].flatMap(([load, outcomes]) => Object.entries(outcomes).map(([k, v]) => [load, k, String(v)]))));
  console.log('\n### Usage the server counts against the disk\n');
  console.log(markdownTable(['area', 'quota', 'on disk', 'counted', 'equal'], usage.map((u) => [u.area, u.quota, u.disk, u.counted, u.equal ? 'yes' : 'NO'])));
  if (ledger.failures.length > 0) console.log(`\nfirst failures:\n${ledger.failures.map((f) => `- ${f}`).join('\n')}`);
  await writeJson(join(REPO_ROOT, 'bench', 'results', 'soak.json'), {
    ...runInfo('soak', MINUTES < 30),
    minutes: MINUTES,
    legitimate: { correctPercent: correct, ...total, byKind: ledger.rows(), failures: ledger.failures },
    pointsMs: { p50: p(pointsSorted, 50), p99: p(pointsSorted, 99), count: pointsSorted.length },
    put1MiBMs: { p50: p(putSorted, 50), p99: p(putSorted, 99), count: putSorted.length },
    serverRss: { maxSampledBytes: rssMax, peakBytes: peak, byMinute: rssByMinute },
    hostile: Object.fromEntries(hostile),
    usage,
  });
  if (total.failed > 0 || usage.some((u) => !u.equal)) process.exitCode = 1;
}

await runBenchmark(main);
