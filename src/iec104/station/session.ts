import type { Socket } from 'node:net';
import type { UserActor } from '../../accounts/actor.js';
import type { Logger } from '../../log/logger.js';
import type { ScadaApi } from '../../protocol/scada.js';
import {
  Cot,
  Iec104CodecError,
  TypeId,
  cp56ToEpochMs,
  decodeAsdu,
  mirrorAsdu,
  typeIdName,
  type Asdu,
} from '../codec/index.js';
import { Iec104Link, type LinkParameters } from '../link/link.js';
import { CommandHandler, isCommandType, type CommandAsdu } from './commands.js';
import { QueueLedger } from './ledger.js';
import type { StationPoint } from './point-map.js';

/** The global common address: every station answers it (system commands only). */
const GLOBAL_ADDRESS = 0xffff;

/** What every session of a station shares. */
export interface SessionContext {
  readonly scada: ScadaApi;
  /** The point at an information object address, in the map the station serves now (a reload may swap it). */
  pointAt(ioa: number): StationPoint | undefined;
  readonly commonAddress: number;
  readonly parameters: LinkParameters;
  readonly maxQueued: number;
  readonly logger: Logger;
  /** The ASDUs of a station interrogation (COT 20) for a request from `originator`. */
  interrogation(originator: number): Buffer[];
}

/** Counters of one master's connection, for status. */
export interface SessionStats {
  readonly peer: string;
  readonly started: boolean;
  readonly sent: number;
  readonly received: number;
  readonly queued: number;
  /** Spontaneous events dropped from this master's full queue. */
  readonly droppedEvents: number;
}

/**
 * One master's connection to the controlled station (docs/iec104.md
 * "Controlled station"): its own link (numbering, windows, timers, queue),
 * its own selections, and its actor, `iec104:<address>`, which the control
 * desk and the audit log see. ASDUs the station cannot act on are answered
 * as the standard says (cause 44 unknown type, 45 unknown cause, 46 unknown
 * common address, 47 unknown address, or a negative confirmation); what is
 * not a controlling station's ASDU at all, or does not decode, closes this
 * connection alone, with the reason logged.
 */
export class StationSession {
  readonly link: Iec104Link;
  readonly actor: UserActor;
  readonly peer: string;
  readonly #ctx: SessionContext;
  readonly #socket: Socket;
  readonly #commands: CommandHandler;
  readonly #ledger = new QueueLedger();
  #droppedEvents = 0;

  constructor(socket: Socket, ctx: SessionContext, onClosed: (session: StationSession, reason: string | null) => void) {
    this.#ctx = ctx;
    this.#socket = socket;
    const address = socket.remoteAddress ?? 'unknown';
    const port = socket.remotePort ?? 0;
    this.peer = `${address}:${port}`;
    this.actor = { identity: { name: `iec104:${address}`, role: 'operator' }, address, front: 'iec104', connection: `iec104:${address}:${port}` };
    this.#commands = new CommandHandler({ scada: ctx.scada, actor: this.actor, logger: ctx.logger, send: (asdu) => this.send(asdu, 0) });
    this.link = new Iec104Link(socket, {
      role: 'controlled',
      parameters: ctx.parameters,
      maxQueued: ctx.maxQueued,
      handlers: {
        asdu: (bytes) => this.#onAsdu(bytes),
        started: () => ctx.logger.debug({ event: 'iec104.started', peer: this.peer }, 'IEC 104 data transfer started'),
        stopped: () => ctx.logger.debug({ event: 'iec104.stopped', peer: this.peer }, 'IEC 104 data transfer stopped'),
        closed: (reason) => {
          ctx.scada.releaseConnection(this.actor.connection);
          this.#ledger.clear();
          onClosed(this, reason);
        },
      },
    });
    // What the link sends in answer to what it reads (the next window after an
    // acknowledgement, confirmations) leaves in one write, not one system call
    // per APDU: corked before the link's own 'data' listener, uncorked right
    // after it (a listener added after the link's), not a tick later: the
    // master waits for that window.
    socket.prependListener('data', () => socket.cork());
    socket.on('data', () => socket.uncork());
  }

  get droppedEvents(): number {
    return this.#droppedEvents;
  }

  stats(): SessionStats {
    const { sent, received } = this.link.stats;
    return { peer: this.peer, started: this.link.started, sent, received, queued: this.link.queued, droppedEvents: this.#droppedEvents };
  }

  /**
   * Queues an ASDU carrying `events` spontaneous events (0 for anything
   * else). The link's queue is bounded: when it drops its oldest ASDU, the
   * events that one carried are counted.
   */
  send(asdu: Buffer, events: number): void {
    const link = this.link;
    if (link.closed) return;
    this.#ledger.trimTo(link.queued);
    const dropped = link.stats.dropped;
    link.send(asdu);
    if (link.stats.dropped !== dropped) this.#droppedEvents += this.#ledger.shift();
    this.#ledger.push(events);
    this.#ledger.trimTo(link.queued);
  }

  /**
   * Runs `send`s with the socket corked: the APDUs the link writes meanwhile
   * leave in one write (one system call, full segments) instead of one each.
   */
  corked(work: () => void): void {
    this.#socket.cork();
    try {
      work();
    } finally {
      this.#socket.uncork();
    }
  }

  #onAsdu(bytes: Buffer): void {
    let asdu: Asdu;
    try {
      asdu = decodeAsdu(bytes);
    } catch (err) {
      // A command type the standard defines for this direction but gridlink does not act on: cause 44.
      if (err instanceof Iec104CodecError && err.reason === 'unknown_type' && isControlDirection(bytes[0]!)) {
        this.#refuse(bytes, Cot.UnknownTypeId, `${typeIdName(bytes[0]!)} is not supported`);
        return;
      }
      throw err;
    }
    if (!isControlDirection(asdu.typeId)) {
      throw new Error(`${typeIdName(asdu.typeId)} is monitoring-direction information, which a controlling station does not send`);
    }
    const ca = asdu.commonAddress;
    const system = asdu.typeId === TypeId.C_IC_NA_1 || asdu.typeId === TypeId.C_CI_NA_1 || asdu.typeId === TypeId.C_CS_NA_1;
    if (ca !== this.#ctx.commonAddress && !(system && ca === GLOBAL_ADDRESS)) {
      this.#refuse(bytes, Cot.UnknownCommonAddress, `common address ${ca} (this station is ${this.#ctx.commonAddress})`);
      return;
    }
    switch (asdu.typeId) {
      case TypeId.C_IC_NA_1:
        return this.#interrogation(bytes, asdu);
      case TypeId.C_CS_NA_1:
        return this.#clockSync(bytes, asdu);
      case TypeId.C_TS_TA_1:
        if (asdu.cause !== Cot.Activation) return this.#refuse(bytes, Cot.UnknownCause, `cause ${asdu.cause} for a test command`);
        return this.#answer(bytes, Cot.ActivationCon, false);
      case TypeId.C_CI_NA_1:
        // gridlink maps no integrated totals: nothing to interrogate.
        if (asdu.cause === Cot.Activation) return this.#answer(bytes, Cot.ActivationCon, true);
        if (asdu.cause === Cot.Deactivation) return this.#answer(bytes, Cot.DeactivationCon, true);
        return this.#refuse(bytes, Cot.UnknownCause, `cause ${asdu.cause} for a counter interrogation`);
      default:
        if (isCommandType(asdu.typeId)) return this.#command(bytes, asdu as CommandAsdu);
        // M_EI_NA_1 is the station's own to send.
        return this.#refuse(bytes, Cot.UnknownTypeId, `${typeIdName(asdu.typeId)} is not accepted from a master`);
    }
  }

  #interrogation(bytes: Buffer, asdu: Extract<Asdu, { typeId: typeof TypeId.C_IC_NA_1 }>): void {
    if (asdu.cause === Cot.Deactivation) return this.#answer(bytes, Cot.DeactivationCon, true); // answered at once: nothing left to stop
    if (asdu.cause !== Cot.Activation) return this.#refuse(bytes, Cot.UnknownCause, `cause ${asdu.cause} for an interrogation`);
    const object = asdu.objects[0]!;
    if (asdu.objects.length !== 1 || object.ioa !== 0) return this.#refuse(bytes, Cot.UnknownIoa, 'an interrogation is one object at IOA 0');
    // Group interrogations (QOI 21..36): gridlink's points belong to no group.
    if (object.qoi !== 20) return this.#answer(bytes, Cot.ActivationCon, true);
    const data = this.#ctx.interrogation(asdu.originator);
    this.corked(() => {
      this.#answer(bytes, Cot.ActivationCon, false);
      for (const answer of data) this.send(answer, 0);
      this.#answer(bytes, Cot.ActivationTermination, false);
    });
  }

  #clockSync(bytes: Buffer, asdu: Extract<Asdu, { typeId: typeof TypeId.C_CS_NA_1 }>): void {
    if (asdu.cause !== Cot.Activation) return this.#refuse(bytes, Cot.UnknownCause, `cause ${asdu.cause} for a clock synchronization`);
    let time: number;
    try {
      time = cp56ToEpochMs(asdu.objects[0]!.time);
    } catch {
      return this.#answer(bytes, Cot.ActivationCon, true);
    }
    // The offset is logged for the operators; the host clock is never set (NTP's job).
    this.#ctx.logger.info({ event: 'iec104.clock_sync', peer: this.peer, time: new Date(time).toISOString(), offsetMs: time - Date.now() }, 'IEC 104 clock synchronization (host clock not changed)');
    this.#answer(bytes, Cot.ActivationCon, false);
  }

  #command(bytes: Buffer, asdu: CommandAsdu): void {
    if (asdu.cause !== Cot.Activation && asdu.cause !== Cot.Deactivation) return this.#refuse(bytes, Cot.UnknownCause, `cause ${asdu.cause} for a command`);
    const confirmation = asdu.cause === Cot.Activation ? Cot.ActivationCon : Cot.DeactivationCon;
    if (asdu.objects.length !== 1) return this.#answer(bytes, confirmation, true);
    const point = this.#ctx.pointAt(asdu.objects[0]!.ioa);
    if (point === undefined) return this.#refuse(bytes, Cot.UnknownIoa, `no point at IOA ${asdu.objects[0]!.ioa}`);
    // T = 1: a test ASDU, not to be acted upon (docs/iec104.md "Commands").
    if (asdu.test) return this.#answer(bytes, confirmation, true);
    this.#commands.handle(bytes, asdu, point);
  }

  /** Mirrors the request with another cause; to the global address, answers with this station's own. */
  #answer(bytes: Buffer, cause: number, negative: boolean): void {
    const out = mirrorAsdu(bytes, cause, negative);
    if ((out[4]! | (out[5]! << 8)) === GLOBAL_ADDRESS) {
      out[4] = this.#ctx.commonAddress & 0xff;
      out[5] = this.#ctx.commonAddress >> 8;
    }
    this.send(out, 0);
  }

  #refuse(bytes: Buffer, cause: number, why: string): void {
    this.#ctx.logger.debug({ event: 'iec104.asdu_refused', peer: this.peer, type: bytes[0], cause, reason: why }, `IEC 104 ASDU refused: ${why}`);
    this.send(mirrorAsdu(bytes, cause, true), 0);
  }
}

/**
 * Type ids of the control direction and of system information in it
 * (45..127): a master may send them. Below 45 is process information in the
 * monitor direction, 0 is not defined and 128..255 are private: none of them
 * comes from a controlling station.
 */
function isControlDirection(typeId: number): boolean {
  return typeId >= 45 && typeId <= 127;
}
