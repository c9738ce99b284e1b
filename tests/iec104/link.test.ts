import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApduSplitter, decodeApci, encodeIFrame, encodeSFrame, encodeUFrame, type Apci, type UFunction } from '../../src/iec104/codec/index.js';
import { DEFAULT_LINK_PARAMETERS, Iec104Link, type LinkParameters } from '../../src/iec104/link/link.js';
import { pollingBusy } from '../../src/transport/busy-poll.js';
import { until } from '../helpers/until.js';

/**
 * The APCI link layer (src/iec104/link/link.ts, docs/iec104.md "APCI") as a
 * controlled station, over a loopback socket pair: the other end is a raw
 * socket this test drives frame by frame, so every byte the link sends is
 * seen and every breach of the standard can be made on purpose.
 */

/** C_IC_NA_1 station interrogation of CA 1: a small ASDU to send either way. */
const ASDU = Buffer.from('64010600010000000014', 'hex');

interface Peer {
  readonly socket: Socket;
  readonly frames: Apci[];
  /** Resolves with the first frame after index `from` matching `match`. */
  next(match: (a: Apci) => boolean, from?: number, timeoutMs?: number): Promise<Apci>;
  readonly ended: Promise<void>;
}

interface Pair {
  readonly link: Iec104Link;
  readonly peer: Peer;
  readonly received: Buffer[];
  closedReason(): string | null | undefined;
  readonly events: string[];
  /** The link's own end of the connection. */
  readonly socket: Socket;
}

const servers: Server[] = [];
const sockets: Socket[] = [];
const links: Iec104Link[] = [];

afterEach(async () => {
  for (const link of links.splice(0)) link.close();
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function pair(parameters: Partial<LinkParameters> = {}, maxQueued = 100): Promise<Pair> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const raw = connect(port, '127.0.0.1');
  sockets.push(raw);
  const linkSocket = await accepted;
  sockets.push(linkSocket);
  const received: Buffer[] = [];
  const events: string[] = [];
  let reason: string | null | undefined;
  const link = new Iec104Link(linkSocket, {
    role: 'controlled',
    parameters: { ...DEFAULT_LINK_PARAMETERS, ...parameters },
    maxQueued,
    handlers: {
      asdu: (bytes) => received.push(Buffer.from(bytes)),
      started: () => events.push('started'),
      stopped: () => events.push('stopped'),
      closed: (why) => {
        reason = why;
        events.push('closed');
      },
    },
  });
  links.push(link);
  const frames: Apci[] = [];
  const waiters: { match: (a: Apci) => boolean; from: number; resolve: (a: Apci) => void }[] = [];
  const splitter = new ApduSplitter((apdu) => {
    const apci = decodeApci(apdu);
    frames.push(apci.format === 'I' ? { ...apci, asdu: Buffer.from(apci.asdu) } : apci);
    for (const w of [...waiters]) {
      if (frames.length - 1 >= w.from && w.match(apci)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(frames.at(-1)!);
      }
    }
  });
  raw.on('data', (chunk: Buffer) => splitter.push(chunk));
  raw.on('error', () => undefined);
  const ended = new Promise<void>((r) => raw.once('close', () => r()));
  const peer: Peer = {
    socket: raw,
    frames,
    ended,
    next: (match, from = 0, timeoutMs = 5_000) => {
      const found = frames.slice(from).find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames)}`)), timeoutMs);
        waiters.push({
          match,
          from,
          resolve: (a) => {
            clearTimeout(timer);
            resolve(a);
          },
        });
      });
    },
  };
  return { link, peer, received, events, socket: linkSocket, closedReason: () => reason };
}

const isU = (fn: UFunction) => (a: Apci) => a.format === 'U' && a.fn === fn;
const isI = (a: Apci): a is Extract<Apci, { format: 'I' }> => a.format === 'I';
const isS = (a: Apci): a is Extract<Apci, { format: 'S' }> => a.format === 'S';

async function started(p: Pair): Promise<void> {
  p.peer.socket.write(encodeUFrame('STARTDT_ACT'));
  await p.peer.next(isU('STARTDT_CON'));
  expect(p.link.started).toBe(true);
}

describe('IEC 104 link layer (controlled station)', () => {
  it('STARTDT, STOPDT and TESTFR are confirmed; I-format ASDUs flow only while started', async () => {
    const p = await pair();
    p.link.send(ASDU);
    expect(p.link.queued).toBe(1); // stopped: waits
    await started(p);
    const first = await p.peer.next(isI);
    expect(first).toMatchObject({ sendSeq: 0, recvSeq: 0 });
    p.peer.socket.write(encodeUFrame('TESTFR_ACT'));
    await p.peer.next(isU('TESTFR_CON'));
    p.peer.socket.write(encodeSFrame(1));
    p.peer.socket.write(encodeUFrame('STOPDT_ACT'));
    await p.peer.next(isU('STOPDT_CON'));
    expect(p.link.started).toBe(false);
    p.link.send(ASDU);
    expect(p.link.queued).toBe(1);
    expect(p.events).toEqual(['started', 'stopped']);
  });

  it('an I-format APDU before STARTDT closes the link', async () => {
    const p = await pair();
    p.peer.socket.write(encodeIFrame(0, 0, ASDU));
    await until(() => p.link.closed, 5_000);
    expect(p.closedReason()).toMatch(/data transfer is stopped/);
    await p.peer.ended;
  });

  it('at most k I-format APDUs are unacknowledged; an S-format acknowledgement lets the rest go', async () => {
    const p = await pair({ k: 3 });
    await started(p);
    for (let i = 0; i < 5; i++) p.link.send(ASDU);
    await until(() => p.peer.frames.filter(isI).length === 3);
    await new Promise((r) => setTimeout(r, 100));
    expect(p.peer.frames.filter(isI).map((f) => f.sendSeq)).toEqual([0, 1, 2]);
    expect(p.link.queued).toBe(2);
    p.peer.socket.write(encodeSFrame(2)); // acknowledges 0 and 1
    await until(() => p.peer.frames.filter(isI).length === 5);
    expect(p.peer.frames.filter(isI).map((f) => f.sendSeq)).toEqual([0, 1, 2, 3, 4]);
    expect(p.link.stats.sent).toBe(5);
  });

  it('polls without sleeping while ASDUs wait on the window, but not for a master that acknowledges slowly', async () => {
    const p = await pair({ k: 2 });
    await started(p);
    // Whether the loop polls right after the link has handled each read (a listener after the link's own).
    const polling: boolean[] = [];
    p.socket.on('data', () => polling.push(pollingBusy()));
    for (let i = 0; i < 8; i++) p.link.send(ASDU);
    await until(() => p.peer.frames.filter(isI).length === 2);
    p.peer.socket.write(encodeSFrame(2)); // at once: 2 more go, 4 wait, and the loop polls for the next acknowledgement
    await until(() => p.peer.frames.filter(isI).length === 4);
    expect(polling.at(-1)).toBe(true);
    await new Promise((r) => setTimeout(r, 50)); // far slower than the 2 ms polled for
    expect(pollingBusy()).toBe(false);
    p.peer.socket.write(encodeSFrame(4));
    await until(() => p.peer.frames.filter(isI).length === 6);
    // Two ASDUs still wait, but this master took 50 ms: no polling for it.
    expect(p.link.queued).toBe(2);
    expect(polling.at(-1)).toBe(false);
    p.peer.socket.write(encodeSFrame(6));
    await until(() => p.peer.frames.filter(isI).length === 8);
    expect(p.peer.frames.filter(isI).map((f) => f.sendSeq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('acknowledges every w received I-format APDUs at once with an S-format', async () => {
    const p = await pair({ w: 2, t2: 10_000 });
    await started(p);
    p.peer.socket.write(Buffer.concat([encodeIFrame(0, 0, ASDU), encodeIFrame(1, 0, ASDU), encodeIFrame(2, 0, ASDU)]));
    const ack = await p.peer.next(isS, 0, 1_000);
    expect(ack).toMatchObject({ recvSeq: 2 });
    expect(p.received.length).toBe(3);
    expect(p.received[0]).toEqual(ASDU);
    expect(p.link.stats.received).toBe(3);
  });

  it('acknowledges a lone I-format APDU after t2', async () => {
    const p = await pair({ w: 8, t2: 300, t1: 2_000 });
    await started(p);
    const sent = Date.now();
    p.peer.socket.write(encodeIFrame(0, 0, ASDU));
    const ack = await p.peer.next(isS, 0, 2_000);
    const took = Date.now() - sent;
    expect(ack).toMatchObject({ recvSeq: 1 });
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(300 + 2_000); // loose: the machine may be busy
  });

  it('an I-format APDU of its own acknowledges what was received (no S-format needed)', async () => {
    const p = await pair({ w: 8, t2: 300 });
    await started(p);
    p.peer.socket.write(encodeIFrame(0, 0, ASDU));
    await until(() => p.received.length === 1);
    p.link.send(ASDU);
    const reply = await p.peer.next(isI);
    expect(reply).toMatchObject({ sendSeq: 0, recvSeq: 1 });
    await new Promise((r) => setTimeout(r, 500));
    expect(p.peer.frames.filter(isS)).toEqual([]);
  });

  it('closes on t1 when its I-format APDU is not acknowledged', async () => {
    const p = await pair({ t1: 300, t2: 200 });
    await started(p);
    p.link.send(ASDU);
    const sent = Date.now();
    await p.peer.ended;
    expect(Date.now() - sent).toBeGreaterThanOrEqual(290);
    expect(p.closedReason()).toMatch(/t1 expired: an I-format APDU unacknowledged/);
  });

  it('sends TESTFR act after t3 of silence; answered it stays open, unanswered it closes after t1', async () => {
    const p = await pair({ t3: 300, t1: 400, t2: 200 });
    const test = await p.peer.next(isU('TESTFR_ACT'), 0, 2_000);
    expect(test).toBeDefined();
    p.peer.socket.write(encodeUFrame('TESTFR_CON'));
    // The next TESTFR after another t3 of silence; this one is not answered.
    const from = p.peer.frames.length;
    await p.peer.next(isU('TESTFR_ACT'), from, 2_000);
    expect(p.link.closed).toBe(false);
    await p.peer.ended;
    expect(p.closedReason()).toMatch(/t1 expired: no TESTFR con/);
  });

  it('closes on a sequence error: an N(S) other than the one expected', async () => {
    const p = await pair();
    await started(p);
    p.peer.socket.write(encodeIFrame(0, 0, ASDU));
    p.peer.socket.write(encodeIFrame(2, 0, ASDU)); // 1 is missing
    await p.peer.ended;
    expect(p.closedReason()).toMatch(/sequence error: N\(S\) 2, expected 1/);
    expect(p.received.length).toBe(1);
  });

  it('closes on an acknowledgement of an APDU it never sent', async () => {
    const p = await pair();
    await started(p);
    p.link.send(ASDU);
    await p.peer.next(isI);
    p.peer.socket.write(encodeSFrame(3)); // only N(S) 0 was sent
    await p.peer.ended;
    expect(p.closedReason()).toMatch(/acknowledgement of N\(R\) 3/);
  });

  it('closes on a frame that is not 104 (wrong start byte)', async () => {
    const p = await pair();
    p.peer.socket.write(Buffer.from('69040700', 'hex'));
    await p.peer.ended;
    expect(p.closedReason()).toMatch(/bad start byte/);
  });

  it('bounds its queue: past maxQueued the oldest ASDUs are dropped and counted, the newest sent in order', async () => {
    const p = await pair({}, 4);
    const asdus = Array.from({ length: 10 }, (_, i) => Buffer.from([...ASDU.subarray(0, 9), i]));
    for (const asdu of asdus) p.link.send(asdu);
    expect(p.link.queued).toBe(4);
    expect(p.link.stats.dropped).toBe(6);
    await started(p);
    await until(() => p.peer.frames.filter(isI).length === 4);
    expect(p.peer.frames.filter(isI).map((f) => f.asdu.at(-1))).toEqual([6, 7, 8, 9]);
  });

  it('a stopped link that keeps dropping holds no more than its bound', async () => {
    const p = await pair({}, 10);
    for (let i = 0; i < 50_000; i++) p.link.send(ASDU);
    expect(p.link.queued).toBe(10);
    expect(p.link.stats.dropped).toBe(49_990);
  });
});
