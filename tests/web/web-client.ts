import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import type { ConfigInput } from '../../src/config/schema.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** One HTTP answer, body whole. */
export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  readonly text: string;
  json<T = unknown>(): T;
}

export interface WebTestServer extends TestServer {
  readonly httpPort: number;
  readonly origin: string;
}

/** A test server with its HTTP listener on a free loopback port. */
export async function startWebServer(overrides: ConfigInput = {}): Promise<WebTestServer> {
  const server = await startTestServer({ anonymous: { enabled: false }, scada: { enabled: false }, ...overrides });
  const address = server.server.httpAddress;
  if (address === null) throw new Error('http listener is off');
  return { ...server, httpPort: address.port, origin: `http://127.0.0.1:${address.port}` };
}

/**
 * A request exactly as given: the path is sent as it is (no URL
 * normalisation, unlike fetch), with the headers given and nothing else
 * besides Host and Content-Length.
 */
export function send(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(answer(res.statusCode ?? 0, res.headers, Buffer.concat(chunks))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A request written byte for byte on a socket, for what http.request refuses to send (NUL, raw bytes). */
export function sendRaw(port: number, head: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const headText = all.subarray(0, split === -1 ? all.length : split).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/u.exec(headText)?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of headText.split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve(answer(status, headers, split === -1 ? Buffer.alloc(0) : all.subarray(split + 4)));
    });
    socket.write(`${head}\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`, 'latin1');
  });
}

function answer(status: number, headers: Answer['headers'], body: Buffer): Answer {
  return { status, headers, body, text: body.toString('utf8'), json: <T>() => JSON.parse(body.toString('utf8')) as T };
}

/** A logged-in browser: its cookie and CSRF token. */
export interface Login {
  readonly cookie: string;
  readonly csrf: string;
  readonly role: string;
}

export async function login(port: number, user: string, password: string, headers: Record<string, string> = {}): Promise<Login> {
  const res = await send(port, 'POST', '/api/login', { 'content-type': 'application/json', ...headers }, JSON.stringify({ user, password }));
  if (res.status !== 200) throw new Error(`login of ${user} failed: ${res.status} ${res.text}`);
  const setCookie = res.headers['set-cookie'];
  const cookie = (Array.isArray(setCookie) ? setCookie[0]! : String(setCookie)).split(';')[0]!;
  const body = res.json<{ csrf: string; role: string }>();
  return { cookie, csrf: body.csrf, role: body.role };
}

/** Headers of a browser request of this session (cookie, CSRF token, own Origin). */
export function as(session: Login, port: number, extra: Record<string, string> = {}): Record<string, string> {
  return { cookie: session.cookie, 'x-csrf-token': session.csrf, origin: `http://127.0.0.1:${port}`, ...extra };
}

export const JSON_TYPE = { 'content-type': 'application/json' };
