import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { lstat, readdir } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { ConfigInput } from '../../src/config/schema.js';
import { run, type RunResult } from '../helpers/python.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * A test server with the FTP front on (a port the OS picks, passive ports
 * too); the web HMI and the SCADA data plane off, which FTP does not use.
 */
export async function startFtpServer(overrides: ConfigInput = {}): Promise<TestServer & { ftpPort: number }> {
  const server = await startTestServer({
    ...overrides,
    http: { enabled: false, ...(overrides.http ?? {}) },
    scada: { enabled: false, ...(overrides.scada ?? {}) },
    ftp: { enabled: true, ...(overrides.ftp ?? {}) },
  });
  const address = server.server.ftpAddress;
  if (address === null) throw new Error('the FTP front did not start');
  return { ...server, ftpPort: address.port };
}

/** A self-signed certificate for 127.0.0.1 (as tests/server/tls-and-passwords.test.ts makes one). */
export function makeCertificate(dir: string): { cert: string; key: string } {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

/** Bytes of the regular files below `dir`, as the disk has them. */
export async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await diskBytes(path);
    else if (entry.isFile()) total += (await lstat(path)).size;
  }
  return total;
}

/**
 * lftp, isolated from the machine's settings (its own HOME), failing fast:
 * `commands` run after the login, `;`-separated.
 */
export function lftp(port: number, user: string, password: string, commands: string, options: { home: string; cwd?: string; timeoutMs?: number; tls?: { ca: string } } = { home: '/tmp' }): Promise<RunResult> {
  const settings = [
    'set cmd:fail-exit true',
    'set net:max-retries 1',
    'set net:timeout 15',
    'set net:reconnect-interval-base 1',
    'set xfer:clobber on',
    ...(options.tls === undefined ? ['set ftp:ssl-allow no'] : ['set ftp:ssl-force true', 'set ftp:ssl-protect-data true', `set ssl:ca-file ${options.tls.ca}`]),
  ];
  return run('lftp', ['-u', `${user},${password}`, '-p', String(port), '-e', `${settings.join('; ')}; ${commands}; quit`, '127.0.0.1'], {
    env: { ...process.env, HOME: options.home, LC_ALL: 'C.UTF-8' },
    cwd: options.cwd ?? options.home,
    timeoutMs: options.timeoutMs ?? 120_000,
  });
}

/** curl with the account (and, for `--ssl-reqd`, the CA) set; `args` after. */
export function curl(args: readonly string[], options: { user?: string; ca?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const base = ['--silent', '--show-error', '--fail', ...(options.user === undefined ? [] : ['--user', options.user]), ...(options.ca === undefined ? [] : ['--ssl-reqd', '--cacert', options.ca])];
  return run('curl', [...base, ...args], { timeoutMs: options.timeoutMs ?? 120_000 });
}

/** Starts a client process to be killed mid-transfer (its output is dropped). */
export function spawnClient(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn(command, args, { stdio: 'ignore', env });
}

/** Waits for a child process to be gone (after a SIGKILL). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** One FTP reply: its code and every line's text. */
export interface Reply {
  readonly code: number;
  readonly text: string;
}

/**
 * A raw FTP control connection for tests that must send what no real
 * client would (hostile names, bounce attempts, floods): one command,
 * one reply, nothing trusted.
 */
export class RawFtp {
  readonly socket: Socket;
  #buffer = '';
  #replies: Reply[] = [];
  #waiter: (() => void) | null = null;
  #closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.#buffer += text;
      this.#parse();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
  }

  static async connect(port: number, localAddress?: string): Promise<RawFtp> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, localAddress });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    const client = new RawFtp(socket);
    const greeting = await client.reply();
    if (greeting.code !== 220) throw new Error(`greeting: ${greeting.code} ${greeting.text}`);
    return client;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one line (CRLF added) and returns the reply. */
  async send(line: string): Promise<Reply> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** The next reply (waits for it); throws when the connection closes first. */
  async reply(timeoutMs = 15_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    while (this.#replies.length === 0) {
      if (this.#closed) throw new Error(`connection closed; received so far: ${JSON.stringify(this.#buffer)}`);
      if (Date.now() > deadline) throw new Error(`no reply within ${timeoutMs} ms; received so far: ${JSON.stringify(this.#buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.#replies.shift()!;
  }

  async login(user: string, password: string): Promise<void> {
    const first = await this.send(`USER ${user}`);
    if (first.code !== 331) throw new Error(`USER: ${first.code} ${first.text}`);
    const second = await this.send(`PASS ${password}`);
    if (second.code !== 230) throw new Error(`PASS: ${second.code} ${second.text}`);
  }

  /** EPSV, then a connection to the port it names. */
  async passive(localAddress?: string): Promise<Socket> {
    const reply = await this.send('EPSV');
    if (reply.code !== 229) throw new Error(`EPSV: ${reply.code} ${reply.text}`);
    const port = Number(/\|\|\|(\d+)\|/u.exec(reply.text)?.[1]);
    return new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, localAddress });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  #parse(): void {
    for (;;) {
      const match = /^(\d{3}) [^\r\n]*\r\n/mu.exec(this.#buffer);
      if (match === null) return;
      const end = match.index + match[0].length;
      const text = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end);
      this.#replies.push({ code: Number(match[1]), text: text.trimEnd() });
      this.#wake();
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }
}

/** Everything a data connection sends until it ends. */
export function readAll(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => parts.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(parts)));
    socket.once('error', reject);
  });
}
