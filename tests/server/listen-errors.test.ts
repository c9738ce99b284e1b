import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkError } from '../../src/errors/index.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startTestServer } from '../helpers/test-server.js';

/**
 * A listener whose address is taken stops the start with one clear,
 * typed error that names the service and the key that moves it, and
 * leaves nothing behind (the next start succeeds).
 */
describe('a taken address', () => {
  let tcp: Server;
  let udp: UdpSocket;
  let tcpPort: number;
  let udpPort: number;

  beforeAll(async () => {
    tcp = createServer();
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    tcpPort = (tcp.address() as AddressInfo).port;
    udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    udpPort = udp.address().port;
  });

  afterAll(async () => {
    await new Promise((r) => tcp.close(r));
    await new Promise<void>((r) => udp.close(() => r()));
  });

  const cases: Array<[string, () => ConfigInput, RegExp]> = [
    ['native protocol', () => ({ native: { port: tcpPort } }), /the native protocol on 127\.0\.0\.1:\d+: the address is in use; set another native\.port \(or --port\)/u],
    ['web HMI', () => ({ http: { port: tcpPort } }), /the web HMI on 127\.0\.0\.1:\d+: the address is in use; set another http\.port/u],
    ['simulator', () => ({ scada: { simulator: { port: tcpPort } } }), /the substation simulator on 127\.0\.0\.1:\d+: the address is in use; set another scada\.simulator\.port/u],
    ['legacy UDP chat', () => ({ legacyChat: { enabled: true, port: udpPort } }), /the legacy UDP chat on 127\.0\.0\.1:\d+: the address is in use; set another legacyChat\.port/u],
  ];

  it.each(cases)('%s: GL_ERR_SERVER_LISTEN naming the key; the next start works', async (_name, config, message) => {
    let caught: unknown;
    try {
      const server = await startTestServer(config());
      await server.stop();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(GridlinkError);
    expect((caught as GridlinkError).code).toBe('GL_ERR_SERVER_LISTEN');
    expect((caught as GridlinkError).message).toMatch(message);
    const ok = await startTestServer();
    await ok.stop();
  });
});
