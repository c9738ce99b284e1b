import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Iec104DeviceConfig, Iec104PointConfig } from '../../config/scada-schema.js';
import { GridlinkError } from '../../errors/index.js';
import {
  Cot,
  Iec104CodecError,
  TypeId,
  cp56FromEpochMs,
  cp56ToEpochMs,
  decodeAsdu,
  encodeAsdu,
  typeIdName,
  type Asdu,
  type Cp56Time2a,
} from '../../iec104/codec/index.js';
import { Iec104Link, type LinkParameters } from '../../iec104/link/link.js';
import type { PointEntry } from '../point-table.js';
import type { DeviceStatus, Quality } from '../../protocol/scada.js';
import type { DeviceDriver, DeviceSink, PointUpdate } from './device-driver.js';
import { commandAsdu, doublePointRaw, qualityOf, timeOf } from './iec104-mapping.js';
import { reasonOf } from './modbus-poller.js';

/** Commands and interrogations waiting for the window: a handful at most. */
const MAX_QUEUED = 64;
/** The first reconnect waits this long (or backoffMaxMs when smaller), then twice as long each time. */
const FIRST_BACKOFF_MS = 1_000;
/** Station interrogation (QOI 20). */
const QOI_STATION = 20;

/** A command ASDU sent and its confirmation awaited. */
interface Pending {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * One IEC 60870-5-104 controlled station (an RTU), acquired by gridlink as
 * the controlling station (docs/iec104.md "Controlling station"). Connects
 * over TCP, starts data transfer, sets the station's clock when configured,
 * and runs a general interrogation on every connect and every
 * `giIntervalMs`. Interrogated and spontaneous information goes into the
 * point table with the station's own time tags (the receipt time when an
 * object has none). Objects for addresses no point has are ignored and
 * counted.
 *
 * Device loss is what the Modbus poller reports for a failed poll, at once
 * and once per outage: a refused or timed-out connection (t0), a send or
 * test frame unconfirmed for t1 (so silence is found within t3 + t1), a
 * STOPDT from the station, or a closed connection. Its points go invalid
 * and `deviceLost` is raised; it reconnects with a backoff doubling from
 * 1 s to `backoffMaxMs`, forever, and recovers when data transfer starts
 * again, without a restart.
 *
 * Commands are select-before-operate: select (S/E = 1), a positive ACTCON,
 * execute, a positive ACTCON; the control desk then waits for the point's
 * own value as feedback. A negative confirmation fails the command with
 * GL_ERR_SCADA_COMMAND_REFUSED. ACTTERM is logged.
 */
export class Iec104Device implements DeviceDriver {
  readonly device: Iec104DeviceConfig;
  readonly #sink: DeviceSink;
  readonly #logger: Logger;
  readonly #parameters: LinkParameters;
  /** Monitored points by the station's information object address. */
  readonly #byIoa = new Map<number, PointEntry>();
  readonly #points = new Map<string, Iec104PointConfig>();
  /** Command confirmations awaited, by `${typeId}:${ioa}`. */
  readonly #pending = new Map<string, Pending>();
  #socket: Socket | null = null;
  #link: Iec104Link | null = null;
  #online: boolean | null = null;
  #started = false;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #giTimer: NodeJS.Timeout | null = null;
  #connectTimer: NodeJS.Timeout | null = null;
  #backoffMs: number;
  // Counters for status() and metrics.
  #interrogations = 0;
  #failures = 0;
  #lastDataAt: number | null = null;
  #lastError: string | null = null;
  #unknown = 0;
  readonly #unknownLogged = new Set<number>();

  constructor(device: Iec104DeviceConfig, entries: readonly PointEntry[], sink: DeviceSink, logger: Logger) {
    this.device = device;
    this.#sink = sink;
    this.#logger = logger.child({ device: device.name });
    this.#parameters = { k: device.k, w: device.w, t1: device.t1, t2: device.t2, t3: device.t3 };
    this.#backoffMs = Math.min(FIRST_BACKOFF_MS, device.backoffMaxMs);
    for (const point of device.points) this.#points.set(point.name, point);
    for (const entry of entries) {
      const point = this.#points.get(entry.config.name);
      if (point !== undefined) this.#byIoa.set(point.ioa, entry);
    }
  }

  get name(): string {
    return this.device.name;
  }

  get online(): boolean {
    return this.#online === true;
  }

  /** Information objects received for addresses no point has, or for another common address. */
  get unknownObjects(): number {
    return this.#unknown;
  }

  start(delayMs = 0): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    if (delayMs > 0) this.#retryTimer = setTimeout(() => this.#connect(), delayMs);
    else this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of [this.#retryTimer, this.#giTimer, this.#connectTimer]) if (timer !== null) clearTimeout(timer);
    this.#retryTimer = this.#giTimer = this.#connectTimer = null;
    const socket = this.#socket;
    const closing = socket === null || socket.closed ? null : new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.#link?.close('gridlink is stopping');
    this.#socket?.destroy();
    this.#rejectPending(new Error('gridlink is stopping'));
    await closing;
  }

  status(): DeviceStatus {
    return {
      name: this.device.name,
      address: `${this.device.host}:${this.device.port}/${this.device.commonAddress}`,
      online: this.#online === true,
      lastPollAt: this.#lastDataAt,
      lastError: this.#lastError,
      polls: this.#interrogations,
      failures: this.#failures,
    };
  }

  /** Select, then execute (see {@link DeviceDriver.command}); the feedback is the point's value as the station reports it. */
  command(entry: PointEntry, value: number): () => Promise<number> {
    const point = this.#points.get(entry.config.name);
    if (point?.control === undefined) throw new GridlinkError('GL_ERR_SCADA_NOT_CONTROLLABLE', entry.config.name);
    const ca = this.device.commonAddress;
    const select = commandAsdu(point, value, true, ca);
    const execute = commandAsdu(point, value, false, ca);
    const timeoutMs = point.control.timeoutMs;
    return async () => {
      await this.#confirm(select, 'select', timeoutMs);
      await this.#confirm(execute, 'execute', timeoutMs);
      // A station reports every change of its points, so the value the table holds is the
      // station's state: the value already there counts as feedback, as does any later one.
      return 0;
    };
  }

  // --- connection ---

  #connect(): void {
    this.#retryTimer = null;
    if (this.#stopped) return;
    const socket = connect({ host: this.device.host, port: this.device.port });
    this.#socket = socket;
    let failed = false;
    const fail = (reason: string): void => {
      if (failed) return;
      failed = true;
      this.#lost(reason);
    };
    this.#connectTimer = setTimeout(() => {
      socket.destroy();
      fail(`no connection within t0 (${this.device.t0} ms)`);
    }, this.device.t0);
    socket.on('error', (err) => fail(`connection: ${err.message}`));
    socket.once('close', () => {
      if (this.#socket === socket) this.#socket = null;
      fail('connection closed');
    });
    socket.once('connect', () => {
      if (this.#connectTimer !== null) clearTimeout(this.#connectTimer);
      this.#connectTimer = null;
      const link = new Iec104Link(socket, {
        role: 'controlling',
        parameters: this.#parameters,
        maxQueued: MAX_QUEUED,
        handlers: {
          asdu: (bytes) => this.#onAsdu(bytes),
          started: () => this.#onStarted(link),
          closed: (reason) => {
            if (this.#link === link) this.#link = null;
            fail(reason ?? 'connection closed');
          },
        },
      });
      this.#link = link;
      // A refusal shows as t1 expiry, which closes the link: nothing to catch here.
      link.startDataTransfer().catch(() => undefined);
    });
  }

  #onStarted(link: Iec104Link): void {
    if (this.#link !== link) return;
    this.#backoffMs = Math.min(FIRST_BACKOFF_MS, this.device.backoffMaxMs);
    if (this.#online !== true) {
      const wasLost = this.#online === false;
      this.#online = true;
      this.#lastError = null;
      this.#logger.info({ event: 'scada.device.online' }, 'station started data transfer');
      if (wasLost) this.#sink.restored(this.device.name);
    }
    if (this.device.clockSync) this.#syncClock(link);
    this.#interrogate(link);
    this.#giTimer = setInterval(() => this.#interrogate(link), this.device.giIntervalMs);
    this.#giTimer.unref();
  }

  /** The connection is gone (or never came): mark the device lost once, and retry after the backoff. */
  #lost(reason: string): void {
    if (this.#giTimer !== null) clearInterval(this.#giTimer);
    if (this.#connectTimer !== null) clearTimeout(this.#connectTimer);
    this.#giTimer = this.#connectTimer = null;
    this.#link?.close(reason);
    this.#link = null;
    this.#socket?.destroy();
    this.#rejectPending(new Error(`the connection to the station was lost: ${reason}`));
    if (this.#stopped) return;
    this.#failures += 1;
    this.#lastError = reason;
    if (this.#online !== false) {
      this.#online = false;
      this.#logger.warn({ event: 'scada.device.lost', reason }, 'station does not answer');
      this.#sink.lost(this.device.name, reason);
    }
    const wait = this.#backoffMs;
    this.#backoffMs = Math.min(this.device.backoffMaxMs, this.#backoffMs * 2);
    this.#retryTimer = setTimeout(() => this.#connect(), wait);
  }

  // --- sending ---

  #send(link: Iec104Link, asdu: Asdu): void {
    link.send(encodeAsdu(asdu));
  }

  #interrogate(link: Iec104Link): void {
    if (this.#link !== link || !link.started) return;
    this.#send(link, { typeId: TypeId.C_IC_NA_1, sequence: false, cause: Cot.Activation, negative: false, test: false, originator: 0, commonAddress: this.device.commonAddress, objects: [{ ioa: 0, qoi: QOI_STATION }] });
  }

  #syncClock(link: Iec104Link): void {
    let time;
    try {
      time = cp56FromEpochMs(Date.now());
    } catch (err) {
      this.#logger.warn({ event: 'iec104.master.clock_refused', reason: reasonOf(err) }, 'this host clock cannot be sent as CP56Time2a');
      return;
    }
    this.#send(link, { typeId: TypeId.C_CS_NA_1, sequence: false, cause: Cot.Activation, negative: false, test: false, originator: 0, commonAddress: this.device.commonAddress, objects: [{ ioa: 0, time }] });
  }

  /** Sends a command ASDU and resolves on its positive ACTCON; a negative one rejects with GL_ERR_SCADA_COMMAND_REFUSED. */
  #confirm(asdu: Asdu, step: 'select' | 'execute', timeoutMs: number): Promise<void> {
    const link = this.#link;
    if (link === null || !link.started) return Promise.reject(new Error('the station is not connected'));
    const ioa = asdu.objects[0]!.ioa;
    const key = `${asdu.typeId}:${ioa}`;
    if (this.#pending.has(key)) return Promise.reject(new Error(`a command to IOA ${ioa} is already waiting for its confirmation`));
    const what = `${typeIdName(asdu.typeId)} ${step} of IOA ${ioa}`;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(key);
        reject(new Error(`no confirmation of the ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(key, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
        timer,
      });
      this.#logger.info({ event: 'iec104.master.command', ioa, type: typeIdName(asdu.typeId), step }, 'command sent');
      this.#send(link, asdu);
    });
  }

  #rejectPending(err: Error): void {
    for (const pending of this.#pending.values()) pending.reject(err);
    this.#pending.clear();
  }

  // --- receiving ---

  #onAsdu(bytes: Buffer): void {
    const receivedAt = Date.now();
    let asdu: Asdu;
    try {
      asdu = decodeAsdu(bytes);
    } catch (err) {
      // An ASDU the codec does not take (a type gridlink does not map) is not a link error.
      if (!(err instanceof Iec104CodecError)) throw err;
      this.#unknown += err.header?.count ?? 1;
      this.#logger.debug({ event: 'iec104.master.asdu_ignored', reason: err.reason, detail: err.message }, 'ASDU ignored');
      return;
    }
    this.#lastDataAt = receivedAt;
    if (asdu.commonAddress !== this.device.commonAddress) {
      this.#unknown += asdu.objects.length;
      return;
    }
    switch (asdu.typeId) {
      case TypeId.M_SP_NA_1:
      case TypeId.M_SP_TB_1:
      case TypeId.M_DP_NA_1:
      case TypeId.M_DP_TB_1:
      case TypeId.M_ME_NA_1:
      case TypeId.M_ME_TD_1:
      case TypeId.M_ME_NB_1:
      case TypeId.M_ME_TE_1:
      case TypeId.M_ME_NC_1:
      case TypeId.M_ME_TF_1:
      case TypeId.M_IT_NA_1:
        this.#monitor(asdu, receivedAt);
        return;
      case TypeId.C_IC_NA_1:
        this.#onInterrogation(asdu);
        return;
      case TypeId.C_CS_NA_1:
        this.#onClock(asdu, receivedAt);
        return;
      case TypeId.C_SC_NA_1:
      case TypeId.C_DC_NA_1:
      case TypeId.C_SE_NA_1:
      case TypeId.C_SE_NB_1:
      case TypeId.C_SE_NC_1:
        this.#onCommandReply(asdu);
        return;
      case TypeId.M_EI_NA_1: {
        // The station (re)initialized: what we hold may be stale.
        this.#logger.info({ event: 'iec104.master.end_of_init', coi: asdu.objects[0]!.coi }, 'station initialized; interrogating');
        const link = this.#link;
        if (link !== null) this.#interrogate(link);
        return;
      }
      default:
        this.#unknown += asdu.objects.length;
    }
  }

  /** Monitored information, interrogated or spontaneous, into the point table in one batch. */
  #monitor(asdu: Asdu, receivedAt: number): void {
    const updates: PointUpdate[] = [];
    const add = (ioa: number, raw: number, quality: Quality, time: Cp56Time2a | undefined): void => {
      const entry = this.#byIoa.get(ioa);
      if (entry === undefined) this.#unknownIoa(ioa, asdu.typeId);
      else updates.push({ entry, raw, quality, sourceTime: time === undefined ? receivedAt : timeOf(time, receivedAt) });
    };
    switch (asdu.typeId) {
      case TypeId.M_SP_NA_1:
      case TypeId.M_SP_TB_1:
        for (const o of asdu.objects) add(o.ioa, o.value ? 1 : 0, qualityOf(o.quality), 'time' in o ? o.time : undefined);
        break;
      case TypeId.M_DP_NA_1:
      case TypeId.M_DP_TB_1:
        for (const o of asdu.objects) add(o.ioa, doublePointRaw(o.value), qualityOf(o.quality), 'time' in o ? o.time : undefined);
        break;
      case TypeId.M_ME_NA_1:
      case TypeId.M_ME_TD_1:
      case TypeId.M_ME_NB_1:
      case TypeId.M_ME_TE_1:
      case TypeId.M_ME_NC_1:
      case TypeId.M_ME_TF_1:
        for (const o of asdu.objects) add(o.ioa, o.value, qualityOf(o.quality), 'time' in o ? o.time : undefined);
        break;
      case TypeId.M_IT_NA_1:
        for (const o of asdu.objects) add(o.ioa, o.value, o.invalid ? 'invalid' : 'good', undefined);
        break;
      default:
        return;
    }
    if (updates.length > 0) this.#sink.updates(this.device.name, updates, receivedAt);
  }

  #unknownIoa(ioa: number, typeId: number): void {
    this.#unknown += 1;
    // Once per address, or a station with many unmapped points floods the log.
    if (this.#unknownLogged.size < 1_000 && !this.#unknownLogged.has(ioa)) {
      this.#unknownLogged.add(ioa);
      this.#logger.info({ event: 'iec104.master.unknown_ioa', ioa, type: typeIdName(typeId) }, 'information object for an address no point has: ignored');
    }
  }

  #onInterrogation(asdu: Asdu): void {
    if (asdu.cause === Cot.ActivationCon && asdu.negative) {
      this.#logger.warn({ event: 'iec104.master.gi_refused' }, 'station refused the general interrogation');
    } else if (asdu.cause === Cot.ActivationTermination) {
      this.#interrogations += 1;
    }
  }

  #onClock(asdu: Asdu, receivedAt: number): void {
    if (asdu.typeId !== TypeId.C_CS_NA_1 || asdu.cause !== Cot.ActivationCon) return;
    if (asdu.negative) {
      this.#logger.warn({ event: 'iec104.master.clock_refused' }, 'station refused the clock synchronization');
      return;
    }
    let stationMs: number | null = null;
    try {
      stationMs = cp56ToEpochMs(asdu.objects[0]!.time);
    } catch {
      // a confirmation without a usable time: only that it was taken is logged
    }
    this.#logger.info({ event: 'iec104.master.clock_set', offsetMs: stationMs === null ? null : stationMs - receivedAt }, 'station clock synchronized');
  }

  #onCommandReply(asdu: Asdu): void {
    const ioa = asdu.objects[0]!.ioa;
    const key = `${asdu.typeId}:${ioa}`;
    const type = typeIdName(asdu.typeId);
    if (asdu.cause === Cot.ActivationTermination) {
      this.#logger.info({ event: 'iec104.master.command_terminated', ioa, type, negative: asdu.negative }, 'command terminated (ACTTERM)');
      return;
    }
    const pending = this.#pending.get(key);
    if (pending === undefined) return;
    if (asdu.cause === Cot.ActivationCon && !asdu.negative) {
      this.#pending.delete(key);
      pending.resolve();
      return;
    }
    if (asdu.negative) {
      this.#pending.delete(key);
      const why = asdu.cause === Cot.ActivationCon ? 'negative ACTCON' : `negative confirmation with cause ${asdu.cause}${causeName(asdu.cause)}`;
      this.#logger.warn({ event: 'iec104.master.command_refused', ioa, type, cause: asdu.cause }, 'station refused the command');
      pending.reject(new GridlinkError('GL_ERR_SCADA_COMMAND_REFUSED', `${this.device.name}: ${why} to ${type} at IOA ${ioa}`));
    }
  }
}

function causeName(cause: number): string {
  switch (cause) {
    case Cot.UnknownTypeId:
      return ' (unknown type)';
    case Cot.UnknownCause:
      return ' (unknown cause)';
    case Cot.UnknownCommonAddress:
      return ' (unknown common address)';
    case Cot.UnknownIoa:
      return ' (unknown address)';
    default:
      return '';
  }
}
