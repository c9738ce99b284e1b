import { describe, expect, it } from 'vitest';
import { login, send, startWebServer } from './web-client.js';

describe('/metrics (docs/http-api.md): Prometheus text, loopback only unless configured', () => {
  it('reports server, bus, web, HTTP and SCADA numbers to loopback; needs no session; forwarded-for headers change nothing', async () => {
    const server = await startWebServer({ scada: { enabled: true, simulator: { noise: false, pollMs: 100, feeders: 1 } } });
    try {
      await server.server.users.add('vera', 'vera-password', 'viewer');
      const vera = await login(server.httpPort, 'vera', 'vera-password');
      await send(server.httpPort, 'GET', '/api/session', { cookie: vera.cookie });
      await send(server.httpPort, 'GET', '/api/session');
      await send(server.httpPort, 'GET', '/nothing-here');
      await new Promise((r) => setTimeout(r, 300));
      const res = await send(server.httpPort, 'GET', '/metrics');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = res.text;
      for (const name of [
        'gridlink_uptime_seconds',
        'gridlink_event_loop_delay_seconds{quantile="0.5"}',
        'gridlink_event_loop_delay_seconds{quantile="0.99"}',
        'gridlink_event_loop_delay_seconds{quantile="1"}',
        'gridlink_native_connections',
        'gridlink_transfers_active',
        'gridlink_bus_published_total',
        'gridlink_bus_dropped_total',
        'gridlink_web_sessions 1',
        'gridlink_web_live_sockets 0',
        'gridlink_points{quality="good"}',
        'gridlink_devices{state="online"} 1',
      ]) {
        expect(text).toContain(name);
      }
      expect(text).toContain('gridlink_http_requests_total{route="/api/session",method="GET",status="200"} 1');
      expect(text).toContain('gridlink_http_requests_total{route="/api/session",method="GET",status="401"} 1');
      expect(text).toContain('gridlink_http_requests_total{route="/api/login",method="POST",status="200"} 1');
      expect(text).toContain('gridlink_http_requests_total{route="static",method="GET",status="404"} 1');
      // Every line is a comment or `name{labels} value`.
      for (const line of text.trimEnd().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?[\d.e+]+)$/u);
      // The simulator's first values reach history through the writer thread (a batch every 250 ms), none on the loop, none lost.
      let history = text;
      for (let i = 0; i < 50 && !/gridlink_history_rows_total\{writer="thread"\} [1-9]/u.test(history); i++) {
        await new Promise((r) => setTimeout(r, 100));
        history = (await send(server.httpPort, 'GET', '/metrics')).text;
      }
      expect(history).toMatch(/gridlink_history_rows_total\{writer="thread"\} [1-9]\d*\n/u);
      expect(history).toContain('gridlink_history_rows_total{writer="loop"} 0\n');
      expect(history).toContain('gridlink_history_rows_lost_total 0\n');
    } finally {
      await server.stop();
    }
  });

  it('an address not in http.metricsAllow is refused (403), whatever X-Forwarded-For says', async () => {
    const server = await startWebServer({ http: { metricsAllow: ['192.0.2.1'] } });
    try {
      const res = await send(server.httpPort, 'GET', '/metrics', { 'x-forwarded-for': '192.0.2.1', 'x-real-ip': '192.0.2.1' });
      expect(res.status).toBe(403);
      expect(res.json()).toMatchObject({ error: { code: 'GL_ERR_HTTP_NOT_ALLOWED' } });
    } finally {
      await server.stop();
    }
  });
});
