import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import { ServerTCP, type IServiceVector } from 'modbus-serial';
import type { Logger } from 'pino';
import { decodeFeeder, UnitModel, type FeederModel, type FeederReadings, type FeederSnapshot } from './feeder-model.js';
import { REGISTERS_PER_FEEDER, type SimulatorSize } from './layout.js';

export type { FeederReadings, FeederSnapshot } from './feeder-model.js';

export interface SubstationSimulatorOptions extends SimulatorSize {
  readonly host: string;
  /** 0 picks a free port; `start()` returns the real one. */
  readonly port: number;
  /** Draw new random noise every `updateMs`; false keeps every value constant (deterministic tests). */
  readonly noise: boolean;
  /** The breaker mechanism's travel time: a coil command changes the status this long after it. */
  readonly breakerTravelMs: number;
  readonly updateMs: number;
  readonly logger?: Logger;
}

/** Modbus exception codes this server answers with. */
export const MODBUS_EXCEPTION = {
  illegalFunction: 0x01,
  illegalDataAddress: 0x02,
  illegalDataValue: 0x03,
  /** Unit ids outside 1..units: what a gateway answers for a device it does not have. */
  gatewayTargetFailed: 0x0b,
} as const;

/** FC3/FC4 may read at most this many registers (Modbus application protocol §6.3). */
export const MAX_READ_REGISTERS = 125;

/** An error that modbus-serial's ServerTCP turns into a Modbus exception response (it reads `modbusErrorCode`). */
export class ModbusException extends Error {
  readonly modbusErrorCode: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = 'ModbusException';
    this.modbusErrorCode = code;
  }
}

interface Travel {
  readonly target: boolean;
  readonly timer: NodeJS.Timeout;
}

/**
 * The built-in substation simulator (docs/protocol.md §3.6): a Modbus TCP server whose
 * units are bays of a substation, each with feeders and breakers, publishing
 * the register map of layout.ts. Field devices replace it; nothing in
 * gridlink depends on it beyond that map.
 *
 * Surface per unit id 1..units:
 *  - FC3 holding and FC4 input registers: the same feeder blocks;
 *  - FC2 discrete input f: breaker f closed (status feedback);
 *  - FC1 coil f: breaker f's last command; FC5/FC15 write it (close = true);
 *    the status follows after `breakerTravelMs`;
 *  - FC6/FC16 register writes: exception 1 (the telemetry is read-only);
 *  - addresses outside the map: exception 2; other unit ids: exception 11,
 *    except that a simulator of one unit also answers 0 and 255 as unit 1.
 */
export class SubstationSimulator {
  readonly #options: SubstationSimulatorOptions;
  readonly #units: readonly UnitModel[];
  readonly #travel = new Map<FeederModel, Travel>();
  readonly #log: Logger | undefined;
  #server: ServerTCP | null = null;
  #address: AddressInfo | null = null;
  #ticker: NodeJS.Timeout | null = null;

  constructor(options: SubstationSimulatorOptions) {
    const { units, feeders, port, breakerTravelMs, updateMs } = options;
    if (!Number.isInteger(units) || units < 1 || units > 247) throw new RangeError(`simulator units must be 1..247 (Modbus unit ids), got ${units}`);
    if (!Number.isInteger(feeders) || feeders < 1 || feeders * REGISTERS_PER_FEEDER > 0x10000) throw new RangeError(`simulator feeders must be 1..${0x10000 / REGISTERS_PER_FEEDER}, got ${feeders}`);
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`simulator port must be 0..65535, got ${port}`);
    if (!(breakerTravelMs >= 0) || !Number.isFinite(breakerTravelMs)) throw new RangeError(`simulator breakerTravelMs must be >= 0, got ${breakerTravelMs}`);
    if (!(updateMs > 0) || !Number.isFinite(updateMs)) throw new RangeError(`simulator updateMs must be > 0, got ${updateMs}`);
    this.#options = options;
    this.#log = options.logger;
    this.#units = Array.from({ length: units }, (_, i) => new UnitModel(i + 1, feeders));
    if (options.noise) for (const unit of this.#units) unit.redraw(Math.random);
  }

  /** Where it listens, once started. */
  get address(): AddressInfo | null {
    return this.#address;
  }

  /** Open client connections. */
  get connections(): number {
    return this.#server?.socks.size ?? 0;
  }

  /**
   * Starts listening. Rejects (and leaves nothing open) when the address
   * cannot be bound, e.g. EADDRINUSE.
   */
  async start(): Promise<AddressInfo> {
    if (this.#server !== null) throw new Error('the substation simulator is already started');
    const { host, port } = this.#options;
    // modbus-serial's ServerTCP listens in its constructor on `options.port || 502`,
    // so a numeric 0 would silently become 502. net.Server.listen accepts a
    // numeric string, and '0' is truthy: it reaches listen() as "any free port".
    const server = new ServerTCP(this.#vector(), { host, port: port === 0 ? ('0' as unknown as number) : port, unitID: 255 });
    this.#server = server;
    server.on('socketError', (err) => this.#log?.debug({ event: 'simulator.socket_error', err }, 'simulator socket error'));
    server.on('error', (err) => this.#log?.warn({ event: 'simulator.error', err }, 'simulator error'));
    let inner: NetServer;
    try {
      inner = innerServer(server);
    } catch (err) {
      await this.stop();
      throw err;
    }
    inner.on('connection', (socket: Socket) => socket.setNoDelay(true));
    try {
      await new Promise<void>((resolve, reject) => {
        const onListening = (): void => {
          server.off('serverError', onError);
          resolve();
        };
        const onError = (err: Error | null): void => {
          server.off('initialized', onListening);
          const cause = err ?? new Error('unknown listen error');
          reject(new Error(`the substation simulator cannot listen on ${host}:${port}: ${cause.message}`, { cause }));
        };
        server.once('initialized', onListening);
        server.once('serverError', onError);
      });
    } catch (err) {
      this.#server = null;
      inner.close();
      throw err;
    }
    server.on('serverError', (err) => this.#log?.error({ event: 'simulator.server_error', err }, 'simulator server error'));
    const address = inner.address();
    if (address === null || typeof address === 'string') throw new Error('the substation simulator is not listening on a TCP port');
    this.#address = address;
    if (this.#options.noise) {
      this.#ticker = setInterval(() => {
        for (const unit of this.#units) unit.redraw(Math.random);
      }, this.#options.updateMs);
      this.#ticker.unref();
    }
    this.#log?.info({ event: 'simulator.listening', host: address.address, port: address.port, units: this.#options.units, feeders: this.#options.feeders }, 'substation simulator listening');
    return address;
  }

  /** Stops listening, destroys every client connection and cancels breakers in travel. Idempotent. */
  async stop(): Promise<void> {
    if (this.#ticker !== null) clearInterval(this.#ticker);
    this.#ticker = null;
    for (const travel of this.#travel.values()) clearTimeout(travel.timer);
    this.#travel.clear();
    const server = this.#server;
    if (server === null) return;
    this.#server = null;
    this.#address = null;
    await new Promise<void>((resolve) => {
      // ServerTCP.close closes the listener, then destroys the sockets it tracks;
      // the callback comes once the listener has no connection left.
      server.close(() => resolve());
    });
    for (const socket of server.socks.keys()) socket.destroy();
  }

  /** Breaker position (status feedback). Unit is 1-based, feeder 0-based. */
  breaker(unit: number, feeder: number): boolean {
    return this.#feeder(unit, feeder).breakerClosed;
  }

  /** The last breaker command (what coil `feeder` reads back). */
  breakerCommand(unit: number, feeder: number): boolean {
    return this.#feeder(unit, feeder).breakerCommand;
  }

  /** Moves a breaker at once (no travel time), as if operated locally; cancels a command in travel. */
  setBreaker(unit: number, feeder: number, closed: boolean): void {
    const model = this.#feeder(unit, feeder);
    this.#cancelTravel(model);
    model.breakerCommand = closed;
    this.#apply(unit, feeder, closed);
  }

  /**
   * The breaker's protection opens it (an overcurrent trip): the status goes
   * open at once, the command coil keeps the last command (close), as on a
   * real breaker; a command in travel is cancelled.
   */
  trip(unit: number, feeder: number): void {
    const model = this.#feeder(unit, feeder);
    this.#cancelTravel(model);
    if (model.breakerClosed) this.#log?.info({ event: 'simulator.breaker_trip', unit, feeder }, 'breaker tripped on overcurrent');
    this.#apply(unit, feeder, false);
  }

  /** What a client reading the feeder's block now gets, in engineering units. */
  snapshot(unit: number, feeder: number): FeederSnapshot {
    const model = this.#feeder(unit, feeder);
    const registers = this.#unit(unit).registers;
    return { ...decodeFeeder(registers, feeder * REGISTERS_PER_FEEDER), breakerClosed: model.breakerClosed, breakerCommand: model.breakerCommand };
  }

  /** The unit's raw register image (a copy). */
  registers(unit: number): number[] {
    return Array.from(this.#unit(unit).registers);
  }

  /**
   * Pins a feeder's quantities to exact values (encoded with the layout's
   * scaling, so `currentA: 123.4` reads as 1234) until `unfreeze`; noise no
   * longer moves them. Unpinned quantities follow from the pinned ones
   * (P and Q from V and I). An open breaker still reads 0 A, 0 kW, 0 kvar.
   */
  freeze(unit: number, feeder: number, values: Partial<FeederReadings>): void {
    this.#feeder(unit, feeder).pin(values);
    this.#encode(unit, feeder);
  }

  unfreeze(unit: number, feeder: number): void {
    this.#feeder(unit, feeder).unpin();
    this.#encode(unit, feeder);
  }

  // --- Modbus surface ------------------------------------------------------

  #vector(): IServiceVector {
    // Synchronous handlers (arity without a callback): modbus-serial calls
    // them directly and turns a thrown ModbusException into an exception
    // response. The multi-register getters answer a whole FC3/FC4 request
    // with one slice of the register image; the single ones serve count 1,
    // which modbus-serial never routes to the multi getters.
    return {
      getHoldingRegister: (addr: number, unitId: number): number => this.#readRegisters(addr, 1, unitId)[0] ?? 0,
      getInputRegister: (addr: number, unitId: number): number => this.#readRegisters(addr, 1, unitId)[0] ?? 0,
      getMultipleHoldingRegisters: (addr: number, length: number, unitId: number): number[] => this.#readRegisters(addr, length, unitId),
      getMultipleInputRegisters: (addr: number, length: number, unitId: number): number[] => this.#readRegisters(addr, length, unitId),
      getDiscreteInput: (addr: number, unitId: number): boolean => this.#bitFeeder(addr, unitId).breakerClosed,
      getCoil: (addr: number, unitId: number): boolean => this.#bitFeeder(addr, unitId).breakerCommand,
      setCoil: (addr: number, value: boolean, unitId: number): void => {
        this.#bitFeeder(addr, unitId);
        this.#command(this.#unitNumber(unitId), addr, value);
      },
      setRegister: (addr: number, _value: number, unitId: number): void => {
        this.#checkUnit(unitId);
        throw new ModbusException(MODBUS_EXCEPTION.illegalFunction, `register ${addr} is read-only`);
      },
      setRegisterArray: (addr: number, _values: number[], unitId: number): void => {
        this.#checkUnit(unitId);
        throw new ModbusException(MODBUS_EXCEPTION.illegalFunction, `registers from ${addr} are read-only`);
      },
    };
  }

  #readRegisters(addr: number, length: number, unitId: number): number[] {
    const unit = this.#checkUnit(unitId);
    if (length < 1 || length > MAX_READ_REGISTERS) throw new ModbusException(MODBUS_EXCEPTION.illegalDataValue, `register count ${length} outside 1..${MAX_READ_REGISTERS}`);
    if (addr + length > unit.registers.length) throw new ModbusException(MODBUS_EXCEPTION.illegalDataAddress, `registers ${addr}..${addr + length - 1} outside 0..${unit.registers.length - 1}`);
    return Array.from(unit.registers.subarray(addr, addr + length));
  }

  #bitFeeder(addr: number, unitId: number): FeederModel {
    const unit = this.#checkUnit(unitId);
    // Coil f and discrete input f are feeder f (layout.ts: breakerCoil(f) = f).
    const model = unit.feeders[addr];
    if (model === undefined) throw new ModbusException(MODBUS_EXCEPTION.illegalDataAddress, `bit ${addr} outside 0..${unit.feeders.length - 1}`);
    return model;
  }

  #checkUnit(unitId: number): UnitModel {
    return this.#units[this.#unitNumber(unitId) - 1]!;
  }

  /**
   * The unit (1-based) a request's unit id reaches, or exception 11. A
   * simulator of one unit is a plain device, not a gateway: it also answers
   * unit 0 and 255, what Modbus TCP clients send by default when they address
   * "the device" (docs/configuration.md "Simulator"). With several units those
   * ids would be ambiguous, so only 1..units answer.
   */
  #unitNumber(unitId: number): number {
    if (this.#units.length === 1 && (unitId === 0 || unitId === 255)) return 1;
    if (!Number.isInteger(unitId) || unitId < 1 || unitId > this.#units.length) throw new ModbusException(MODBUS_EXCEPTION.gatewayTargetFailed, `no unit ${unitId}`);
    return unitId;
  }

  // --- Breakers ------------------------------------------------------------

  /** A coil write: the mechanism starts moving; the status changes after the travel time. */
  #command(unit: number, feeder: number, closed: boolean): void {
    const model = this.#feeder(unit, feeder);
    model.breakerCommand = closed;
    const travel = this.#travel.get(model);
    if (travel !== undefined && travel.target === closed) return; // already on its way there
    this.#cancelTravel(model);
    this.#log?.info({ event: 'simulator.breaker_command', unit, feeder, closed }, 'breaker command');
    if (model.breakerClosed === closed) return; // already there: nothing moves
    const travelMs = this.#options.breakerTravelMs;
    if (travelMs === 0) {
      this.#apply(unit, feeder, closed);
      return;
    }
    const timer = setTimeout(() => {
      this.#travel.delete(model);
      this.#apply(unit, feeder, closed);
    }, travelMs);
    timer.unref();
    this.#travel.set(model, { target: closed, timer });
  }

  #cancelTravel(model: FeederModel): void {
    const travel = this.#travel.get(model);
    if (travel === undefined) return;
    clearTimeout(travel.timer);
    this.#travel.delete(model);
  }

  #apply(unit: number, feeder: number, closed: boolean): void {
    const model = this.#feeder(unit, feeder);
    if (model.breakerClosed !== closed) this.#log?.info({ event: 'simulator.breaker', unit, feeder, closed }, closed ? 'breaker closed' : 'breaker opened');
    model.breakerClosed = closed;
    this.#encode(unit, feeder);
  }

  #encode(unit: number, feeder: number): void {
    this.#unit(unit).encodeFeeder(feeder, this.#feeder(unit, feeder));
  }

  #unit(unit: number): UnitModel {
    const model = this.#units[unit - 1];
    if (model === undefined || unit < 1) throw new RangeError(`no unit ${unit} (units are 1..${this.#units.length})`);
    return model;
  }

  #feeder(unit: number, feeder: number): FeederModel {
    const model = this.#unit(unit).feeders[feeder];
    if (model === undefined) throw new RangeError(`no feeder ${feeder} (feeders are 0..${this.#options.feeders - 1})`);
    return model;
  }
}

/**
 * ServerTCP keeps its net.Server in the undeclared field `_server` (it
 * listens in the constructor and exposes neither the port nor the server).
 */
function innerServer(server: ServerTCP): NetServer {
  const inner: unknown = (server as unknown as { _server?: unknown })._server;
  if (!(inner instanceof NetServer)) throw new Error('modbus-serial ServerTCP no longer exposes its net.Server (_server); cannot read the bound port');
  return inner;
}
