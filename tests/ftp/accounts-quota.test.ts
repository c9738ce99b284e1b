import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import { codeOf } from '../helpers/code-of.js';
import type { TestServer } from '../helpers/test-server.js';
import { diskBytes, RawFtp, readAll, startFtpServer, type Reply } from './ftp-fixture.js';

const MiB = 1024 * 1024;

/** STOR (or APPE) of `bytes` on a passive connection; the data connection may be cut by the server. */
async function store(ftp: RawFtp, verb: 'STOR' | 'APPE', name: string, bytes: Buffer): Promise<Reply> {
  const data = await ftp.passive();
  data.on('error', () => undefined);
  const first = await ftp.send(`${verb} ${name}`);
  if (first.code !== 150) {
    data.destroy();
    return first;
  }
  // Sent in pieces, so a refusal half-way is seen as the server cutting the connection.
  for (let at = 0; at < bytes.length && !data.destroyed; at += MiB) {
    if (!data.write(bytes.subarray(at, at + MiB))) await new Promise((resolve) => data.once('drain', resolve).once('close', resolve));
  }
  data.end();
  return ftp.reply();
}

describe('FTP front: quota, anonymous area, audit (docs/ftp.md "Quota")', () => {
  let server: TestServer & { ftpPort: number };
  const home = (user: string): string => join(server.dataDir, 'home', user);
  const usage = async (user: string): Promise<number> => (await server.server.files.quotas.usage(`home:${user}`, home(user))).bytes;
  const partials = async (): Promise<string[]> => (await readdir(join(server.dataDir, 'staging', 'partial'))).filter((n) => n.endsWith('-stream.part'));

  beforeAll(async () => {
    server = await startFtpServer({ anonymous: { enabled: true, writable: false } });
    await server.server.users.add('quinn', 'quinn-password', 'operator', 10 * MiB);
    await writeFile(join(server.publicDir, 'notice.txt'), 'read me');
  });
  afterAll(async () => {
    await server.stop();
  });

  it('a STOR past the quota is refused with 552 when it passes: nothing stored, nothing kept, usage equals the disk', async () => {
    const ftp = await RawFtp.connect(server.ftpPort);
    await ftp.login('quinn', 'quinn-password');
    expect(await store(ftp, 'STOR', 'base.bin', randomBytes(2 * MiB))).toMatchObject({ code: 226 });
    const reply = await store(ftp, 'STOR', 'too-big.bin', randomBytes(12 * MiB));
    expect(reply.code).toBe(552);
    expect(reply.text).toMatch(/quota.*nothing was stored/u);
    await expect(stat(join(home('quinn'), 'too-big.bin'))).rejects.toThrow();
    expect(await partials()).toEqual([]);
    expect(await usage('quinn')).toBe(await diskBytes(home('quinn')));
    expect(await usage('quinn')).toBe(2 * MiB);
    // What fits exactly is stored.
    expect(await store(ftp, 'STOR', 'fits.bin', randomBytes(8 * MiB))).toMatchObject({ code: 226 });
    expect(await usage('quinn')).toBe(10 * MiB);
    expect(await usage('quinn')).toBe(await diskBytes(home('quinn')));
    // One byte more is not, even appended.
    const before = await readFile(join(home('quinn'), 'base.bin'));
    expect((await store(ftp, 'APPE', 'base.bin', Buffer.from('x'))).code).toBe(552);
    // (Buffer.equals: a deep comparison of megabytes takes vitest minutes.)
    expect((await readFile(join(home('quinn'), 'base.bin'))).equals(before)).toBe(true);
    expect((await ftp.send('DELE fits.bin')).code).toBe(250);
    expect(await usage('quinn')).toBe(await diskBytes(home('quinn')));
    ftp.close();
  });

  it('an unfinished upload counts against the quota until it is resumed or swept', async () => {
    const ftp = await RawFtp.connect(server.ftpPort);
    await ftp.login('quinn', 'quinn-password');
    // 6 MiB sent, then the data connection is cut: kept for a resume.
    const data = await ftp.passive();
    expect((await ftp.send('STOR parked.bin')).code).toBe(150);
    const parked = randomBytes(6 * MiB);
    data.write(parked);
    await new Promise((resolve) => setTimeout(resolve, 200));
    data.resetAndDestroy();
    expect((await ftp.reply()).code).toBe(426);
    const kept = Number((await ftp.send('SIZE parked.bin')).text.split(' ')[1]);
    expect(kept).toBeGreaterThan(0);
    // 2 MiB stored + the parked bytes: another 6 MiB file does not fit.
    expect((await store(ftp, 'STOR', 'other.bin', randomBytes(6 * MiB))).code).toBe(552);
    // Resumed, the parked upload completes: its own bytes are not counted twice.
    expect((await ftp.send(`REST ${kept}`)).code).toBe(350);
    expect(await store(ftp, 'STOR', 'parked.bin', parked.subarray(kept))).toMatchObject({ code: 226 });
    expect((await readFile(join(home('quinn'), 'parked.bin'))).equals(parked)).toBe(true);
    expect(await usage('quinn')).toBe(await diskBytes(home('quinn')));
    expect(await partials()).toEqual([]);
    ftp.close();
  });

  it('every change is audited with the FTP actor', async () => {
    const ftp = await RawFtp.connect(server.ftpPort);
    await ftp.login('quinn', 'quinn-password');
    expect((await ftp.send('MKD audited')).code).toBe(257);
    expect((await ftp.send('RNFR parked.bin')).code).toBe(350);
    expect((await ftp.send('RNTO audited/parked.bin')).code).toBe(250);
    expect((await ftp.send('DELE audited/parked.bin')).code).toBe(250);
    expect((await ftp.send('RMD audited')).code).toBe(250);
    ftp.close();
    const events = server.server.audit.recent(10).filter((e) => e.actor === 'quinn').map((e) => [e.event, (e.detail as { via?: string }).via]);
    expect(events.slice(0, 4).reverse()).toEqual([
      ['file.mkdir', 'ftp'],
      ['file.mv', 'ftp'],
      ['file.rm', 'ftp'],
      ['file.rmdir', 'ftp'],
    ]);
  });

  it('user anonymous reaches the anonymous area, read-only unless it is writable', async () => {
    const ftp = await RawFtp.connect(server.ftpPort);
    expect((await ftp.send('USER anonymous')).code).toBe(331);
    expect((await ftp.send('PASS guest@example.org')).code).toBe(230);
    const data = await ftp.passive();
    const content = readAll(data);
    expect((await ftp.send('RETR notice.txt')).code).toBe(150);
    expect((await content).toString()).toBe('read me');
    expect((await ftp.reply()).code).toBe(226);
    const stor = await store(ftp, 'STOR', 'upload.bin', Buffer.from('no'));
    expect(stor.code).toBe(550);
    expect(stor.text).toMatch(/read-only/u);
    expect((await ftp.send('DELE notice.txt')).code).toBe(550);
    expect((await ftp.send('MKD d')).code).toBe(550);
    // The anonymous area is not a way into the homes.
    expect((await ftp.send('CWD ../home/quinn')).code).toBe(550);
    ftp.close();
  });

  it('a deleted account loses access at once on an open FTP connection', async () => {
    await server.server.users.add('gone', 'gone-password', 'viewer');
    const ftp = await RawFtp.connect(server.ftpPort);
    await ftp.login('gone', 'gone-password');
    expect((await ftp.send('MKD d')).code).toBe(257);
    server.server.users.delete('gone');
    expect((await ftp.send('MKD e')).code).toBe(530);
    expect((await ftp.send('PWD')).code).toBe(530);
    ftp.close();
  });
});

describe('FTP front: logins', () => {
  let server: TestServer & { ftpPort: number };

  beforeAll(async () => {
    server = await startFtpServer({ anonymous: { enabled: false } });
    await server.server.users.add('tom', 'tom-password', 'viewer');
  });
  afterAll(async () => {
    await server.stop();
  });

  it('anonymous is refused when the anonymous area is off', async () => {
    const ftp = await RawFtp.connect(server.ftpPort);
    const reply = await ftp.send('USER anonymous');
    expect(reply.code).toBe(530);
    expect(reply.text).toMatch(/anonymous access is off/u);
    ftp.close();
  });

  it('AUTH TLS without a certificate configured is refused with what to do instead', async () => {
    const ftp = await RawFtp.connect(server.ftpPort);
    const reply = await ftp.send('AUTH TLS');
    expect(reply.code).toBe(502);
    expect((await ftp.send('FEAT')).text).not.toContain('AUTH TLS');
    ftp.close();
  });

  it('a burst of 40 simultaneous logins from one address all succeed: checked a few at a time, not throttled', async () => {
    const clients = await Promise.all(Array.from({ length: 40 }, () => RawFtp.connect(server.ftpPort)));
    const replies = await Promise.all(
      clients.map(async (ftp) => {
        await ftp.send('USER tom');
        return ftp.send('PASS tom-password');
      }),
    );
    expect(replies.map((r) => r.code)).toEqual(Array(40).fill(230));
    for (const ftp of clients) ftp.close();
  });

  it('failed FTP logins are throttled together with the native login (one throttle)', async () => {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const ftp = await RawFtp.connect(server.ftpPort);
      expect((await ftp.send('USER tom')).code).toBe(331);
      expect((await ftp.send('PASS wrong')).code).toBe(530);
      ftp.close();
    }
    const ftp = await RawFtp.connect(server.ftpPort);
    expect((await ftp.send('USER tom')).code).toBe(331);
    const throttled = await ftp.send('PASS tom-password');
    expect(throttled.code).toBe(530);
    expect(throttled.text).toMatch(/try again in \d+ s/u);
    ftp.close();
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    expect(await codeOf(client.loginWithPassword('tom', 'tom-password'))).toBe('GL_ERR_AUTH_THROTTLED');
    client.destroy();
    const failures = server.server.audit.recent(20).filter((e) => e.event === 'auth.failure');
    expect(failures[0]?.detail).toMatchObject({ via: 'ftp' });
  });
});
