import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, encodeFrame, encodeHeader, MAX_HEADER_BYTES } from '../../src/codec/index.js';
import { byteByByte, decodeChunks, splitAt } from '../helpers/decode.js';
import { lengthPrefix, rawHeader } from '../helpers/raw-peer.js';

const body = (n: number, seed = 7): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

/** Valid streams: each decodes to the listed frames whatever the chunking. */
const validCases: { name: string; bytes: Buffer; expect: { cmd: string; body: Buffer | null }[] }[] = [
  { name: 'one header, no body', bytes: encodeHeader({ cmd: 'get', name: 'a.txt' }), expect: [{ cmd: 'get', body: null }] },
  { name: 'header with a body', bytes: encodeFrame({ cmd: 'put', name: 'b' }, body(1000)), expect: [{ cmd: 'put', body: body(1000) }] },
  { name: 'empty body (size 0)', bytes: encodeFrame({ cmd: 'put', name: 'e' }, Buffer.alloc(0)), expect: [{ cmd: 'put', body: Buffer.alloc(0) }] },
  {
    name: 'three frames glued together (粘包)',
    bytes: Buffer.concat([encodeFrame({ cmd: 'put', name: 'x' }, body(10240)), encodeHeader({ cmd: 'get', name: 'x' }), encodeFrame({ cmd: 'put', name: 'y' }, body(3, 1))]),
    expect: [
      { cmd: 'put', body: body(10240) },
      { cmd: 'get', body: null },
      { cmd: 'put', body: body(3, 1) },
    ],
  },
  {
    name: 'UTF-8 header (Chinese file name)',
    bytes: encodeFrame({ cmd: 'put', name: '变电站-遥测.csv' }, body(5)),
    expect: [{ cmd: 'put', body: body(5) }],
  },
  {
    name: 'header of exactly 65536 bytes',
    bytes: encodeHeader({ cmd: 'x', pad: 'a'.repeat(MAX_HEADER_BYTES - JSON.stringify({ cmd: 'x', pad: '' }).length) }),
    expect: [{ cmd: 'x', body: null }],
  },
];

describe('FrameDecoder: valid streams', () => {
  for (const c of validCases) {
    for (const [mode, split] of [
      ['whole', (b: Buffer) => [b]],
      ['byte by byte', byteByByte],
    ] as const) {
      it(`${c.name} — ${mode}`, async () => {
        const out = await decodeChunks(split(c.bytes));
        expect(out.error).toBeNull();
        expect(out.frames.map((f) => f.header.cmd)).toEqual(c.expect.map((e) => e.cmd));
        out.frames.forEach((f, i) => expect(f.body).toEqual(c.expect[i]!.body));
      });
    }
  }

  it('keeps unknown header fields and the exact JSON values', async () => {
    const out = await decodeChunks([encodeHeader({ cmd: 'get', name: 'n', extra: { deep: [1, 'two'] } })]);
    expect(out.frames[0]!.header).toEqual({ cmd: 'get', name: 'n', extra: { deep: [1, 'two'] } });
  });

  it('hands body bytes on as slices of the received chunks (no copy within a chunk)', async () => {
    const payload = body(4096);
    const wire = encodeFrame({ cmd: 'put' }, payload);
    const received: Buffer[] = [];
    const decoder = new FrameDecoder((frame) => {
      frame.body!.on('data', (c: Buffer) => received.push(c));
    });
    decoder.write(wire);
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(received)).toEqual(payload);
    expect(received[0]!.buffer).toBe(wire.buffer);
  });
});

/** Malformed input: each must fail with its code, never a crash or a hang. */
const malformed: { name: string; chunks: Buffer[]; code: string }[] = [
  { name: 'header length 0', chunks: [lengthPrefix(0)], code: 'GL_ERR_FRAME_HEADER_LENGTH' },
  { name: 'negative header length', chunks: [lengthPrefix(-1)], code: 'GL_ERR_FRAME_HEADER_LENGTH' },
  { name: 'most negative int32', chunks: [lengthPrefix(-2147483648)], code: 'GL_ERR_FRAME_HEADER_LENGTH' },
  { name: 'header length 65537 (> 64 KiB)', chunks: [lengthPrefix(MAX_HEADER_BYTES + 1)], code: 'GL_ERR_FRAME_HEADER_LENGTH' },
  { name: 'header length 2^31-1', chunks: [lengthPrefix(2147483647)], code: 'GL_ERR_FRAME_HEADER_LENGTH' },
  { name: 'not JSON', chunks: [rawHeader('hello there')], code: 'GL_ERR_FRAME_BAD_JSON' },
  { name: 'truncated JSON', chunks: [rawHeader('{"cmd":"get"')], code: 'GL_ERR_FRAME_BAD_JSON' },
  { name: 'invalid UTF-8', chunks: [Buffer.concat([lengthPrefix(4), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])])], code: 'GL_ERR_FRAME_BAD_JSON' },
  { name: 'JSON array', chunks: [rawHeader('["cmd","get"]')], code: 'GL_ERR_FRAME_NOT_OBJECT' },
  { name: 'JSON null', chunks: [rawHeader('null')], code: 'GL_ERR_FRAME_NOT_OBJECT' },
  { name: 'JSON string', chunks: [rawHeader('"get"')], code: 'GL_ERR_FRAME_NOT_OBJECT' },
  { name: 'no cmd', chunks: [rawHeader('{"name":"a"}')], code: 'GL_ERR_FRAME_NO_CMD' },
  { name: 'cmd is a number', chunks: [rawHeader('{"cmd":7}')], code: 'GL_ERR_FRAME_NO_CMD' },
  { name: 'cmd is empty', chunks: [rawHeader('{"cmd":""}')], code: 'GL_ERR_FRAME_NO_CMD' },
  { name: 'cmd is 65 characters', chunks: [rawHeader(`{"cmd":"${'c'.repeat(65)}"}`)], code: 'GL_ERR_FRAME_NO_CMD' },
  { name: 'size is a string', chunks: [rawHeader('{"cmd":"put","size":"10"}')], code: 'GL_ERR_FRAME_BAD_SIZE' },
  { name: 'size is negative', chunks: [rawHeader('{"cmd":"put","size":-1}')], code: 'GL_ERR_FRAME_BAD_SIZE' },
  { name: 'size is fractional', chunks: [rawHeader('{"cmd":"put","size":1.5}')], code: 'GL_ERR_FRAME_BAD_SIZE' },
  { name: 'size is null', chunks: [rawHeader('{"cmd":"put","size":null}')], code: 'GL_ERR_FRAME_BAD_SIZE' },
  { name: 'size beyond 2^53', chunks: [rawHeader('{"cmd":"put","size":9007199254740993}')], code: 'GL_ERR_FRAME_BAD_SIZE' },
  { name: 'size is 1e400 (Infinity)', chunks: [rawHeader('{"cmd":"put","size":1e400}')], code: 'GL_ERR_FRAME_BAD_SIZE' },
  { name: 'truncated length prefix', chunks: [Buffer.from([5, 0])], code: 'GL_ERR_FRAME_TRUNCATED' },
  { name: 'truncated header', chunks: [lengthPrefix(20), Buffer.from('{"cmd":')], code: 'GL_ERR_FRAME_TRUNCATED' },
  { name: 'truncated body', chunks: [rawHeader('{"cmd":"put","name":"a","size":100}'), body(60)], code: 'GL_ERR_FRAME_TRUNCATED' },
  {
    name: 'garbage after a valid frame',
    chunks: [encodeHeader({ cmd: 'get', name: 'a' }), Buffer.from('GARBAGE!GARBAGE!')],
    code: 'GL_ERR_FRAME_HEADER_LENGTH',
  },
];

describe('FrameDecoder: malformed input', () => {
  for (const c of malformed) {
    for (const [mode, split] of [
      ['whole', (b: Buffer) => [b]],
      ['byte by byte', byteByByte],
    ] as const) {
      it(`${c.name} — ${mode} → ${c.code}`, async () => {
        const out = await decodeChunks(split(Buffer.concat(c.chunks)));
        expect(out.error).toBe(c.code);
      });
    }
  }

  it('a body larger than the limit is refused from the header, before any body byte', async () => {
    const out = await decodeChunks([rawHeader('{"cmd":"put","size":1001}')], { maxHeaderBytes: MAX_HEADER_BYTES, maxBodyBytes: 1000 });
    expect(out.error).toBe('GL_ERR_FRAME_BODY_TOO_LARGE');
  });

  it('a smaller configured header limit is enforced from the length prefix', async () => {
    const out = await decodeChunks([lengthPrefix(129)], { maxHeaderBytes: 128, maxBodyBytes: 10 });
    expect(out.error).toBe('GL_ERR_FRAME_HEADER_LENGTH');
  });

  it('the frame before the garbage is still delivered', async () => {
    const out = await decodeChunks([encodeHeader({ cmd: 'get', name: 'a' }), Buffer.from('GARBAGE!')]);
    expect(out.frames.map((f) => f.header.cmd)).toEqual(['get']);
  });
});

describe('FrameDecoder: backpressure and release', () => {
  it('holds the next frame until release() and skips an unread body on early release', async () => {
    const seen: string[] = [];
    let current: { body: NodeJS.ReadableStream | null } | null = null;
    const decoder = new FrameDecoder((frame) => {
      seen.push(frame.header.cmd);
      current = frame;
    });
    decoder.write(Buffer.concat([encodeFrame({ cmd: 'put' }, body(200_000)), encodeHeader({ cmd: 'after' })]));
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['put']);
    expect(current).not.toBeNull();
    decoder.release(); // refuse the upload without reading it
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['put', 'after']);
  });

  it('does not read ahead while the body reader is slow: buffered bytes stay bounded', async () => {
    const total = 8 * 1024 * 1024;
    let bodyStream: NodeJS.ReadableStream & { readableLength: number } = null!;
    const decoder = new FrameDecoder((frame) => {
      bodyStream = frame.body!;
      const slow = new Writable({
        highWaterMark: 16 * 1024,
        write(_chunk, _enc, cb) {
          setTimeout(cb, 0);
        },
      });
      void pipeline(frame.body!, slow).then(() => decoder.release());
    });
    decoder.write(encodeHeader({ cmd: 'put', size: total }));
    const chunk = Buffer.alloc(64 * 1024, 1);
    let maxBacklog = 0;
    let written = 0;
    while (written < total) {
      const ok = decoder.write(chunk);
      written += chunk.length;
      // Everything held between the socket and the slow reader.
      maxBacklog = Math.max(maxBacklog, decoder.writableLength + bodyStream.readableLength);
      if (!ok) await new Promise((r) => decoder.once('drain', r));
    }
    await new Promise((r) => decoder.end(r));
    // Without backpressure the backlog would reach the whole 8 MiB.
    expect(maxBacklog).toBeLessThanOrEqual(4 * chunk.length);
  });
});

describe('FrameDecoder: no bytes stranded', () => {
  it('every body byte received so far reaches the reader, even when no more bytes arrive', async () => {
    // Regression: a read() requested from inside push() was forgotten, so the
    // tail of what had arrived stayed in the decoder until more bytes came.
    for (const [written, chunk] of [
      [1_234_567, 64 * 1024],
      [300_000, 1000],
      [777_777, 65_536 * 3],
    ] as const) {
      let received = 0;
      const decoder = new FrameDecoder((frame) => {
        void pipeline(
          frame.body!,
          new Writable({
            highWaterMark: 16 * 1024,
            write(c: Buffer, _enc, cb) {
              received += c.length;
              setImmediate(cb);
            },
          }),
        ).catch(() => undefined);
      });
      decoder.on('error', () => undefined);
      decoder.write(encodeHeader({ cmd: 'put', size: 10 * 1024 * 1024 }));
      const data = body(written);
      for (let at = 0; at < written; at += chunk) {
        if (!decoder.write(data.subarray(at, at + chunk))) await new Promise((r) => decoder.once('drain', r));
      }
      const deadline = Date.now() + 2_000;
      while (received < written && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(received).toBe(written);
      decoder.destroy();
    }
  });
});

describe('FrameDecoder: a cut mid-body', () => {
  // (A reset connection destroys the decoder, which drops what is still queued
  // in it; only bytes already handed to the body are delivered then.)
  it('after the peer ends (FIN), a slow reader still gets every byte that arrived, then GL_ERR_FRAME_TRUNCATED', async () => {
    const data = body(200_000);
    let received = 0;
    let queuedAtCut = 0;
    let failure: unknown = null;
    let decoder!: FrameDecoder;
    const done = new Promise<void>((resolve) => {
      // Consume as the server's upload does (for await, not pipeline(): a
      // pipeline drops what its destination still buffers when the source fails).
      decoder = new FrameDecoder((frame) => {
        void (async () => {
          try {
            for await (const chunk of frame.body!) {
              if (received === 0) {
                // The peer ends while nearly all it sent still waits for this reader.
                queuedAtCut = data.length - (chunk as Buffer).length;
                decoder.end();
              }
              received += (chunk as Buffer).length;
              await new Promise((r) => setImmediate(r));
            }
          } catch (err) {
            failure = err;
          }
          resolve();
        })();
      });
    });
    decoder.on('error', () => undefined);
    decoder.write(encodeHeader({ cmd: 'put', size: 1_000_000 }));
    // Many small chunks, so bytes are still queued for the reader at the cut.
    for (let at = 0; at < data.length; at += 1000) decoder.write(data.subarray(at, at + 1000));
    await done;
    expect(queuedAtCut).toBeGreaterThan(100_000);
    expect(received).toBe(data.length);
    expect((failure as { code?: string } | null)?.code).toBe('GL_ERR_FRAME_TRUNCATED');
    expect((failure as Error).message).toContain('800000 body bytes missing');
  });
});

describe('FrameDecoder: properties (time-boxed)', () => {
  const frameArb = fc.record({
    cmd: fc.constantFrom('put', 'get', 'ls', 'x.y'),
    name: fc.string({ maxLength: 40 }),
    body: fc.option(fc.uint8Array({ maxLength: 3000 }), { nil: undefined }),
  });

  it('random splits of a valid stream decode to the same frames', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 30 }), async (frames, cuts) => {
        const wire = Buffer.concat(frames.map((f) => (f.body === undefined ? encodeHeader({ cmd: f.cmd, name: f.name }) : encodeFrame({ cmd: f.cmd, name: f.name }, f.body))));
        const out = await decodeChunks(splitAt(wire, cuts.map((c) => c % (wire.length + 1))));
        expect(out.error).toBeNull();
        expect(out.frames.length).toBe(frames.length);
        out.frames.forEach((got, i) => {
          expect(got.header['name']).toBe(frames[i]!.name);
          expect(got.body === null ? undefined : new Uint8Array(got.body)).toEqual(frames[i]!.body);
        });
      }),
      { interruptAfterTimeLimit: 4_000, numRuns: 400 },
    );
  });

  it('random bytes end in a GL_ERR_FRAME_* error or clean frames, never a crash or hang', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 10 }), async (bytes, cuts) => {
        const out = await decodeChunks(splitAt(bytes, cuts.map((c) => c % (bytes.length + 1))));
        if (out.error !== null) expect(out.error).toMatch(/^GL_ERR_FRAME_/u);
      }),
      { interruptAfterTimeLimit: 4_000, numRuns: 2_000 },
    );
  });
});
