import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameConnection, GridlinkClient } from '../../src/client/index.js';
import { prepareHostileHomes, type HostileHomes } from '../helpers/hostile-homes.js';
import { hostilePaths } from '../helpers/hostile-paths.js';
import { rawLogin } from '../helpers/raw-login.js';
import { snapshot } from '../helpers/snapshot.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const SECRET = 'other user secret';
const INTRUDER = Buffer.from('intruder');
const INTRUDER_SHA = createHash('sha256').update(INTRUDER).digest('hex');


/** Every reply must be a refusal with one of these codes, or a success that stays inside. */
const REFUSALS = /^GL_ERR_(PATH_|FILE_NOT_FOUND|FILE_NOT_DIRECTORY|FILE_IS_DIRECTORY|FILE_EXISTS|FILE_NOT_EMPTY|PROTO_BAD_FIELD)/u;

describe('hostile paths inside a logged-in home (docs/protocol.md §3.3 jail)', () => {
  let server: TestServer;
  let outside: { path: string; cleanup: () => Promise<void> };
  let others: string;
  let before: HostileHomes['before'];
  let fixture: HostileHomes;
  const corpus = hostilePaths();

  beforeAll(async () => {
    server = await startTestServer({ anonymous: { enabled: false } });
    fixture = await prepareHostileHomes(server, SECRET);
    ({ outside, others, before } = fixture);
  });
  afterAll(async () => {
    await server.stop();
    await outside.cleanup();
  });

  const plantLinks = (): Promise<void> => fixture.plantLinks();

  it(`${corpus.length} hostile paths × every command: refused or kept inside; nothing outside read or written`, { timeout: 120_000 }, async () => {
    const conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    await client.login('ivan', 'ivan-password');
    await rawLogin(conn, 'ivan', 'ivan-password');

    const ask = async (cmd: string, fields: Record<string, unknown>): Promise<void> => {
      const id = conn.open();
      await conn.send({ v: 1, id, cmd, ...fields });
      const reply = await conn.receive(id).then(
        (frame) => frame,
        (err: { code: string }) => err,
      );
      if ('code' in reply) {
        expect(reply.code, `${cmd} ${JSON.stringify(fields)}`).toMatch(REFUSALS);
      } else if (cmd === 'get') {
        const chunks: Buffer[] = [];
        for await (const chunk of reply.body!) chunks.push(chunk as Buffer);
        expect(Buffer.concat(chunks).toString(), JSON.stringify(fields)).toBe('intruder');
        await conn.receive(id);
      } else if (cmd === 'ls') {
        for (const entry of reply.header['entries'] as { name: string }[]) expect(entry.name).not.toBe('passwd');
      }
      conn.done(id);
    };

    for (const path of corpus) {
      await plantLinks();
      for (const cmd of ['get', 'stat', 'ls', 'cd']) await ask(cmd, { path });
      await ask('cd', { path: '/' });
      const open = await conn.request('put.open', { path, length: INTRUDER.length }).catch((err: { code: string }) => err);
      if ('code' in open) {
        expect(open.code, `put.open ${JSON.stringify(path)}`).toMatch(REFUSALS);
      } else {
        const id = conn.open();
        await conn.send({ v: 1, id, cmd: 'put.data', upload: open['upload'], size: INTRUDER.length }, Readable.from([INTRUDER]));
        await conn.receive(id);
        conn.done(id);
        await conn.request('put.commit', { upload: open['upload'], sha256: INTRUDER_SHA }).catch(() => undefined);
      }
      await ask('mkdir', { path, parents: true });
      await ask('mv', { from: path, to: 'moved-here' });
      await ask('mv', { from: 'moved-here', to: path });
      await ask('rm', { path });
      await ask('rmdir', { path });
    }
    conn.destroy();
    await client.close();
    expect(await snapshot(outside.path)).toEqual(before.outside);
    expect(await snapshot(others)).toEqual(before.others);
  });
});
