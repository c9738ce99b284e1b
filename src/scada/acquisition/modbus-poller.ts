import { createRequire } from 'node:module';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import type { Logger } from 'pino';
import type { ModbusDeviceConfig, PointConfig } from '../../config/scada-schema.js';
import { GridlinkError } from '../../errors/index.js';
import type { PointEntry, Reading } from '../point-table.js';
import type { DeviceStatus } from '../../protocol/scada.js';
import type { DeviceDriver } from './device-driver.js';
import { decodeRegisters, encodeRegisters, toRaw } from './register-codec.js';
import { planReads, type ReadBlock } from './read-plan.js';

// modbus-serial is CommonJS whose typings declare an ES default export; load it the CommonJS way.
const ModbusClient = createRequire(import.meta.url)('modbus-serial') as typeof ModbusRTU;

export type { Reading };

/** Where a poller reports; the point table and alarms are behind it. */
export interface PollSink {
  readings(device: string, readings: readonly Reading[], sourceTime: number): void;
  /** The device stopped answering (called once per outage). */
  lost(device: string, reason: string): void;
  /** The device answers again after an outage (called once). */
  restored(device: string): void;
}

/**
 * Polls one Modbus TCP device (docs/protocol.md §3.6): one connection, the device's reads
 * planned into as few requests as possible, every `pollMs`. A failed poll or
 * connection marks the device lost at once (so its points go invalid within
 * one poll period plus the request timeout), and reconnects with a doubling
 * backoff capped at `backoffMaxMs`, forever: a device that returns recovers
 * without anyone restarting anything. Writes (control commands) queue behind
 * the running poll on the same connection: Modbus TCP devices commonly
 * handle one request at a time.
 */
export class ModbusPoller implements DeviceDriver {
  readonly device: ModbusDeviceConfig;
  readonly #sink: PollSink;
  readonly #logger: Logger;
  readonly #plan: ReadBlock[];
  #client: ModbusRTU | null = null;
  #online: boolean | null = null;
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;
  #wake: (() => void) | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #backoffMs: number;
  #polls = 0;
  #failures = 0;
  #lastPollAt: number | null = null;
  #lastError: string | null = null;
  #loop: Promise<void> | null = null;

  constructor(device: ModbusDeviceConfig, sink: PollSink, logger: Logger) {
    this.device = device;
    this.#sink = sink;
    this.#logger = logger.child({ device: device.name });
    this.#plan = planReads(device.points);
    this.#backoffMs = device.pollMs;
  }

  /** Starts polling after `delayMs` (the service staggers its devices across a period). */
  start(delayMs = 0): void {
    this.#loop ??= this.#run(delayMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#wake?.();
    this.#disconnect();
    await this.#loop;
  }

  status(): DeviceStatus {
    return {
      name: this.device.name,
      address: `${this.device.host}:${this.device.port}/${this.device.unitId}`,
      online: this.#online === true,
      lastPollAt: this.#lastPollAt,
      lastError: this.#lastError,
      polls: this.#polls,
      failures: this.#failures,
    };
  }

  get name(): string {
    return this.device.name;
  }

  get online(): boolean {
    return this.#online === true;
  }

  /** The coil or register write of a command (see {@link DeviceDriver.command}); its feedback counts from when the write was answered. */
  command(entry: PointEntry, value: number): () => Promise<number> {
    const point = this.device.points.find((p) => p.name === entry.config.name);
    if (point?.control === undefined) throw new GridlinkError('GL_ERR_SCADA_NOT_CONTROLLABLE', entry.config.name);
    const control = point.control;
    const words = commandFor(point, value);
    return async () => {
      await this.write(control.target, control.address, words);
      return Date.now();
    };
  }

  /** Writes a coil or holding register(s), after the poll in flight. Rejects when the device is unreachable. */
  write(target: 'coil' | 'holding', address: number, value: boolean | number[]): Promise<void> {
    return this.#exclusive(async () => {
      const client = this.#client;
      if (client === null || !client.isOpen) throw new Error('device is not connected');
      if (target === 'coil') await this.#bounded(client.writeCoil(address, value === true));
      else if (Array.isArray(value) && value.length === 1) await this.#bounded(client.writeRegister(address, value[0]!));
      else if (Array.isArray(value)) await this.#bounded(client.writeRegisters(address, value));
      else throw new TypeError('a register write takes an array of words');
    });
  }

  /**
   * Polls on a fixed grid: poll n is due at `first + n × pollMs`, so a late
   * timer delays one poll, not every later one (the rate stays exactly one
   * poll per period). A poller a whole period behind starts a new grid
   * rather than firing the missed polls back to back. After a failure the grid
   * restarts when the device answers again.
   */
  async #run(delayMs: number): Promise<void> {
    if (delayMs > 0) await this.#sleep(delayMs);
    let due = Date.now();
    while (!this.#stopped) {
      let ok: boolean;
      try {
        await this.#exclusive(() => this.#pollOnce());
        ok = true;
      } catch (err) {
        // A poll cut by stop() (a reload restarting the device, a shutdown) is no device loss.
        if (this.#stopped) break;
        ok = false;
        this.#fail(err);
      }
      if (this.#stopped) break;
      const now = Date.now();
      if (ok) {
        due += this.device.pollMs;
        if (now - due >= this.device.pollMs) due = now;
        await this.#sleep(Math.max(0, due - now));
      } else {
        await this.#sleep(this.#nextBackoff());
        due = Date.now();
      }
    }
  }

  async #pollOnce(): Promise<void> {
    if (this.#client === null || !this.#client.isOpen) await this.#connect();
    const client = this.#client!;
    const readings: Reading[] = [];
    let sourceTime = 0;
    for (const block of this.#plan) {
      const words = await this.#read(client, block);
      sourceTime = Date.now();
      for (const { point, offset } of block.points) {
        const raw = block.source === 'coil' || block.source === 'discrete' ? (words[offset] === undefined ? Number.NaN : words[offset] ? 1 : 0) : decodeRegisters(words as number[], offset, point.type);
        readings.push({ point: point.name, raw });
      }
    }
    this.#polls += 1;
    this.#lastPollAt = sourceTime;
    this.#backoffMs = this.device.pollMs;
    if (this.#online !== true) {
      const wasLost = this.#online === false;
      this.#online = true;
      this.#lastError = null;
      this.#logger.info({ event: 'scada.device.online' }, 'device answers');
      if (wasLost) this.#sink.restored(this.device.name);
    }
    this.#sink.readings(this.device.name, readings, sourceTime);
  }

  async #read(client: ModbusRTU, block: ReadBlock): Promise<ArrayLike<number | boolean>> {
    switch (block.source) {
      case 'holding':
        return (await this.#bounded(client.readHoldingRegisters(block.start, block.count))).data;
      case 'input':
        return (await this.#bounded(client.readInputRegisters(block.start, block.count))).data;
      case 'coil':
        return (await this.#bounded(client.readCoils(block.start, block.count))).data;
      case 'discrete':
        return (await this.#bounded(client.readDiscreteInputs(block.start, block.count))).data;
    }
  }

  async #connect(): Promise<void> {
    this.#disconnect();
    const client = new ModbusClient();
    this.#client = client;
    client.setID(this.device.unitId);
    // The library's own timeout is only a backstop: #bounded enforces timeoutMs in a way that
    // lets an answer that already arrived win over a timer delayed by a busy event loop.
    client.setTimeout(this.device.timeoutMs + 1_000);
    await this.#bounded(client.connectTCP(this.device.host, { port: this.device.port, timeout: this.device.timeoutMs }));
    // A socket error after connecting must never become an unhandled 'error' event.
    (client as unknown as { _port?: { on?: (event: string, listener: (err: unknown) => void) => void } })._port?.on?.('error', () => undefined);
  }

  #disconnect(): void {
    const client = this.#client;
    this.#client = null;
    if (client === null) return;
    try {
      client.close(() => undefined);
    } catch {
      // closing a half-open client may throw; it is gone either way
    }
    (client as unknown as { destroy?: (cb?: () => void) => void }).destroy?.(() => undefined);
  }

  #fail(err: unknown): void {
    const reason = reasonOf(err);
    this.#failures += 1;
    this.#lastError = reason;
    this.#disconnect();
    if (this.#online !== false) {
      this.#online = false;
      this.#logger.warn({ event: 'scada.device.lost', reason }, 'device does not answer');
      this.#sink.lost(this.device.name, reason);
    }
  }

  #nextBackoff(): number {
    const wait = this.#backoffMs;
    this.#backoffMs = Math.min(this.device.backoffMaxMs, this.#backoffMs * 2);
    return wait;
  }

  /**
   * The request timeout. When the event loop was busy, the timer and the
   * answer can be due in the same turn, and timers run before I/O: so the
   * timeout waits for setImmediate (after this turn's I/O) before it fails
   * the request, and an answer that had arrived in time still wins.
   */
  #bounded<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let immediate: NodeJS.Immediate | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        immediate = setImmediate(() => reject(new Error(`no answer within ${this.device.timeoutMs} ms`)));
      }, this.device.timeoutMs);
    });
    return Promise.race([work, limit]).finally(() => {
      clearTimeout(timer);
      if (immediate !== undefined) clearImmediate(immediate);
    });
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
    });
  }
}

/** A readable reason from whatever the library rejected with (it sometimes rejects with plain objects). */
export function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string') return err.message;
  return typeof err === 'string' ? err : JSON.stringify(err) ?? 'unknown error';
}

/** The device write for an engineering value; throws GL_ERR_SCADA_BAD_VALUE when it does not fit. */
function commandFor(point: PointConfig, value: number): boolean | number[] {
  if (!Number.isFinite(value)) throw new GridlinkError('GL_ERR_SCADA_BAD_VALUE', `${value}`);
  const control = point.control!;
  if (point.class === 'status' || point.class === 'control') {
    if (value !== 0 && value !== 1) throw new GridlinkError('GL_ERR_SCADA_BAD_VALUE', `${point.name} takes 0 or 1${point.states === undefined ? '' : ` (${point.states[0]} or ${point.states[1]})`}`);
    return control.target === 'coil' ? value === 1 : [value];
  }
  if (control.target === 'coil') return value !== 0;
  try {
    return encodeRegisters(toRaw(value, point), point.type);
  } catch (err) {
    throw new GridlinkError('GL_ERR_SCADA_BAD_VALUE', `${point.name}: ${(err as Error).message}`);
  }
}
