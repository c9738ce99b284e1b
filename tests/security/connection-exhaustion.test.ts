import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, encodeHeader } from '../../src/codec/index.js';
import { createLogger } from '../../src/log/logger.js';
import { connectionCapFor, NativeListener, openFilesLimit, type NativeListenerOptions } from '../../src/native/native-listener.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';

/**
 * Issue 15, finding 4: one host could open sockets until the process ran out
 * of descriptors (no per-address limit, a default cap equal to the fd limit),
 * with no GL_ERR_SERVER_BUSY and no log line, and a header sent at 1 byte/s
 * lived on past the idle timeout. See docs/security.md.
 */

/** A socket and everything it received, until the server closes it. */
interface Peer {
  readonly socket: Socket;
  readonly received: () => string;
  readonly closed: () => boolean;
}

function open(port: number, localAddress = '127.0.0.1'): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress, allowHalfOpen: false });
    const chunks: Buffer[] = [];
    let closed = false;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => (closed = true));
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve({ socket, received: () => Buffer.concat(chunks).toString('utf8'), closed: () => closed });
    });
    socket.once('error', reject);
  });
}

const sockets: Socket[] = [];
const servers: Array<{ stop: () => Promise<void> }> = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) await server.stop();
});

async function ping(peer: Peer): Promise<string> {
  peer.socket.write(encodeHeader({ v: 1, id: 7, cmd: 'ping' }));
  return until(() => (peer.received().includes('"id":7') || peer.closed() ? peer.received() : undefined), 5_000, 'a ping reply');
}

/** A listener of its own, with a handler that answers pings, logging into `lines`. */
async function listener(options: Partial<NativeListenerOptions>, lines: string[] = []): Promise<{ port: number; listener: NativeListener }> {
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
  const native = new NativeListener({
    host: '127.0.0.1',
    port: 0,
    logger,
    session: {
      limits: DEFAULT_LIMITS,
      idleTimeoutMs: 60_000,
      logger,
      handle: async (session, frame) => session.send({ v: 1, id: frame.header['id'], cmd: frame.header.cmd }),
    },
    ...options,
  });
  const address = await native.listen();
  servers.push({ stop: () => native.close(0) });
  return { port: address.port, listener: native };
}

describe('connections per address (native.maxConnectionsPerAddress, default 256)', () => {
  let server: TestServer;

  it('300 sockets from 127.0.0.1: the 257th is refused with GL_ERR_SERVER_BUSY, while 127.0.0.2 still connects', async () => {
    server = await startTestServer({ anonymous: { enabled: false }, scada: { enabled: false }, http: { enabled: false } });
    servers.push(server);
    const peers: Peer[] = [];
    for (let i = 0; i < 300; i += 1) {
      const peer = await open(server.port);
      sockets.push(peer.socket);
      peers.push(peer);
    }
    // The refused ones get the error frame and are closed; the others hear nothing until they speak.
    await until(() => peers.slice(256).every((p) => p.closed()), 10_000, 'the refused sockets to close');
    for (const [i, peer] of peers.entries()) {
      if (i < 256) expect(peer.received(), `socket ${i + 1}`).toBe('');
      else expect(peer.received(), `socket ${i + 1}`).toContain('GL_ERR_SERVER_BUSY');
    }
    expect(await ping(peers[0]!)).toContain('"cmd":"ping"');
    // Another address is not held back by this one.
    const other = await open(server.port, '127.0.0.2');
    sockets.push(other.socket);
    expect(await ping(other)).toContain('"cmd":"ping"');
    // A closed socket frees its place.
    peers[0]!.socket.destroy();
    await until(() => server.server.status().connections === 256, 5_000, 'the closed socket to be counted out');
    const again = await open(server.port);
    sockets.push(again.socket);
    expect(await ping(again)).toContain('"cmd":"ping"');
  });

  it('refusals are logged, at most one line per address per 10 s, with the count of those not logged', async () => {
    const lines: string[] = [];
    const { port } = await listener({ maxConnectionsPerAddress: 2, maxConnections: 100 }, lines);
    for (let i = 0; i < 7; i += 1) sockets.push((await open(port)).socket);
    const other = await open(port, '127.0.0.3');
    sockets.push(other.socket);
    sockets.push((await open(port, '127.0.0.3')).socket, (await open(port, '127.0.0.3')).socket);
    await until(() => lines.filter((l) => l.includes('conn.refused_busy')).length >= 2, 5_000, 'the log lines');
    const refused = lines.filter((l) => l.includes('conn.refused_busy')).map((l) => JSON.parse(l) as Record<string, unknown>);
    // 5 refusals from 127.0.0.1 and 1 from 127.0.0.3: one line each address.
    expect(refused.map((r) => r['address']).sort()).toEqual(['127.0.0.1', '127.0.0.3']);
    expect(refused[0]).toMatchObject({ limit: 2, scope: 'address' });
  });
});

describe('the connection cap follows the open-files limit', () => {
  it('is derived from /proc/self/limits with headroom for files, SQLite, HTTP and the admin socket', () => {
    const limit = openFilesLimit();
    expect(Number.isInteger(limit) && limit > 0).toBe(true);
    // The machine: 20,000 descriptors, which was also the cap.
    expect(connectionCapFor(20_000)).toBeLessThan(20_000 - 1_000);
    expect(connectionCapFor(20_000)).toBeGreaterThan(10_000);
    expect(connectionCapFor(1_024)).toBeLessThan(1_024 - 256);
    expect(connectionCapFor(1_024)).toBeGreaterThan(100);
    expect(connectionCapFor(64)).toBeGreaterThanOrEqual(1);
  });

  it('a listener with no maxConnections uses it', async () => {
    const { listener: native } = await listener({ maxConnections: undefined });
    expect(native.maxConnections).toBe(connectionCapFor(openFilesLimit()));
  });
});

describe('a frame header must be completed in time (native.headerTimeoutMs, default 10 s)', () => {
  it('a header sent at 1 byte/s is closed after headerTimeoutMs, with GL_ERR_SERVER_TIMEOUT', async () => {
    const { port } = await listener({ headerTimeoutMs: 1_500 });
    const peer = await open(port);
    sockets.push(peer.socket);
    const frame = encodeHeader({ v: 1, id: 1, cmd: 'ping' });
    const start = Date.now();
    // At most 8 bytes, one a second: the idle timeout (60 s) never fires.
    for (let i = 0; i < 8 && !peer.closed(); i += 1) {
      peer.socket.write(frame.subarray(i, i + 1));
      await new Promise((r) => setTimeout(r, 1_000));
    }
    expect(peer.closed()).toBe(true);
    expect(peer.received()).toContain('GL_ERR_SERVER_TIMEOUT');
    expect(Date.now() - start).toBeLessThan(4_000);
  });

  it('whole frames, however spaced, and a connection idle between frames are not cut', async () => {
    const { port } = await listener({ headerTimeoutMs: 500 });
    const peer = await open(port);
    sockets.push(peer.socket);
    for (let id = 1; id <= 3; id += 1) {
      peer.socket.write(encodeHeader({ v: 1, id, cmd: 'ping' }));
      await until(() => peer.received().includes(`"id":${id}`), 5_000, `reply ${id}`);
      await new Promise((r) => setTimeout(r, 700));
    }
    // A header in two parts, the second within the deadline.
    const frame = encodeHeader({ v: 1, id: 4, cmd: 'ping' });
    peer.socket.write(frame.subarray(0, 6));
    await new Promise((r) => setTimeout(r, 200));
    peer.socket.write(frame.subarray(6));
    await until(() => peer.received().includes('"id":4'), 5_000, 'reply 4');
    expect(peer.closed()).toBe(false);
  });
});
