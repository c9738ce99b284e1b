import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader } from '../../src/codec/index.js';
import { GridlinkClient } from '../../src/client/index.js';
import { GridlinkError } from '../../src/errors/index.js';
import { writeRandomFile } from '../helpers/files.js';
import { rawExchange } from '../helpers/raw-peer.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const MiB = 1024 * 1024;

describe('the writable anonymous area has its own quota (hardening finding 8)', () => {
  let server: TestServer;
  let work: { path: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    server = await startTestServer({ anonymous: { enabled: true, writable: true, quota: 3 * MiB } });
    work = await makeTempDir();
  });
  afterAll(async () => {
    await server.stop();
    await work.cleanup();
  });

  it('versioned puts without login stop at anonymous.quota, with a clear error', async () => {
    const file = join(work.path, 'two.bin');
    await writeRandomFile(file, 2 * MiB);
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    try {
      await client.put(file, 'first.bin');
      const err = await client.put(file, 'second.bin').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GridlinkError);
      expect((err as GridlinkError).code).toBe('GL_ERR_FILE_QUOTA');
      expect((err as GridlinkError).message).toMatch(/quota 3\.0 MiB, used 2\.0 MiB/u);
    } finally {
      await client.close();
    }
    expect((await readdir(server.publicDir)).sort()).toEqual(['first.bin']);
  });

  it("the course's legacy put is bounded by the same quota and stores nothing past it", async () => {
    const body = Buffer.alloc(2 * MiB, 1);
    const out = await rawExchange(server.port, [Buffer.concat([encodeHeader({ cmd: 'put', name: 'legacy.bin', size: body.length }), body])], { waitMs: 3_000 });
    expect(out.frames[0]).toMatchObject({ cmd: 'error', code: 'GL_ERR_FILE_QUOTA' });
    expect((await readdir(server.publicDir)).sort()).toEqual(['first.bin']);
  });
});
