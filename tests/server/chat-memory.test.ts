import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import { encodeHeader } from '../../src/codec/index.js';
import { Inspector } from '../helpers/inspector.js';
import { openSocket } from '../helpers/raw-peer.js';
import { startServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const TOTAL = 30_000;
const TEXT = 'x'.repeat(4000); // 30,000 × 4 KB = 120 MB through the room per phase

/** Memory samples a flood takes: one every this many messages, and one at the end. */
const SAMPLE_EVERY = 5_000;

/**
 * Sends TOTAL messages and waits until the reader has them all; returns the
 * most memory the server held live (after a full collection) at any sample.
 */
async function flood(inspector: Inspector, sender: GridlinkClient, received: () => number, start: number): Promise<number> {
  let peak = await inspector.liveBytes();
  for (let n = 0; n < TOTAL; n += 1) {
    await sender.say('flood', TEXT);
    if (n % SAMPLE_EVERY === SAMPLE_EVERY - 1) peak = Math.max(peak, await inspector.liveBytes());
  }
  const deadline = Date.now() + 60_000;
  while (received() < start + TOTAL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(received()).toBe(start + TOTAL);
  return Math.max(peak, await inspector.liveBytes());
}

/**
 * docs/protocol.md §3.4: a slow subscriber never grows server memory without bound. The
 * same 120 MB of chat flows twice through a server process: first with every
 * member reading, then with one member that has stopped reading. Unbounded,
 * that member's queue would add about 20 MB a sample, 120 MB by the end;
 * bounded, it is disconnected and the peak barely moves. Memory is what the
 * server holds live after a full collection (its heap in use and its
 * Buffers, read through its inspector), sampled every 5,000 messages: the
 * RSS this test read before also held garbage not yet collected, which
 * under a loaded machine once added 141 MB with the bound working.
 */
describe('chat memory with a member that stops reading', () => {
  it("the server's memory stays bounded, the reader gets everything, the stalled member is removed", { timeout: 180_000 }, async () => {
    const work = await makeTempDir();
    const server = await startServerProcess(work.path, { dataDir: join(work.path, 'data'), chat: { allowAnonymous: true } }, { inspect: true });
    let inspector: Inspector | null = null;
    try {
      inspector = await Inspector.connect(server.inspectorUrl!);
      const reader = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
      let got = 0;
      await reader.joinChat('flood', 'reader', (e) => void (e.type === 'message' && (got += 1)));
      const sender = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
      await sender.joinChat('flood', 'sender', () => undefined);

      const warm = await flood(inspector, sender, () => got, 0);

      const stalled = await openSocket(server.port);
      stalled.write(encodeHeader({ v: 1, id: 1, cmd: 'chat.join', room: 'flood', nick: 'stalled' }));
      const deadline = Date.now() + 5_000;
      while (!(await reader.who('flood')).includes('stalled') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      stalled.pause();
      const withStalled = await flood(inspector, sender, () => got, TOTAL);

      expect(withStalled - warm).toBeLessThan(40 * 1024 * 1024);
      expect(await reader.who('flood')).toEqual(['reader', 'sender']);
      stalled.destroy();
      await reader.close();
      await sender.close();
    } finally {
      inspector?.close();
      await server.stop();
      await work.cleanup();
    }
  });
});
