/**
 * The "Node.js pipe" references of bench/file-transfer.ts.
 *
 * The bare pipe: the floor of what Node.js's own streams move over loopback
 * on this machine, with no protocol worth the name, no hashing and no fsync.
 * It shows how much of gridlink's distance to the FTP servers is the runtime
 * and how much is gridlink's own work.
 *
 * The pipe + SHA-256 (`sha256` option, `--sha256` server): the same pipe plus
 * the end-to-end SHA-256 check docs/protocol.md §3.3 requires, done by gridlink's own
 * hash pool (src/integrity/hash-pool.ts, built into dist/): each process has
 * its worker thread, which hashes from disk (the page cache) while the bytes
 * move.
 *   put: the client's worker hashes the whole source file in parallel with
 *        sending it; the server's worker hashes the partial file as it grows
 *        (fed every 4 MiB the write stream reports written) and finishes
 *        after the last write; the server replies with its digest and the
 *        client compares it with its own.
 *   get: the server replies with the digest it computed when the upload
 *        finished (kept in gridlink's digest cache; a file it did
 *        not receive is hashed before the reply); the client's worker hashes
 *        the downloaded file as it grows (every 4 MiB written), finishes
 *        after the last write and compares.
 * Its distance from the bare pipe is what the check costs; gridlink's
 * distance from it is gridlink's protocol.
 *
 * One request per connection, a line of text then raw bytes:
 *
 *   PUT <name> <size>\n<size bytes>   → OK\n          (bare; the client half-closes after the bytes)
 *                                     → OK <hex>\n    (--sha256: the SHA-256 of what the server stored)
 *   GET <name>\n                      → <size>\n<size bytes>        (bare)
 *                                     → <size> <hex>\n<size bytes>  (--sha256)
 *   anything that fails               → ERR <reason>\n
 *
 * Files are streamed with stream.pipeline and 1 MiB fs stream buffers on both
 * sides (with SHA-256, the receiving file stream also reports each write that
 * reached the file); an upload goes to `<name>.part` and is renamed once
 * complete, as the other servers do, but never fsync'ed.
 *
 * This module is both halves. Run as a script (by {@link startNodePipe},
 * never by hand) it is the server: `--dir DIR [--sha256 URL]`, binds port 0 on
 * loopback and prints "LISTENING <port>" (no port can be taken in between,
 * as with pyftpdlib), then serves until SIGTERM or until the bench process
 * is gone. Imported, it gives the bench process the launcher and the client.
 */
import { close, createReadStream, createWriteStream, open, realpathSync, write, writev, type WriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { MiB } from './files.js';
import { LOOPBACK, REPO_ROOT } from './peers.js';
import { ServerProcess } from './processes.js';
import type { DigestCache } from '../../src/integrity/digest-cache.js';
import type { HashPool } from '../../src/integrity/hash-pool.js';

/** highWaterMark of every file stream, both sides: large reads and writes, as a tuned server would use. */
const FILE_CHUNK_BYTES = MiB;
/**
 * highWaterMark of the receiving file stream: 4 MiB, as a seven-line Node
 * receiver that reaches 1.3-1.6 GB/s here uses (issue 17). With 1 MiB, the
 * write stream asks the socket to pause after every 1 MiB queued, so the
 * socket stops and restarts sixteen times as often and each writev carries
 * fewer chunks: that, not the runtime, was why this reference trailed it.
 */
const RECEIVE_CHUNK_BYTES = 4 * MiB;
/** A request or size line longer than this is not one. */
const MAX_LINE_BYTES = 1024;
/** A SHA-256 as the protocol writes it. */
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** Which of the two references: the bare pipe, or the pipe plus the end-to-end SHA-256 check. */
export interface NodePipeOptions {
  readonly sha256?: boolean;
}

const SCRIPT = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------
// Shared

/**
 * Reads one '\n'-terminated line (without the '\n') and puts back whatever
 * came after it, so the caller can then pipe the socket's remaining bytes.
 */
function readLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const finish = (outcome: () => void): void => {
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      outcome();
    };
    const onReadable = (): void => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        buffered = Buffer.concat([buffered, chunk]);
        const newline = buffered.indexOf(0x0a);
        if (newline >= 0) {
          const rest = buffered.subarray(newline + 1);
          if (rest.length > 0) socket.unshift(rest);
          return finish(() => resolve(buffered.subarray(0, newline).toString('utf8')));
        }
        if (buffered.length > MAX_LINE_BYTES) return finish(() => reject(new Error(`no line within ${MAX_LINE_BYTES} bytes`)));
      }
    };
    const onEnd = (): void => finish(() => reject(new Error('connection closed before a full line')));
    const onError = (err: Error): void => finish(() => reject(err));
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
  });
}

/** A byte count as the protocol writes it: decimal digits only. */
function parseSize(text: string | undefined): number | null {
  const size = text !== undefined && /^\d+$/.test(text) ? Number(text) : Number.NaN;
  return Number.isSafeInteger(size) ? size : null;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A file stream for `path` (1 MiB buffers) that calls `onWritten` after each
 * of its writes has put bytes in the file, when its bytesWritten counts them:
 * the point where gridlink's server and client feed their hash. It goes
 * through the stream's documented `fs` option (the real open, write, writev
 * and close, with a callback added), so the data path stays the same
 * stream.pipeline as the bare pipe's.
 */
function reportingWriteStream(path: string, onWritten: (file: WriteStream) => void): WriteStream {
  const report = (callback: WriteCallback): WriteCallback => {
    return (err, bytes, buffers) => {
      callback(err, bytes, buffers);
      if (err === null) onWritten(file);
    };
  };
  const file: WriteStream = createWriteStream(path, {
    highWaterMark: RECEIVE_CHUNK_BYTES,
    fs: {
      open,
      close,
      write: (fd: number, buffer: Buffer, offset: number, length: number, position: number | null, callback: WriteCallback) =>
        write(fd, buffer, offset, length, position, report(callback)),
      writev: (fd: number, buffers: Buffer[], position: number | null, callback: WriteCallback) => writev(fd, buffers, position, report(callback)),
    },
  });
  return file;
}

type WriteCallback = (err: NodeJS.ErrnoException | null, bytes: number, buffers: unknown) => void;

// ---------------------------------------------------------------------------
// The server (the child process)

/** A bench helper, but no path tricks: a plain name inside the directory. */
function isPlainName(name: string): boolean {
  return name !== '' && !name.includes('/') && !name.includes('..') && !name.includes('\0');
}


/** The --sha256 server's state: gridlink's hash pool and digest cache. */
interface Hashing {
  readonly pool: HashPool;
  readonly digests: DigestCache;
}

/**
 * gridlink's own hashing, built (dist/ is what `npm run bench` builds): the
 * reference hashes exactly as gridlink does rather than with a copy of it.
 * Loaded by URL at run time, never bundled: the pool starts its worker from
 * a file next to its module. The server process is told the URL (its bundle
 * lives in a temp dir); the bench process derives it.
 */
const INTEGRITY_DIR = pathToFileURL(join(REPO_ROOT, 'dist', 'integrity')).href;

async function loadHashing(integrityDir: string): Promise<Hashing> {
  type PoolModule = typeof import('../../src/integrity/hash-pool.js');
  type CacheModule = typeof import('../../src/integrity/digest-cache.js');
  const [{ HashPool: Pool }, { DigestCache: Cache }] = await Promise.all([
    import(`${integrityDir}/hash-pool.js`) as Promise<PoolModule>,
    import(`${integrityDir}/digest-cache.js`) as Promise<CacheModule>,
  ]);
  return { pool: Pool.shared(), digests: new Cache() };
}

async function serveConnection(socket: Socket, dir: string, hashing: Hashing | null): Promise<void> {
  const line = await readLine(socket);
  const [verb, name = '', sizeText, ...extra] = line.split(' ');
  if (!isPlainName(name)) throw new Error(`refused name ${JSON.stringify(name)}`);
  const size = parseSize(sizeText);
  if (verb === 'PUT' && size !== null && extra.length === 0) return receive(socket, join(dir, name), size, hashing);
  if (verb === 'GET' && sizeText === undefined) return send(socket, join(dir, name), hashing);
  throw new Error(`bad request ${JSON.stringify(line)}`);
}

/**
 * Everything up to the client's half-close is the file; it must be exactly
 * the announced size. With hashing, the worker hashes the partial file as it
 * grows and the reply carries the SHA-256 of the whole.
 */
async function receive(socket: Socket, path: string, size: number, hashing: Hashing | null): Promise<void> {
  const partial = `${path}.part`;
  const hash = hashing?.pool.incremental(false) ?? null;
  const file =
    hash === null
      ? createWriteStream(partial, { highWaterMark: RECEIVE_CHUNK_BYTES })
      : reportingWriteStream(partial, (written) => hash.feed(partial, written.bytesWritten));
  let hex: string | null = null;
  try {
    await pipeline(socket, file);
    if (file.bytesWritten !== size) throw new Error(`PUT ${basename(path)}: received ${file.bytesWritten} bytes, announced ${size}`);
    if (hash !== null) hex = (await hash.finish(partial, size)).sha256;
    await rename(partial, path);
  } catch (err) {
    hash?.drop();
    await rm(partial, { force: true });
    throw err;
  }
  if (hashing !== null && hex !== null) hashing.digests.set(await stat(path), { sha256: hex });
  socket.end(hex === null ? 'OK\n' : `OK ${hex}\n`);
}

async function send(socket: Socket, path: string, hashing: Hashing | null): Promise<void> {
  const stats = await stat(path);
  let header = `${stats.size}`;
  if (hashing !== null) {
    let digest = hashing.digests.get(stats, false);
    if (digest === undefined) {
      // Not one this server received (or changed since): hash it first, as gridlink does for a file not in its cache.
      digest = await hashing.pool.range({ path }, 0, stats.size, false);
      hashing.digests.set(stats, digest);
    }
    header += ` ${digest.sha256}`;
  }
  // The request line is all a client sends: drain to its half-close, so the
  // socket closes once the file is out.
  socket.resume();
  socket.write(`${header}\n`);
  await pipeline(createReadStream(path, { highWaterMark: FILE_CHUNK_BYTES }), socket);
}

async function serve(dir: string, integrityDir: string | undefined): Promise<void> {
  const hashing = integrityDir === undefined ? null : await loadHashing(integrityDir);
  const name = hashing === null ? 'node-pipe' : 'node-pipe-sha256';
  // Half-open: a PUT's client ends its side after the bytes and still reads OK.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    // A reset between two steps must not crash the server; each step sees its own errors.
    socket.on('error', () => undefined);
    serveConnection(socket, dir, hashing).catch((err: unknown) => {
      const reason = errorText(err).replace(/\n/g, ' ');
      process.stderr.write(`${name}: ${reason}\n`);
      if (!socket.writable) return void socket.destroy();
      socket.end(`ERR ${reason}\n`);
      socket.resume(); // discard the rest of an upload so the client reads the reason
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error(`${name}: no TCP address`);
  process.stdout.write(`LISTENING ${address.port}\n`);
  // The IPC channel ServerProcess opened closes when the bench process is
  // gone, however it went: do not outlive it (as ./forked-child.ts does).
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------------------
// The bench process's side

export interface NodePipeServer {
  readonly process: ServerProcess;
  readonly port: number;
  /** The directory served: an uploaded `name` is `<filesDir>/name`. */
  readonly filesDir: string;
}

/**
 * Runs this module as a server on `dir` (with `sha256`, the pipe + SHA-256
 * one): the same Node.js binary as the bench, on plain JavaScript. The module
 * is bundled by esbuild into `dir` first rather than run under tsx, whose
 * loader alone would add about 35 MB to the peak RSS this reference is
 * measured for. One server per variant, each in its own directory.
 */
export async function startNodePipe(dir: string, options: NodePipeOptions = {}): Promise<NodePipeServer> {
  const sha256 = options.sha256 === true;
  const script = join(dir, 'node-pipe.mjs');
  // Imported here, and kept out of the bundle, so the server never loads it.
  const { build } = await import('esbuild');
  await build({ entryPoints: [SCRIPT], outfile: script, bundle: true, external: ['esbuild'], platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' });
  const args = [script, '--dir', dir, ...(sha256 ? ['--sha256', INTEGRITY_DIR] : [])];
  const server = new ServerProcess(sha256 ? 'node-pipe-sha256' : 'node-pipe', process.execPath, args, { cwd: REPO_ROOT, ipc: true });
  const match = await server.waitForOutput(/^LISTENING (\d+)$/m);
  return { process: server, port: Number(match[1]), filesDir: dir };
}

async function connectTo(port: number): Promise<Socket> {
  const socket = connect({ host: LOOPBACK, port });
  await once(socket, 'connect'); // rejects on 'error'
  return socket;
}

async function readToEnd(socket: Socket): Promise<string> {
  let text = '';
  for await (const chunk of socket) text += (chunk as Buffer).toString('utf8');
  return text;
}

/**
 * Uploads `local` as `remote`; resolves once the server has renamed it into
 * place (its OK). With `sha256`, this process's worker hashes `local` while
 * it is sent, and the SHA-256 in the server's OK must match it.
 */
export async function nodePipePut(port: number, local: string, remote: string, options: NodePipeOptions = {}): Promise<void> {
  const sha256 = options.sha256 === true;
  const what = `${sha256 ? 'node-pipe-sha256' : 'node-pipe'} PUT ${remote}`;
  const { size } = await stat(local);
  const socket = await connectTo(port);
  // Started before the first byte goes out; it runs on another core meanwhile, as gridlink's client's does.
  const digest = sha256 ? (await loadHashing(INTEGRITY_DIR)).pool.range({ path: local }, 0, size, false) : null;
  digest?.catch(() => undefined); // awaited below
  try {
    const reply = readToEnd(socket);
    socket.write(`PUT ${remote} ${size}\n`);
    // pipeline ends our side after the file: the server knows the size, the half-close confirms it.
    const [sent, answer] = await Promise.allSettled([pipeline(createReadStream(local, { highWaterMark: FILE_CHUNK_BYTES }), socket), reply]);
    const text = answer.status === 'fulfilled' ? answer.value.trim() : '';
    const [ok, serverHex, ...rest] = text.split(' ');
    const wellFormed = ok === 'OK' && rest.length === 0 && (sha256 ? serverHex !== undefined && HEX_SHA256.test(serverHex) : serverHex === undefined);
    if (wellFormed && sent.status === 'fulfilled') {
      if (digest === null) return;
      const localHex = (await digest).sha256;
      if (serverHex === localHex) return;
      throw new Error(`${what}: SHA-256 mismatch: server stored ${String(serverHex)}, ${local} is ${localHex}`);
    }
    // The server's reason first: a refused upload also breaks our sending.
    const failure: unknown = sent.status === 'rejected' ? sent.reason : answer.status === 'rejected' ? answer.reason : null;
    throw new Error(`${what}: ${text !== '' ? text : failure !== null ? errorText(failure) : 'no reply'}`);
  } finally {
    socket.destroy();
  }
}

/**
 * Downloads `remote` to `local`, checking that exactly the announced size
 * arrived. With `sha256`, this process's worker hashes `local` as it is
 * written, and the result must match the SHA-256 the server announced; on a
 * mismatch `local` is removed.
 */
export async function nodePipeGet(port: number, remote: string, local: string, options: NodePipeOptions = {}): Promise<void> {
  const sha256 = options.sha256 === true;
  const what = `${sha256 ? 'node-pipe-sha256' : 'node-pipe'} GET ${remote}`;
  const socket = await connectTo(port);
  const hash = sha256 ? (await loadHashing(INTEGRITY_DIR)).pool.incremental(false) : null;
  try {
    socket.end(`GET ${remote}\n`);
    const line = await readLine(socket);
    const [sizeText, serverHex, ...rest] = line.split(' ');
    const size = parseSize(sizeText);
    const wellFormed = rest.length === 0 && (sha256 ? serverHex !== undefined && HEX_SHA256.test(serverHex) : serverHex === undefined);
    if (size === null || !wellFormed) throw new Error(`${what}: ${line}`);
    const file =
      hash === null
        ? createWriteStream(local, { highWaterMark: RECEIVE_CHUNK_BYTES })
        : reportingWriteStream(local, (written) => hash.feed(local, written.bytesWritten));
    await pipeline(socket, file);
    if (file.bytesWritten !== size) throw new Error(`${what}: received ${file.bytesWritten} bytes, announced ${size}`);
    if (hash === null) return;
    const localHex = (await hash.finish(local, size)).sha256;
    if (localHex !== serverHex) {
      await rm(local, { force: true });
      throw new Error(`${what}: SHA-256 mismatch: server announced ${String(serverHex)}, received ${localHex}`);
    }
  } finally {
    hash?.drop();
    socket.destroy();
  }
}

// ---------------------------------------------------------------------------

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === SCRIPT) {
  const { values } = parseArgs({ options: { dir: { type: 'string' }, sha256: { type: 'string' } }, strict: true });
  if (values.dir === undefined) throw new Error('usage: node-pipe.ts --dir DIR [--sha256 DIST_INTEGRITY_URL]');
  await serve(values.dir, values.sha256);
}
