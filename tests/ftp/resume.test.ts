import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import type { TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';
import { curl, exited, lftp, RawFtp, readAll, spawnClient, startFtpServer } from './ftp-fixture.js';

const MiB = 1024 * 1024;

describe('FTP front: a client killed during STOR resumes byte-identical (docs/ftp.md "Resuming")', () => {
  let server: TestServer & { ftpPort: number };
  let work: { path: string; cleanup: () => Promise<void> };
  const home = (user: string): string => join(server.dataDir, 'home', user);
  const partialDir = (): string => join(server.dataDir, 'staging', 'partial');

  /** Bytes in the stream partial files (there is at most one in these tests). */
  async function partialBytes(): Promise<number> {
    let total = 0;
    for (const name of await readdir(partialDir())) if (name.endsWith('-stream.part')) total += (await stat(join(partialDir(), name))).size;
    return total;
  }

  /** Waits until the partial file holds more than `atLeast` bytes, then SIGKILLs the client. */
  async function killWhenPast(child: ReturnType<typeof spawnClient>, atLeast: number): Promise<number> {
    try {
      await until(async () => (await partialBytes()) > atLeast, 30_000, `the upload to pass ${atLeast} bytes`);
    } finally {
      child.kill('SIGKILL');
      await exited(child);
    }
    // The server notices the cut and keeps what arrived.
    let last = -1;
    return until(async () => {
      const now = await partialBytes();
      const settled = now === last;
      last = now;
      return settled && now > 0 ? now : undefined;
    }, 10_000, 'the partial file to settle');
  }

  beforeAll(async () => {
    work = await makeTempDir('gridlink-ftp-resume-');
    server = await startFtpServer({ anonymous: { enabled: false } });
    await server.server.users.add('kim', 'kim-password', 'operator');
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('curl killed at three points during STOR, then curl -C - (SIZE + APPE) completes; nothing visible before', async () => {
    const local = join(work.path, 'curl-killed.bin');
    const sum = await writeRandomFile(local, 24 * MiB);
    const url = `ftp://127.0.0.1:${server.ftpPort}/curl-killed.bin`;
    let kept = 0;
    for (const point of [2 * MiB, 9 * MiB, 16 * MiB]) {
      // Slowed down so it can be caught mid-way; the first run starts, the others resume.
      const args = ['--silent', '--user', 'kim:kim-password', '--limit-rate', '8M', ...(kept > 0 ? ['-C', '-'] : []), '-T', local, url];
      const child = spawnClient('curl', args);
      const now = await killWhenPast(child, point);
      expect(now).toBeGreaterThan(kept);
      kept = now;
      // Nothing visible, not even a short file; SIZE tells what is kept.
      await expect(stat(join(home('kim'), 'curl-killed.bin'))).rejects.toThrow();
      const control = await RawFtp.connect(server.ftpPort);
      await control.login('kim', 'kim-password');
      expect(await control.send('SIZE curl-killed.bin')).toMatchObject({ code: 213, text: `213 ${kept}` });
      const data = await control.passive();
      const listing = readAll(data);
      expect((await control.send('NLST')).code).toBe(150);
      expect((await listing).toString()).not.toContain('curl-killed');
      expect((await control.reply()).code).toBe(226);
      control.close();
    }
    const out = await curl(['-C', '-', '-T', local, url], { user: 'kim:kim-password' });
    expect(out.code).toBe(0);
    expect(await sha256File(join(home('kim'), 'curl-killed.bin'))).toBe(sum);
    expect(await partialBytes()).toBe(0);
    const put = server.server.audit.recent(20).find((e) => e.event === 'file.put' && (e.detail as { path?: string }).path === 'curl-killed.bin');
    // The digest the upload computed as its bytes arrived (across three resumes) is the file's.
    const { createXXHash128 } = await import('hash-wasm');
    const xxh = await createXXHash128();
    xxh.init();
    xxh.update(await readFile(local));
    expect(put?.detail).toMatchObject({ length: 24 * MiB, xxh128: xxh.digest('hex'), via: 'ftp' });
  });

  it('lftp killed during put, then reput (SIZE, REST n + STOR) completes', async () => {
    const local = join(work.path, 'lftp-killed.bin');
    const sum = await writeRandomFile(local, 20 * MiB + 7);
    const child = spawnClient('lftp', ['-u', 'kim,kim-password', '-p', String(server.ftpPort), '-e', `set ftp:ssl-allow no; set net:limit-rate 8M; put ${local} -o lftp-killed.bin; quit`, '127.0.0.1'], {
      ...process.env,
      HOME: work.path,
    });
    const kept = await killWhenPast(child, 5 * MiB);
    await expect(stat(join(home('kim'), 'lftp-killed.bin'))).rejects.toThrow();
    const out = await lftp(server.ftpPort, 'kim', 'kim-password', `reput ${local} -o lftp-killed.bin`, { home: work.path });
    expect(out.code).toBe(0);
    expect(await sha256File(join(home('kim'), 'lftp-killed.bin'))).toBe(sum);
    // The audit log shows the resume: the kept bytes were not sent again.
    const put = server.server.audit.recent(20).find((e) => e.event === 'file.put' && (e.detail as { path?: string }).path === 'lftp-killed.bin');
    expect(put?.detail).toMatchObject({ length: 20 * MiB + 7, resumedAt: kept, via: 'ftp' });
    expect(await partialBytes()).toBe(0);
  });

  it('a data connection reset mid-upload stores nothing, even when the server was not reading at that moment', async () => {
    // libuv may report a reset as an ordinary end of data; five resets at different points must all be seen.
    const { randomBytes } = await import('node:crypto');
    const payload = randomBytes(24 * MiB);
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const control = await RawFtp.connect(server.ftpPort);
      await control.login('kim', 'kim-password');
      const data = await control.passive();
      data.on('error', () => undefined);
      expect((await control.send('STOR reset.bin')).code).toBe(150);
      data.write(payload);
      await new Promise((resolve) => setTimeout(resolve, 20 + attempt * 40));
      data.resetAndDestroy();
      const reply = await control.reply();
      expect(reply.code, reply.text).toBe(426);
      await expect(stat(join(home('kim'), 'reset.bin'))).rejects.toThrow();
      control.close();
    }
  });

  it('a STOR whose client went silent (no FIN) is taken over by its own rerun: lftp reput resumes, the stalled one gets 426; APPE does not take over', async () => {
    const local = join(work.path, 'stalled.bin');
    const sum = await writeRandomFile(local, 12 * MiB);
    const bytes = await readFile(local);
    const control = await RawFtp.connect(server.ftpPort);
    await control.login('kim', 'kim-password');
    const data = await control.passive();
    data.on('error', () => undefined);
    expect((await control.send('STOR stalled.bin')).code).toBe(150);
    // 3.5 MiB, then nothing: both connections stay open, as after a cut link.
    // The server writes in 1 MiB batches, so half a MiB waits in memory until the takeover flushes it.
    data.write(bytes.subarray(0, 3.5 * MiB));
    await until(async () => ((await partialBytes()) >= 3 * MiB ? true : undefined), 10_000, 'the first 3 MiB to be stored');
    const url = `ftp://127.0.0.1:${server.ftpPort}/stalled.bin`;
    await new Promise((resolve) => setTimeout(resolve, 2_200)); // past files.takeOverIdleUploadMs (2 s)
    // APPE (curl -C -) never takes over: it would append after bytes it did not know of.
    const append = await curl(['-C', '-', '-T', local, url], { user: 'kim:kim-password' });
    expect(append.code).not.toBe(0);
    expect(append.stderr).toMatch(/450/u);
    // REST n + STOR (lftp reput) does: SIZE says what is on disk (whole batches, 3 MiB and a little),
    // the takeover then stores all 3.5 MiB, and REST n cuts that back to n.
    const rerun = await lftp(server.ftpPort, 'kim', 'kim-password', `reput ${local} -o stalled.bin`, { home: work.path });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await sha256File(join(home('kim'), 'stalled.bin'))).toBe(sum);
    const put = server.server.audit.recent(20).find((e) => e.event === 'file.put' && (e.detail as { path?: string }).path === 'stalled.bin');
    expect(put?.detail).toMatchObject({ length: 12 * MiB, via: 'ftp' });
    // Resumed where SIZE said, before the flushed tail: that tail was cut back and sent again.
    const resumedAt = (put?.detail as { resumedAt?: number }).resumedAt ?? 0;
    expect(resumedAt).toBeGreaterThanOrEqual(3 * MiB);
    expect(resumedAt).toBeLessThan(3.5 * MiB);
    const stalled = await control.reply();
    expect(stalled.code, stalled.text).toBe(426);
    expect(stalled.text).toMatch(/took over/u);
    control.close();
  });

  it('a download killed mid-way resumes with curl -C - (REST n + RETR)', async () => {
    const stored = join(home('kim'), 'get-killed.bin');
    const sum = await writeRandomFile(join(work.path, 'get-src.bin'), 16 * MiB);
    await curl(['-T', join(work.path, 'get-src.bin'), `ftp://127.0.0.1:${server.ftpPort}/get-killed.bin`], { user: 'kim:kim-password' });
    expect(await sha256File(stored)).toBe(sum);
    const local = join(work.path, 'get-killed.out');
    const child = spawnClient('curl', ['--silent', '--user', 'kim:kim-password', '--limit-rate', '8M', '-o', local, `ftp://127.0.0.1:${server.ftpPort}/get-killed.bin`]);
    try {
      await until(async () => ((await stat(local).catch(() => null))?.size ?? 0) > 4 * MiB, 30_000, 'the download to pass 4 MiB');
    } finally {
      child.kill('SIGKILL');
      await exited(child);
    }
    const out = await curl(['-C', '-', '-o', local, `ftp://127.0.0.1:${server.ftpPort}/get-killed.bin`], { user: 'kim:kim-password' });
    expect(out.code).toBe(0);
    expect(await sha256File(local)).toBe(sum);
  });
});
