import { auditEntry, type UserActor } from '../accounts/actor.js';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { AuditLog } from '../accounts/audit-log.js';
import { hasRole } from '../accounts/roles.js';
import type { Bus, Channel, Subscription } from '../bus/bus.js';
import type { DeviceConfig, ScadaConfig } from '../config/scada-schema.js';
import { GridlinkError } from '../errors/index.js';
import type { DeviceDriver, DeviceSink, PointUpdate } from './acquisition/device-driver.js';
import { Iec104Device } from './acquisition/iec104-device.js';
import { ModbusPoller, type PollSink, type Reading } from './acquisition/modbus-poller.js';
import { AlarmBook } from './alarm-book.js';
import { ControlDesk } from './control-desk.js';
import { HistoryStore } from './history-store.js';
import type { HistoryWriterStats } from './history-writer.js';
import type { OwnedDevice, ScadaCluster } from './scada-cluster.js';
import { pointMatcher } from './point-pattern.js';
import { PointTable, shownOf, snapshotOf, type PointChange, type PointEntry, type TableChanges } from './point-table.js';
import { SubstationSimulator } from './simulator/substation-simulator.js';
import { simulatorDevices } from './simulator/simulator-devices.js';
import { DemoScenario } from './simulator/demo-scenario.js';
import { SCADA_TOPICS, type Alarm, type DeviceStatus, type HistorySample, type OperateResult, type PointEvent, type PointSnapshot, type ScadaApi, type ScadaMetrics, type SelectLease } from '../protocol/scada.js';

/** The channels a point publishes on: its snapshots (`value`) and its events. */
interface PointChannels {
  readonly value: Channel;
  readonly event: Channel;
}

interface FeedbackWaiter {
  readonly entry: PointEntry;
  readonly value: number;
  readonly after: number;
  readonly tolerance: number;
  readonly resolve: (confirmed: boolean) => void;
}

/** IEC 104 stations are connected within this long of each other at start-up (their first interrogations spread out). */
const IEC104_START_SPREAD_MS = 1_000;

const HOUR_MS = 3_600_000;

/** What a reload changed in the data plane (docs/configuration.md "Reload"). */
export interface ScadaReload {
  readonly devicesAdded: readonly string[];
  readonly devicesRemoved: readonly string[];
  /** Devices whose settings or points changed: their drivers were stopped and started anew. */
  readonly devicesRestarted: readonly string[];
  readonly devicesUnchanged: number;
  readonly pointsAdded: readonly string[];
  readonly pointsRemoved: readonly string[];
  /** Points whose configuration changed: they start afresh (their next value is an event). */
  readonly pointsChanged: readonly string[];
}

export interface ScadaServiceOptions {
  readonly config: ScadaConfig;
  readonly dataDir: string;
  readonly bus: Bus;
  readonly audit: AuditLog;
  readonly logger: Logger;
  /** The parts shared with the other nodes of a cluster (docs/cluster.md); absent in one process. */
  readonly cluster?: ScadaCluster;
}

/**
 * The SCADA data plane (docs/protocol.md §3.6) in one place: the built-in simulator (when
 * on), one driver per device (a Modbus poller or an IEC 104 controlling
 * station, docs/iec104.md "Controlling station"), the real-time point table,
 * events on the bus and in history, alarms, and select-before-operate
 * control. Front ends (the native protocol, the web HMI) see it through
 * {@link ScadaApi}.
 */
export class ScadaService implements ScadaApi, PollSink, DeviceSink {
  readonly simulator: SubstationSimulator | null;
  readonly simulatorAddress: AddressInfo | null;
  readonly #bus: Bus;
  readonly #audit: AuditLog;
  readonly #history: HistoryStore;
  readonly #table: PointTable;
  readonly #alarms: AlarmBook;
  readonly #desk: ControlDesk;
  readonly #drivers = new Map<string, DeviceDriver>();
  readonly #waiters = new Map<string, Set<FeedbackWaiter>>();
  readonly #topics = new Map<PointEntry, PointChannels>();
  readonly #logger: Logger;
  /** The parts shared with the other nodes of a cluster (docs/cluster.md); null in one process. */
  readonly #cluster: ScadaCluster | null;
  #remote: Subscription | null = null;
  /** The simulator's settings as started: the generated devices follow them (only their pollMs may change). */
  readonly #simulatorConfig: ScadaConfig['simulator'];
  /** Each device's configuration, as its driver runs it. */
  #devices = new Map<string, DeviceConfig>();
  #retentionMs: number;
  #acquiring = false;
  /** Devices restarted by a reload while lost: the first answer of the new driver clears their alarm. */
  readonly #lostAtRestart = new Set<string>();
  #retentionTimer: NodeJS.Timeout | null = null;
  /** The simulator's demo scenario (docs/configuration.md "Demo scenario"), when it runs. */
  #scenario: DemoScenario | null = null;
  #events = 0;
  #readings = 0;

  private constructor(options: ScadaServiceOptions, simulator: SubstationSimulator | null, simulatorAddress: AddressInfo | null, devices: DeviceConfig[]) {
    this.simulator = simulator;
    this.simulatorAddress = simulatorAddress;
    this.#bus = options.bus;
    this.#audit = options.audit;
    this.#cluster = options.cluster ?? null;
    this.#retentionMs = options.config.history.retentionDays * 24 * HOUR_MS;
    this.#simulatorConfig = options.config.simulator;
    this.#history = new HistoryStore(join(options.dataDir, 'history.db'), { logger: options.logger.child({ service: 'scada' }) });
    this.#table = new PointTable(devices);
    this.#alarms = new AlarmBook(this.#history, (alarm) => this.#bus.publish(SCADA_TOPICS.alarm(alarm.source), alarm), options.cluster?.alarms);
    this.#desk = new ControlDesk(
      {
        point: (name) => this.#table.get(name),
        command: (entry, value) => {
          const driver = this.#drivers.get(entry.device);
          // Only between a reload removing the device and the desk seeing the point gone.
          if (driver === undefined) throw new GridlinkError('GL_ERR_SCADA_NO_POINT', `${entry.config.name} (its device ${entry.device} was removed)`);
          const send = driver.command(entry, value);
          // In a cluster the device's owner writes it, whichever node the operator is on (docs/cluster.md).
          const owners = this.#cluster?.owners;
          if (owners === undefined || owners.owns(entry.device)) return send;
          return () => owners.command(entry.device, entry.config.name, value);
        },
        feedback: (entry, value, after, timeoutMs) => this.#feedback(entry, value, after, timeoutMs),
        failed: (point, message) => this.#alarms.commandFailed(point, message, Date.now()),
        succeeded: (point) => this.#alarms.commandSucceeded(point, Date.now()),
      },
      options.audit,
      options.config.selectTimeoutMs,
      options.cluster?.leases,
    );
    this.#logger = options.logger.child({ service: 'scada' });
    for (const device of devices) this.#addDriver(device);
  }

  #addDriver(device: DeviceConfig): DeviceDriver {
    const driver = device.protocol === 'iec104' ? new Iec104Device(device, this.#table.ofDevice(device.name), this, this.#logger) : new ModbusPoller(device, this, this.#logger);
    this.#drivers.set(device.name, driver);
    this.#devices.set(device.name, device);
    return driver;
  }

  static async start(options: ScadaServiceOptions): Promise<ScadaService> {
    const { config, logger } = options;
    let simulator: SubstationSimulator | null = null;
    let address: AddressInfo | null = null;
    if (config.simulator.enabled) {
      const sim = config.simulator;
      simulator = new SubstationSimulator({ host: sim.host, port: sim.port, units: sim.units, feeders: sim.feeders, noise: sim.noise, breakerTravelMs: sim.breakerTravelMs, updateMs: sim.updateMs, logger });
      address = await simulator.start();
    }
    const devices = config.devices ?? (address === null ? [] : simulatorDevices(config.simulator, config.simulator.host, address.port));
    let service: ScadaService;
    try {
      service = new ScadaService(options, simulator, address, devices);
    } catch (err) {
      await simulator?.stop();
      throw err;
    }
    service.#scenario = scenarioFor(config, simulator, logger);
    // In a cluster the alarms of every node are this node's too (docs/cluster.md, "Alarms").
    const sharedAlarms = options.cluster?.alarms;
    if (sharedAlarms !== undefined) {
      try {
        await sharedAlarms.follow(service.#history.maxAlarmId(), (alarm) => service.#alarms.apply(alarm));
      } catch (err) {
        await service.stop();
        throw err;
      }
    }
    await options.cluster?.history?.follow((events) => service.#history.insertRemote(events));
    service.#prune();
    service.#retentionTimer = setInterval(() => service.#prune(), HOUR_MS);
    service.#retentionTimer.unref();
    logger.info({ event: 'scada.started', devices: devices.length, points: service.#table.size, simulator: address === null ? false : `${address.address}:${address.port}` }, 'SCADA data plane running');
    return service;
  }

  /**
   * Starts polling, the devices spread over their poll period. Called once
   * the whole server is up: a first poll racing the rest of start-up (which
   * blocks the event loop for a moment) would time out and raise a false
   * device-loss alarm.
   */
  startAcquisition(): void {
    this.#acquiring = true;
    this.#scenario?.start();
    const owners = this.#cluster?.owners;
    if (owners === undefined) {
      this.#startDrivers([...this.#drivers.values()]);
      return;
    }
    // A cluster node polls only the devices it owns; the others' values come over the bus (docs/cluster.md).
    this.#remote = this.#bus.subscribe('events.>', (message) => this.#fromRemote(message.payload), { maxQueued: 100_000, policy: 'drop-oldest' });
    // What the owners published before this node listened: a value that did not change since is current.
    this.#cluster?.points?.load().then(
      (events) => events.forEach((event) => this.#fromRemote(event, true)),
      (err: unknown) => this.#logger.warn({ event: 'scada.cluster_values_unavailable', err }, 'the latest values of the cluster could not be read: points show values as they change'),
    );
    owners.start([...this.#devices.values()].map(ownedOf), {
      acquire: (name) => {
        const device = this.#devices.get(name);
        if (device === undefined) return;
        // Lost under the previous owner (the alarm is shared): the first answer to this node clears it.
        if (this.#alarms.activeFor(`device:${name}`) !== undefined) this.#lostAtRestart.add(name);
        // A driver runs once: a device taken (again) gets a fresh one.
        this.#startDrivers([this.#addDriver(device)]);
      },
      release: async (name) => {
        await this.#drivers.get(name)?.stop();
      },
      execute: (point, value, from) => {
        const entry = this.#table.get(point);
        const driver = entry === undefined ? undefined : this.#drivers.get(entry.device);
        if (entry === undefined || driver === undefined) return Promise.reject(new GridlinkError('GL_ERR_SCADA_NO_POINT', point));
        const send = driver.command(entry, value);
        // The operator is audited on their node; the node that writes to the device says who asked.
        this.#audit.record({ event: 'control.routed', actor: `node:${from}`, detail: { point, value } });
        return send();
      },
    });
  }

  /** Which node acquires each device (cluster only): device name to node name, null while nobody does. */
  owners(): Record<string, string | null> | null {
    const owners = this.#cluster?.owners;
    if (owners === undefined) return null;
    return Object.fromEntries([...this.#devices.keys()].map((name) => [name, owners.ownerOf(name)]));
  }

  /**
   * An event of a device another node acquires: its value, quality and
   * times become this node's (no event again: the owner numbered, stored and
   * published it), and a command waiting for that feedback is confirmed.
   * An operator's substitute is shown on the node it was made on only.
   * A value read from the cluster's latest values (`stored`) only fills a
   * point that has none yet: the live events are newer. Live events apply
   * in the order they come, whatever the owners' clocks say.
   */
  #fromRemote(payload: unknown, stored = false): void {
    const event = payload as Partial<PointEvent> | null;
    if (event === null || typeof event !== 'object' || typeof event.point !== 'string' || typeof event.serverTime !== 'number' || typeof event.quality !== 'string') return;
    if (event.quality === 'substituted') return;
    const entry = this.#table.get(event.point);
    if (entry === undefined || this.#cluster?.owners?.owns(entry.device) !== false) return;
    if (event.value !== null && typeof event.value !== 'number') return;
    if (stored && entry.serverTime !== null) return;
    entry.value = event.value ?? null;
    entry.quality = event.quality;
    entry.sourceTime = typeof event.sourceTime === 'number' ? event.sourceTime : event.serverTime;
    entry.serverTime = event.serverTime;
    entry.reported = entry.value;
    const waiters = this.#waiters.get(event.point);
    if (waiters !== undefined) for (const waiter of [...waiters]) if (confirms(waiter, event.serverTime)) waiter.resolve(true);
  }

  #startDrivers(drivers: readonly DeviceDriver[]): void {
    // Spread the devices over the poll period: 200 devices polled in one burst
    // would keep the event loop busy in chunks and delay each other's replies.
    const pollers: ModbusPoller[] = [];
    const stations: Iec104Device[] = [];
    for (const driver of drivers) {
      if (driver instanceof ModbusPoller) pollers.push(driver);
      else if (driver instanceof Iec104Device) stations.push(driver);
    }
    pollers.forEach((poller, i) => poller.start(Math.floor((i * poller.device.pollMs) / pollers.length)));
    stations.forEach((station, i) => station.start(Math.floor((i * IEC104_START_SPREAD_MS) / stations.length)));
  }

  /**
   * Applies a reloaded `scada` configuration (docs/configuration.md
   * "Reload"): devices, their points, the simulator's poll period (for the
   * devices generated for it), the select timeout and the history retention.
   * Only the drivers of devices that were added or whose configuration
   * changed start; unchanged devices keep polling untouched, and their
   * points keep their values. A removed point's last event reports it
   * invalid, its alarms clear and its selection is released. The caller
   * serialises reloads and keeps the settings that need a restart out of
   * `next` (the simulator's address and size).
   */
  async reconfigure(next: ScadaConfig): Promise<ScadaReload> {
    this.#desk.setSelectTimeout(next.selectTimeoutMs);
    this.#retentionMs = next.history.retentionDays * 24 * HOUR_MS;
    const address = this.simulatorAddress;
    const devices = next.devices ?? (address === null ? [] : simulatorDevices({ ...this.#simulatorConfig, pollMs: next.simulator.pollMs }, this.#simulatorConfig.host, address.port));
    const wanted = new Map(devices.map((device) => [device.name, device]));
    const removed: string[] = [];
    const restarted: string[] = [];
    const added: string[] = [];
    for (const [name, device] of this.#devices) {
      const want = wanted.get(name);
      if (want === undefined) removed.push(name);
      else if (!isDeepStrictEqual(want, device)) restarted.push(name);
    }
    for (const name of wanted.keys()) if (!this.#devices.has(name)) added.push(name);
    // Stop first: no driver of the old configuration reports into the new table.
    const stopping = [...removed, ...restarted];
    await Promise.all(stopping.map(async (name) => this.#drivers.get(name)?.stop()));
    for (const name of stopping) {
      if (this.#drivers.get(name)?.online === false && restarted.includes(name)) this.#lostAtRestart.add(name);
      else this.#lostAtRestart.delete(name);
      this.#drivers.delete(name);
      this.#devices.delete(name);
    }
    const changes = this.#table.reconfigure(devices);
    const now = Date.now();
    this.#retire(changes, now);
    for (const name of removed) this.#alarms.clearSource(`device:${name}`, now);
    const started = [...restarted, ...added].map((name) => this.#addDriver(wanted.get(name)!));
    const owners = this.#cluster?.owners;
    if (owners !== undefined) {
      if (this.#acquiring) this.#startDrivers(started.filter((driver) => owners.owns(driver.name)));
      await owners.setDevices(devices.map(ownedOf));
    } else if (this.#acquiring) this.#startDrivers(started);
    // Keep the configuration order (what devices() and metrics show).
    this.#devices = new Map(devices.map((device) => [device.name, this.#devices.get(device.name)!]));
    const drivers = new Map(devices.map((device) => [device.name, this.#drivers.get(device.name)!]));
    this.#drivers.clear();
    for (const [name, driver] of drivers) this.#drivers.set(name, driver);
    const summary: ScadaReload = {
      devicesAdded: added,
      devicesRemoved: removed,
      devicesRestarted: restarted,
      devicesUnchanged: devices.length - added.length - restarted.length,
      pointsAdded: changes.added.map((e) => e.config.name),
      pointsRemoved: changes.removed.map((e) => e.config.name),
      pointsChanged: changes.replaced.map((c) => c.after.config.name),
    };
    this.#logger.info({ event: 'scada.reconfigured', devicesAdded: added.length, devicesRemoved: removed.length, devicesRestarted: restarted.length, pointsAdded: summary.pointsAdded.length, pointsRemoved: summary.pointsRemoved.length, pointsChanged: summary.pointsChanged.length }, 'SCADA configuration reloaded');
    return summary;
  }

  /**
   * The other side of a table change: a removed point's last event says it
   * is gone (value null, quality invalid), its alarms clear and its
   * selection is released; commands waiting on the feedback of an entry
   * that is no longer in the table fail.
   */
  #retire(changes: TableChanges, now: number): void {
    for (const entry of changes.removed) {
      const name = entry.config.name;
      entry.value = null;
      entry.quality = 'invalid';
      entry.substitute = null;
      entry.serverTime = now;
      this.#emit({ entry, kind: 'quality' }, now);
      this.#alarms.clearSource(name, now);
      this.#desk.forget(name);
      this.#topics.delete(entry);
      this.#endWaiters(name);
    }
    for (const { before, after } of changes.replaced) {
      this.#topics.delete(before);
      this.#endWaiters(before.config.name);
      if (after.config.limits === undefined) this.#alarms.clearSource(after.config.name, now, ['limit']);
      // A value kept across the change is judged by the new limits now, not at its next move.
      else if (after.quality === 'good' && after.value !== null) this.#alarms.checkLimits(after.config, after.value, now);
    }
  }

  #endWaiters(point: string): void {
    const waiters = this.#waiters.get(point);
    if (waiters !== undefined) for (const waiter of [...waiters]) waiter.resolve(false);
  }

  async stop(): Promise<void> {
    if (this.#retentionTimer !== null) clearInterval(this.#retentionTimer);
    this.#remote?.unsubscribe();
    await this.#cluster?.owners?.stop();
    await this.#cluster?.history?.close();
    this.#scenario?.stop();
    this.#desk.close();
    await Promise.all([...this.#drivers.values()].map((d) => d.stop()));
    for (const waiters of this.#waiters.values()) for (const w of waiters) w.resolve(false);
    this.#waiters.clear();
    await this.#history.close();
    await this.simulator?.stop();
  }

  metrics(): ScadaMetrics {
    let online = 0;
    let unknown = 0;
    for (const driver of this.#drivers.values()) {
      if (driver.online) online += 1;
      if (driver instanceof Iec104Device) unknown += driver.unknownObjects;
    }
    return {
      devices: this.#drivers.size,
      devicesOnline: online,
      points: this.#table.size,
      readings: this.#readings,
      events: this.#events,
      activeAlarms: this.#alarms.open().filter((a) => a.clearedAt === null).length,
      unknownObjects: unknown,
      history: historyMetrics(this.#history.writer),
      ...(this.#cluster?.owners === undefined ? {} : { owners: this.owners()! }),
    };
  }

  // --- ScadaApi ---

  points(pattern?: string): PointSnapshot[] {
    return this.#table.list(pattern).map((entry) => this.#snapshot(entry));
  }

  point(name: string): PointSnapshot {
    const entry = this.#table.get(name);
    if (entry === undefined) throw new GridlinkError('GL_ERR_SCADA_NO_POINT', name);
    return this.#snapshot(entry);
  }

  devices(): DeviceStatus[] {
    return [...this.#drivers.values()].map((d) => d.status());
  }

  history(point: string, since: number, until: number, limit: number, offset = 0): HistorySample[] {
    checkRange(since, until);
    const rows = this.#history.history(point, since, until, limit, offset);
    if (rows.length === 0 && offset === 0 && this.#table.get(point) === undefined) throw new GridlinkError('GL_ERR_SCADA_NO_POINT', point);
    return rows;
  }

  events(since: number, until: number, limit: number, pattern?: string, offset = 0): PointEvent[] {
    checkRange(since, until);
    return this.#history.events(since, until, limit, pointMatcher(pattern), offset);
  }

  alarms(options: { includeCleared?: boolean } = {}): Alarm[] {
    return options.includeCleared === true ? this.#alarms.recent(1_000) : this.#alarms.open();
  }

  acknowledge(actor: UserActor, alarmId: number): Alarm {
    if (!hasRole(actor.identity.role, 'operator')) throw new GridlinkError('GL_ERR_AUTH_FORBIDDEN', `acknowledging needs the operator role; ${actor.identity.name} is a ${actor.identity.role}`);
    const alarm = this.#alarms.acknowledge(alarmId, actor.identity.name, Date.now());
    this.#audit.record(auditEntry(actor, 'alarm.ack', { alarm: alarmId, source: alarm.source, kind: alarm.kind }));
    return alarm;
  }

  select(actor: UserActor, point: string): SelectLease | Promise<SelectLease> {
    return this.#desk.select(actor, point);
  }

  deselect(actor: UserActor, point: string): void {
    this.#desk.deselect(actor, point);
  }

  operate(actor: UserActor, point: string, value: number): Promise<OperateResult> {
    return this.#desk.operate(actor, point, value);
  }

  releaseConnection(connection: string): void {
    this.#desk.releaseConnection(connection);
  }

  substitute(actor: UserActor, point: string, value: number | null): PointSnapshot {
    if (!hasRole(actor.identity.role, 'operator')) throw new GridlinkError('GL_ERR_AUTH_FORBIDDEN', `substituting needs the operator role; ${actor.identity.name} is a ${actor.identity.role}`);
    const entry = this.#table.get(point);
    if (entry === undefined) throw new GridlinkError('GL_ERR_SCADA_NO_POINT', point);
    if (value !== null && !Number.isFinite(value)) throw new GridlinkError('GL_ERR_SCADA_BAD_VALUE', `${value}`);
    const binary = entry.config.class === 'status' || entry.config.class === 'control';
    if (value !== null && binary && value !== 0 && value !== 1) throw new GridlinkError('GL_ERR_SCADA_BAD_VALUE', `${point} takes 0 or 1`);
    const lease = this.#desk.lease(point);
    if (value !== null && lease !== undefined) throw new GridlinkError('GL_ERR_SCADA_SELECTED', `${point} is selected by ${lease.holder}; substitute it when nobody holds it`);
    const now = Date.now();
    const change = this.#table.substitute(entry, value, actor.identity.name, now);
    this.#audit.record(auditEntry(actor, value === null ? 'point.unsubstitute' : 'point.substitute', { point, value }));
    if (change !== null) this.#emit(change, now);
    return this.#snapshot(entry);
  }

  // --- PollSink ---

  readings(device: string, readings: readonly Reading[], sourceTime: number): void {
    const now = Date.now();
    if (this.#lostAtRestart.size > 0 && this.#lostAtRestart.delete(device)) this.#alarms.deviceRestored(device, now);
    this.#readings += readings.length;
    for (const change of this.#table.applyReadings(readings, sourceTime, now)) this.#emit(change, now);
    if (this.#waiters.size === 0) return;
    for (const reading of readings) {
      const waiters = this.#waiters.get(reading.point);
      if (waiters === undefined) continue;
      const entry = this.#table.get(reading.point)!;
      for (const waiter of waiters) {
        if (entry.quality === 'good' && entry.value !== null && entry.sourceTime !== null && entry.sourceTime >= waiter.after && Math.abs(entry.value - waiter.value) <= waiter.tolerance) waiter.resolve(true);
      }
    }
  }

  // --- DeviceSink ---

  updates(device: string, updates: readonly PointUpdate[], receivedAt: number): void {
    if (this.#lostAtRestart.size > 0 && this.#lostAtRestart.delete(device)) this.#alarms.deviceRestored(device, receivedAt);
    this.#readings += updates.length;
    const table = this.#table;
    for (const update of updates) {
      const change = table.applyUpdate(update.entry, update.raw, update.quality, update.sourceTime, receivedAt);
      if (change !== null) this.#emit(change, receivedAt);
    }
    if (this.#waiters.size === 0) return;
    for (const update of updates) {
      const waiters = this.#waiters.get(update.entry.config.name);
      if (waiters === undefined) continue;
      for (const waiter of waiters) if (confirms(waiter, receivedAt)) waiter.resolve(true);
    }
  }

  lost(device: string, reason: string): void {
    const now = Date.now();
    for (const change of this.#table.setDeviceQuality(device, 'invalid', now)) this.#emit(change, now);
    this.#alarms.deviceLost(device, reason, now);
  }

  restored(device: string): void {
    this.#lostAtRestart.delete(device);
    this.#alarms.deviceRestored(device, Date.now());
  }

  // --- inside ---

  #emit(change: PointChange, now: number): void {
    const entry = change.entry;
    const shown = shownOf(entry);
    if (change.kind === 'change' && shown.quality === 'good' && shown.value !== null) this.#alarms.checkLimits(entry.config, shown.value, now);
    const event: PointEvent = { seq: this.#history.takeSeq(), point: entry.config.name, value: shown.value, quality: shown.quality, sourceTime: shown.sourceTime ?? now, serverTime: now, kind: change.kind };
    this.#events += 1;
    this.#history.record(event);
    const cluster = this.#cluster;
    if (cluster !== null && cluster.owners?.owns(entry.device) !== false) {
      cluster.points?.record(event);
      cluster.history?.publish(event);
    }
    const channels = this.#channelsOf(entry);
    if (channels.value.hasSubscribers()) channels.value.publish(this.#snapshot(entry));
    channels.event.publish(event);
  }

  /**
   * A point's bus channels, made once (src/bus/bus.ts `Channel`): the bus
   * finds a channel's subscriptions again only when one came or went, not
   * at each of 20,000 events a second.
   */
  #channelsOf(entry: PointEntry): PointChannels {
    let channels = this.#topics.get(entry);
    if (channels === undefined) {
      channels = { value: this.#bus.channel(SCADA_TOPICS.value(entry.config.name)), event: this.#bus.channel(SCADA_TOPICS.event(entry.config.name)) };
      this.#topics.set(entry, channels);
    }
    return channels;
  }

  #snapshot(entry: PointEntry): PointSnapshot {
    const snapshot = snapshotOf(entry);
    const alarm = this.#alarms.activeFor(entry.config.name);
    return alarm === undefined ? snapshot : { ...snapshot, alarm: alarm.state };
  }

  #feedback(entry: PointEntry, value: number, after: number, timeoutMs: number): Promise<boolean> {
    const name = entry.config.name;
    const binary = entry.config.class === 'status' || entry.config.class === 'control';
    const tolerance = binary ? 0 : Math.abs(entry.config.scale) / 2 + 1e-9;
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(name);
      if (waiters === undefined) {
        waiters = new Set();
        this.#waiters.set(name, waiters);
      }
      const set = waiters;
      const waiter: FeedbackWaiter = {
        entry,
        value,
        after,
        tolerance,
        resolve: (confirmed) => {
          clearTimeout(timer);
          set.delete(waiter);
          if (set.size === 0 && this.#waiters.get(name) === set) this.#waiters.delete(name);
          resolve(confirmed);
        },
      };
      const timer = setTimeout(() => waiter.resolve(false), timeoutMs);
      set.add(waiter);
      // The value may already be there: an IEC 104 station can report the change before its driver
      // returned, and a station whose point already shows the commanded state reports nothing.
      if (entry.serverTime !== null && confirms(waiter, entry.serverTime)) waiter.resolve(true);
    });
  }

  #prune(): void {
    const removed = this.#history.prune(Date.now() - this.#retentionMs);
    if (removed > 0) this.#audit.record({ event: 'history.pruned', detail: { rows: removed } });
  }
}

/**
 * The demo scenario, when it is enabled and the simulator's own points are
 * polled: beside configured (real) devices it stays off, and says so.
 */
function scenarioFor(config: ScadaConfig, simulator: SubstationSimulator | null, logger: Logger): DemoScenario | null {
  const scenario = config.simulator.scenario;
  if (!scenario.enabled || simulator === null) return null;
  if (config.devices !== undefined) {
    logger.info({ event: 'simulator.scenario_off', reason: 'scada.devices is set' }, 'demo scenario off: real devices are configured');
    return null;
  }
  const last = config.simulator.feeders - 1;
  return new DemoScenario(simulator, { periodMs: scenario.periodMs, overloadFeeder: Math.min(scenario.overloadFeeder - 1, last), tripFeeder: Math.min(scenario.tripFeeder - 1, last), logger });
}

function ownedOf(device: DeviceConfig): OwnedDevice {
  return { name: device.name, pollMs: device.protocol === 'iec104' ? 1_000 : device.pollMs };
}

/** The waiter's point reads its commanded value, good, in a value received at `receivedAt` (not before the waiter's `after`). */
function confirms(waiter: FeedbackWaiter, receivedAt: number): boolean {
  const entry = waiter.entry;
  return entry.quality === 'good' && entry.value !== null && receivedAt >= waiter.after && Math.abs(entry.value - waiter.value) <= waiter.tolerance;
}

function checkRange(since: number, until: number): void {
  if (!Number.isFinite(since) || !Number.isFinite(until) || since >= until) throw new GridlinkError('GL_ERR_SCADA_BAD_RANGE', `since ${since}, until ${until}`);
}

/** The writer's counters as status shows them. */
function historyMetrics(w: HistoryWriterStats): NonNullable<ScadaMetrics['history']> {
  return { rowsInThread: w.rows, rowsOnLoop: w.fallbackRows, rowsLost: w.lostRows, lastError: w.lastError };
}
