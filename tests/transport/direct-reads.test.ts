import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectReads, type ReadSink } from '../../src/transport/direct-reads.js';

/** A sink that lends one buffer at a time from a list it keeps, and records where each read landed. */
class RecordingSink implements ReadSink {
  readonly lent: Uint8Array[] = [];
  readonly reads: Array<{ buffer: Uint8Array; n: number }> = [];
  readonly bytes: Buffer[] = [];
  stopAfter = Number.POSITIVE_INFINITY;
  space(): Uint8Array {
    const buffer = new Uint8Array(4096 + this.lent.length); // a distinct buffer each time
    this.lent.push(buffer);
    return buffer;
  }
  filled(n: number): boolean {
    const buffer = this.lent.at(-1)!;
    this.reads.push({ buffer, n });
    this.bytes.push(Buffer.from(buffer.subarray(0, n)));
    return this.reads.length < this.stopAfter;
  }
}

let server: Server | null = null;
afterEach(async () => {
  await new Promise<void>((resolve) => (server === null ? resolve() : server.close(() => resolve())));
  server = null;
});

/** A loopback server created as the FTP front's passive listeners are (paused on connect), its first accepted socket, and a client. */
async function pair(options: { pauseOnConnect: boolean }): Promise<{ accepted: Socket; client: Socket; server: Server }> {
  const s = createServer({ allowHalfOpen: true, pauseOnConnect: options.pauseOnConnect });
  server = s;
  const accepted = new Promise<Socket>((resolve) => s.once('connection', resolve));
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  const client = connect({ host: '127.0.0.1', port });
  client.on('error', () => undefined);
  await new Promise((resolve) => client.once('connect', resolve));
  return { accepted: await accepted, client, server: s };
}

describe('DirectReads: an accepted socket that reads into lent buffers', () => {
  it('takes over a socket accepted paused on this Node: every byte lands in the lent space, in order', async () => {
    const { accepted, client, server: s } = await pair({ pauseOnConnect: true });
    const sink = new RecordingSink();
    const direct = DirectReads.adopt(accepted, sink);
    expect(direct, `DirectReads could not adopt an accepted socket on Node ${process.version}`).not.toBeNull();
    const socket = direct!.socket;
    let dataEvents = 0;
    socket.on('data', () => (dataEvents += 1));
    const payload = randomBytes(3 * 1024 * 1024 + 17);
    client.end(payload);
    const ended = new Promise((resolve) => socket.once('end', resolve));
    socket.resume();
    await ended;
    expect(Buffer.concat(sink.bytes).equals(payload)).toBe(true);
    // Each read filled the buffer lent just before it.
    for (const read of sink.reads) expect(sink.lent).toContain(read.buffer);
    expect(dataEvents).toBe(0);
    // The old object let go of the connection: its server no longer counts it, while the new socket still writes.
    const count = await new Promise<number>((resolve, reject) => s.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    expect(count).toBe(0);
    const reply = new Promise<Buffer>((resolve) => client.once('data', resolve));
    socket.end('ok');
    expect((await reply).toString()).toBe('ok');
  });

  it('reads nothing before resume(), and a sink that answers false stops reading until the next resume()', async () => {
    const { accepted, client } = await pair({ pauseOnConnect: true });
    const sink = new RecordingSink();
    sink.stopAfter = 1;
    const socket = DirectReads.adopt(accepted, sink)!.socket;
    client.write(randomBytes(64 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sink.reads).toHaveLength(0);
    socket.resume();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sink.reads).toHaveLength(1); // 64 KiB is waiting, but the sink said stop after one read of 4 KiB
    sink.stopAfter = Number.POSITIVE_INFINITY;
    const ended = new Promise((resolve) => socket.once('end', resolve));
    client.end();
    socket.resume();
    await ended;
    expect(Buffer.concat(sink.bytes).length).toBe(64 * 1024);
    socket.destroy();
  });

  it('hands the old socket\'s error listeners to the new one: a reset reaches them, nothing is thrown', async () => {
    const { accepted, client } = await pair({ pauseOnConnect: true });
    const errors: Error[] = [];
    const onError = (err: Error): void => void errors.push(err);
    accepted.on('error', onError);
    const socket = DirectReads.adopt(accepted, new RecordingSink())!.socket;
    expect(socket.listeners('error')).toEqual([onError]);
    socket.resume();
    client.resetAndDestroy();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(errors.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(['ECONNRESET']);
  });

  it('refuses a socket that has started reading, and leaves it working', async () => {
    const { accepted, client } = await pair({ pauseOnConnect: false });
    expect(DirectReads.adopt(accepted, new RecordingSink())).toBeNull();
    const got = new Promise<Buffer>((resolve) => accepted.once('data', resolve));
    client.write('still here');
    expect((await got).toString()).toBe('still here');
    client.destroy();
    accepted.destroy();
  });
});
