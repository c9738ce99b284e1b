import type { WebSocket } from 'ws';
import type { Bus, BusMessage, Subscription } from '../bus/bus.js';
import { checkPattern } from '../bus/topics.js';
import { GridlinkError } from '../errors/index.js';
import type { ScadaApi } from '../protocol/scada.js';
import type { ChatEvent, ChatRooms, Membership } from '../services/chat/chat-rooms.js';
import { survivesRestart, type WebSession } from './sessions.js';

/** What a live socket needs from the HTTP server. */
export interface LiveHost {
  readonly bus: Bus;
  readonly chat: ChatRooms;
  scada(): ScadaApi | null;
  /** Marks the session used and checks its account; false when the session has ended. */
  checkSession(session: WebSession): boolean;
  onLiveClosed(socket: LiveSocket): void;
}

/** Point updates that may wait for one socket; then the oldest go (docs/protocol.md §3.4 telemetry policy). */
const POINT_QUEUE = 256;
/** Alarm events that may wait; a socket that cannot keep up with alarms is cut (it re-reads /api/alarms). */
const ALARM_QUEUE = 1_000;
/** Above this many bytes waiting in the socket, a sink waits for the write before taking more. */
const HIGH_WATER_BYTES = 256 * 1024;
const MAX_PATTERNS = 32;
/** Chat rooms one socket may be in at once (docs/http-api.md "WebSocket"). */
const MAX_ROOMS = 8;

/** Close codes: the session ended (log in again); the peer was too slow or kicked (policy). */
export const CLOSE_SESSION_ENDED = 4401;
export const CLOSE_POLICY = 4008;
/** The server stops and its sessions outlive it (WebSocket "service restart"): reconnect, no new login. */
export const CLOSE_SERVICE_RESTART = 1012;

/** JSON of a payload shared by every socket it reaches, made once. */
const encoded = new WeakMap<object, string>();
function encodeOnce(key: object, make: () => unknown): string {
  let text = encoded.get(key);
  if (text === undefined) {
    text = JSON.stringify(make());
    encoded.set(key, text);
  }
  return text;
}

type ClientOp =
  | { op: 'subscribe'; points?: string }
  | { op: 'unsubscribe'; points?: string }
  | { op: 'alarms' }
  | { op: 'join'; room: string; nick: string }
  | { op: 'leave'; room?: string }
  | { op: 'say'; text: string; room?: string }
  | { op: 'whisper'; to: string; text: string; room?: string }
  | { op: 'ping' };

/**
 * One `/api/live` WebSocket (docs/http-api.md): point subscriptions on the
 * bus (`points.<pattern>`, a bounded queue, drop-oldest), alarm events, and
 * chat memberships, up to {@link MAX_ROOMS} rooms (each a bounded queue,
 * disconnect policy). Writes wait when
 * the socket has more than {@link HIGH_WATER_BYTES} unsent, so a slow
 * browser fills only its own bounded queues. Every message from the client
 * counts as use of the session and re-checks its account.
 */
export class LiveSocket {
  readonly session: WebSession;
  readonly #ws: WebSocket;
  readonly #ctx: LiveHost;
  readonly #points = new Map<string, Subscription>();
  #alarms: Subscription | null = null;
  /** Chat memberships by room. */
  readonly #rooms = new Map<string, Membership>();
  /** Rooms whose join is in flight (the cluster is asked first), counted against the limit. */
  readonly #joining = new Set<string>();
  #closed = false;

  constructor(ws: WebSocket, session: WebSession, ctx: LiveHost) {
    this.#ws = ws;
    this.session = session;
    this.#ctx = ctx;
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('close', () => this.#cleanup());
    ws.on('error', () => this.#cleanup());
  }

  /**
   * Ends the socket (session over, server stopping). A session that ends only
   * because the server stops and is kept for its next run (sessions.ts) is
   * closed as a service restart, so the page reconnects instead of logging out.
   */
  close(code: number, reason: string): void {
    this.#cleanup();
    if (code === CLOSE_SESSION_ENDED && survivesRestart(this.session)) this.#ws.close(CLOSE_SERVICE_RESTART, 'server restarting');
    else this.#ws.close(code, reason);
  }

  #onMessage(data: unknown, isBinary: boolean): void {
    if (this.#closed) return;
    if (!this.#ctx.checkSession(this.session)) return; // ended: the socket is being closed
    let op: ClientOp;
    try {
      if (isBinary) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', 'send JSON text messages');
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data as Buffer[]).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { op?: unknown }).op !== 'string') throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', 'a message is a JSON object with a string "op"');
      op = parsed as ClientOp;
      this.#handle(op);
    } catch (err) {
      const error = err instanceof GridlinkError ? err : err instanceof SyntaxError ? new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', 'not valid JSON') : new GridlinkError('GL_ERR_SERVER_INTERNAL');
      this.#reply(JSON.stringify({ type: 'error', code: error.code, message: error.message }));
    }
  }

  #handle(op: ClientOp): void {
    switch (op.op) {
      case 'subscribe':
        return this.#subscribe(stringField(op, 'points', true) ?? '');
      case 'unsubscribe': {
        const pattern = stringField(op, 'points', true) ?? '';
        this.#points.get(pattern)?.unsubscribe();
        this.#points.delete(pattern);
        return;
      }
      case 'alarms':
        this.#alarms ??= this.#ctx.bus.subscribe('alarms.>', (m) => this.#send(encodeOnce(m, () => ({ type: 'alarm', alarm: m.payload }))), {
          maxQueued: ALARM_QUEUE,
          policy: 'disconnect',
          onOverflow: () => this.#tooSlow(),
        });
        return;
      case 'join': {
        // Asynchronous: in a cluster the name is claimed on every node first (docs/cluster.md).
        const room = stringField(op, 'room')!;
        const nick = stringField(op, 'nick')!;
        void this.#join(room, nick).catch((err: unknown) => {
          const error = err instanceof GridlinkError ? err : new GridlinkError('GL_ERR_SERVER_INTERNAL');
          this.#reply(JSON.stringify({ type: 'error', code: error.code, message: error.message }));
        });
        return;
      }
      case 'leave':
        return this.#leave(stringField(op, 'room', true));
      case 'say':
        return this.#member(stringField(op, 'room', true)).say(stringField(op, 'text')!);
      case 'whisper':
        return this.#member(stringField(op, 'room', true)).whisper(stringField(op, 'to')!, stringField(op, 'text')!);
      case 'ping':
        this.#reply('{"type":"pong"}');
        return;
      default:
        throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', `unknown op ${JSON.stringify(String((op as { op: unknown }).op).slice(0, 40))}`);
    }
  }

  /** Subscribes first, then sends the snapshot: an update in between arrives (maybe twice), never lost. */
  #subscribe(pattern: string): void {
    const scada = this.#ctx.scada();
    if (scada === null) throw new GridlinkError('GL_ERR_SCADA_DISABLED');
    if (this.#points.has(pattern)) return;
    if (this.#points.size >= MAX_PATTERNS) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', `at most ${MAX_PATTERNS} subscriptions per connection`);
    const topic = pattern === '' || pattern === '>' ? 'points.>' : `points.${pattern}`;
    checkPattern(topic);
    const snapshot = scada.points(pattern);
    const subscription = this.#ctx.bus.subscribe(topic, (m: BusMessage) => this.#send(encodeOnce(m, () => ({ type: 'point', point: m.payload }))), {
      maxQueued: POINT_QUEUE,
      policy: 'drop-oldest',
    });
    this.#points.set(pattern, subscription);
    for (const point of snapshot) this.#reply(JSON.stringify({ type: 'point', point }));
  }

  async #join(room: string, nick: string): Promise<void> {
    if (this.#rooms.get(room)?.active === true || this.#joining.has(room)) throw new GridlinkError('GL_ERR_CHAT_NICK_TAKEN', `you are already in ${room}`);
    this.#rooms.delete(room);
    // Joins still in flight count: a burst of joins must not pass the limit together while the cluster answers.
    if (this.#rooms.size + this.#joining.size >= MAX_ROOMS) throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', `at most ${MAX_ROOMS} rooms per connection; leave one first`);
    this.#joining.add(room);
    let membership: Membership;
    try {
      membership = await this.#ctx.chat.join(room, nick, {
        deliver: (event: ChatEvent) => this.#send(encodeOnce(event, () => ({ type: 'chat', event }))),
        drop: (reason) => {
          const error = new GridlinkError(reason === 'kicked' ? 'GL_ERR_CHAT_KICKED' : 'GL_ERR_CHAT_TOO_SLOW');
          this.#reply(JSON.stringify({ type: 'error', code: error.code, message: error.message }));
          this.close(CLOSE_POLICY, reason);
        },
      });
    } finally {
      this.#joining.delete(room);
    }
    if (this.#closed) {
      membership.leave();
      return;
    }
    this.#rooms.set(room, membership);
    this.#reply(JSON.stringify({ type: 'joined', room, nick, members: this.#ctx.chat.members(room) }));
  }

  /** Leaves one room, or every room when none is named; each is confirmed with `left`. */
  #leave(room: string | undefined): void {
    const rooms = room === undefined ? [...this.#rooms.keys()] : [room];
    for (const name of rooms) {
      const membership = this.#rooms.get(name);
      if (membership === undefined) {
        if (room !== undefined) throw new GridlinkError('GL_ERR_CHAT_NOT_MEMBER', name.slice(0, 40));
        continue;
      }
      membership.leave();
      this.#rooms.delete(name);
      this.#reply(JSON.stringify({ type: 'left', room: name }));
    }
  }

  /** The membership a message goes to: the named room, or the only room the socket is in. */
  #member(room: string | undefined): Membership {
    for (const [name, membership] of this.#rooms) if (!membership.active) this.#rooms.delete(name);
    if (room === undefined) {
      if (this.#rooms.size === 1) return [...this.#rooms.values()][0]!;
      throw new GridlinkError('GL_ERR_CHAT_NOT_MEMBER', this.#rooms.size === 0 ? 'join a room first' : 'you are in several rooms: name the room');
    }
    const membership = this.#rooms.get(room);
    if (membership === undefined) throw new GridlinkError('GL_ERR_CHAT_NOT_MEMBER', room.slice(0, 40));
    return membership;
  }

  #tooSlow(): void {
    this.close(CLOSE_POLICY, 'too slow');
  }

  /**
   * Sends one text message. Below the high-water mark it returns nothing (the
   * sink takes the next message at once); above it, a promise settled when
   * this message has been written, so the bus holds the rest in the
   * subscriber's bounded queue meanwhile.
   */
  #send(text: string): Promise<void> | undefined {
    if (this.#closed || this.#ws.readyState !== this.#ws.OPEN) throw new Error('live socket closed');
    if (this.#ws.bufferedAmount < HIGH_WATER_BYTES) {
      this.#ws.send(text);
      return undefined;
    }
    return new Promise((resolve, reject) => this.#ws.send(text, (err) => (err === undefined || err === null ? resolve() : reject(err))));
  }

  /** A reply to the page (an error, a snapshot): dropped silently when the socket is gone. */
  #reply(text: string): void {
    try {
      void this.#send(text)?.catch(() => undefined);
    } catch {
      // closed meanwhile: nobody to tell
    }
  }

  #cleanup(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const subscription of this.#points.values()) subscription.unsubscribe();
    this.#points.clear();
    this.#alarms?.unsubscribe();
    for (const membership of this.#rooms.values()) membership.leave();
    this.#rooms.clear();
    this.#ctx.onLiveClosed(this);
  }
}

function stringField(op: object, name: string, optional = false): string | undefined {
  const value = (op as Record<string, unknown>)[name];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string') throw new GridlinkError('GL_ERR_HTTP_BAD_REQUEST', `"${name}" must be a string`);
  return value;
}
