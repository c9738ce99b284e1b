import { isIPv4, connect, createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { FtpReply } from './replies.js';

/**
 * An address as the FTP front compares them: an IPv4-mapped IPv6 address
 * (`::ffff:127.0.0.1`) is its IPv4 address, so one peer is one string.
 */
export function plainAddress(address: string | undefined): string {
  const bare = (address ?? '').split('%')[0]!;
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/iu.test(bare) ? bare.slice(7) : bare.toLowerCase();
}

/** True for 127.0.0.0/8 and ::1 (a password may then travel in clear, docs/ftp.md "Security"). */
export function isLoopback(address: string): boolean {
  const plain = plainAddress(address);
  return plain.startsWith('127.') || plain === '::1';
}

/**
 * Data connections stay open for writing after the peer's end
 * (`allowHalfOpen`), so that the end of an upload can be checked with
 * {@link endedCleanly} before anything closes it.
 */
const DATA_SOCKET_OPTIONS = { noDelay: true, allowHalfOpen: true } as const;
/**
 * A passive data connection reads nothing until its transfer starts
 * (`pauseOnConnect`): an upload can then take the socket over to read into
 * its own buffers (DirectReads), and anything else starts it with
 * {@link startReading}.
 */
const PASSIVE_SERVER_OPTIONS = { ...DATA_SOCKET_OPTIONS, pauseOnConnect: true } as const;

/** Starts reading a data connection accepted paused, as an accepted socket otherwise does at once (end and resets are seen). */
export function startReading(socket: Socket): void {
  if (socket.readableFlowing === false && !socket.destroyed) socket.read(0);
}

/**
 * True when the peer ended a data connection with a FIN, false when it was
 * reset. libuv reports a reset that arrives while the socket is not being
 * read (paused for backpressure) as an ordinary end of data, so an upload
 * cut by a reset would look complete. A zero-length write tells them
 * apart: it sends nothing, and fails only on a connection that was reset.
 * Over TLS the check is not possible (the TLS layer owns the socket): a
 * cut is then seen by the control connection's end, ABOR or the timeout.
 */
export function endedCleanly(socket: Socket): Promise<boolean> {
  if (socket instanceof TLSSocket) return Promise.resolve(true);
  if (socket.destroyed || socket.writableEnded) return Promise.resolve(false);
  return new Promise((resolve) => socket.write(Buffer.alloc(0), (err) => resolve(err === undefined || err === null)));
}

/**
 * The ports passive data connections may listen on (`ftp.passivePorts`):
 * a range, tried from a random point so sessions spread over it, or the
 * OS's choice (0). Ports this front holds are skipped without a bind.
 */
export class PassivePorts {
  readonly #first: number;
  readonly #last: number;
  readonly #held = new Set<number>();

  /** `range`: [first, last], or null for the OS's choice. */
  constructor(range: readonly [number, number] | null) {
    this.#first = range?.[0] ?? 0;
    this.#last = range?.[1] ?? 0;
  }

  /** A listening server on `host` and a port of the range; 425 when none is free. */
  async listen(host: string): Promise<{ server: Server; port: number; release: () => void }> {
    if (this.#first === 0) {
      const server = createServer(PASSIVE_SERVER_OPTIONS);
      const port = await bind(server, host, 0);
      return { server, port, release: () => undefined };
    }
    const size = this.#last - this.#first + 1;
    const offset = Math.floor(Math.random() * size);
    for (let i = 0; i < size; i += 1) {
      const port = this.#first + ((offset + i) % size);
      if (this.#held.has(port)) continue;
      const server = createServer(PASSIVE_SERVER_OPTIONS);
      try {
        await bind(server, host, port);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw err;
      }
      this.#held.add(port);
      let released = false;
      return {
        server,
        port,
        release: () => {
          if (released) return;
          released = true;
          this.#held.delete(port);
        },
      };
    }
    throw new FtpReply(425, `no passive port of ${this.#first}-${this.#last} is free now; try again shortly`);
  }
}

function bind(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.close();
      reject(err);
    };
    server.once('error', onError);
    server.listen({ host, port, exclusive: true, backlog: 8 }, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/** What a transfer needs to open its data connection. */
export interface DataOpenOptions {
  /** PROT P: the data connection speaks TLS, gridlink as the TLS server (RFC 4217 §9). */
  readonly tls: SecureContext | null;
  /** The connection (and its TLS handshake) must be up within this long. */
  readonly timeoutMs: number;
  /** Aborts the wait (ABOR, the control connection closed). */
  readonly signal: AbortSignal;
}

/** A data connection set up by PASV/EPSV or PORT/EPRT, opened by the next transfer command. */
export interface DataEndpoint {
  open(options: DataOpenOptions): Promise<Socket>;
  close(): void;
}

/**
 * A passive data connection (PASV, EPSV): a listener of its own, which
 * takes the first connection from the control connection's own address.
 * A connection from any other address is refused and closed, and the
 * listener keeps waiting for the right peer (docs/ftp.md "Security"): a
 * third party that races for the port can neither steal nor spoil a transfer.
 */
export class PassiveEndpoint implements DataEndpoint {
  readonly port: number;
  readonly #server: Server;
  readonly #release: () => void;
  readonly #peer: string;
  readonly #logger: Logger;
  #socket: Socket | null = null;
  #waiter: ((socket: Socket) => void) | null = null;
  #closed = false;

  private constructor(server: Server, port: number, release: () => void, peer: string, logger: Logger) {
    this.#server = server;
    this.port = port;
    this.#release = release;
    this.#peer = peer;
    this.#logger = logger;
    server.on('connection', (socket) => this.#onConnection(socket));
    server.on('error', () => this.close());
  }

  /** Listens on `host` (the control connection's local address) for `peer` (its remote one). */
  static async listen(ports: PassivePorts, host: string, peer: string, logger: Logger): Promise<PassiveEndpoint> {
    const { server, port, release } = await ports.listen(host);
    return new PassiveEndpoint(server, port, release, plainAddress(peer), logger);
  }

  #onConnection(socket: Socket): void {
    socket.on('error', () => undefined);
    const from = plainAddress(socket.remoteAddress);
    if (from !== this.#peer) {
      this.#logger.warn({ event: 'ftp.data_refused', from, expected: this.#peer, port: this.port }, 'passive data connection from another address refused');
      socket.destroy();
      return;
    }
    if (this.#socket !== null || this.#closed) {
      socket.destroy();
      return;
    }
    this.#socket = socket;
    // One data connection per PASV: stop listening (the accepted socket stays).
    this.#stopListening();
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.(socket);
  }

  async open(options: DataOpenOptions): Promise<Socket> {
    const socket =
      this.#socket ??
      (await new Promise<Socket>((resolve, reject) => {
        const fail = (reply: FtpReply): void => {
          clearTimeout(timer);
          options.signal.removeEventListener('abort', onAbort);
          this.#waiter = null;
          reject(reply);
        };
        const onAbort = (): void => fail(new FtpReply(426, 'transfer aborted before the data connection opened; send the command again'));
        const timer = setTimeout(() => fail(new FtpReply(425, `no data connection within ${Math.round(options.timeoutMs / 1000)} s; connect to the passive port sooner, or use PORT/EPRT`)), options.timeoutMs);
        this.#waiter = (socket) => {
          clearTimeout(timer);
          options.signal.removeEventListener('abort', onAbort);
          resolve(socket);
        };
        if (options.signal.aborted) onAbort();
        else options.signal.addEventListener('abort', onAbort, { once: true });
      }));
    this.#socket = null;
    this.close();
    return secureData(socket, options);
  }

  close(): void {
    this.#closed = true;
    this.#stopListening();
    this.#socket?.destroy();
    this.#socket = null;
  }

  #stopListening(): void {
    if (this.#server.listening) this.#server.close();
    this.#release();
  }
}

/**
 * An active data connection (PORT, EPRT): gridlink connects to the client,
 * only ever to the control connection's own address (no FTP bounce, RFC
 * 2577), from the control connection's local address.
 */
export class ActiveEndpoint implements DataEndpoint {
  readonly #host: string;
  readonly #port: number;
  readonly #localAddress: string;

  constructor(host: string, port: number, localAddress: string) {
    this.#host = host;
    this.#port = port;
    this.#localAddress = localAddress;
  }

  async open(options: DataOpenOptions): Promise<Socket> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: this.#host, port: this.#port, localAddress: this.#localAddress, ...DATA_SOCKET_OPTIONS });
      const fail = (reply: FtpReply): void => {
        clearTimeout(timer);
        options.signal.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(reply);
      };
      const onAbort = (): void => fail(new FtpReply(426, 'transfer aborted before the data connection opened; send the command again'));
      const timer = setTimeout(() => fail(new FtpReply(425, `could not connect to ${this.#host} port ${this.#port} within ${Math.round(options.timeoutMs / 1000)} s; use PASV or EPSV`)), options.timeoutMs);
      socket.once('error', (err: NodeJS.ErrnoException) => fail(new FtpReply(425, `could not connect to ${this.#host} port ${this.#port} (${err.code ?? err.message}); use PASV or EPSV`)));
      socket.once('connect', () => {
        clearTimeout(timer);
        options.signal.removeEventListener('abort', onAbort);
        socket.removeAllListeners('error');
        socket.on('error', () => undefined);
        resolve(socket);
      });
      if (options.signal.aborted) onAbort();
      else options.signal.addEventListener('abort', onAbort, { once: true });
    });
    return secureData(socket, options);
  }

  close(): void {
    // Nothing is open until a transfer command.
  }
}

/** Wraps a data connection in TLS (PROT P) and waits for its handshake. */
async function secureData(socket: Socket, options: DataOpenOptions): Promise<Socket> {
  socket.on('error', () => undefined);
  if (options.tls === null) return socket;
  const secure = new TLSSocket(socket, { isServer: true, secureContext: options.tls });
  secure.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    const fail = (reply: FtpReply): void => {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      secure.destroy();
      reject(reply);
    };
    const onAbort = (): void => fail(new FtpReply(426, 'transfer aborted during the TLS handshake; send the command again'));
    const timer = setTimeout(() => fail(new FtpReply(425, 'no TLS handshake on the data connection in time; check the client\'s TLS settings or send PROT C')), options.timeoutMs);
    const onError = (err: Error): void => fail(new FtpReply(425, `TLS handshake on the data connection failed (${err.message}); check the client's TLS settings`));
    const onClose = (): void => fail(new FtpReply(425, 'the data connection closed during its TLS handshake; send the command again'));
    secure.once('secure', () => {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      secure.off('error', onError);
      secure.off('close', onClose);
      resolve();
    });
    secure.once('error', onError);
    secure.once('close', onClose);
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener('abort', onAbort, { once: true });
  });
  return secure;
}

/** The IPv4 address of a PASV reply (RFC 959 §4.1.2), or null for an IPv6 control connection. */
export function pasvAddress(localAddress: string): string | null {
  const plain = plainAddress(localAddress);
  return isIPv4(plain) ? plain : null;
}
