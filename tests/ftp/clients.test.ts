import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { PEERS_DIR, run } from '../helpers/python.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import type { TestServer } from '../helpers/test-server.js';
import { curl, lftp, makeCertificate, startFtpServer } from './ftp-fixture.js';

const MiB = 1024 * 1024;

/** Every regular file below `dir` with its SHA-256, by relative path. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[relative(dir, path)] = await sha256File(path);
  }
  return out;
}

/** A small tree with nested directories, an empty file, spaces and UTF-8 in names. */
async function makeTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'feeder 1', 'records'), { recursive: true });
  await mkdir(join(dir, 'ünïcode'), { recursive: true });
  await writeRandomFile(join(dir, 'feeder 1', 'records', 'fault-0001.cfg'), 2_345);
  await writeRandomFile(join(dir, 'feeder 1', 'records', 'fault-0001.dat'), 3 * MiB + 17);
  await writeRandomFile(join(dir, 'ünïcode', 'relé.bin'), 200_000);
  await writeFile(join(dir, 'empty.txt'), '');
  await writeRandomFile(join(dir, 'top.bin'), 1 * MiB);
}

describe('FTP front: real clients, byte-identical (docs/ftp.md)', () => {
  let server: TestServer & { ftpPort: number };
  let work: { path: string; cleanup: () => Promise<void> };
  let ca: string;
  const home = (user: string): string => join(server.dataDir, 'home', user);

  beforeAll(async () => {
    work = await makeTempDir('gridlink-ftp-clients-');
    const { cert, key } = makeCertificate(work.path);
    ca = cert;
    server = await startFtpServer({ ftp: { tls: { certFile: cert, keyFile: key } } });
    await server.server.users.add('lina', 'lina-password', 'operator');
    await server.server.users.add('tessa', 'tessa-password', 'operator');
    await server.server.users.add('peter', 'peter-password', 'operator');
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('lftp mirrors a tree up and down, over plain FTP and over TLS', async () => {
    const source = join(work.path, 'tree');
    await makeTree(source);
    const expected = await tree(source);
    for (const tls of [false, true]) {
      const remote = tls ? 'up-tls' : 'up';
      const down = join(work.path, tls ? 'down-tls' : 'down');
      const out = await lftp(server.ftpPort, 'lina', 'lina-password', `mirror -R ${source} ${remote}; mirror ${remote} ${down}`, { home: work.path, tls: tls ? { ca } : undefined });
      expect(out.stderr).toBe('');
      expect(out.code).toBe(0);
      expect(await tree(join(home('lina'), remote))).toEqual(expected);
      expect(await tree(down)).toEqual(expected);
      // Directories, also the empty file's.
      expect((await stat(join(home('lina'), remote, 'ünïcode'))).isDirectory()).toBe(true);
    }
    const audit = server.server.audit.recent(200).filter((e) => e.event === 'file.put' && e.actor === 'lina');
    expect(audit.length).toBe(2 * Object.keys(expected).length);
    expect(audit[0]?.detail).toMatchObject({ via: 'ftp' });
  });

  it('lftp reget and reput continue where a transfer stopped', async () => {
    const local = join(work.path, 'reput.bin');
    const sum = await writeRandomFile(local, 6 * MiB + 3);
    // Half of it stored as the start of the file: reput sends the rest (REST n + STOR).
    const half = join(work.path, 'half.bin');
    await writeFile(half, (await readFile(local)).subarray(0, 3 * MiB));
    let out = await lftp(server.ftpPort, 'lina', 'lina-password', `put ${half} -o reput.bin; reput ${local} -o reput.bin`, { home: work.path });
    expect(out.code).toBe(0);
    expect(await sha256File(join(home('lina'), 'reput.bin'))).toBe(sum);
    // A local file holding the start: reget fetches the rest (REST n + RETR).
    const got = join(work.path, 'reget.bin');
    await writeFile(got, (await readFile(local)).subarray(0, 1 * MiB + 5));
    out = await lftp(server.ftpPort, 'lina', 'lina-password', `reget reput.bin -o ${got}`, { home: work.path });
    expect(out.code).toBe(0);
    expect(await sha256File(got)).toBe(sum);
  });

  it('curl uploads, downloads and resumes both ways with -C -', async () => {
    const url = `ftp://127.0.0.1:${server.ftpPort}/`;
    const local = join(work.path, 'curl.bin');
    const sum = await writeRandomFile(local, 5 * MiB + 999);
    let out = await curl(['-T', local, `${url}curl.bin`], { user: 'tessa:tessa-password' });
    expect(out.code).toBe(0);
    expect(await sha256File(join(home('tessa'), 'curl.bin'))).toBe(sum);
    const got = join(work.path, 'curl.out');
    out = await curl(['-o', got, `${url}curl.bin`], { user: 'tessa:tessa-password' });
    expect(out.code).toBe(0);
    expect(await sha256File(got)).toBe(sum);
    // Download resume: the local file holds the start (curl sends REST n + RETR).
    await writeFile(got, (await readFile(local)).subarray(0, 2 * MiB));
    out = await curl(['-C', '-', '-o', got, `${url}curl.bin`], { user: 'tessa:tessa-password' });
    expect(out.code).toBe(0);
    expect(await sha256File(got)).toBe(sum);
    // Upload resume onto a stored start (curl asks SIZE, then APPE).
    await writeFile(join(work.path, 'start.bin'), (await readFile(local)).subarray(0, 1 * MiB + 1));
    await curl(['-T', join(work.path, 'start.bin'), `${url}curl2.bin`], { user: 'tessa:tessa-password' });
    out = await curl(['-C', '-', '-T', local, `${url}curl2.bin`], { user: 'tessa:tessa-password' });
    expect(out.code).toBe(0);
    expect(await sha256File(join(home('tessa'), 'curl2.bin'))).toBe(sum);
  });

  it('curl --ssl-reqd: AUTH TLS, PROT P, upload and download verified against the test certificate', async () => {
    const url = `ftp://127.0.0.1:${server.ftpPort}/`;
    const local = join(work.path, 'tls.bin');
    const sum = await writeRandomFile(local, 4 * MiB + 1);
    let out = await curl(['-T', local, `${url}tls.bin`], { user: 'tessa:tessa-password', ca });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(await sha256File(join(home('tessa'), 'tls.bin'))).toBe(sum);
    const got = join(work.path, 'tls.out');
    out = await curl(['-o', got, `${url}tls.bin`], { user: 'tessa:tessa-password', ca });
    expect(out.code).toBe(0);
    expect(await sha256File(got)).toBe(sum);
    // A client that does not trust the certificate gets nothing.
    out = await run('curl', ['--silent', '--ssl-reqd', '--user', 'tessa:tessa-password', `${url}tls.bin`, '-o', join(work.path, 'untrusted.out')]);
    expect(out.code).not.toBe(0);
  });

  it.each([
    ['ftplib.FTP', false],
    ['ftplib.FTP_TLS', true],
  ])('Python %s runs every command with the expected replies', async (_name, tls) => {
    const args = [`${PEERS_DIR}ftp_client.py`, '--port', String(server.ftpPort), '--user', 'peter', '--password', 'peter-password', '--workdir', work.path];
    if (tls) args.push('--tls', '--cafile', ca);
    const out = await run('/usr/bin/python3', args, { timeoutMs: 120_000 });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const last = JSON.parse(out.stdout.trim().split('\n').pop()!) as { done: boolean; path: string; sha256: string };
    expect(last.done).toBe(true);
    expect(await sha256File(join(home('peter'), last.path))).toBe(last.sha256);
  });
});
