import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { encodeHeader } from '../codec/index.js';
import { GridlinkError } from '../errors/index.js';
import { Session, type SessionOptions } from './session.js';

/** Connections one address (an IPv6 /64) may hold by default (docs/security.md). */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 256;
/** Time to complete a frame header once its first byte arrived, by default. */
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000;

export interface NativeListenerOptions {
  readonly host: string;
  readonly port: number;
  /** Connections at most; by default derived from the open-files limit ({@link connectionCapFor}). */
  readonly maxConnections?: number | undefined;
  /** Connections from one address (IPv6: one /64) at most. */
  readonly maxConnectionsPerAddress?: number | undefined;
  /** A frame header must be complete this long after its first byte arrived. */
  readonly headerTimeoutMs?: number | undefined;
  /** PEM certificate and key; when set the listener speaks TLS (docs/protocol.md). */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  readonly session: SessionOptions;
  readonly logger: Logger;
}

/**
 * Descriptors kept for everything but native connections: the SQLite
 * databases and their journals, the log, the admin socket and its clients,
 * the listeners, hash workers, and the files of running transfers (two each
 * for files.maxActiveTransfers, 64 by default).
 */
const FIXED_RESERVE = 512;
/** Share of the rest kept for HTTP (page, API, uploads, WebSockets). */
const HTTP_SHARE = 0.25;
/** Refused sockets that may linger while their error frame leaves; beyond, they are cut at once (and Node drops what exceeds even that). */
const REFUSAL_SLOTS = 64;
/** The cap when the open-files limit is huge or unlimited: memory, not descriptors, is then what runs out. */
const MAX_DEFAULT_CONNECTIONS = 20_000;
/** The open-files limit assumed where /proc/self/limits cannot be read (the usual soft limit). */
const FALLBACK_OPEN_FILES = 1_024;
/** A refusal is logged at most once per address in this time; the others are counted. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;
/** How long a refused socket may linger for its error frame. */
const REFUSAL_LINGER_MS = 1_000;

/**
 * The soft limit on open files of this process ("Max open files" in
 * /proc/self/limits, what `ulimit -n` shows); Node has no API for it.
 * {@link FALLBACK_OPEN_FILES} where it cannot be read.
 */
export function openFilesLimit(): number {
  try {
    const line = /^Max open files\s+(\S+)/mu.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    if (line === 'unlimited') return Number.MAX_SAFE_INTEGER;
    const limit = Number(line);
    return Number.isSafeInteger(limit) && limit > 0 ? limit : FALLBACK_OPEN_FILES;
  } catch {
    return FALLBACK_OPEN_FILES;
  }
}

/**
 * The default connection cap for an open-files limit: what is left after the
 * fixed reserve and the refusal slots, less HTTP's share, at most 20,000
 * (docs/security.md). 20,000 descriptors give 14,568 connections, 1,024 give 336.
 */
export function connectionCapFor(openFiles: number): number {
  const usable = openFiles - FIXED_RESERVE - REFUSAL_SLOTS;
  return Math.max(1, Math.min(MAX_DEFAULT_CONNECTIONS, Math.floor(usable * (1 - HTTP_SHARE))));
}

/**
 * What connections are counted by: the IPv4 address (an IPv4-mapped IPv6
 * address as IPv4), or an IPv6 address's /64, which one host usually has
 * whole.
 */
export function addressKey(address: string): string {
  const bare = address.split('%')[0]!;
  if (!bare.includes(':')) return bare;
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/iu.test(bare)) return bare.slice(7);
  const [head = '', tail] = bare.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? front : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${groups
    .slice(0, 4)
    .map((g) => (Number.parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}

/**
 * Log lines about one address at most once per interval: the first is
 * written, later ones are counted and their number written with the next
 * line (or alone, when the interval is over), so a flood cannot flood the
 * log and no refusal goes uncounted.
 */
class RateLimitedLog {
  readonly #logger: Logger;
  readonly #event: string;
  readonly #message: string;
  readonly #level: 'warn' | 'info';
  readonly #entries = new Map<string, { since: number; suppressed: number; fields: Record<string, unknown> }>();
  readonly #timer: NodeJS.Timeout;

  constructor(logger: Logger, level: 'warn' | 'info', event: string, message: string) {
    this.#logger = logger;
    this.#level = level;
    this.#event = event;
    this.#message = message;
    this.#timer = setInterval(() => this.#flush(false), REFUSAL_LOG_INTERVAL_MS).unref();
  }

  note(address: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    const entry = this.#entries.get(address);
    if (entry !== undefined && now - entry.since < REFUSAL_LOG_INTERVAL_MS) {
      entry.suppressed += 1;
      entry.fields = fields;
      return;
    }
    this.#logger[this.#level]({ event: this.#event, address, ...fields, suppressed: entry?.suppressed ?? 0 }, this.#message);
    this.#entries.delete(address);
    this.#entries.set(address, { since: now, suppressed: 0, fields });
    // Bounded: a flood of addresses forgets the oldest (their counts are written first).
    if (this.#entries.size > 10_000) {
      const [oldest, old] = this.#entries.entries().next().value!;
      this.#entries.delete(oldest);
      if (old.suppressed > 0) this.#write(oldest, old);
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#flush(true);
  }

  #flush(all: boolean): void {
    const now = Date.now();
    for (const [address, entry] of this.#entries) {
      if (!all && now - entry.since < REFUSAL_LOG_INTERVAL_MS) continue;
      if (entry.suppressed === 0) {
        this.#entries.delete(address);
        continue;
      }
      this.#write(address, entry);
      entry.since = now;
      entry.suppressed = 0;
    }
  }

  #write(address: string, entry: { suppressed: number; fields: Record<string, unknown> }): void {
    this.#logger[this.#level]({ event: this.#event, address, ...entry.fields, suppressed: entry.suppressed }, `${this.#message} (${entry.suppressed} not logged)`);
  }
}

/**
 * The TCP (or TLS) listener of the native protocol: accepts connections up to
 * a total and a per-address limit (docs/security.md), gives each a
 * {@link Session}, and shuts down gracefully. A connection over a limit gets
 * `GL_ERR_SERVER_BUSY` and is closed (over TLS, closed before the handshake),
 * with a log line at most once per address per 10 s.
 */
export class NativeListener {
  readonly #options: NativeListenerOptions;
  readonly #sessionOptions: SessionOptions;
  readonly #server: Server;
  readonly #sessions = new Set<Session>();
  /** Every admitted raw socket, including TLS ones still in their handshake (no session yet). */
  readonly #sockets = new Set<Socket>();
  /** Admitted sockets by {@link addressKey}. */
  readonly #perAddress = new Map<string, number>();
  /** Refused sockets whose error frame is still leaving. */
  readonly #refusing = new Set<Socket>();
  readonly #maxConnections: number;
  readonly #maxPerAddress: number;
  readonly #refusals: RateLimitedLog;
  readonly #tlsErrors: RateLimitedLog;
  #accepted = 0;

  constructor(options: NativeListenerOptions) {
    this.#options = options;
    this.#maxConnections = options.maxConnections ?? connectionCapFor(openFilesLimit());
    this.#maxPerAddress = options.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
    this.#sessionOptions = { ...options.session, headerTimeoutMs: options.headerTimeoutMs ?? options.session.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS };
    this.#refusals = new RateLimitedLog(options.logger, 'warn', 'conn.refused_busy', 'connection refused: over the connection limit');
    this.#tlsErrors = new RateLimitedLog(options.logger, 'info', 'conn.tls_error', 'TLS handshake failed');
    this.#server =
      options.tls === undefined
        ? createServer({ allowHalfOpen: true, noDelay: true })
        : createTlsServer({ allowHalfOpen: true, cert: options.tls.cert, key: options.tls.key, handshakeTimeout: 10_000 }, (socket: Socket) => this.#accept(socket));
    // Raw sockets, before any TLS handshake: the limits apply here.
    this.#server.on('connection', (socket: Socket) => this.#onConnection(socket));
    // The last line of defence: Node itself drops connections beyond these.
    this.#server.maxConnections = this.#maxConnections + REFUSAL_SLOTS;
    this.#server.on('drop', (data?: { remoteAddress?: string }) => {
      this.#refusals.note(addressKey(data?.remoteAddress ?? 'unknown'), { scope: 'total', limit: this.#maxConnections, dropped: true });
    });
    // A TLS handshake that fails must not take the listener down.
    this.#server.on('tlsClientError', (err: Error, socket: Socket) => this.#tlsErrors.note(addressKey(socket.remoteAddress ?? 'unknown'), { err: err.message }));
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen({ host: this.#options.host, port: this.#options.port, backlog: 4096 }, () => {
        this.#server.off('error', onError);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  get connections(): number {
    return this.#sessions.size;
  }

  get accepted(): number {
    return this.#accepted;
  }

  /** The connection cap in force (configured, or derived from the open-files limit). */
  get maxConnections(): number {
    return this.#maxConnections;
  }

  get sessions(): ReadonlySet<Session> {
    return this.#sessions;
  }

  /**
   * Stops accepting, lets running transfers finish for up to `graceMs`, then
   * cuts what is left. Partial uploads stay in staging, so nothing half-written
   * becomes visible and the clients can resume.
   */
  async close(graceMs: number): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const session of this.#sessions) session.drain();
    const deadline = Date.now() + graceMs;
    while (this.#sessions.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
    for (const socket of this.#refusing) socket.destroy();
    this.#refusals.close();
    this.#tlsErrors.close();
    await stopped;
  }

  #onConnection(socket: Socket): void {
    const key = addressKey(socket.remoteAddress ?? 'unknown');
    const fromThere = this.#perAddress.get(key) ?? 0;
    if (this.#sockets.size >= this.#maxConnections) return this.#refuse(socket, key, 'total', this.#maxConnections);
    if (fromThere >= this.#maxPerAddress) return this.#refuse(socket, key, 'address', this.#maxPerAddress);
    this.#sockets.add(socket);
    this.#perAddress.set(key, fromThere + 1);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      const left = (this.#perAddress.get(key) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(key, left);
      else this.#perAddress.delete(key);
    });
    if (this.#options.tls === undefined) this.#accept(socket);
  }

  #refuse(socket: Socket, key: string, scope: 'total' | 'address', limit: number): void {
    this.#refusals.note(key, { scope, limit });
    socket.on('error', () => undefined);
    // Before a TLS handshake nothing can be said; and refused sockets must not pile up.
    if (this.#options.tls !== undefined || this.#refusing.size >= REFUSAL_SLOTS) {
      socket.destroy();
      return;
    }
    this.#refusing.add(socket);
    socket.once('close', () => this.#refusing.delete(socket));
    const error = new GridlinkError('GL_ERR_SERVER_BUSY', scope === 'total' ? `${limit} connections` : `${limit} connections from ${key}`);
    socket.end(encodeHeader({ cmd: 'error', code: error.code, message: error.message }));
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  }

  #accept(socket: Socket): void {
    this.#accepted += 1;
    const session = new Session(socket, this.#sessionOptions);
    this.#sessions.add(session);
    socket.once('close', () => this.#sessions.delete(session));
  }
}
