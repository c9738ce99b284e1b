/**
 * The "Node.js pipe" reference of bench/file-transfer.ts: the floor of what
 * Node.js's own streams move over loopback on this machine, with no protocol
 * worth the name, no hashing and no fsync. It shows how much of gridlink's
 * distance to the FTP servers is the runtime and how much is gridlink's
 * protocol and SHA-256 checks.
 *
 * One request per connection, a line of text then raw bytes:
 *
 *   PUT <name> <size>\n<size bytes>   → OK\n              (the client half-closes after the bytes)
 *   GET <name>\n                      → <size>\n<size bytes>
 *   anything that fails               → ERR <reason>\n
 *
 * Files are streamed with stream.pipeline and 1 MiB fs stream buffers on both
 * sides; an upload goes to `<name>.part` and is renamed once complete, as the
 * other servers do, but never fsync'ed.
 *
 * This module is both halves. Run as a script (by {@link startNodePipe},
 * never by hand) it is the server: `--dir DIR`, binds port 0 on loopback and
 * prints "LISTENING <port>" (no port can be taken in between, as with
 * pyftpdlib), then serves until SIGTERM or until the bench process is gone.
 * Imported, it gives the bench process the launcher and the client.
 */
import { realpathSync, createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MiB } from './files.js';
import { LOOPBACK, REPO_ROOT } from './peers.js';
import { ServerProcess } from './processes.js';

/** highWaterMark of every file stream, both sides: large reads and writes, as a tuned server would use. */
const FILE_CHUNK_BYTES = MiB;
/** A request or size line longer than this is not one. */
const MAX_LINE_BYTES = 1024;

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

// ---------------------------------------------------------------------------
// The server (the child process)

/** A bench helper, but no path tricks: a plain name inside the directory. */
function isPlainName(name: string): boolean {
  return name !== '' && !name.includes('/') && !name.includes('..') && !name.includes('\0');
}

async function serveConnection(socket: Socket, dir: string): Promise<void> {
  const line = await readLine(socket);
  const [verb, name = '', sizeText, ...extra] = line.split(' ');
  if (!isPlainName(name)) throw new Error(`refused name ${JSON.stringify(name)}`);
  const size = parseSize(sizeText);
  if (verb === 'PUT' && size !== null && extra.length === 0) return receive(socket, join(dir, name), size);
  if (verb === 'GET' && sizeText === undefined) return send(socket, join(dir, name));
  throw new Error(`bad request ${JSON.stringify(line)}`);
}

/** Everything up to the client's half-close is the file; it must be exactly the announced size. */
async function receive(socket: Socket, path: string, size: number): Promise<void> {
  const partial = `${path}.part`;
  const file = createWriteStream(partial, { highWaterMark: FILE_CHUNK_BYTES });
  try {
    await pipeline(socket, file);
    if (file.bytesWritten !== size) throw new Error(`PUT ${basename(path)}: received ${file.bytesWritten} bytes, announced ${size}`);
    await rename(partial, path);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  socket.end('OK\n');
}

async function send(socket: Socket, path: string): Promise<void> {
  const { size } = await stat(path);
  // The request line is all a client sends: drain to its half-close, so the
  // socket closes once the file is out.
  socket.resume();
  socket.write(`${size}\n`);
  await pipeline(createReadStream(path, { highWaterMark: FILE_CHUNK_BYTES }), socket);
}

async function serve(dir: string): Promise<void> {
  // Half-open: a PUT's client ends its side after the bytes and still reads OK.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    // A reset between two steps must not crash the server; each step sees its own errors.
    socket.on('error', () => undefined);
    serveConnection(socket, dir).catch((err: unknown) => {
      const reason = errorText(err).replace(/\n/g, ' ');
      process.stderr.write(`node-pipe: ${reason}\n`);
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
  if (address === null || typeof address === 'string') throw new Error('node-pipe: no TCP address');
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
 * Runs this module as a server on `dir`: the same Node.js binary as the
 * bench, on plain JavaScript. The module is bundled by esbuild into `dir`
 * first rather than run under tsx, whose loader alone would add about 35 MB
 * to the peak RSS this reference is measured for.
 */
export async function startNodePipe(dir: string): Promise<NodePipeServer> {
  const script = join(dir, 'node-pipe.mjs');
  // Imported here, and kept out of the bundle, so the server never loads it.
  const { build } = await import('esbuild');
  await build({ entryPoints: [SCRIPT], outfile: script, bundle: true, external: ['esbuild'], platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' });
  const server = new ServerProcess('node-pipe', process.execPath, [script, '--dir', dir], { cwd: REPO_ROOT, ipc: true });
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

/** Uploads `local` as `remote`; resolves once the server has renamed it into place (its OK). */
export async function nodePipePut(port: number, local: string, remote: string): Promise<void> {
  const { size } = await stat(local);
  const socket = await connectTo(port);
  try {
    const reply = readToEnd(socket);
    socket.write(`PUT ${remote} ${size}\n`);
    // pipeline ends our side after the file: the server knows the size, the half-close confirms it.
    const [sent, answer] = await Promise.allSettled([pipeline(createReadStream(local, { highWaterMark: FILE_CHUNK_BYTES }), socket), reply]);
    const text = answer.status === 'fulfilled' ? answer.value.trim() : '';
    if (text === 'OK' && sent.status === 'fulfilled') return;
    // The server's reason first: a refused upload also breaks our sending.
    const failure: unknown = sent.status === 'rejected' ? sent.reason : answer.status === 'rejected' ? answer.reason : null;
    throw new Error(`node-pipe PUT ${remote}: ${text !== '' ? text : failure !== null ? errorText(failure) : 'no reply'}`);
  } finally {
    socket.destroy();
  }
}

/** Downloads `remote` to `local`, checking that exactly the announced size arrived. */
export async function nodePipeGet(port: number, remote: string, local: string): Promise<void> {
  const socket = await connectTo(port);
  try {
    socket.end(`GET ${remote}\n`);
    const line = await readLine(socket);
    const size = parseSize(line);
    if (size === null) throw new Error(`node-pipe GET ${remote}: ${line}`);
    const file = createWriteStream(local, { highWaterMark: FILE_CHUNK_BYTES });
    await pipeline(socket, file);
    if (file.bytesWritten !== size) throw new Error(`node-pipe GET ${remote}: received ${file.bytesWritten} bytes, announced ${size}`);
  } finally {
    socket.destroy();
  }
}

// ---------------------------------------------------------------------------

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === SCRIPT) {
  const { values } = parseArgs({ options: { dir: { type: 'string' } }, strict: true });
  if (values.dir === undefined) throw new Error('usage: node-pipe.ts --dir DIR');
  await serve(values.dir);
}
