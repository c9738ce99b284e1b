import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, startWebServer, type Login, type WebTestServer } from './web-client.js';

/** Writes a request head with `Expect: 100-continue` and returns what comes back before any body is sent. */
function headOnly(port: number, head: string, waitMs = 1_500): Promise<{ text: string; socket: ReturnType<typeof connect> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', reject);
    socket.write(`${head}\r\nHost: 127.0.0.1:${port}\r\nExpect: 100-continue\r\n\r\n`, 'latin1');
    setTimeout(() => resolve({ text, socket }), waitMs);
  });
}

describe('Expect: 100-continue', () => {
  let server: WebTestServer;
  let alice: Login;

  beforeAll(async () => {
    server = await startWebServer();
    await server.server.users.add('alice', 'alice-password', 'operator');
    alice = await login(server.httpPort, 'alice', 'alice-password');
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('an upload without a session is refused before its body is invited (no 100 Continue)', async () => {
    const { text, socket } = await headOnly(server.httpPort, 'PUT /api/files/content?path=x.bin HTTP/1.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 1073741824');
    socket.destroy();
    expect(text).not.toContain('100 Continue');
    expect(text).toMatch(/^HTTP\/1\.1 401 /u);
  });

  it('an authorised upload is invited with 100 Continue, then stored', async () => {
    const origin = `http://127.0.0.1:${server.httpPort}`;
    const head = `PUT /api/files/content?path=ok.txt HTTP/1.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 5\r\nCookie: ${alice.cookie}\r\nX-CSRF-Token: ${alice.csrf}\r\nOrigin: ${origin}`;
    const { text, socket } = await headOnly(server.httpPort, head, 500);
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n$/u);
    const rest = await new Promise<string>((resolve) => {
      let more = '';
      socket.on('data', (d: string) => {
        more += d;
        if (more.includes('\r\n\r\n') && more.includes('}')) resolve(more);
      });
      socket.write('hello');
    });
    socket.destroy();
    expect(rest).toMatch(/^HTTP\/1\.1 201 /u);
  });
});
