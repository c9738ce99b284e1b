import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.js';
import { send, startWebServer, type WebTestServer } from './web-client.js';

/** The page as `npm run build` makes it, served from the package's own dist/hmi/. */
describe('the built page on the default static directory', () => {
  let server: WebTestServer;
  let assets: string[];

  beforeAll(async () => {
    await buildWeb();
    assets = await readdir(fileURLToPath(new URL('../../dist/hmi/assets/', import.meta.url)));
    server = await startWebServer();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('serves index.html for / and its content-hashed assets as immutable', async () => {
    const index = await send(server.httpPort, 'GET', '/');
    expect(index.status).toBe(200);
    expect(index.headers['cache-control']).toBe('no-cache');
    const script = assets.find((name) => /^app-[A-Za-z0-9]{8,}\.js$/u.test(name))!;
    expect(index.body.toString()).toContain(`assets/${script}`);
    const js = await send(server.httpPort, 'GET', `/assets/${script}`);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/^text\/javascript/u);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('serves nothing of the server itself (compiled modules live in dist/web/, outside the page)', async () => {
    for (const path of ['/http-server.js', '/web/http-server.js', '/../web/http-server.js', '/%2e%2e/web/http-server.js', '/../cli/main.js', '/routes/session.js']) {
      const res = await send(server.httpPort, 'GET', path);
      expect([400, 404], path).toContain(res.status);
      expect(res.body.toString(), path).not.toContain('fastify');
    }
  });
});
