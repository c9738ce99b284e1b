import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterLink, MAX_BUFFERED_WHILE_DOWN } from '../../src/cluster/cluster-link.js';
import { createLogger } from '../../src/log/logger.js';
import { freePort, startNats, type NatsSystem } from '../helpers/nats-server.js';
import { until } from '../helpers/until.js';

const logger = createLogger('silent');

describe('cluster link (a real nats-server)', () => {
  let nats: NatsSystem;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats.stop();
  });

  it('connects, counts publishes, goes reconnecting when NATS dies and connected when it is back', async () => {
    const link = await ClusterLink.connect({ servers: [nats.urls], node: 'a', logger });
    try {
      expect(link.status()).toMatchObject({ node: 'a', state: 'connected', published: 0, failed: 0 });
      await link.jsm.streams.add({ name: 'LINKTEST', subjects: ['linktest.>'] });
      const ack = await link.publishDurable('linktest.x', 'one', { msgID: 'm1' });
      expect(ack?.seq).toBe(1);
      // The same id again is the same message: the stream keeps one.
      const again = await link.publishDurable('linktest.x', 'one', { msgID: 'm1' });
      expect(again?.duplicate).toBe(true);
      expect(link.status().published).toBe(2);

      const before = link.status().since;
      await nats.servers[0]!.kill();
      await until(() => link.state === 'reconnecting', 10_000, 'the link to notice NATS is gone');
      expect(link.status().since).toBeGreaterThanOrEqual(before);
      // A durable publish while NATS is away is retried until it is back.
      const pending = link.publishDurable('linktest.x', 'two', { msgID: 'm2', deadlineMs: 30_000 });
      await until(() => link.status().retried > 0, 10_000, 'a retry');
      await nats.servers[0]!.restart();
      await until(() => link.state === 'connected', 15_000, 'the link to reconnect');
      expect((await pending)?.seq).toBe(2);
      expect(link.status().reconnects).toBe(1);
      expect(link.status().failed).toBe(0);
    } finally {
      await link.close();
    }
    expect(link.state).toBe('down');
  }, 60_000);

  it('core publishes while NATS is away are buffered up to a bound, then counted as failed; back, the bound starts over', async () => {
    const link = await ClusterLink.connect({ servers: [nats.urls], node: 'buffered', logger });
    const listener = await ClusterLink.connect({ servers: [nats.urls], node: 'listener', logger });
    try {
      let arrived = 0;
      listener.nc.subscribe('buffered.after', { callback: () => void (arrived += 1) });
      await listener.nc.flush();
      await nats.servers[0]!.kill();
      await until(() => link.state === 'reconnecting' && listener.state === 'reconnecting', 10_000, 'both links to notice');
      for (let i = 0; i < MAX_BUFFERED_WHILE_DOWN + 50; i += 1) link.publish('buffered.x', `v${i}`);
      expect(link.status().failed).toBe(50);
      await nats.servers[0]!.restart();
      await until(() => link.state === 'connected' && listener.state === 'connected', 15_000, 'both links back');
      // Connected again: the bound starts over, and publishes flow.
      const failed = link.status().failed;
      await until(async () => {
        link.publish('buffered.after', 'after');
        await new Promise((r) => setTimeout(r, 50));
        return arrived > 0;
      }, 10_000, 'a publish after the outage to arrive');
      expect(link.status().failed).toBe(failed);
    } finally {
      await link.close();
      await listener.close();
    }
  }, 60_000);

  it('a durable publish that cannot be delivered by its deadline is counted as failed, not lost silently', async () => {
    const link = await ClusterLink.connect({ servers: [nats.urls], node: 'b', logger });
    try {
      // No stream listens on this subject: JetStream answers "no responders".
      expect(await link.publishDurable('nostream.x', 'lost', { msgID: 'x1', deadlineMs: 500 })).toBeNull();
      expect(link.status().failed).toBe(1);
      expect(link.status().retried).toBeGreaterThan(0);
    } finally {
      await link.close();
    }
  }, 30_000);

  it('refuses to start with a clear error when no NATS answers, and a bad node name', async () => {
    const port = await freePort();
    await expect(ClusterLink.connect({ servers: [`nats://127.0.0.1:${port}`], node: 'c', logger, connectTimeoutMs: 1_000 })).rejects.toMatchObject({ code: 'GL_ERR_CLUSTER_UNREACHABLE' });
    await expect(ClusterLink.connect({ servers: [nats.urls], node: 'a b', logger })).rejects.toMatchObject({ code: 'GL_ERR_CONFIG_INVALID' });
  }, 30_000);
});
