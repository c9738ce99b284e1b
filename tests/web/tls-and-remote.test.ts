import { execFileSync } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { networkInterfaces } from 'node:os';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/temp-dir.js';
import { JSON_TYPE, send, startWebServer } from './web-client.js';

/** This machine's first non-loopback IPv4 address, if it has one. */
function lanAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;
}

describe('HTTPS and passwords from other hosts (docs/protocol.md §3.2, docs/http-api.md)', () => {
  it('with http.tls the listener speaks HTTPS and the session cookie is Secure', async () => {
    const temp = await makeTempDir();
    const key = join(temp.path, 'key.pem');
    const cert = join(temp.path, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const server = await startWebServer({ http: { tls: { certFile: cert, keyFile: key } } });
    try {
      await server.server.users.add('gina', 'gina-password', 'viewer');
      const ca = await readFile(cert);
      const res = await new Promise<{ status: number; cookie: string }>((resolve, reject) => {
        const req = httpsRequest(
          { host: '127.0.0.1', port: server.httpPort, method: 'POST', path: '/api/login', ca, headers: { ...JSON_TYPE, origin: `https://127.0.0.1:${server.httpPort}` } },
          (r) => {
            r.resume();
            resolve({ status: r.statusCode ?? 0, cookie: String(r.headers['set-cookie']) });
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ user: 'gina', password: 'gina-password' }));
      });
      expect(res.status).toBe(200);
      expect(res.cookie).toContain('Secure');
      expect(res.cookie).toContain('HttpOnly');
    } finally {
      await server.stop();
      await temp.cleanup();
    }
  });

  const lan = lanAddress();
  it.skipIf(lan === undefined)('a password login over plain HTTP from a non-loopback address is refused (403) before it is checked', async () => {
    const server = await startWebServer({ http: { host: '0.0.0.0' } });
    try {
      await server.server.users.add('frank', 'frank-password', 'viewer');
      const { request } = await import('node:http');
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: lan, port: server.httpPort, method: 'POST', path: '/api/login', headers: JSON_TYPE }, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end(JSON.stringify({ user: 'frank', password: 'frank-password' }));
      });
      expect(status).toBe(403);
      expect(server.server.audit.recent(5).map((e) => e.event)).toContain('auth.insecure_refused');
      // From loopback the same login works.
      expect((await send(server.httpPort, 'POST', '/api/login', JSON_TYPE, JSON.stringify({ user: 'frank', password: 'frank-password' }))).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
