import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Bus, BusMessage, Subscription } from '../../bus/bus.js';
import type { Logger } from '../../log/logger.js';
import type { PointEvent, ScadaApi } from '../../protocol/scada.js';
import { Cot, TypeId, encodeAsdu } from '../codec/index.js';
import type { LinkParameters } from '../link/link.js';
import { PointMap, update, type Iec104PointOptions, type StationPoint } from './point-map.js';
import { StationSession, type SessionContext } from './session.js';
import { ChangeBatch } from './spontaneous.js';

/** The `iec104` section of the configuration (src/config/schema.ts, docs/configuration.md "IEC 104"). */
export interface StationConfig {
  readonly host: string;
  readonly port: number;
  readonly commonAddress: number;
  readonly allow: readonly string[];
  readonly k: number;
  readonly w: number;
  readonly t0: number;
  readonly t1: number;
  readonly t2: number;
  readonly t3: number;
  readonly maxQueued: number;
  readonly maxConnections: number;
}

export interface StationOptions {
  readonly config: StationConfig;
  readonly scada: ScadaApi;
  readonly bus: Bus;
  readonly logger: Logger;
  /** A point's `iec104` options, when its configuration has them. */
  readonly pointOptions: (name: string) => Iec104PointOptions | undefined;
  /** PEM certificate and key: the station speaks TLS. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer } | undefined;
}

/** The station's counters for `gridlink admin status` (the `iec104` part of ServerStatus). */
export interface StationStatus {
  /** Masters connected now. */
  readonly connections: number;
  /** Of those, with data transfer started. */
  readonly started: number;
  readonly accepted: number;
  /** Connections closed at accept: not in `iec104.allow`, or `maxConnections` reached. */
  readonly refused: number;
  /** ASDUs waiting in the masters' queues now (window full, or data transfer stopped). */
  readonly queued: number;
  /** Spontaneous events dropped from full master queues, over all connections so far. */
  readonly droppedEvents: number;
}

/** Events the station's bus subscription may have waiting (it drains them every turn of the loop). */
const MIN_BUS_QUEUE = 100_000;

/**
 * gridlink as an IEC 60870-5-104 controlled station (docs/iec104.md
 * "Controlled station"): a TCP (or TLS) listener for masters from
 * `iec104.allow`, one {@link StationSession} per master, the point table
 * mapped to information objects (point-map.ts), and the data plane's events
 * (`events.>` on the bus) sent to every master as spontaneous data.
 */
export class Iec104Station {
  readonly #config: StationConfig;
  readonly #logger: Logger;
  #points: PointMap;
  readonly #scada: ScadaApi;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #sessions = new Set<StationSession>();
  readonly #subscription: Subscription;
  readonly #context: SessionContext;
  /** The changes of this turn of the loop, and the batch the last turn used (emptied), swapped at each flush. */
  #batch: ChangeBatch;
  #spare: ChangeBatch;
  /** Two slots of the bus's per-topic memo: a topic's StationPoint, and the PointMap it belongs to. */
  readonly #memoSlot: number;
  #flushScheduled = false;
  #accepted = 0;
  #refused = 0;
  #droppedClosed = 0;
  #closed = false;

  constructor(options: StationOptions) {
    this.#config = options.config;
    this.#scada = options.scada;
    this.#logger = options.logger.child({ service: 'iec104' });
    const { commonAddress } = options.config;
    // Subscribe before taking the snapshot: no change falls between the two.
    this.#memoSlot = options.bus.memoSlots(2);
    const subscription = options.bus.subscribe('events.>', (message) => this.#onEvent(message), { maxQueued: MIN_BUS_QUEUE, policy: 'drop-oldest' });
    try {
      this.#points = new PointMap(options.scada.points(), options.pointOptions, commonAddress);
    } catch (err) {
      subscription.unsubscribe();
      throw err;
    }
    this.#subscription = subscription;
    this.#batch = new ChangeBatch(commonAddress);
    this.#spare = new ChangeBatch(commonAddress);
    const parameters: LinkParameters = { k: options.config.k, w: options.config.w, t1: options.config.t1, t2: options.config.t2, t3: options.config.t3 };
    // Through #points each time: a reload (reloadPoints) swaps the map under running sessions.
    this.#context = {
      scada: options.scada,
      pointAt: (ioa) => this.#points.byIoa(ioa),
      commonAddress,
      parameters,
      maxQueued: options.config.maxQueued,
      logger: this.#logger,
      interrogation: (originator) => this.#points.interrogationAsdus(originator),
    };
    if (options.tls === undefined) {
      this.#server = createServer();
      this.#server.on('connection', (socket: Socket) => {
        if (this.#admit(socket)) this.#open(socket);
      });
    } else {
      const server = createTlsServer({ cert: options.tls.cert, key: options.tls.key, handshakeTimeout: options.config.t0 });
      server.on('connection', (socket: Socket) => {
        this.#admit(socket);
      });
      server.on('secureConnection', (socket: TLSSocket) => this.#open(socket));
      server.on('tlsClientError', (err, socket) => {
        this.#logger.info({ event: 'iec104.tls_failed', peer: `${socket.remoteAddress}:${socket.remotePort}`, reason: err.message }, 'IEC 104 TLS handshake failed');
      });
      this.#server = server;
    }
  }

  /** Listens on `iec104.host:port`; resolves to the real address. */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen(this.#config.port, this.#config.host, () => {
        this.#server.off('error', onError);
        this.#server.on('error', (err) => this.#logger.error({ event: 'iec104.listener_error', err }, 'IEC 104 listener error'));
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /**
   * Serves the data plane's points as they are now (after `admin reload`
   * changed `scada.devices`), with the `iec104` options of the new `devices`.
   * Every master in data transfer then gets an end of initialization
   * (M_EI_NA_1, COI 1 "local manual reset" with BS1 "after a change of local
   * parameters"): its cue to interrogate again. A map that cannot be built
   * (two points on one address) throws, and the station keeps the old one.
   */
  reloadPoints(devices: Parameters<typeof pointOptionsFrom>[0]): void {
    const next = new PointMap(this.#scada.points(), pointOptionsFrom(devices), this.#config.commonAddress);
    this.#points = next;
    const endOfInit = encodeAsdu({
      typeId: TypeId.M_EI_NA_1,
      sequence: false,
      cause: Cot.Initialized,
      negative: false,
      test: false,
      originator: 0,
      commonAddress: this.#config.commonAddress,
      objects: [{ ioa: 0, coi: 1, parametersChanged: true }],
    });
    for (const session of this.#sessions) if (session.link.started) session.send(endOfInit, 0);
    this.#logger.info({ event: 'iec104.points_reloaded', points: next.size, masters: this.#sessions.size }, `the IEC 104 station serves ${next.size} points now`);
  }

  /** Points the station serves. */
  get points(): number {
    return this.#points.size;
  }

  status(): StationStatus {
    let started = 0;
    let queued = 0;
    let dropped = this.#droppedClosed;
    for (const session of this.#sessions) {
      if (session.link.started) started += 1;
      queued += session.link.queued;
      dropped += session.droppedEvents;
    }
    return { connections: this.#sessions.size, started, accepted: this.#accepted, refused: this.#refused, queued, droppedEvents: dropped };
  }

  /** Stops listening and closes every master's connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscription.unsubscribe();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const session of [...this.#sessions]) session.link.close('the server is stopping');
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  /** Counts the TCP connection and refuses it when its address is not allowed or the station is full. */
  #admit(socket: Socket): boolean {
    const address = socket.remoteAddress ?? 'unknown';
    let reason: string | null = null;
    if (this.#closed) reason = 'the server is stopping';
    else if (!allowed(this.#config.allow, address)) reason = 'address not in iec104.allow';
    else if (this.#sockets.size >= this.#config.maxConnections) reason = `iec104.maxConnections (${this.#config.maxConnections}) reached`;
    if (reason !== null) {
      this.#refused += 1;
      this.#logger.warn({ event: 'iec104.refused', peer: `${address}:${socket.remotePort}`, reason }, `IEC 104 connection refused: ${reason}`);
      socket.on('error', () => undefined);
      socket.destroy();
      return false;
    }
    this.#accepted += 1;
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    return true;
  }

  #open(socket: Socket): void {
    if (this.#closed || socket.destroyed) {
      socket.destroy();
      return;
    }
    const opened = Date.now();
    const session = new StationSession(socket, this.#context, (s, reason) => {
      this.#sessions.delete(s);
      this.#droppedClosed += s.droppedEvents;
      const stats = s.stats();
      this.#logger.info(
        { event: 'iec104.closed', peer: s.peer, reason, sent: stats.sent, received: stats.received, droppedEvents: stats.droppedEvents, durationMs: Date.now() - opened },
        `IEC 104 master ${s.peer} disconnected${reason === null ? '' : `: ${reason}`}`,
      );
    });
    if (session.link.closed) return; // the socket died before the link could take it
    this.#sessions.add(session);
    this.#logger.info({ event: 'iec104.connected', peer: session.peer }, `IEC 104 master ${session.peer} connected`);
  }

  #onEvent(message: BusMessage): void {
    const event = message.payload as PointEvent;
    const point = this.#pointOf(message, event);
    if (point === undefined) return;
    update(point, event.value, event.quality);
    if (this.#sessions.size === 0) return;
    this.#batch.add(point, event.sourceTime);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /**
   * The point of an event: remembered in the bus's memo of its topic (a
   * map of 20,000 names costs a cache miss or three per lookup, a third of
   * the station's time per event), checked against the map the station
   * serves now (a reload swaps it) and the event's own name.
   */
  #pointOf(message: BusMessage, event: PointEvent): StationPoint | undefined {
    const memo = message.memo;
    const slot = this.#memoSlot;
    if (memo !== undefined && memo[slot + 1] === this.#points) {
      const point = memo[slot] as StationPoint;
      if (point.name === event.point) return point;
    }
    const point = this.#points.byName(event.point);
    if (memo !== undefined && point !== undefined) {
      memo[slot] = point;
      memo[slot + 1] = this.#points;
    }
    return point;
  }

  /** Sends the changes of this turn of the event loop to every master, in order. */
  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#batch;
    if (batch.size === 0) return;
    this.#batch = this.#spare;
    for (const session of this.#sessions) {
      const asdus = session.link.started ? batch.packed() : batch.single();
      session.corked(() => {
        for (const { asdu, events } of asdus) session.send(asdu, events);
      });
    }
    batch.clear();
    this.#spare = batch;
  }
}

/** True when `address` is in the allow list (`*` allows any); an IPv4-mapped IPv6 address also matches its IPv4 form. */
export function allowed(allow: readonly string[], address: string): boolean {
  if (allow.includes('*') || allow.includes(address)) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/iu.exec(address)?.[1];
  return mapped !== undefined && allow.includes(mapped);
}

/** The `iec104` options of configured points by name (`scada.devices[].points[].iec104`); the simulator's points have none. */
export function pointOptionsFrom(
  devices: readonly { readonly points: readonly { readonly name: string; readonly iec104?: Iec104PointOptions | undefined }[] }[] | undefined,
): (name: string) => Iec104PointOptions | undefined {
  const options = new Map<string, Iec104PointOptions>();
  for (const device of devices ?? []) for (const point of device.points) if (point.iec104 !== undefined) options.set(point.name, point.iec104);
  return (name) => options.get(name);
}
