import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameConnection } from '../../src/client/index.js';
import { GridlinkError } from '../../src/errors/index.js';
import { rawLogin } from '../helpers/raw-login.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';

/**
 * Every SCADA command of the native protocol with malformed, mistyped,
 * oversized and hostile fields: each is refused with its code, the
 * connection stays usable, and nothing moves in the substation.
 */
describe('SCADA commands with hostile fields', () => {
  let server: TestServer;
  let conn: FrameConnection;

  beforeAll(async () => {
    server = await startTestServer({ scada: { simulator: { noise: false, pollMs: 200, feeders: 1 } } });
    await server.server.users.add('olga', 'olga-password', 'operator');
    conn = await FrameConnection.connect({ host: '127.0.0.1', port: server.port });
    await rawLogin(conn, 'olga', 'olga-password');
    await until(() => server.server.scada!.point('sub1.f1.breaker').quality === 'good', 5_000, 'first poll');
  });

  afterAll(async () => {
    conn?.destroy();
    await server?.stop();
  });

  const long = 'x'.repeat(5_000);
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['points', { pattern: 5 }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['points', { pattern: '' }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['points', { pattern: long }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['points', { pattern: 'a.>.b' }, 'GL_ERR_BUS_BAD_TOPIC'],
    ['points', { pattern: 'sub1 f1' }, 'GL_ERR_BUS_BAD_TOPIC'],
    ['points', { offset: -1 }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['points', { offset: 1.5 }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['devices', { offset: 'x' }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['history', {}, 'GL_ERR_PROTO_BAD_FIELD'],
    ['history', { point: 'sub1.f1.breaker' }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['history', { point: 'sub1.f1.breaker', since: -5 }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['history', { point: 'sub1.f1.breaker', since: '0' }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['history', { point: 'sub1.f1.breaker', since: 1e300 }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['history', { point: 'sub1.f1.breaker', since: 0, limit: 0 }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['history', { point: 'sub1.f1.breaker', since: 0, limit: 1e9 }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['history', { point: 'sub1.f1.breaker', since: 10, until: 10 }, 'GL_ERR_SCADA_BAD_RANGE'],
    ['history', { point: long, since: 0 }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['history', { point: "x'; DROP TABLE events; --", since: 0 }, 'GL_ERR_SCADA_NO_POINT'],
    ['events', { since: 0, pattern: '>.x' }, 'GL_ERR_BUS_BAD_TOPIC'],
    ['events', { since: 0, until: 0 }, 'GL_ERR_SCADA_BAD_RANGE'],
    ['alarms', { all: 'yes' }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['alarm.ack', {}, 'GL_ERR_PROTO_BAD_FIELD'],
    ['alarm.ack', { alarm: 0 }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['alarm.ack', { alarm: '1' }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['alarm.ack', { alarm: 2 ** 60 }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['alarm.ack', { alarm: 77 }, 'GL_ERR_SCADA_NO_ALARM'],
    ['select', {}, 'GL_ERR_PROTO_BAD_FIELD'],
    ['select', { point: ['sub1.f1.breaker'] }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['select', { point: '' }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['select', { point: '../../etc/passwd' }, 'GL_ERR_SCADA_NO_POINT'],
    ['select', { point: 'sub1.f1.*' }, 'GL_ERR_SCADA_NO_POINT'],
    ['select', { point: '__proto__' }, 'GL_ERR_SCADA_NO_POINT'],
    ['operate', { point: 'sub1.f1.breaker' }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['operate', { point: 'sub1.f1.breaker', value: '0' }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['operate', { point: 'sub1.f1.breaker', value: null }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['operate', { point: 'sub1.f1.breaker', value: true }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['operate', { point: 'sub1.f1.breaker', value: 0 }, 'GL_ERR_SCADA_NOT_SELECTED'],
    ['deselect', { point: 7 }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['substitute', { point: 'sub1.f1.current' }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['substitute', { point: 'sub1.f1.current', value: '5' }, 'GL_ERR_PROTO_BAD_FIELD'],
    ['substitute', { point: 'sub1.f1.breaker', value: 0.5 }, 'GL_ERR_SCADA_BAD_VALUE'],
    ['substitute', { point: 'sub1.f1.nothing', value: 1 }, 'GL_ERR_SCADA_NO_POINT'],
    ['watch', { pattern: 'a..b' }, 'GL_ERR_BUS_BAD_TOPIC'],
    ['watch', { alarms: 1 }, 'GL_ERR_PROTO_BAD_FIELD'],
  ];

  it.each(cases)('%s %j → %s, and the connection still answers', async (cmd, fields, code) => {
    let caught: unknown;
    try {
      await conn.request(cmd, fields);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(GridlinkError);
    expect((caught as GridlinkError).code).toBe(code);
    expect(await conn.request('ping')).toMatchObject({ cmd: 'ping' });
  });

  it('after all of that the breaker never moved and no command reached the device', () => {
    expect(server.server.scada!.simulator!.breaker(1, 0)).toBe(true);
    expect(server.server.audit.recent(200).some((r) => r.event === 'control.operate' || r.event === 'control.select')).toBe(false);
  });

  it('an operate with NaN or Infinity cannot even be encoded as JSON: they arrive as null and are refused', async () => {
    await conn.request('select', { point: 'sub1.f1.breaker' });
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(conn.request('operate', { point: 'sub1.f1.breaker', value })).rejects.toMatchObject({ code: 'GL_ERR_PROTO_BAD_FIELD' });
    }
    await conn.request('deselect', { point: 'sub1.f1.breaker' });
    expect(server.server.scada!.simulator!.breaker(1, 0)).toBe(true);
  });
});
