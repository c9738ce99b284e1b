import { createSocket, type Socket } from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';

/**
 * Issue 15, finding 5: one address registered ~2,250 names in the course's
 * UDP chat room, and one 1,007-byte `C` then produced 282 datagrams towards
 * it: with a spoofed `L`, a reflection amplifier. Names per address and the
 * bytes sent to one address per second are bounded (docs/security.md).
 */
interface Peer {
  readonly socket: Socket;
  /** Datagrams received, with their arrival time. */
  readonly got: Array<{ text: string; bytes: number; at: number }>;
  send(text: string): Promise<void>;
}

const open: Socket[] = [];

async function peer(port: number, address = '127.0.0.1'): Promise<Peer> {
  const socket = createSocket('udp4');
  open.push(socket);
  const got: Peer['got'] = [];
  socket.on('message', (data) => got.push({ text: data.toString('utf8'), bytes: data.length, at: Date.now() }));
  await new Promise<void>((resolve) => socket.bind(0, address, () => resolve()));
  return {
    socket,
    got,
    send: (text) => new Promise<void>((resolve, reject) => socket.send(Buffer.from(text, 'utf8'), port, '127.0.0.1', (err) => (err ? reject(err) : resolve()))),
  };
}

describe('the legacy UDP chat cannot be made a reflector', () => {
  let server: TestServer;
  let port: number;

  beforeAll(async () => {
    server = await startTestServer({ legacyChat: { enabled: true }, chat: { allowAnonymous: true }, scada: { enabled: false }, http: { enabled: false } });
    port = server.server.legacyChatAddress!.port;
  });
  afterEach(() => {
    for (const socket of open.splice(0)) socket.close();
  });
  afterAll(async () => {
    await server.stop();
  });

  const lobby = () => server.server.chat.members('lobby');

  it('one address holds at most 4 names (legacyChat.maxNamesPerAddress), from any of its ports; another address is not held back', async () => {
    const peers = await Promise.all(Array.from({ length: 10 }, () => peer(port)));
    for (const [i, p] of peers.entries()) {
      await p.send(`L many${i}`);
      await until(() => p.got.length > 0, 5_000, `an answer to L many${i}`);
    }
    expect(peers.map((p) => p.got[0]!.text.startsWith('OK') ? 'OK' : p.got[0]!.text.slice(0, 24))).toEqual([
      ...Array<string>(4).fill('OK'),
      ...Array<string>(6).fill('ERROR GL_ERR_SERVER_BUSY'),
    ]);
    expect(peers[4]!.got[0]!.text).toContain('4 names');
    expect(lobby().filter((n) => n.startsWith('many'))).toHaveLength(4);

    const elsewhere = await peer(port, '127.0.0.2');
    await elsewhere.send('L elsewhere');
    await until(() => elsewhere.got[0]?.text === 'OK', 5_000, 'OK for 127.0.0.2');

    // A name given back frees its place.
    await peers[0]!.send('Q many0');
    await until(() => peers[0]!.got.some((g) => g.text === 'EXIT'), 5_000, 'EXIT');
    await peers[9]!.send('L many9');
    await until(() => peers[9]!.got.some((g) => g.text === 'OK'), 5_000, 'OK after a quit');
    for (const [i, p] of peers.entries()) await p.send(`Q many${i}`);
    await elsewhere.send('Q elsewhere');
    await until(() => !lobby().some((n) => n.startsWith('many') || n === 'elsewhere'), 5_000, 'everyone to leave');
  });

  it('bytes sent to one address stay under legacyChat.maxBytesPerAddressPerSecond (64 KiB) whatever the room says', async () => {
    const victim = await peer(port, '127.0.0.2');
    const talker = await peer(port);
    await victim.send('L victim');
    await talker.send('L talker');
    await until(() => victim.got.some((g) => g.text.includes('talker')), 5_000, 'the victim to see the talker join');
    victim.got.length = 0;
    const started = Date.now();
    // 300 messages of 1,000 bytes (300 KB towards the victim), in batches the
    // receiver can keep up with, so the kernel's buffer does not drop any.
    const text = 'x'.repeat(1_000);
    for (let batch = 0; batch < 30; batch += 1) {
      for (let i = 0; i < 10; i += 1) await talker.send(`C talker ${text}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 300));
    const total = victim.got.reduce((sum, g) => sum + g.bytes, 0);
    expect(total).toBeGreaterThan(10_000); // the room does reach it
    // The server counts by calendar second (the same clock as ours). It can
    // have sent only in the seconds from our first C to the last arrival, at
    // most 64 KiB in each; counting by arrival second instead would blame a
    // second for datagrams read late, so the whole span is compared.
    const seconds = Math.floor(Math.max(...victim.got.map((g) => g.at)) / 1000) - Math.floor(started / 1000) + 1;
    expect(total, `${total} bytes in ${seconds} s`).toBeLessThanOrEqual(seconds * 64 * 1024);
    await talker.send('Q talker');
    await victim.send('Q victim');
    await until(() => !lobby().includes('talker') && !lobby().includes('victim'), 5_000, 'both to leave');
  });
});
