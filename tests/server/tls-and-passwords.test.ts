import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/accounts/audit-log.js';
import { openDatabase } from '../../src/accounts/database.js';
import { LoginThrottle } from '../../src/accounts/login-throttle.js';
import { UserStore } from '../../src/accounts/user-store.js';
import { GridlinkClient } from '../../src/client/index.js';
import { GridlinkError } from '../../src/errors/index.js';
import { createLogger } from '../../src/log/logger.js';
import { AuthService, type LoginPeer } from '../../src/services/auth/auth-service.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

describe('passwords in clear only over TLS or loopback (docs/protocol.md §3.2)', () => {
  it('a password from a non-loopback address over plain TCP is refused before it is checked', async () => {
    const work = await makeTempDir();
    const db = openDatabase(join(work.path, 'g.db'));
    try {
      const users = new UserStore(db);
      await users.add('frank', 'frank-password', 'viewer');
      const audit = new AuditLog(db, createLogger('silent'));
      const auth = new AuthService(users, audit, new LoginThrottle());
      // The decision depends only on these two facts of the connection; no packet
      // leaves loopback in this test.
      const remote: LoginPeer = { remoteAddress: '192.0.2.10', secure: false, fromLoopback: false };
      const err = await auth.verifyPassword(remote, 'frank', 'frank-password').catch((e: unknown) => e);
      expect((err as GridlinkError).code).toBe('GL_ERR_AUTH_INSECURE');
      const overTls: LoginPeer = { remoteAddress: '192.0.2.10', secure: true, fromLoopback: false };
      expect(await auth.verifyPassword(overTls, 'frank', 'frank-password')).toEqual({ name: 'frank', role: 'viewer' });
      expect(audit.recent(10).map((e) => e.event)).toEqual(['auth.login', 'auth.insecure_refused']);
    } finally {
      db.close();
      await work.cleanup();
    }
  });
});

describe('TLS on the native listener', () => {
  let server: TestServer;
  let work: { path: string; cleanup: () => Promise<void> };
  let ca: Buffer;

  beforeAll(async () => {
    work = await makeTempDir();
    const key = join(work.path, 'key.pem');
    const cert = join(work.path, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    ca = await readFile(cert);
    server = await startTestServer({ anonymous: { enabled: false }, native: { tls: { certFile: cert, keyFile: key } } });
    await server.server.users.add('gina', 'gina-password', 'operator');
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('logs in and transfers over TLS, verifying the server certificate', async () => {
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port, tls: { ca } });
    expect(await client.loginWithPassword('gina', 'gina-password')).toMatchObject({ user: 'gina' });
    const local = join(work.path, 'tls.bin');
    const sum = await writeRandomFile(local, 1024 * 1024);
    expect((await client.put(local, 'tls.bin')).sha256).toBe(sum);
    const out = join(work.path, 'tls.out');
    await client.get('tls.bin', out);
    expect(await sha256File(out)).toBe(sum);
    await client.close();
  });

  it('the CLI speaks TLS with --ca', async () => {
    const { run } = await import('../helpers/python.js');
    const { GRIDLINK_BIN } = await import('../helpers/server-process.js');
    const out = await run(process.execPath, [GRIDLINK_BIN, 'ls', '--user', 'gina', '--ca', join(work.path, 'cert.pem'), '--server', `127.0.0.1:${server.port}`], {
      env: { ...process.env, GRIDLINK_PASSWORD: 'gina-password' },
    });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('tls.bin');
    const untrusted = await run(process.execPath, [GRIDLINK_BIN, 'ls', '--user', 'gina', '--tls', '--server', `127.0.0.1:${server.port}`], {
      env: { ...process.env, GRIDLINK_PASSWORD: 'gina-password' },
    });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain('GL_ERR_CLIENT_CONNECT');
  });

  it('a client that does not trust the certificate cannot connect, and plain TCP gets nothing', async () => {
    const untrusted = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port, tls: {} }).catch((e: unknown) => e);
    expect((untrusted as GridlinkError).code).toBe('GL_ERR_CLIENT_CONNECT');
    const plain = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port, idleTimeoutMs: 2_000 });
    const err = await plain.ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GridlinkError);
    plain.destroy();
    await writeFile(join(work.path, 'done'), '');
  });
});
