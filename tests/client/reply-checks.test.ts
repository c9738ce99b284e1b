import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import { encodeFrame, encodeHeader, FrameDecoder, type FrameHeader } from '../../src/codec/index.js';
import { GridlinkError } from '../../src/errors/index.js';
import { until } from '../helpers/until.js';

/**
 * The client checks every reply and pushed frame against the command table
 * (src/protocol/v1.ts): a server that answers with the wrong shape gives a
 * GL_ERR_CLIENT_PROTOCOL, never a wrongly typed value. A scripted fake server
 * answers each request with whatever `answer` returns.
 */
type Answer = (request: FrameHeader, socket: Socket) => Array<Record<string, unknown> | Buffer>;

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  server = undefined;
});

async function fakeServer(answer: Answer): Promise<GridlinkClient> {
  server = createServer((socket) => {
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder(
      (frame) => {
        frame.body?.resume();
        for (const out of answer(frame.header, socket)) {
          socket.write(Buffer.isBuffer(out) ? out : encodeHeader({ v: 1, id: frame.header['id'], cmd: frame.header.cmd, ...out }));
        }
      },
      undefined,
      true,
    );
    decoder.on('error', () => socket.destroy());
    socket.pipe(decoder);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return GridlinkClient.connect({ host: '127.0.0.1', port });
}

async function failure(promise: Promise<unknown>): Promise<GridlinkError> {
  const err = await promise.then(
    () => new Error('resolved'),
    (e: unknown) => e,
  );
  if (!(err instanceof GridlinkError)) throw new Error(`expected a GridlinkError, got ${String(err)}`);
  return err;
}

const entry = { name: 'a.csv', type: 'file', length: 7, mtimeMs: 1 };

describe('replies the client does not understand', () => {
  it('a missing or mistyped field is GL_ERR_CLIENT_PROTOCOL naming it, and the connection stays usable', async () => {
    const client = await fakeServer((req) => {
      if (req.cmd === 'ping') return [{}];
      if (req['path'] === 'missing') return [{}];
      return [{ entry: { ...entry, length: '7' } }];
    });
    try {
      const missing = await failure(client.stat('missing'));
      expect(missing.code).toBe('GL_ERR_CLIENT_PROTOCOL');
      expect(missing.message).toContain('malformed stat reply: "entry"');
      const mistyped = await failure(client.stat('mistyped'));
      expect(mistyped.code).toBe('GL_ERR_CLIENT_PROTOCOL');
      expect(mistyped.message).toContain('"entry.length"');
      await client.ping();
    } finally {
      client.destroy();
    }
  });

  it('a reply with another cmd, or with a body it should not have, is GL_ERR_CLIENT_PROTOCOL', async () => {
    const client = await fakeServer((req) => {
      if (req.cmd === 'pwd') return [{ cmd: 'cd', path: '/' }];
      if (req.cmd === 'cd') return [encodeFrame({ v: 1, id: req['id'], cmd: 'cd', path: '/x' }, Buffer.from('surprise'))];
      return [{}];
    });
    try {
      expect((await failure(client.pwd())).message).toContain('expected pwd, got "cd"');
      expect((await failure(client.cd('x'))).message).toContain('unexpected data');
      await client.ping(); // the unexpected body was skipped, framing kept
    } finally {
      client.destroy();
    }
  });

  it('checks the pages of a listing, and a cursor that does not advance', async () => {
    const client = await fakeServer((req) => {
      if (req.cmd === 'devices') return [{ devices: [], next: -1 }];
      return [{ alarms: [], next: 5 }]; // the second page says 5 again
    });
    try {
      expect((await failure(client.devices())).message).toContain('"next"');
      expect((await failure(client.alarms())).message).toContain('does not advance');
    } finally {
      client.destroy();
    }
  });

  it('a malformed pushed frame ends the connection with GL_ERR_CLIENT_PROTOCOL', async () => {
    const seen: unknown[] = [];
    const client = await fakeServer((req, socket) => {
      if (req.cmd === 'chat.say') {
        socket.write(encodeHeader({ v: 1, cmd: 'chat.event', type: 'message', room: 'r', from: 'ann', text: 'ok', at: 1 }));
        socket.write(encodeHeader({ v: 1, cmd: 'chat.event', type: 'shout', room: 'r', from: 'ann', at: 2 }));
        return [];
      }
      return [{ room: 'r', nick: 'me', members: ['me'] }];
    });
    try {
      await client.joinChat('r', 'me', (event) => seen.push(event));
      const said = client.say('r', 'hello');
      expect((await failure(said)).code).toBe('GL_ERR_CLIENT_PROTOCOL');
      await until(() => client.failure ?? undefined, 3_000, 'the connection to fail');
      expect(client.failure?.message).toContain('malformed chat.event frame: "type"');
      expect(seen).toEqual([{ v: 1, cmd: 'chat.event', type: 'message', room: 'r', from: 'ann', text: 'ok', at: 1 }]);
    } finally {
      client.destroy();
    }
  });
});

describe('replies the client understands', () => {
  it('are the header as sent, checked, not rebuilt: the envelope and fields a later server adds stay', async () => {
    const client = await fakeServer((req) => {
      if (req.cmd === 'ls') return [{ path: '/', entries: [{ ...entry, owner: 'ann' }], truncated: false, sorted: 'name' }];
      return [{ user: 'ann', role: 'viewer', expires: 9 }];
    });
    try {
      expect(await client.loginWithPassword('ann', 'pw')).toEqual({ v: 1, id: expect.any(Number) as number, cmd: 'auth.password', user: 'ann', role: 'viewer', expires: 9 });
      expect(await client.ls()).toEqual({ v: 1, id: expect.any(Number) as number, cmd: 'ls', path: '/', entries: [{ ...entry, owner: 'ann' }], truncated: false, sorted: 'name' });
    } finally {
      client.destroy();
    }
  });
});
