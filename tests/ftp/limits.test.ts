import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import type { TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';
import { RawFtp, startFtpServer } from './ftp-fixture.js';

const MiB = 1024 * 1024;

/** The FTP port of a server process, from its `server.started` log line (`ftp://host:port`). */
function ftpPortOf(server: ServerProcess): number {
  const started = server.logs.find((entry) => entry['event'] === 'server.started');
  return Number(String(started?.['ftp']).split(':').pop());
}

/** Opens a control connection and waits for its greeting; the socket stays open and idle. */
function idleConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setEncoding('utf8');
    socket.once('error', reject);
    socket.once('data', (text: string) => (text.startsWith('220') ? resolve(socket) : reject(new Error(`greeting: ${text}`))));
  });
}

describe('FTP front under load: a server process (docs/ftp.md "Limits")', () => {
  let work: { path: string; cleanup: () => Promise<void> };
  let server: ServerProcess;
  let port: number;
  let adminPassword: string;

  beforeAll(async () => {
    work = await makeTempDir('gridlink-ftp-limits-');
    const dataDir = join(work.path, 'data');
    server = await startServerProcess(work.path, { dataDir, ftp: { enabled: true }, scada: { enabled: false }, http: { enabled: false } });
    port = ftpPortOf(server);
    adminPassword = (await readFile(join(dataDir, 'initial-admin-password'), 'utf8')).trim();
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  async function login(): Promise<void> {
    const ftp = await RawFtp.connect(port);
    await ftp.login('admin', adminPassword);
    expect((await ftp.send('PWD')).code).toBe(257);
    expect((await ftp.send('QUIT')).code).toBe(221);
    ftp.close();
  }

  it('2,000 idle control connections, then a normal login still works; their memory stays under 60 MB', { timeout: 120_000 }, async () => {
    await login();
    const idle = await server.rss();
    const sockets: Socket[] = [];
    try {
      for (let batch = 0; batch < 20; batch += 1) sockets.push(...(await Promise.all(Array.from({ length: 100 }, () => idleConnection(port)))));
      expect(sockets.length).toBe(2_000);
      const loaded = await server.rss();
      await login();
      expect(loaded - idle).toBeLessThan(60 * MiB);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  it('a 1 MiB command line is refused at 4 KiB without being buffered, on 40 connections at once', { timeout: 60_000 }, async () => {
    await login();
    const before = await server.rss();
    const line = Buffer.alloc(MiB, 'A'.charCodeAt(0));
    const results = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const socket = await idleConnection(port);
        let reply = '';
        socket.on('data', (text: string) => (reply += text));
        socket.on('error', () => undefined);
        socket.write(line);
        socket.write('\r\n');
        await until(() => socket.readableEnded || socket.destroyed, 10_000, 'the server to close the connection');
        socket.destroy();
        return reply;
      }),
    );
    for (const reply of results) expect(reply).toMatch(/^500 command line longer than 4096 bytes/u);
    // 40 MiB of lines held would show; the limit keeps each under 4 KiB.
    expect((await server.rss()) - before).toBeLessThan(20 * MiB);
    await login();
  });
});

describe('FTP front: connection cap and idle timeout', () => {
  let server: TestServer & { ftpPort: number };

  beforeAll(async () => {
    server = await startFtpServer({ ftp: { maxConnections: 20, idleTimeoutMs: 1_500 } });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('a connection over ftp.maxConnections is told 421 and closed; a freed slot is usable again', async () => {
    const held = await Promise.all(Array.from({ length: 20 }, () => RawFtp.connect(server.ftpPort)));
    const refused = connect({ host: '127.0.0.1', port: server.ftpPort });
    refused.setEncoding('utf8');
    let text = '';
    refused.on('data', (t: string) => (text += t));
    refused.on('error', () => undefined);
    await until(() => refused.readableEnded || refused.destroyed, 5_000, 'the refused connection to close');
    expect(text).toMatch(/^421 too many connections \(20\); try again later/u);
    held.pop()!.close();
    await until(async () => {
      const again = await RawFtp.connect(server.ftpPort).catch(() => null);
      again?.close();
      return again !== null;
    }, 5_000, 'a slot to free');
    for (const ftp of held) ftp.close();
  });

  it('an idle control connection is told 421 and closed after ftp.idleTimeoutMs', async () => {
    // The previous test's connections may still be closing on the server's side.
    const ftp = await until(() => RawFtp.connect(server.ftpPort).catch(() => undefined), 5_000, 'a free slot');
    const reply = await ftp.reply(5_000);
    expect(reply.code).toBe(421);
    await until(() => ftp.closed, 5_000, 'the connection to close');
  });
});
