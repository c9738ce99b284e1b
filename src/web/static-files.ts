import { createHash } from 'node:crypto';
import { constants, createReadStream, type Stats } from 'node:fs';
import { open, readlink, realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ifRangeMatches, noneMatchHit, notModifiedSince, parseRange } from './byte-range.js';
import { contentTypeOf } from './content-types.js';
import { securityHeaders } from './security-headers.js';

export interface StaticFilesOptions {
  /** The directory of the built page. It may not exist yet (served as 404s until it does). */
  readonly root: string;
  /** A cached file is checked against the disk at most this often. */
  readonly revalidateMs?: number;
  /** Files up to this size are kept in memory. */
  readonly maxCachedFileBytes?: number;
  /** Memory for cached file bodies at most. */
  readonly maxCacheBytes?: number;
}

/** Built assets named by their content hash (`assets/app-3KQ7ZB2M.js`): they never change, so browsers may keep them. */
const FINGERPRINTED = /[/\\]assets[/\\][^/\\]+-[A-Za-z0-9]{8,}\.[a-z0-9]+$/u;

/** What is known of one file of the page. */
interface Entry {
  readonly cacheControl: string;
  readonly realPath: string;
  readonly stats: Pick<Stats, 'ino' | 'size' | 'mtimeMs'>;
  /** The bytes, when the file is small enough to keep. */
  readonly body: Buffer | null;
  readonly etag: string;
  readonly lastModified: string;
  /** Headers of a partial answer (206), as a flat [name, value, …] list (what writeHead takes fastest). */
  readonly headers: string[];
  /** Headers of a whole answer (200), Content-Length included. */
  readonly whole: string[];
  checkedAt: number;
}

type Outcome = { entry: Entry } | { redirect: string } | { status: 400 | 404 };

const NOT_FOUND_PAGE = Buffer.from(
  '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>404 Not Found</title></head>\n' +
    '<body><h1>404 Not Found</h1><p>There is no such page here. <a href="/">Go to the start page.</a></p></body></html>\n',
);
const BAD_REQUEST_PAGE = Buffer.from(
  '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>400 Bad Request</title></head>\n' +
    '<body><h1>400 Bad Request</h1><p>This address is not a valid page name.</p></body></html>\n',
);

// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f\\]/u;

/**
 * The built page (docs/http-api.md), served fast and safely: `/` and directories give
 * their `index.html`; types by extension; strong ETags, Last-Modified and
 * `Cache-Control: no-cache` (always revalidate), except built assets named by
 * their content hash, which are `immutable`; conditional GETs answered 304; single byte ranges; an HTML
 * 404 page. Names are decoded once and refused (400) when they hold `..`,
 * control characters or backslashes; every file is opened and its descriptor's
 * real path checked to be inside the root, so links cannot lead outside.
 *
 * Small files are kept in memory with their headers precomputed and checked
 * against the disk at most once per `revalidateMs`, so a hot page costs no
 * system call per request; larger ones are streamed from an open descriptor.
 */
export class StaticFiles {
  readonly #root: string;
  readonly #revalidateMs: number;
  readonly #maxCachedFileBytes: number;
  readonly #maxCacheBytes: number;
  readonly #entries = new Map<string, Entry>();
  readonly #loading = new Map<string, Promise<Outcome>>();
  #cachedBytes = 0;
  #realRoot: string | null = null;

  constructor(options: StaticFilesOptions) {
    this.#root = options.root;
    this.#revalidateMs = options.revalidateMs ?? 1_000;
    this.#maxCachedFileBytes = options.maxCachedFileBytes ?? 2 * 1024 * 1024;
    this.#maxCacheBytes = options.maxCacheBytes ?? 64 * 1024 * 1024;
  }

  /** True when a URL belongs to the page rather than to the API. */
  static owns(url: string): boolean {
    return !(url.startsWith('/api/') || url === '/api' || url.startsWith('/api?') || url === '/metrics' || url.startsWith('/metrics?'));
  }

  /**
   * Answers a GET or HEAD; returns the status sent. Never throws: a failure
   * while streaming ends the response.
   */
  serve(req: IncomingMessage, res: ServerResponse): number | Promise<number> {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const cached = this.#entries.get(path);
    if (cached !== undefined && performance.now() - cached.checkedAt < this.#revalidateMs) return this.#send(req, res, cached);
    return this.#lookup(path).then(
      (outcome) => {
        if ('entry' in outcome) return this.#send(req, res, outcome.entry);
        if ('redirect' in outcome) {
          res.writeHead(301, { location: outcome.redirect, 'content-length': 0, 'cache-control': 'no-cache' });
          res.end();
          return 301;
        }
        return outcome.status === 404 ? this.#notFound(req, res) : this.#page(req, res, outcome.status);
      },
      () => this.#notFound(req, res),
    );
  }

  /** The page's own `404.html` when it has one, else a built-in page. */
  async #notFound(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const outcome = await this.#lookup('/404.html').catch(() => null);
    if (outcome === null || !('entry' in outcome) || outcome.entry.body === null) return this.#page(req, res, 404);
    const body = outcome.entry.body;
    res.writeHead(404, ['content-type', 'text/html; charset=utf-8', 'content-length', String(body.length), 'cache-control', 'no-store', ...securityHeaders(true)]);
    res.end(req.method === 'HEAD' ? undefined : body);
    return 404;
  }

  #lookup(path: string): Promise<Outcome> {
    let loading = this.#loading.get(path);
    if (loading === undefined) {
      loading = this.#load(path).finally(() => this.#loading.delete(path));
      this.#loading.set(path, loading);
    }
    return loading;
  }

  async #load(urlPath: string): Promise<Outcome> {
    const names = decodePath(urlPath);
    if (names === null) return { status: 400 };
    // Hidden files (.git, .env, editors' swap files) are never part of a page.
    if (names.some((name) => name.startsWith('.'))) return { status: 404 };
    const root = await this.#resolveRoot();
    if (root === null) return { status: 404 };
    let real: string;
    try {
      real = await realpath(join(root, ...names));
    } catch {
      this.#forget(urlPath);
      return { status: 404 };
    }
    if (real !== root && !real.startsWith(root + sep)) return { status: 404 };
    const info = await stat(real);
    if (info.isDirectory()) {
      if (!urlPath.endsWith('/')) return { redirect: `/${names.map(encodeURIComponent).join('/')}/` };
      real = join(real, 'index.html');
    } else if (urlPath.endsWith('/')) {
      return { status: 404 };
    }
    const previous = this.#entries.get(urlPath);
    const entry = await this.#read(root, real, previous);
    if (entry === null) {
      this.#forget(urlPath);
      return { status: 404 };
    }
    if (entry !== previous) {
      this.#forget(urlPath);
      this.#entries.set(urlPath, entry);
      this.#cachedBytes += entry.body?.length ?? 0;
      this.#trim();
    }
    return { entry };
  }

  /** Opens the file, checks where its descriptor really is, and builds (or keeps) its entry. */
  async #read(root: string, path: string, previous: Entry | undefined): Promise<Entry | null> {
    const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => null);
    if (handle === null) return null;
    try {
      const real = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => realpath(path));
      if (!real.startsWith(root + sep)) return null;
      const info = await handle.stat();
      if (!info.isFile()) return null;
      if (previous !== undefined && previous.realPath === real && previous.stats.ino === info.ino && previous.stats.size === info.size && previous.stats.mtimeMs === info.mtimeMs) {
        previous.checkedAt = performance.now();
        return previous;
      }
      const body = info.size <= this.#maxCachedFileBytes ? await handle.readFile() : null;
      if (body !== null && body.length !== info.size) return null; // changed while read: next request retries
      const etag =
        body === null ? `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}-${info.ino.toString(16)}"` : `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
      const lastModified = new Date(Math.floor(info.mtimeMs / 1000) * 1000).toUTCString();
      const cacheControl = FINGERPRINTED.test(real) ? 'public, max-age=31536000, immutable' : 'no-cache';
      const headers = [
        'content-type',
        contentTypeOf(real),
        'etag',
        etag,
        'last-modified',
        lastModified,
        'cache-control',
        cacheControl,
        'accept-ranges',
        'bytes',
        ...securityHeaders(real.endsWith('.html') || real.endsWith('.htm')),
      ];
      const whole = [...headers, 'content-length', String(info.size)];
      return { realPath: real, stats: { ino: info.ino, size: info.size, mtimeMs: info.mtimeMs }, body, etag, lastModified, cacheControl, headers, whole, checkedAt: performance.now() };
    } finally {
      await handle.close();
    }
  }

  #send(req: IncomingMessage, res: ServerResponse, entry: Entry): number | Promise<number> {
    const head = req.method === 'HEAD';
    const inm = req.headers['if-none-match'];
    if (inm !== undefined ? noneMatchHit(inm, entry.etag) : notModifiedSince(req.headers['if-modified-since'], entry.stats.mtimeMs)) {
      res.writeHead(304, ['etag', entry.etag, 'last-modified', entry.lastModified, 'cache-control', entry.cacheControl]);
      res.end();
      return 304;
    }
    const size = entry.stats.size;
    const rangeHeader = req.headers.range;
    const range = rangeHeader !== undefined && ifRangeMatches(req.headers['if-range'], entry.etag, entry.lastModified) ? parseRange(rangeHeader, size) : null;
    if (range === 'unsatisfiable') {
      res.writeHead(416, ['content-range', `bytes */${size}`, 'content-length', '0', 'cache-control', 'no-cache']);
      res.end();
      return 416;
    }
    const start = range === null ? 0 : range.start;
    const end = range === null ? size - 1 : range.end;
    const status = range === null ? 200 : 206;
    res.writeHead(status, range === null ? entry.whole : [...entry.headers, 'content-length', String(end - start + 1), 'content-range', `bytes ${start}-${end}/${size}`]);
    if (head || size === 0) {
      res.end();
      return status;
    }
    if (entry.body !== null) {
      res.end(range === null ? entry.body : entry.body.subarray(start, end + 1));
      return status;
    }
    return this.#stream(res, entry, start, end).then(() => status);
  }

  /** Streams a large file from a descriptor opened (and checked) now. */
  async #stream(res: ServerResponse, entry: Entry, start: number, end: number): Promise<void> {
    const root = await this.#resolveRoot();
    const handle = await open(entry.realPath, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => null);
    if (handle === null || root === null) {
      await handle?.close();
      res.destroy();
      return;
    }
    const real = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => entry.realPath);
    if (!real.startsWith(root + sep)) {
      await handle.close();
      res.destroy();
      return;
    }
    // The stream owns the descriptor from here and closes it at the end.
    const stream = createReadStream('', { fd: handle, start, end, highWaterMark: 256 * 1024 });
    await pipeline(stream, res).catch(() => res.destroy());
  }

  #page(req: IncomingMessage, res: ServerResponse, status: 400 | 404): number {
    const body = status === 404 ? NOT_FOUND_PAGE : BAD_REQUEST_PAGE;
    res.writeHead(status, ['content-type', 'text/html; charset=utf-8', 'content-length', String(body.length), 'cache-control', 'no-store', ...securityHeaders(true)]);
    res.end(req.method === 'HEAD' ? undefined : body);
    return status;
  }

  async #resolveRoot(): Promise<string | null> {
    if (this.#realRoot === null) this.#realRoot = await realpath(this.#root).catch(() => null);
    return this.#realRoot;
  }

  #forget(urlPath: string): void {
    const old = this.#entries.get(urlPath);
    if (old === undefined) return;
    this.#entries.delete(urlPath);
    this.#cachedBytes -= old.body?.length ?? 0;
  }

  /** Drops the oldest cached entries while bodies take more than the budget. */
  #trim(): void {
    for (const key of this.#entries.keys()) {
      if (this.#cachedBytes <= this.#maxCacheBytes) return;
      this.#forget(key);
    }
  }
}

/**
 * The names of a URL path, percent-decoded exactly once; null when the path
 * cannot name a file of the page: bad encoding, `..`, control characters, NUL
 * or backslashes (before or after decoding), or more than 64 levels.
 */
export function decodePath(urlPath: string): string[] | null {
  if (!urlPath.startsWith('/') || urlPath.length > 2048) return null;
  const names: string[] = [];
  for (const raw of urlPath.split('/')) {
    if (raw === '') continue;
    let name: string;
    try {
      name = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (name === '.' || name === '..' || name.includes('/') || FORBIDDEN_CHARS.test(name) || FORBIDDEN_CHARS.test(raw)) return null;
    names.push(name);
  }
  return names.length > 64 ? null : names;
}
