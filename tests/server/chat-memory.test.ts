import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import { encodeHeader } from '../../src/codec/index.js';
import { openSocket } from '../helpers/raw-peer.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const TOTAL = 30_000;
const TEXT = 'x'.repeat(4000); // 30,000 × 4 KB = 120 MB through the room per phase

/** Sends TOTAL messages and waits until the reader has them all; returns the peak RSS seen. */
async function flood(server: ServerProcess, sender: GridlinkClient, received: () => number, start: number): Promise<number> {
  let peak = await server.rss();
  for (let n = 0; n < TOTAL; n += 1) {
    await sender.say('flood', TEXT);
    if (n % 1000 === 0) peak = Math.max(peak, await server.rss());
  }
  const deadline = Date.now() + 60_000;
  while (received() < start + TOTAL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(received()).toBe(start + TOTAL);
  return Math.max(peak, await server.rss());
}

/**
 * docs/protocol.md §3.4: a slow subscriber never grows server memory without bound. The
 * same 120 MB of chat flows twice through a server process: first with every
 * member reading (the heap settles at its working size), then with one
 * member that has stopped reading. Unbounded, that member's queue would add
 * about 120 MB; bounded, it is disconnected and the peak barely moves.
 */
describe('chat memory with a member that stops reading', () => {
  it("the server's memory stays bounded, the reader gets everything, the stalled member is removed", { timeout: 180_000 }, async () => {
    const work = await makeTempDir();
    const server = await startServerProcess(work.path, { dataDir: join(work.path, 'data'), chat: { allowAnonymous: true } });
    try {
      const reader = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
      let got = 0;
      await reader.joinChat('flood', 'reader', (e) => void (e.type === 'message' && (got += 1)));
      const sender = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
      await sender.joinChat('flood', 'sender', () => undefined);

      const warm = await flood(server, sender, () => got, 0);

      const stalled = await openSocket(server.port);
      stalled.write(encodeHeader({ v: 1, id: 1, cmd: 'chat.join', room: 'flood', nick: 'stalled' }));
      const deadline = Date.now() + 5_000;
      while (!(await reader.who('flood')).includes('stalled') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      stalled.pause();
      const withStalled = await flood(server, sender, () => got, TOTAL);

      expect(withStalled - warm).toBeLessThan(40 * 1024 * 1024);
      expect(await reader.who('flood')).toEqual(['reader', 'sender']);
      stalled.destroy();
      await reader.close();
      await sender.close();
    } finally {
      await server.stop();
      await work.cleanup();
    }
  });
});
