import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonValue, parseCommandValue } from '../../src/cli/commands/scada.js';
import { parseTime } from '../../src/cli/parse-time.js';
import type { PointEvent, PointSnapshot } from '../../src/protocol/scada.js';
import { run } from '../helpers/python.js';
import { GRIDLINK_BIN } from '../helpers/server-process.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

describe('gridlink points|watch|history|alarms|select|operate', () => {
  let server: TestServer;
  const children: Array<ReturnType<typeof spawn>> = [];
  const cli = (args: string[], user: string, input = '') =>
    run(process.execPath, [GRIDLINK_BIN, ...args, '--server', `127.0.0.1:${server.port}`, '--user', user], { env: { ...process.env, GRIDLINK_PASSWORD: `${user}-password` }, input, timeoutMs: 30_000 });

  beforeAll(async () => {
    server = await startTestServer({ scada: { simulator: { noise: false, pollMs: 250, breakerTravelMs: 50, feeders: 2 } } });
    await server.server.users.add('otto', 'otto-password', 'operator');
    await server.server.users.add('vic', 'vic-password', 'viewer');
    const scada = server.server.scada!;
    const deadline = Date.now() + 5_000;
    while (!scada.points().every((p) => p.quality === 'good') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await server?.stop();
  });

  it('a breaker operated from the CLI changes the simulator, the status point and the current, and a watch subscriber sees the events in order', async () => {
    const watch = spawn(process.execPath, [GRIDLINK_BIN, 'watch', 'sub1.f1.*', '--json', '--server', `127.0.0.1:${server.port}`, '--user', 'vic'], {
      env: { ...process.env, GRIDLINK_PASSWORD: 'vic-password' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(watch);
    const lines: Array<Record<string, unknown>> = [];
    let wake: (() => void) | null = null;
    createInterface({ input: watch.stdout }).on('line', (line) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      wake?.();
    });
    const waitFor = async (check: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`watch: no ${what}; got ${JSON.stringify(lines).slice(0, 500)}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
    };
    await waitFor(() => lines.some((l) => l['type'] === 'snapshot'), 'snapshot');
    const snapshot = lines.find((l) => l['type'] === 'snapshot')!['points'] as PointSnapshot[];
    expect(snapshot.find((p) => p.name === 'sub1.f1.breaker')).toMatchObject({ value: 1, quality: 'good' });

    const operated = await cli(['operate', 'sub1.f1.breaker', 'open'], 'otto');
    expect(operated.stderr).toBe('');
    expect(operated.code).toBe(0);
    expect(operated.stdout).toMatch(/^sub1\.f1\.breaker open: confirmed by the device in \d+ ms\n$/u);
    const scada = server.server.scada!;
    expect(scada.simulator!.breaker(1, 0)).toBe(false);
    expect(scada.point('sub1.f1.breaker').value).toBe(0);

    const eventOf = (point: string, value: number) => () => lines.some((l) => l['type'] === 'event' && l['point'] === point && l['value'] === value);
    await waitFor(eventOf('sub1.f1.current', 0), 'current event');
    await waitFor(eventOf('sub1.f1.activePower', 0), 'power event');
    const events = lines.filter((l) => l['type'] === 'event') as unknown as PointEvent[];
    for (let i = 1; i < events.length; i += 1) expect(events[i]!.seq).toBeGreaterThan(events[i - 1]!.seq);
    const order = events.map((e) => `${e.point}=${e.value}`);
    // The breaker opens first (the command), then the feeder's current and power fall (the consequence).
    expect(order.indexOf('sub1.f1.breaker=0')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('sub1.f1.breaker=0')).toBeLessThanOrEqual(order.indexOf('sub1.f1.current=0'));
    expect(order.indexOf('sub1.f1.breaker=0')).toBeLessThanOrEqual(order.indexOf('sub1.f1.activePower=0'));
    expect(scada.point('sub1.f1.current').value).toBe(0);
    watch.kill('SIGINT');
    expect(await new Promise((r) => watch.once('exit', r))).toBe(0);
  });

  it('points and history, as text and as JSON', async () => {
    const text = await cli(['points', 'sub1.f1.*'], 'vic');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^sub1\.f1\.breaker\s+open\s+\d\d:\d\d:\d\d\.\d{3}\s+ctl$/mu);
    expect(text.stdout).toMatch(/^sub1\.f1\.voltage\s+10\.\d\d kV/mu);
    const json = JSON.parse((await cli(['points', '--json'], 'vic')).stdout) as PointSnapshot[];
    expect(json).toHaveLength(12);
    const history = await cli(['history', 'sub1.f1.breaker', '--since', '1h', '--json'], 'vic');
    expect(history.code).toBe(0);
    expect((JSON.parse(history.stdout) as { samples: Array<{ value: number }> }).samples.map((s) => s.value)).toEqual([1, 0]);
    const historyText = await cli(['history', 'sub1.f1.breaker', '--since', '2020-01-01T00:00Z'], 'vic');
    expect(historyText.stdout.trim().split('\n').map((l) => l.split(/\s+/u)[1])).toEqual(['closed', 'open']);
    const alarms = await cli(['alarms', '--json'], 'vic');
    expect(alarms.code).toBe(0);
    expect(JSON.parse(alarms.stdout)).toEqual([]);
  });

  it('a pattern no point matches fails with one line saying so (exit 1), for points, points --json and watch; watch --alarms warns and goes on', async () => {
    for (const args of [['points', 'sub9.*'], ['points', 'sub9.*', '--json'], ['watch', 'sub9.*'], ['watch', 'sub9.*', '--json']]) {
      const result = await cli(args, 'vic');
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stdout, args.join(' ')).toBe('');
      expect(result.stderr, args.join(' ')).toMatch(/^gridlink: no such point: nothing matches "sub9\.\*"; a final \* is one name part, sub9\.> takes every part after it \(GL_ERR_SCADA_NO_POINT\); [^\n]+\n$/u);
    }
    // With --alarms there is still something to watch: a warning, then the alarms.
    const alarmsOnly = spawn(process.execPath, [GRIDLINK_BIN, 'watch', 'sub9.*', '--alarms', '--server', `127.0.0.1:${server.port}`, '--user', 'vic'], {
      env: { ...process.env, GRIDLINK_PASSWORD: 'vic-password' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(alarmsOnly);
    let warning = '';
    alarmsOnly.stderr.setEncoding('utf8').on('data', (d: string) => (warning += d));
    const deadline = Date.now() + 10_000;
    while (!warning.includes('\n') && alarmsOnly.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(warning).toMatch(/^gridlink: no such point: nothing matches "sub9\.\*".*; showing alarms only\n$/u);
    expect(alarmsOnly.exitCode).toBeNull(); // still watching
    alarmsOnly.kill('SIGINT');
    expect(await new Promise((r) => alarmsOnly.once('exit', r))).toBe(0);
    // The usual slip: names have three parts, so sub1.* is nothing, and the line says what to type.
    const slip = await cli(['points', 'sub1.*'], 'vic');
    expect(slip.code).toBe(1);
    expect(slip.stderr).toContain('sub1.> takes every part after it');
    const whole = await cli(['points', 'sub1.>'], 'vic');
    expect(whole.code).toBe(0);
    expect(whole.stdout.trim().split('\n')).toHaveLength(12);
  });

  it('points --json gives values at the point\'s resolution, not binary floating-point noise', async () => {
    const scada = server.server.scada!;
    // 469.2 A is register 4692 at 0.1 A per count: 4692 * 0.1 is 469.20000000000005 in a double;
    // the server rounds to the point's resolution where it scales the register, so every front sees 469.2.
    scada.simulator!.freeze(1, 1, { currentA: 469.2 });
    try {
      const deadline = Date.now() + 10_000;
      while (Math.abs((scada.point('sub1.f2.current').value ?? 0) - 469.2) > 1e-9 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(4692 * 0.1).not.toBe(469.2);
      expect(scada.point('sub1.f2.current').value).toBe(469.2);
      const json = await cli(['points', 'sub1.f2.current', '--json'], 'vic');
      expect(json.code).toBe(0);
      expect(json.stdout).toContain('"value":469.2,');
      expect(json.stdout).not.toContain('469.20000000000005');
      const text = await cli(['points', 'sub1.f2.current'], 'vic');
      expect(text.stdout).toMatch(/^sub1\.f2\.current\s+469\.2 A/mu);
    } finally {
      scada.simulator!.unfreeze(1, 1);
    }
  });

  it('select holds the point until a value is typed, or releases it on an empty line', async () => {
    const released = await cli(['select', 'sub1.f2.breaker'], 'otto', '\n');
    expect(released.code).toBe(0);
    expect(released.stderr).toMatch(/selected sub1\.f2\.breaker \(now closed\); it is yours for \d+ s/u);
    expect(released.stderr).toContain('released sub1.f2.breaker');
    const operated = await cli(['select', 'sub1.f2.breaker'], 'otto', 'open\n');
    expect(operated.code).toBe(0);
    expect(operated.stdout).toMatch(/sub1\.f2\.breaker open: confirmed/u);
    expect(server.server.scada!.simulator!.breaker(1, 1)).toBe(false);
  });

  it('substitute shows a value in place of the device\'s, and --release gives it back', async () => {
    const substituted = await cli(['substitute', 'sub1.f2.voltage', '9.9'], 'otto');
    expect(substituted.code).toBe(0);
    expect(substituted.stdout).toMatch(/^sub1\.f2\.voltage\s+9\.90 kV\s+\S+\s+SUBSTITUTED\(by otto\)$/mu);
    const released = await cli(['substitute', 'sub1.f2.voltage', '--release'], 'otto');
    expect(released.code).toBe(0);
    expect(released.stdout).toMatch(/^sub1\.f2\.voltage\s+10\.\d\d kV\s+\S+$/mu);
    for (const args of [['substitute', 'sub1.f2.voltage'], ['substitute', 'sub1.f2.voltage', '9', '--release']]) {
      const bad = await cli(args, 'otto');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/usage: gridlink substitute POINT VALUE/u);
    }
  });

  it('refuses with one clear line and a non-zero status: viewer, bad value, bad time, unknown point, bad alarm id', async () => {
    const viewer = await cli(['operate', 'sub1.f2.breaker', 'close'], 'vic');
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toMatch(/^gridlink: .*operator role.*\n$/u);
    expect(server.server.scada!.simulator!.breaker(1, 1)).toBe(false);
    const sideways = await cli(['operate', 'sub1.f2.breaker', 'sideways'], 'otto');
    expect(sideways.code).toBe(2);
    expect(sideways.stderr).toMatch(/"sideways" is not a value for sub1\.f2\.breaker; expected open, closed, 0 or 1/u);
    const badTime = await cli(['history', 'sub1.f1.breaker', '--since', 'yesterday'], 'vic');
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toMatch(/is not a time/u);
    const unknown = await cli(['operate', 'sub7.f1.breaker', 'open'], 'otto');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no such point/u);
    const badAck = await cli(['alarms', 'ack', 'x1'], 'otto');
    expect(badAck.code).toBe(2);
    expect(badAck.stderr).toMatch(/usage: gridlink alarms/u);
    const noAlarm = await cli(['alarms', 'ack', '424242'], 'otto');
    expect(noAlarm.code).toBe(1);
    expect(noAlarm.stderr).toMatch(/no such open alarm/u);
  });
});

describe('CLI parsers', () => {
  it('parseTime: ISO, relative, now, epoch ms; refuses the rest', () => {
    const now = Date.UTC(2026, 10, 22, 12, 0, 0);
    expect(parseTime('now', now)).toBe(now);
    expect(parseTime('15m', now)).toBe(now - 15 * 60_000);
    expect(parseTime('2h', now)).toBe(now - 7_200_000);
    expect(parseTime('1.5d', now)).toBe(now - 129_600_000);
    expect(parseTime('250ms', now)).toBe(now - 250);
    expect(parseTime('2026-11-22T10:00Z')).toBe(Date.UTC(2026, 10, 22, 10, 0));
    expect(parseTime('2026-11-22 10:00:30+01:00')).toBe(Date.UTC(2026, 10, 22, 9, 0, 30));
    expect(parseTime('1763800000000')).toBe(1763800000000);
    for (const bad of ['', 'yesterday', '15', '-5m', '15 m', '2026-13-45', '2026-11-22T25:99Z', '1e12', '5y', 'now now', '\u0000', 'x'.repeat(10_000)]) {
      expect(() => parseTime(bad, now), bad.slice(0, 20)).toThrow(RangeError);
    }
  });

  it('jsonValue: drops floating-point noise, keeps every digit a device sent', () => {
    expect(jsonValue(4692 * 0.1)).toBe(469.2);
    expect(jsonValue(0.1 + 0.2)).toBe(0.3);
    expect(jsonValue(1050 * 0.01)).toBe(10.5);
    for (const kept of [0, 469.25, -32768, 4294967295, 123456.789012, 1e-7, 3.141592653589, 1e21]) expect(jsonValue(kept)).toBe(kept);
    expect(jsonValue(null)).toBeNull();
  });

  it('parseCommandValue: state names, prefixes, numbers; refuses the rest', () => {
    const breaker = { name: 'b', states: ['open', 'closed'] as const };
    expect(parseCommandValue('open', breaker)).toBe(0);
    expect(parseCommandValue('OPEN', breaker)).toBe(0);
    expect(parseCommandValue('close', breaker)).toBe(1);
    expect(parseCommandValue('closed', breaker)).toBe(1);
    expect(parseCommandValue('1', breaker)).toBe(1);
    expect(parseCommandValue('12.5', { name: 's' })).toBe(12.5);
    for (const bad of ['', 'op', 'sideways', 'opened?', '1e3', 'NaN', 'Infinity', '0x1']) expect(() => parseCommandValue(bad, breaker), bad).toThrow(/is not a value for b/u);
  });
});
