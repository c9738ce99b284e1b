import { createHash, randomBytes } from 'node:crypto';
import { mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/temp-dir.js';
import { send, sendRaw, startWebServer, type WebTestServer } from './web-client.js';

const INDEX = '<!doctype html><title>gridlink</title><p>index page</p>\n';
const PAGE = '<!doctype html><title>page</title><p>another page</p>\n';
// A 1x1 PNG.
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a5d6c9d80000000049454e44ae426082', 'hex');
const SECRET = 'outside the static root: never served\n';

describe('static files of the web page (docs/http-api.md)', () => {
  let server: WebTestServer;
  let temp: { path: string; cleanup: () => Promise<void> };
  let big: Buffer;
  let large: Buffer;

  beforeAll(async () => {
    temp = await makeTempDir();
    const root = join(temp.path, 'www');
    await mkdir(join(root, 'sub'), { recursive: true });
    await mkdir(join(root, 'assets'), { recursive: true });
    await writeFile(join(root, 'index.html'), INDEX);
    await writeFile(join(root, 'page.html'), PAGE);
    await writeFile(join(root, 'logo.png'), PNG);
    await writeFile(join(root, 'assets', 'app.css'), 'body { color: black }\n');
    await writeFile(join(root, 'assets', 'app.js'), 'console.log("hi");\n');
    await writeFile(join(root, 'sub', 'index.html'), '<p>sub</p>\n');
    await writeFile(join(root, 'name with space.txt'), 'spaced\n');
    await writeFile(join(root, '.env'), 'SECRET=1\n');
    big = randomBytes(300 * 1024);
    await writeFile(join(root, 'big.bin'), big);
    large = randomBytes(3 * 1024 * 1024); // beyond the in-memory cache: streamed from disk
    await writeFile(join(root, 'large.bin'), large);
    await writeFile(join(temp.path, 'secret.txt'), SECRET);
    await symlink(join(temp.path, 'secret.txt'), join(root, 'link-out.txt'));
    await symlink(temp.path, join(root, 'link-dir'));
    await symlink(join(root, 'page.html'), join(root, 'link-in.html'));
    await utimes(join(root, 'page.html'), new Date('2026-01-02T03:04:05Z'), new Date('2026-01-02T03:04:05Z'));
    server = await startWebServer({ http: { staticDir: root } });
  });
  afterAll(async () => {
    await server.stop();
    await temp.cleanup();
  });

  describe('parity with the course HTTPServer v2.0', () => {
    it('/ gives index.html', async () => {
      const res = await send(server.httpPort, 'GET', '/');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.text).toBe(INDEX);
    });

    it('an .html page is served', async () => {
      const res = await send(server.httpPort, 'GET', '/page.html');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.text).toBe(PAGE);
    });

    it('an image is served with its type', async () => {
      const res = await send(server.httpPort, 'GET', '/logo.png');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('image/png');
      expect(res.body.equals(PNG)).toBe(true);
    });

    it('a missing page is a 404 with a page', async () => {
      const res = await send(server.httpPort, 'GET', '/missing.html');
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.text).toContain('404');
      expect(res.text).toContain('<html');
    });
  });

  it('types by extension: css, js, unknown as bytes', async () => {
    expect((await send(server.httpPort, 'GET', '/assets/app.css')).headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await send(server.httpPort, 'GET', '/assets/app.js')).headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await send(server.httpPort, 'GET', '/big.bin')).headers['content-type']).toBe('application/octet-stream');
  });

  it('a directory gives its index.html; without the slash it redirects to it', async () => {
    expect((await send(server.httpPort, 'GET', '/sub/')).text).toBe('<p>sub</p>\n');
    const res = await send(server.httpPort, 'GET', '/sub');
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('/sub/');
  });

  it('percent-encoded names are decoded once; the query string is ignored', async () => {
    expect((await send(server.httpPort, 'GET', '/name%20with%20space.txt')).text).toBe('spaced\n');
    expect((await send(server.httpPort, 'GET', '/page.html?v=3')).text).toBe(PAGE);
  });

  it('ETag, Last-Modified and Cache-Control; conditional GETs answer 304', async () => {
    const res = await send(server.httpPort, 'GET', '/page.html');
    const etag = String(res.headers.etag);
    expect(etag).toMatch(/^"[^"]+"$/u);
    expect(res.headers['last-modified']).toBe('Fri, 02 Jan 2026 03:04:05 GMT');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['accept-ranges']).toBe('bytes');
    const again = await send(server.httpPort, 'GET', '/page.html', { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect((await send(server.httpPort, 'GET', '/page.html', { 'if-none-match': '"other"' })).status).toBe(200);
    expect((await send(server.httpPort, 'GET', '/page.html', { 'if-modified-since': 'Fri, 02 Jan 2026 03:04:05 GMT' })).status).toBe(304);
    expect((await send(server.httpPort, 'GET', '/page.html', { 'if-modified-since': 'Thu, 01 Jan 2026 00:00:00 GMT' })).status).toBe(200);
  });

  it('HEAD gives the headers without a body', async () => {
    const res = await send(server.httpPort, 'HEAD', '/big.bin');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(big.length));
    expect(res.body.length).toBe(0);
  });

  it('range requests: first bytes, middle, suffix, open end, unsatisfiable, If-Range', async () => {
    const get = (range: string, extra: Record<string, string> = {}) => send(server.httpPort, 'GET', '/big.bin', { range, ...extra });
    let res = await get('bytes=0-99');
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes 0-99/${big.length}`);
    expect(res.body.equals(big.subarray(0, 100))).toBe(true);
    res = await get('bytes=1000-1999');
    expect(res.body.equals(big.subarray(1000, 2000))).toBe(true);
    res = await get('bytes=-10');
    expect(res.body.equals(big.subarray(big.length - 10))).toBe(true);
    res = await get(`bytes=${big.length - 5}-`);
    expect(res.body.equals(big.subarray(big.length - 5))).toBe(true);
    res = await get(`bytes=${big.length}-`);
    expect(res.status).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${big.length}`);
    // Several ranges: answered whole (allowed by RFC 9110).
    res = await get('bytes=0-1,5-6');
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(big.length);
    const etag = String((await send(server.httpPort, 'HEAD', '/big.bin')).headers.etag);
    expect((await get('bytes=0-9', { 'if-range': etag })).status).toBe(206);
    expect((await get('bytes=0-9', { 'if-range': '"stale"' })).status).toBe(200);
  });

  it('a file larger than the memory cache is streamed whole and by range', async () => {
    const res = await send(server.httpPort, 'GET', '/large.bin');
    expect(res.status).toBe(200);
    expect(createHash('sha256').update(res.body).digest('hex')).toBe(createHash('sha256').update(large).digest('hex'));
    const part = await send(server.httpPort, 'GET', '/large.bin', { range: 'bytes=2097152-2097251' });
    expect(part.status).toBe(206);
    expect(part.body.equals(large.subarray(2097152, 2097252))).toBe(true);
  });

  it('hidden files are not served', async () => {
    expect((await send(server.httpPort, 'GET', '/.env')).status).toBe(404);
    expect((await send(server.httpPort, 'GET', '/%2eenv')).status).toBe(404);
  });

  it('the page carries headers that keep it out of frames and its types unsniffed', async () => {
    const res = await send(server.httpPort, 'GET', '/');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(String(res.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
  });

  describe('traversal-safe', () => {
    const attempts = [
      '/../secret.txt',
      '/../../../../etc/passwd',
      '/sub/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E/secret.txt',
      '/%2e%2e%2fsecret.txt',
      '/..%2fsecret.txt',
      '/..%2f..%2fetc%2fpasswd',
      '/%252e%252e/secret.txt',
      '/%252e%252e%252fsecret.txt',
      '/..%5csecret.txt',
      '/..\\secret.txt',
      '/sub\\..\\..\\secret.txt',
      '/%c0%ae%c0%ae/secret.txt',
      '/link-out.txt',
      '/link-dir/secret.txt',
      '//etc/passwd',
      '/%00secret.txt',
      '/page.html%00.png',
      '/%2fetc%2fpasswd',
    ];
    for (const path of attempts) {
      it(`refuses ${JSON.stringify(path)}`, async () => {
        const res = await send(server.httpPort, 'GET', path);
        expect([400, 404]).toContain(res.status);
        expect(res.text).not.toContain('outside the static root');
        expect(res.text).not.toContain('root:');
      });
    }

    it('refuses a raw NUL and raw dots the client did not normalise', async () => {
      for (const head of ['GET /page.html\u0000 HTTP/1.1', 'GET /.. HTTP/1.1', 'GET /../secret.txt HTTP/1.1', 'GET /./../secret.txt HTTP/1.1']) {
        const res = await sendRaw(server.httpPort, head);
        expect([400, 404]).toContain(res.status);
        expect(res.text).not.toContain('outside the static root');
      }
    });

    it('a link that stays inside the root is served', async () => {
      expect((await send(server.httpPort, 'GET', '/link-in.html')).text).toBe(PAGE);
    });
  });
});

describe('static files: the page’s own 404.html, a root that does not exist yet', () => {
  it('serves 404.html with status 404 when the page has one, and 404 for everything while the root is missing', async () => {
    const temp = await makeTempDir();
    const root = join(temp.path, 'www');
    const server = await startWebServer({ http: { staticDir: root } });
    try {
      expect((await send(server.httpPort, 'GET', '/')).status).toBe(404);
      await mkdir(root);
      await writeFile(join(root, 'index.html'), INDEX);
      await writeFile(join(root, '404.html'), '<!doctype html><p>our own not found</p>\n');
      expect((await send(server.httpPort, 'GET', '/')).text).toBe(INDEX);
      const missing = await send(server.httpPort, 'GET', '/nope');
      expect(missing.status).toBe(404);
      expect(missing.text).toContain('our own not found');
    } finally {
      await server.stop();
      await temp.cleanup();
    }
  });
});
