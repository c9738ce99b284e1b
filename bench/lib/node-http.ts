/**
 * The reference server of bench/http-static.ts, run by it as a child process
 * (never by hand): the files of one flat directory served with nothing but
 * `node:http`'s createServer, one process, one event loop, no framework. It
 * is what Node.js's own HTTP stack can do on this machine, so the benchmark
 * can tell how much of gridlink's gap to nginx is the runtime and how much is
 * gridlink.
 *
 *   node <tsx's loader flags> bench/lib/node-http.ts --port N --root DIR [--host H]
 *
 * Every regular file at the top of DIR is read into memory once, at start,
 * and its headers are computed then too: a GET (or HEAD) for `/name` (and `/`
 * for index.html) answers 200 with Content-Type, Content-Length, ETag and
 * Last-Modified, as a fair static server would, body from memory in one
 * `res.end(buffer)`; anything else is a 404. No conditional or range
 * requests (wrk sends neither), keep-alive as node:http has it by default.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parseArgs } from 'node:util';

interface Entry {
  readonly body: Buffer;
  /** Flat [name, value, …] list, what writeHead takes fastest (gridlink's static path uses the same form). */
  readonly headers: string[];
}

/** The types of the files the benchmark serves; nginx's mime.types gives the same ones. */
function contentTypeOf(name: string): string {
  return extname(name) === '.html' ? 'text/html; charset=utf-8' : 'application/octet-stream';
}

/** Reads every regular file at the top of `root`, keyed by URL path; `/` is index.html as well. */
async function loadFiles(root: string): Promise<Map<string, Entry>> {
  const files = new Map<string, Entry>();
  for (const dirent of await readdir(root, { withFileTypes: true })) {
    if (!dirent.isFile()) continue;
    const path = join(root, dirent.name);
    const [body, info] = await Promise.all([readFile(path), stat(path)]);
    // nginx's form of ETag: mtime in seconds and size, in hex.
    const etag = `"${Math.floor(info.mtimeMs / 1000).toString(16)}-${info.size.toString(16)}"`;
    const headers = ['content-type', contentTypeOf(dirent.name), 'content-length', String(body.length), 'etag', etag, 'last-modified', info.mtime.toUTCString()];
    files.set(`/${dirent.name}`, { body, headers });
  }
  const index = files.get('/index.html');
  if (index !== undefined) files.set('/', index);
  return files;
}

function serve(files: ReadonlyMap<string, Entry>, req: IncomingMessage, res: ServerResponse): void {
  const entry = (req.method === 'GET' || req.method === 'HEAD') && req.url !== undefined ? files.get(req.url) : undefined;
  if (entry === undefined) {
    res.writeHead(404, ['content-length', '0']);
    res.end();
    return;
  }
  res.writeHead(200, entry.headers);
  res.end(req.method === 'HEAD' ? undefined : entry.body);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' }, root: { type: 'string' } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0 || values.root === undefined) throw new Error('usage: node-http.ts --port N --root DIR [--host H]');
  const files = await loadFiles(values.root);
  const server = createServer((req, res) => serve(files, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, values.host, resolve);
  });
  // Started with an IPC channel (bench/http-static.ts): it closes when the
  // bench process is gone, even SIGKILLed, and this server must not outlive it.
  process.on('disconnect', () => process.exit(0));
  // The bench waits for the port; this line is for a human reading its output on failure.
  process.stdout.write(`node-http: ${files.size} path(s) on ${values.host}:${port}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`node-http: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
