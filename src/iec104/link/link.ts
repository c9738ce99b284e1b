import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  APCI_BYTES,
  ApduSplitter,
  SEQUENCE_MODULO,
  decodeApci,
  encodeSFrame,
  encodeUFrame,
  writeIHeader,
  type UFunction,
} from '../codec/index.js';
import { pollBusyFor } from '../../transport/busy-poll.js';

/** The APCI parameters of docs/iec104.md "Parameters" (times in milliseconds). */
export interface LinkParameters {
  /** Most I-format APDUs sent and not yet acknowledged (12). */
  readonly k: number;
  /** Acknowledge at the latest after this many I-format APDUs received (8). */
  readonly w: number;
  /** Time-out of send or test APDUs: an unacknowledged APDU this old closes the link (15 s). */
  readonly t1: number;
  /** Time-out for acknowledging received I-format APDUs when there is no data to send (10 s). */
  readonly t2: number;
  /** Time-out for sending a test frame on a silent link (20 s). */
  readonly t3: number;
}

export const DEFAULT_LINK_PARAMETERS: LinkParameters = { k: 12, w: 8, t1: 15_000, t2: 10_000, t3: 20_000 };

/** Which end of the link: the controlling station (master) starts data transfer; the controlled one (slave) answers. */
export type LinkRole = 'controlling' | 'controlled';

export interface LinkHandlers {
  /** An I-format APDU's ASDU, already acknowledged in sequence. Throwing closes the link with that reason. */
  asdu(bytes: Buffer): void;
  /** Data transfer started (STARTDT confirmed, or accepted). */
  started?(): void;
  /** Data transfer stopped (STOPDT confirmed, or accepted). */
  stopped?(): void;
  /** The link closed: `reason` says why (null when closed by {@link Iec104Link.close} without one). */
  closed(reason: string | null): void;
}

export interface LinkOptions {
  readonly role: LinkRole;
  readonly parameters: LinkParameters;
  /** ASDUs waiting to be sent (window full, or data transfer stopped); past it the oldest are dropped and counted. */
  readonly maxQueued: number;
  readonly handlers: LinkHandlers;
}

/** Counters of one link, for status and metrics. */
export interface LinkStats {
  sent: number;
  received: number;
  /** ASDUs dropped from a full queue. */
  dropped: number;
}

const TICK_MS = 100;
/**
 * After a write that left ASDUs waiting for the window, the event loop polls
 * without sleeping this long for the acknowledgement (src/transport/busy-poll.ts),
 * as long as the master's last acknowledgement came within it: a master that
 * takes longer (a WAN, or one acknowledging slowly on purpose) gets no polling,
 * so it cannot make the server spin.
 */
const ACK_SPIN_MS = 2;

/**
 * One IEC 60870-5-104 connection, either end (docs/iec104.md "APCI"): cuts
 * the byte stream into APDUs, numbers and acknowledges I-format APDUs, keeps
 * the k/w windows and the t1, t2 and t3 timers, and answers STARTDT, STOPDT
 * and TESTFR. ASDUs to send wait in a bounded queue while the window is full
 * or data transfer is stopped. Any breach of the standard (a bad frame, a
 * sequence error, an acknowledgement of something never sent, t1 expiry)
 * closes this link alone, with a reason.
 */
export class Iec104Link {
  readonly stats: LinkStats = { sent: 0, received: 0, dropped: 0 };
  readonly #socket: Socket;
  readonly #role: LinkRole;
  readonly #p: LinkParameters;
  readonly #maxQueued: number;
  readonly #handlers: LinkHandlers;
  readonly #splitter: ApduSplitter;
  /** V(S): the send sequence number of the next I-format APDU. */
  #sendSeq = 0;
  /** V(R): the send sequence number expected of the next received I-format APDU. */
  #recvSeq = 0;
  /** V(A): the oldest of our I-format APDUs not yet acknowledged. */
  #ackedSeq = 0;
  /** When each unacknowledged APDU was sent, oldest first (for t1). */
  readonly #unacked: number[] = [];
  /** ASDUs waiting for the window, or for data transfer to start. */
  readonly #queue: Buffer[] = [];
  #queueHead = 0;
  /** Received I-format APDUs not yet acknowledged, and when the first of them came. */
  #unconfirmed = 0;
  #unconfirmedSince = 0;
  #lastReceived = Date.now();
  /** A test or STARTDT/STOPDT act waiting for its confirmation, and since when. */
  #awaiting: { fn: UFunction; since: number; resolve: () => void } | null = null;
  #testSince = 0;
  #started = false;
  #closed = false;
  /** When a write last left ASDUs waiting on a full window (0: none waiting), and whether the last such wait was short enough to poll for. */
  #windowFullAt = 0;
  #quickAcks = true;
  readonly #ticker: NodeJS.Timeout;

  constructor(socket: Socket, options: LinkOptions) {
    this.#socket = socket;
    this.#role = options.role;
    this.#p = options.parameters;
    this.#maxQueued = options.maxQueued;
    this.#handlers = options.handlers;
    this.#splitter = new ApduSplitter((apdu) => this.#onApdu(apdu));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#splitter.push(chunk);
      } catch (err) {
        this.close(err instanceof Error ? err.message : String(err));
      }
    });
    socket.on('error', (err) => this.close(`socket: ${err.message}`));
    socket.on('close', () => this.close('connection closed by the peer'));
    this.#ticker = setInterval(() => this.#tick(), Math.min(TICK_MS, this.#p.t2, this.#p.t1)).unref();
  }

  get role(): LinkRole {
    return this.#role;
  }

  /** True while data transfer is started: I-format APDUs flow. */
  get started(): boolean {
    return this.#started;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** ASDUs waiting to be sent. */
  get queued(): number {
    return this.#queue.length - this.#queueHead;
  }

  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? 'unknown';
  }

  get remotePort(): number {
    return this.#socket.remotePort ?? 0;
  }

  /**
   * Queues an ASDU (1..249 bytes) to be sent as an I-format APDU, in order,
   * as soon as data transfer is started and the window has room. A full
   * queue drops its oldest ASDU and counts it.
   */
  send(asdu: Buffer): void {
    if (this.#closed) return;
    if (this.queued >= this.#maxQueued) {
      this.#queueHead += 1;
      this.stats.dropped += 1;
      // Stopped, #flush returns before it compacts: without this the array keeps every dropped ASDU.
      this.#compact();
    }
    this.#queue.push(asdu);
    this.#flush();
  }

  /** Controlling station: STARTDT act; resolves on its confirmation (t1 closes the link otherwise). */
  startDataTransfer(): Promise<void> {
    return this.#act('STARTDT_ACT');
  }

  /** Controlling station: STOPDT act; resolves on its confirmation. */
  stopDataTransfer(): Promise<void> {
    return this.#act('STOPDT_ACT');
  }

  /** Closes the link at once; `reason` is logged by the owner. */
  close(reason: string | null = null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#started = false;
    clearInterval(this.#ticker);
    this.#queue.length = 0;
    this.#queueHead = 0;
    this.#socket.destroy();
    this.#handlers.closed(reason);
  }

  #act(fn: 'STARTDT_ACT' | 'STOPDT_ACT'): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the link is closed'));
    return new Promise((resolve) => {
      this.#awaiting = { fn, since: Date.now(), resolve };
      this.#write(encodeUFrame(fn));
    });
  }

  #onApdu(apdu: Buffer): void {
    if (this.#closed) return;
    const apci = decodeApci(apdu);
    this.#lastReceived = Date.now();
    this.#testSince = 0;
    switch (apci.format) {
      case 'I': {
        if (!this.#started) throw new Error('an I-format APDU while data transfer is stopped');
        if (apci.sendSeq !== this.#recvSeq) throw new Error(`sequence error: N(S) ${apci.sendSeq}, expected ${this.#recvSeq}`);
        this.#recvSeq = (this.#recvSeq + 1) % SEQUENCE_MODULO;
        this.stats.received += 1;
        this.#acknowledged(apci.recvSeq);
        if (this.#unconfirmed === 0) this.#unconfirmedSince = Date.now();
        this.#unconfirmed += 1;
        this.#handlers.asdu(apci.asdu);
        if (this.#unconfirmed >= this.#p.w) this.#confirm();
        this.#flush();
        return;
      }
      case 'S':
        this.#acknowledged(apci.recvSeq);
        this.#flush();
        return;
      case 'U':
        this.#onU(apci.fn);
        return;
    }
  }

  #onU(fn: UFunction): void {
    switch (fn) {
      case 'TESTFR_ACT':
        this.#write(encodeUFrame('TESTFR_CON'));
        return;
      case 'TESTFR_CON':
        return; // #lastReceived and #testSince were reset on arrival
      case 'STARTDT_ACT':
        if (this.#role !== 'controlled') throw new Error('STARTDT act sent to a controlling station');
        this.#write(encodeUFrame('STARTDT_CON'));
        if (!this.#started) {
          this.#started = true;
          this.#handlers.started?.();
        }
        this.#flush();
        return;
      case 'STOPDT_ACT':
        if (this.#role !== 'controlled') throw new Error('STOPDT act sent to a controlling station');
        // Everything received is acknowledged before the confirmation.
        if (this.#unconfirmed > 0) this.#confirm();
        this.#write(encodeUFrame('STOPDT_CON'));
        if (this.#started) {
          this.#started = false;
          this.#handlers.stopped?.();
        }
        return;
      case 'STARTDT_CON':
      case 'STOPDT_CON': {
        const awaiting = this.#awaiting;
        if (this.#role !== 'controlling' || awaiting === null || awaiting.fn !== (fn === 'STARTDT_CON' ? 'STARTDT_ACT' : 'STOPDT_ACT')) {
          throw new Error(`${fn} that nothing asked for`);
        }
        this.#awaiting = null;
        const starting = fn === 'STARTDT_CON';
        if (this.#started !== starting) {
          this.#started = starting;
          if (starting) this.#handlers.started?.();
          else this.#handlers.stopped?.();
        }
        awaiting.resolve();
        this.#flush();
        return;
      }
    }
  }

  /** N(R) from the peer: every APDU of ours before it is acknowledged. */
  #acknowledged(recvSeq: number): void {
    const outstanding = (this.#sendSeq - this.#ackedSeq + SEQUENCE_MODULO) % SEQUENCE_MODULO;
    const confirming = (recvSeq - this.#ackedSeq + SEQUENCE_MODULO) % SEQUENCE_MODULO;
    if (confirming > outstanding) throw new Error(`acknowledgement of N(R) ${recvSeq}, but only ${this.#ackedSeq}..${this.#sendSeq} are outstanding`);
    this.#unacked.splice(0, confirming);
    this.#ackedSeq = recvSeq;
    if (confirming > 0 && this.#windowFullAt !== 0) {
      this.#quickAcks = performance.now() - this.#windowFullAt <= ACK_SPIN_MS;
      this.#windowFullAt = 0;
    }
  }

  /** Sends queued ASDUs while data transfer is started and the k window has room. */
  #flush(): void {
    if (!this.#started || this.#closed) return;
    const count = Math.min(this.#p.k - this.#unacked.length, this.#queue.length - this.#queueHead);
    if (count <= 0) return;
    // The APDUs of one flush (up to k) leave in one buffer and one write, not a write each.
    let bytes = 0;
    for (let i = 0; i < count; i++) bytes += APCI_BYTES + this.#queue[this.#queueHead + i]!.length;
    const out = Buffer.allocUnsafe(bytes);
    const now = Date.now();
    let at = 0;
    for (let i = 0; i < count; i++) {
      const asdu = this.#queue[this.#queueHead]!;
      this.#queueHead += 1;
      writeIHeader(out, at, this.#sendSeq, this.#recvSeq, asdu.length);
      out.set(asdu, at + APCI_BYTES);
      at += APCI_BYTES + asdu.length;
      this.#sendSeq = (this.#sendSeq + 1) % SEQUENCE_MODULO;
      this.#unacked.push(now);
    }
    // An I-format APDU carries N(R): it acknowledges everything received.
    this.#unconfirmed = 0;
    this.stats.sent += count;
    this.#write(out);
    this.#compact();
    if (this.#queue.length > this.#queueHead) {
      this.#windowFullAt = performance.now();
      if (this.#quickAcks) pollBusyFor(ACK_SPIN_MS);
    }
  }

  /** Drops the sent and dropped ASDUs from the front of the queue's array now and then, so it stays bounded. */
  #compact(): void {
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
  }

  #confirm(): void {
    this.#unconfirmed = 0;
    this.#write(encodeSFrame(this.#recvSeq));
  }

  #write(apdu: Buffer): void {
    if (!this.#closed) this.#socket.write(apdu);
  }

  #tick(): void {
    if (this.#closed) return;
    const now = Date.now();
    const oldest = this.#unacked[0];
    if (oldest !== undefined && now - oldest > this.#p.t1) {
      this.close(`t1 expired: an I-format APDU unacknowledged for ${now - oldest} ms`);
      return;
    }
    if (this.#awaiting !== null && now - this.#awaiting.since > this.#p.t1) {
      this.close(`t1 expired: no confirmation of ${this.#awaiting.fn}`);
      return;
    }
    if (this.#testSince !== 0 && now - this.#testSince > this.#p.t1) {
      this.close('t1 expired: no TESTFR con');
      return;
    }
    if (this.#unconfirmed > 0 && now - this.#unconfirmedSince >= this.#p.t2) this.#confirm();
    if (this.#testSince === 0 && now - this.#lastReceived >= this.#p.t3) {
      this.#testSince = now;
      this.#write(encodeUFrame('TESTFR_ACT'));
    }
  }
}
