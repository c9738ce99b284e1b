import { execFileSync } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import { GridlinkError } from '../../src/errors/index.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * A really full disk: the data directory lives on a 16 MiB tmpfs this test
 * mounts (the test machines run as root; the quota variant of "no room" is in
 * accounts.test.ts).
 */
describe('a full disk', () => {
  let work: { path: string; cleanup: () => Promise<void> };
  let mountPoint: string;
  let server: TestServer;

  beforeAll(async () => {
    work = await makeTempDir();
    mountPoint = join(work.path, 'small-disk');
    await mkdir(mountPoint);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mountPoint]);
    server = await startTestServer({ dataDir: join(mountPoint, 'data'), anonymous: { enabled: false }, files: { durable: true } });
    await server.server.users.add('hank', 'hank-password', 'operator');
  });
  afterAll(async () => {
    await server?.stop();
    execFileSync('umount', [mountPoint]);
    await work.cleanup();
  });

  it('gives GL_ERR_FILE_NO_SPACE, leaves no partial or visible file, frees the space, and keeps serving', async () => {
    const big = join(work.path, 'big.bin');
    await writeRandomFile(big, 24 * 1024 * 1024);
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    await client.login('hank', 'hank-password');
    const err = await client.put(big, 'big.bin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GridlinkError);
    expect((err as GridlinkError).code).toBe('GL_ERR_FILE_NO_SPACE');
    expect((err as GridlinkError).message).toContain('no space left');
    expect(await readdir(join(server.dataDir, 'home', 'hank'))).toEqual([]);
    expect(await readdir(join(server.dataDir, 'staging', 'partial'))).toEqual([]);
    await client.close();

    // The space is back: a file that fits goes through on a new connection.
    const small = join(work.path, 'small.bin');
    const sum = await writeRandomFile(small, 4 * 1024 * 1024);
    const again = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    await again.login('hank', 'hank-password');
    expect((await again.put(small, 'small.bin')).sha256).toBe(sum);
    expect(await sha256File(join(server.dataDir, 'home', 'hank', 'small.bin'))).toBe(sum);
    await again.close();
  });
});
