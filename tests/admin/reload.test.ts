import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin/admin-client.js';
import { GridlinkClient } from '../../src/client/index.js';
import { derivedConfig, loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { GridlinkError } from '../../src/errors/index.js';
import { createLogger } from '../../src/log/logger.js';
import type { PointEvent } from '../../src/protocol/scada.js';
import { SubstationSimulator } from '../../src/scada/simulator/substation-simulator.js';
import { GridlinkServer } from '../../src/server/gridlink-server.js';
import { writeRandomFile } from '../helpers/files.js';
import { COT, TYPE, isAsdu, startMaster, type AsduEvent } from '../helpers/lib60870.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { startTestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';
import { login, send } from '../web/web-client.js';

const HOST = '127.0.0.1';
const MiB = 1024 * 1024;

/** A field device of the test's own Modbus simulator: breaker and current of feeder `f` of `unit`. */
function device(name: string, port: number, unit: number, pollMs: number, feeders = [0]): Record<string, unknown> {
  return {
    name,
    host: HOST,
    port,
    unitId: unit,
    pollMs,
    timeoutMs: Math.min(500, pollMs),
    points: feeders.flatMap((f) => [
      { name: `${name}.f${f + 1}.breaker`, class: 'status', address: f * 10, states: ['open', 'closed'], control: { target: 'coil', address: f } },
      { name: `${name}.f${f + 1}.current`, class: 'telemetry', address: f * 10 + 2, scale: 0.1, unit: 'A', limits: { high: 600 } },
    ]),
  };
}

interface Rig {
  readonly server: GridlinkServer;
  readonly sim: SubstationSimulator;
  readonly simPort: number;
  readonly dir: string;
  readonly file: string;
  readonly logLines: string[];
  /** The config file's content now (what the next reload reads). */
  config: Record<string, unknown>;
  /** Replaces the config file atomically (a reader never sees half of it). */
  write(config: Record<string, unknown>): Promise<void>;
  admin(): Promise<AdminClient>;
}

const rigs: Array<{ stop: () => Promise<void> }> = [];

afterEach(async () => {
  for (const rig of rigs.splice(0).reverse()) await rig.stop();
});

/**
 * A real server started from a config file (as `gridlink serve --config`
 * does), polling a real Modbus TCP device (the substation simulator on its
 * own port, two units), administered over its real admin socket.
 */
async function startRig(configure: (simPort: number) => Record<string, unknown>, derive?: (config: Config) => Config): Promise<Rig> {
  const temp = await makeTempDir('gl-reload-');
  const sim = new SubstationSimulator({ host: HOST, port: 0, units: 2, feeders: 2, noise: false, breakerTravelMs: 0, updateMs: 1_000 });
  const simPort = (await sim.start()).port;
  const file = join(temp.path, 'gridlink.json');
  const dataDir = join(temp.path, 'data');
  const write = async (config: Record<string, unknown>): Promise<void> => {
    rig.config = config;
    await writeFile(`${file}.tmp`, JSON.stringify(config));
    await rename(`${file}.tmp`, file);
  };
  const rig = { config: {} } as Rig & { config: Record<string, unknown> };
  await write({
    dataDir,
    log: { level: 'info' },
    files: { durable: false },
    native: { port: 0 },
    http: { port: 0 },
    legacyChat: { enabled: false },
    ftp: { enabled: false },
    iec104: { enabled: false },
    anonymous: { enabled: true, writable: true, quota: 3 * MiB },
    ...configure(simPort),
  });
  const logLines: string[] = [];
  const destination: DestinationStream = { write: (line: string) => void logLines.push(line) };
  const loaded = await loadConfig(file);
  const config = derive === undefined ? loaded : derivedConfig(loaded, derive);
  const server = await GridlinkServer.start(config, createLogger(config.log.level, destination));
  const clients: AdminClient[] = [];
  rigs.push({
    stop: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await server.stop(1_000);
      await sim.stop();
      await temp.cleanup();
    },
  });
  Object.assign(rig, {
    server,
    sim,
    simPort,
    dir: temp.path,
    file,
    logLines,
    write,
    admin: async () => {
      const client = await AdminClient.connect(join(dataDir, 'admin.sock'));
      clients.push(client);
      return client;
    },
  });
  return rig;
}

/** The rig's config with `scada` replaced. */
function withScada(rig: Rig, scada: Record<string, unknown>): Record<string, unknown> {
  return { ...rig.config, scada };
}

const names = (rig: Rig): string[] => rig.server.scada!.devices().map((d) => d.name);

/** Polls of a device within `ms`. */
async function pollsWithin(rig: Rig, name: string, ms: number): Promise<number> {
  const polls = (): number => rig.server.scada!.devices().find((d) => d.name === name)!.polls;
  const before = polls();
  await new Promise((r) => setTimeout(r, ms));
  return polls() - before;
}

async function refusal(work: Promise<unknown>): Promise<GridlinkError> {
  const err = await work.then(
    () => new Error('the reload succeeded but should have been refused'),
    (e: unknown) => e,
  );
  if (!(err instanceof GridlinkError)) throw err;
  return err;
}

describe('gridlink admin reload (docs/configuration.md "Reload")', () => {
  it('a changed poll period applies without a restart: only that device’s poller restarts, the other keeps polling untouched', async () => {
    const rig = await startRig((port) => ({ scada: { simulator: { enabled: false }, devices: [device('bay1', port, 1, 1_000), device('bay2', port, 2, 1_000)] } }));
    await until(() => rig.server.scada!.points().every((p) => p.quality === 'good'), 10_000, 'every point good');
    expect(await pollsWithin(rig, 'bay1', 1_000)).toBeLessThanOrEqual(2);
    const bay2 = () => rig.server.scada!.devices().find((d) => d.name === 'bay2')!;
    const bay2Before = await until(() => bay2().polls >= 2 && bay2(), 10_000, 'bay2 polled twice');

    await rig.write(withScada(rig, { simulator: { enabled: false }, devices: [device('bay1', rig.simPort, 1, 100), device('bay2', rig.simPort, 2, 1_000)] }));
    const client = await rig.admin();
    const report = await client.reload();
    expect(report).toMatchObject({
      applied: ['scada.devices'],
      restartNeeded: [],
      scada: { devices: { added: 0, removed: 0, restarted: 1, unchanged: 1 }, points: { added: 0, removed: 0, changed: 0 }, names: { devicesRestarted: ['bay1'] } },
    });
    // 100 ms polls now: two seconds hold far more than the three a 1 s period allows (about 20; 4 tolerates a loaded machine).
    expect(await pollsWithin(rig, 'bay1', 2_000)).toBeGreaterThanOrEqual(4);
    // bay2 was not restarted: its count of polls went on from where it was (a new poller starts at 0).
    const bay2After = await until(() => bay2().polls > bay2Before.polls && bay2(), 10_000, 'bay2 polled again');
    expect(bay2After.failures).toBe(0);
    expect(rig.server.scada!.points().every((p) => p.quality === 'good')).toBe(true);
    // The same file again: nothing changes, nothing restarts.
    expect(await client.reload()).toEqual({ applied: [], restartNeeded: [], warnings: [] });
  });

  it('a new device appears and is polled; a removed point is gone with its last event (invalid), its alarm cleared, and the audit says who reloaded', async () => {
    const rig = await startRig((port) => ({ scada: { simulator: { enabled: false }, devices: [device('bay1', port, 1, 200, [0, 1])] } }));
    const scada = rig.server.scada!;
    await until(() => scada.points().every((p) => p.quality === 'good'), 10_000, 'bay1 good');
    // An overcurrent on feeder 2 raises a limit alarm on the point about to be removed.
    rig.sim.freeze(1, 1, { currentA: 650 });
    await until(() => scada.alarms().find((a) => a.source === 'bay1.f2.current' && a.clearedAt === null), 10_000, 'the overcurrent alarm');
    const events: PointEvent[] = [];
    const subscription = rig.server.bus.subscribe('events.bay1.f2.>', (m) => void events.push(m.payload as PointEvent), { maxQueued: 100, policy: 'drop-oldest' });
    try {
      await rig.write(withScada(rig, { simulator: { enabled: false }, devices: [device('bay1', rig.simPort, 1, 200, [0]), device('bay9', rig.simPort, 2, 200)] }));
      const client = await rig.admin();
      const report = await client.reload();
      expect(report.applied).toEqual(['scada.devices']);
      expect(report.scada).toMatchObject({
        devices: { added: 1, removed: 0, restarted: 1, unchanged: 0 },
        points: { added: 2, removed: 2, changed: 0 },
        names: { devicesAdded: ['bay9'], pointsAdded: ['bay9.f1.breaker', 'bay9.f1.current'], pointsRemoved: ['bay1.f2.breaker', 'bay1.f2.current'] },
      });
      expect(names(rig)).toEqual(['bay1', 'bay9']);
      await until(() => scada.points('bay9.>').length === 2 && scada.points('bay9.>').every((p) => p.quality === 'good'), 10_000, 'bay9 polled');
      expect(scada.point('bay9.f1.current').value).toBeCloseTo(rig.sim.snapshot(2, 0).currentA, 5);
      // The removed points: gone from the table, each with a last event saying so.
      expect(scada.points('bay1.f2.*')).toEqual([]);
      await expect(Promise.resolve().then(() => scada.point('bay1.f2.current'))).rejects.toMatchObject({ code: 'GL_ERR_SCADA_NO_POINT' });
      await until(() => events.length >= 2, 5_000, 'the removal events');
      expect(events.map((e) => [e.point, e.value, e.quality, e.kind]).sort()).toEqual([
        ['bay1.f2.breaker', null, 'invalid', 'quality'],
        ['bay1.f2.current', null, 'invalid', 'quality'],
      ]);
      // Also in the history (the sequence of events).
      const stored = scada.events(Date.now() - 60_000, Date.now() + 1, 1_000, 'bay1.f2.*');
      expect(stored.at(-1)).toMatchObject({ value: null, quality: 'invalid' });
      // Nothing could clear its alarm any more: the reload cleared it.
      const alarm = scada.alarms().find((a) => a.source === 'bay1.f2.current');
      expect(alarm).toMatchObject({ state: 'cleared' });
      // bay1's remaining point kept polling (the device restarted with fewer points).
      await until(() => scada.point('bay1.f1.current').quality === 'good', 5_000, 'bay1.f1 good');
      const audit = rig.server.audit.recent(20).find((row) => row.event === 'config.reload');
      expect(audit).toMatchObject({ actor: 'admin-socket', detail: { applied: ['scada.devices'], restartNeeded: [], devices: { added: 1, removed: 0, restarted: 1, unchanged: 0 } } });
    } finally {
      subscription.unsubscribe();
    }
  });

  it('a device given a wrong address is fixed by a reload: its device-lost alarm clears when the restarted poller gets answers; a removed lost device’s alarm clears too', async () => {
    // Nothing listens on the simulator's port + a closed listener's port: take one from the OS and close it.
    const { createServer } = await import('node:net');
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, HOST, () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const rig = await startRig(() => ({ scada: { simulator: { enabled: false }, devices: [device('bay1', closed, 1, 200), device('gone', closed, 2, 200)] } }));
    const scada = rig.server.scada!;
    const lost = (name: string) => scada.alarms().find((a) => a.source === `device:${name}` && a.kind === 'deviceLost');
    await until(() => lost('bay1')?.state === 'active' && lost('gone')?.state === 'active', 10_000, 'both devices lost');
    await rig.write(withScada(rig, { simulator: { enabled: false }, devices: [device('bay1', rig.simPort, 1, 200)] }));
    const report = await (await rig.admin()).reload();
    expect(report.scada?.names).toMatchObject({ devicesRestarted: ['bay1'], devicesRemoved: ['gone'] });
    expect(lost('gone')?.state).toBe('cleared');
    await until(() => lost('bay1')?.state === 'cleared', 10_000, 'bay1 answering, its alarm cleared');
    await until(() => scada.points().every((p) => p.quality === 'good'), 10_000, 'bay1 good');
  });

  it('a bad key changes nothing and names the key; malformed JSON and an unreadable file change nothing either', async () => {
    const rig = await startRig((port) => ({ scada: { simulator: { enabled: false }, devices: [device('bay1', port, 1, 200)] } }));
    const original = rig.config;
    // A valid live change (log level, quota) next to a bad key: none of it may apply.
    await rig.write({ ...original, log: { level: 'warn' }, anonymous: { enabled: true, writable: true, quota: 1 }, scada: { simulator: { enabled: false }, devices: [{ ...device('bay1', rig.simPort, 1, 200), pollMs: 10 }] } });
    let err = await refusal((await rig.admin()).reload());
    expect(err.code).toBe('GL_ERR_CONFIG_INVALID');
    expect(err.message).toContain('scada.devices.0.pollMs');
    await rig.write({ ...original, log: { level: 'warn' }, scada: { simulator: { enabled: false }, pollMS: 100, devices: [device('bay1', rig.simPort, 1, 200)] } });
    err = await refusal((await rig.admin()).reload());
    expect(err.code).toBe('GL_ERR_CONFIG_INVALID');
    expect(err.message).toContain('unknown key scada.pollMS');
    await writeFile(rig.file, '{"log": {"level": "warn"}, ');
    err = await refusal((await rig.admin()).reload());
    expect(err.code).toBe('GL_ERR_CONFIG_READ');
    expect(err.message).toMatch(/not valid JSON/u);
    // Unreadable: a directory where the file was.
    await rm(rig.file);
    await mkdir(rig.file);
    err = await refusal((await rig.admin()).reload());
    expect(err.code).toBe('GL_ERR_CONFIG_READ');
    expect(err.message).toContain(rig.file);

    // Nothing changed: the log level, the quota, the device.
    expect(rig.server.logger.level).toBe('info');
    expect(names(rig)).toEqual(['bay1']);
    const put = await GridlinkClient.connect({ host: HOST, port: rig.server.nativeAddress.port });
    try {
      const source = join(rig.dir, 'one.bin');
      await writeRandomFile(source, 64 * 1024);
      await put.put(source, 'one.bin');
    } finally {
      await put.close();
    }
    const refusals = rig.logLines.filter((l) => l.includes('"config.reload_refused"'));
    expect(refusals).toHaveLength(4);
    expect(refusals.join('')).toContain('scada.devices.0.pollMs');
    // A good file again applies.
    await rm(rig.file, { recursive: true });
    await rig.write(original);
    expect(await (await rig.admin()).reload()).toEqual({ applied: [], restartNeeded: [], warnings: [] });
  });

  it('quotas and the log level apply at once; a key that needs a restart (a port) is named, not applied, and stays named until then', async () => {
    const rig = await startRig(() => ({ scada: { enabled: false } }));
    const client = await rig.admin();
    const source = join(rig.dir, 'two.bin');
    await writeRandomFile(source, 2 * MiB);
    const put = await GridlinkClient.connect({ host: HOST, port: rig.server.nativeAddress.port });
    try {
      await put.put(source, 'first.bin');
      const nativePort = rig.server.nativeAddress.port;
      await rig.write({ ...rig.config, log: { level: 'warn' }, anonymous: { enabled: true, writable: true, quota: 8 * MiB }, files: { durable: false, maxEntries: 2 }, native: { port: nativePort + 1 }, http: { port: 0, enabled: false } });
      const linesBefore = rig.logLines.length;
      const report = await client.reload();
      expect(report.applied.sort()).toEqual(['anonymous.quota', 'files.maxEntries', 'log.level']);
      expect(report.restartNeeded.sort()).toEqual(['http.enabled', 'native.port']);
      expect(rig.server.logger.level).toBe('warn');
      // Info lines are gone, children included (the admin socket logs each command at info).
      await client.status();
      expect(rig.logLines.slice(linesBefore).filter((l) => l.includes('"admin.command"'))).toEqual([]);
      // 8 MiB: a second 2 MiB file fits now where 3 MiB refused it; maxEntries 2 stops the third.
      await put.put(source, 'second.bin');
      expect(await refusal(put.put(source, 'third.bin')).then((e) => e.code)).toBe('GL_ERR_FILE_TOO_MANY_ENTRIES');
      // The port was not applied: the server still listens where it did, the web HMI still runs.
      expect(rig.server.nativeAddress.port).toBe(nativePort);
      const again = await GridlinkClient.connect({ host: HOST, port: nativePort });
      await again.close();
      expect(rig.server.httpAddress).not.toBeNull();
      expect((await send(rig.server.httpAddress!.port, 'GET', '/api/session')).status).toBe(401);
      // Reloading the same file names them again (the server still runs without them) and applies nothing.
      expect(await client.reload()).toEqual({ applied: [], restartNeeded: ['native.port', 'http.enabled'], warnings: [] });
      // gridlink admin status shows them too, with the file and the reloads done.
      expect((await client.status())['config']).toMatchObject({ file: rig.file, reloads: 2, restartPending: ['native.port', 'http.enabled'] });
    } finally {
      await put.close();
    }
  });

  it('reloads racing each other run one at a time, and the last file read is what runs (no poller is started twice)', async () => {
    const rig = await startRig((port) => ({ scada: { simulator: { enabled: false }, devices: [device('dev0', port, 1, 200)] } }));
    const clients = await Promise.all([0, 1, 2, 3, 4].map(() => rig.admin()));
    // The same change asked five times at once: exactly one reload finds it to do.
    await rig.write(withScada(rig, { simulator: { enabled: false }, devices: [device('dev0', rig.simPort, 1, 200), device('extra', rig.simPort, 2, 200)] }));
    const reports = await Promise.all(clients.map((c) => c.reload()));
    expect(reports.filter((r) => r.scada?.devices.added === 1)).toHaveLength(1);
    expect(reports.filter((r) => r.applied.length === 0)).toHaveLength(4);
    expect(names(rig)).toEqual(['dev0', 'extra']);
    // Files written while reloads are in flight: the last one written is the one running at the end.
    const pending: Promise<unknown>[] = [];
    for (let i = 1; i <= 5; i += 1) {
      await rig.write(withScada(rig, { simulator: { enabled: false }, devices: [device(`dev${i}`, rig.simPort, 1 + (i % 2), 200)] }));
      pending.push(clients[i - 1]!.reload());
    }
    await Promise.all(pending);
    expect(names(rig)).toEqual(['dev5']);
    expect(rig.server.scada!.points().map((p) => p.name)).toEqual(['dev5.f1.breaker', 'dev5.f1.current']);
    // One poller runs, so the simulator holds one client connection.
    await until(() => rig.sim.connections === 1, 5_000, 'one connection to the device');
    await until(() => rig.server.scada!.points().every((p) => p.quality === 'good'), 5_000, 'dev5 polled');
  });

  it('with gridlink’s own IEC 104 station running, new points are polled, a lib60870 master is told (M_EI_NA_1, parameters changed) and its next interrogation has them', async () => {
    const rig = await startRig((port) => ({ iec104: { enabled: true, port: 0 }, scada: { simulator: { enabled: false }, devices: [device('bay1', port, 1, 200)] } }));
    const master = await startMaster({ port: rig.server.iec104Address!.port, startdt: true });
    try {
      const before = await master.interrogate();
      expect(new Set(before.objects.map((o) => o.ioa)).size).toBe(2);
      // A change before the reload: the station remembers the breaker's point (in the bus channel's memo) from the map it serves now.
      const breaker = rig.server.scada!.points('bay1.f1.breaker')[0]!;
      const closedBefore = breaker.value === 1;
      const changed = (since: number): Promise<AsduEvent> =>
        master.next((e): e is AsduEvent => isAsdu(e) && e.cot === COT.SPONTANEOUS && e.objects.some((o) => o.ioa === breaker.ioa), 10_000, since);
      const valueIn = (asdu: AsduEvent): unknown => asdu.objects.find((o) => o.ioa === breaker.ioa)?.value;
      let since = master.events.length;
      rig.sim.setBreaker(1, 0, !closedBefore);
      expect(valueIn(await changed(since))).toBe(closedBefore ? 1 : 2); // double point: 1 off, 2 on
      await rig.write(withScada(rig, { simulator: { enabled: false }, devices: [device('bay1', rig.simPort, 1, 200), device('bay9', rig.simPort, 2, 200)] }));
      const from = master.events.length;
      const report = await (await rig.admin()).reload();
      expect(report.applied).toEqual(['scada.devices']);
      expect(report.warnings).toEqual([]);
      // End of initialization: COI 1 (local manual reset) with BS1 set (after a change of local parameters).
      const endOfInit = (await master.next((e) => isAsdu(e) && e.type === TYPE.M_EI_NA_1, 10_000, from)) as AsduEvent;
      expect(endOfInit).toMatchObject({ cot: COT.INITIALIZED, ca: 1, negative: false });
      expect(endOfInit.objects).toEqual([expect.objectContaining({ ioa: 0, value: 0x81 })]);
      await until(() => rig.server.scada!.points('bay9.>').every((p) => p.quality === 'good'), 10_000, 'bay9 polled');
      const after = await master.interrogate();
      const served = new Set(after.objects.map((o) => o.ioa));
      expect(served.size).toBe(4);
      for (const point of rig.server.scada!.points()) expect(served.has(point.ioa), point.name).toBe(true);
      // A change after the reload reaches the new map, not the remembered point of the old one: the next interrogation has it.
      since = master.events.length;
      rig.sim.setBreaker(1, 0, closedBefore);
      expect(valueIn(await changed(since))).toBe(closedBefore ? 2 : 1);
      const last = await master.interrogate();
      expect(last.objects.find((o) => o.ioa === breaker.ioa)?.value).toBe(closedBefore ? 2 : 1);
    } finally {
      await master.stop();
    }
  });

  it('points the IEC 104 station cannot map (a breaker sent as a float) leave the station on its previous map, said in the reply; the data plane runs them', async () => {
    const rig = await startRig((port) => ({ iec104: { enabled: true, port: 0 }, scada: { simulator: { enabled: false }, devices: [device('bay1', port, 1, 200)] } }));
    const master = await startMaster({ port: rig.server.iec104Address!.port, startdt: true });
    try {
      const odd = device('bay9', rig.simPort, 2, 200);
      const points = odd['points'] as Record<string, unknown>[];
      points[0] = { ...points[0], iec104: { type: 'float' } };
      await rig.write(withScada(rig, { simulator: { enabled: false }, devices: [device('bay1', rig.simPort, 1, 200), odd] }));
      const from = master.events.length;
      const report = await (await rig.admin()).reload();
      expect(report.applied).toEqual(['scada.devices']);
      expect(report.warnings).toEqual(['the IEC 104 station keeps serving its previous points: point bay9.f1.breaker: a status point cannot be sent as float (iec104.type)']);
      expect(names(rig)).toEqual(['bay1', 'bay9']);
      // No end of initialization: nothing changed for the masters.
      const gi = await master.interrogate();
      expect(new Set(gi.objects.map((o) => o.ioa)).size).toBe(2);
      expect(master.events.slice(from).some((e) => isAsdu(e) && e.type === TYPE.M_EI_NA_1)).toBe(false);
    } finally {
      await master.stop();
    }
  });

  it('values the command line set beyond the file (as serve does for --cluster, --node) are applied again to what a reload reads, not taken for changes', async () => {
    const rig = await startRig(() => ({ scada: { enabled: false } }), (config) => ({ ...config, native: { ...config.native, maxConnectionsPerAddress: 9 } }));
    expect(rig.server.config.native.maxConnectionsPerAddress).toBe(9);
    await rig.write({ ...rig.config, log: { level: 'debug' } });
    expect(await (await rig.admin()).reload()).toEqual({ applied: ['log.level'], restartNeeded: [], warnings: [] });
  });

  it('a server on its embedded defaults (no --config) has no file to re-read, and says so', async () => {
    const server = await startTestServer({ scada: { enabled: false }, http: { enabled: false } });
    rigs.push(server);
    const client = await AdminClient.connect(join(server.dataDir, 'admin.sock'));
    try {
      const err = await refusal(client.reload());
      expect(err.code).toBe('GL_ERR_CONFIG_READ');
      expect(err.message).toContain('start it with --config FILE');
    } finally {
      await client.close().catch(() => undefined);
    }
  });

  it('web sessions survive a reload', async () => {
    const rig = await startRig(() => ({ scada: { enabled: false } }));
    const password = await readFile(join(rig.dir, 'data', 'initial-admin-password'), 'utf8');
    const port = rig.server.httpAddress!.port;
    const session = await login(port, 'admin', password.trim());
    expect((await send(port, 'GET', '/api/session', { cookie: session.cookie })).status).toBe(200);
    await rig.write({ ...rig.config, log: { level: 'debug' }, http: { port: 0, sessionIdleMinutes: 5 } });
    const report = await (await rig.admin()).reload();
    expect(report).toMatchObject({ applied: ['log.level'], restartNeeded: ['http.sessionIdleMinutes'] });
    expect((await send(port, 'GET', '/api/session', { cookie: session.cookie })).status).toBe(200);
  });
});
