/**
 * The WebSocket `/api/live` of docs/http-api.md: one connection per page,
 * re-opened with backoff when it drops. Subscriptions are remembered and
 * sent again after every reconnect, so the server's first reply (a snapshot
 * of all matching points) brings the page back in step by itself.
 */

import type { Alarm, PointSnapshot } from '../../src/protocol/scada.js';
import type { ChatEvent } from '../../src/protocol/v1.js';
import { t } from './i18n.js';

export type ServerMessage =
  | { readonly type: 'point'; readonly point: PointSnapshot }
  | { readonly type: 'alarm'; readonly alarm: Alarm }
  | { readonly type: 'chat'; readonly event: ChatEvent }
  /** Reply to `join`. */
  | { readonly type: 'joined'; readonly room: string; readonly nick: string; readonly members: readonly string[] }
  /** Reply to `leave`. */
  | { readonly type: 'left'; readonly room: string }
  | { readonly type: 'error'; readonly code: string; readonly message: string };

export type ClientMessage =
  | { readonly op: 'subscribe'; readonly points: string }
  | { readonly op: 'alarms' }
  | { readonly op: 'join'; readonly room: string; readonly nick: string }
  | { readonly op: 'leave'; readonly room?: string }
  | { readonly op: 'say'; readonly text: string; readonly room?: string };

export type LinkState = 'connecting' | 'live' | 'offline';

export interface LiveHandlers {
  message(message: ServerMessage): void;
  state(state: LinkState, detail: string): void;
  /** Every (re)open; the place to send subscriptions again. */
  opened(): void;
  /** The server closed the socket because the session ended: log in again, no reconnect. */
  sessionEnded(): void;
}

/** Close code of the server when the session ends (logout elsewhere, expiry, account removed). */
const CLOSE_SESSION_ENDED = 4401;

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;

export class LiveConnection {
  readonly #handlers: LiveHandlers;
  #socket: WebSocket | null = null;
  #backoff = MIN_BACKOFF_MS;
  #retry: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  constructor(handlers: LiveHandlers) {
    this.#handlers = handlers;
  }

  open(): void {
    this.#closed = false;
    this.#connect();
  }

  /** Sends now if connected; returns false when it was not (the caller re-sends on `opened`). */
  send(message: ClientMessage): boolean {
    if (this.#socket?.readyState !== WebSocket.OPEN) return false;
    this.#socket.send(JSON.stringify(message));
    return true;
  }

  close(): void {
    this.#closed = true;
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#socket?.close(1000, 'logout');
    this.#socket = null;
  }

  #connect(): void {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(`${scheme}//${location.host}/api/live`);
    this.#socket = socket;
    this.#handlers.state('connecting', t('link.connecting'));
    socket.addEventListener('open', () => {
      this.#backoff = MIN_BACKOFF_MS;
      this.#handlers.state('live', t('link.live'));
      this.#handlers.opened();
    });
    socket.addEventListener('message', (event: MessageEvent<unknown>) => {
      if (typeof event.data !== 'string') return;
      let message: unknown;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // not ours to interpret; the server only sends JSON text
      }
      if (typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string') {
        this.#handlers.message(message as ServerMessage);
      }
    });
    socket.addEventListener('close', (event) => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      if (this.#closed) return;
      if (event.code === CLOSE_SESSION_ENDED) {
        this.#closed = true;
        this.#handlers.sessionEnded();
        return;
      }
      const wait = this.#backoff;
      this.#backoff = Math.min(this.#backoff * 2, MAX_BACKOFF_MS);
      const reason = event.reason === '' ? `code ${event.code}` : event.reason;
      this.#handlers.state('offline', t('link.offline', { reason, seconds: Math.round(wait / 1000) }));
      this.#retry = setTimeout(() => {
        this.#retry = null;
        if (!this.#closed) this.#connect();
      }, wait);
    });
  }
}
