/**
 * Chat rooms over the WebSocket (docs/http-api.md, `/api/live` and "Chat"):
 * the page is in `lobby` and in any other room the user joins (up to 8 per
 * socket), each a tab with its own log and members; the rooms that exist
 * now are offered from `GET /api/chat/rooms`. The nickname is the user's
 * name (suffixed if it is taken in a room, e.g. the same user in a second
 * window). Joined rooms are remembered (localStorage) and joined again after
 * every reconnect. The server sends a message to the other members only, so
 * our own lines are echoed locally.
 */

import type { ChatEvent } from '../../src/protocol/v1.js';
import { ApiError, api } from './api.js';
import { h, setText } from './dom.js';
import { formatTime } from './format.js';
import { t } from './i18n.js';
import type { LiveConnection } from './live.js';

const DEFAULT_ROOM = 'lobby';
const MAX_LINES = 500;
const MAX_TEXT = 4096;
const MAX_ROOMS = 8;
const ROOM_NAME = /^[A-Za-z0-9_-]{1,32}$/u;
const STORAGE_KEY = 'gridlink.chat.rooms';
const ROOM_LIST_REFRESH_MS = 15_000;

interface Room {
  readonly name: string;
  nick: string;
  attempt: number;
  joined: boolean;
  unread: number;
  readonly members: Set<string>;
  readonly lines: HTMLElement[];
}

export interface ChatParts {
  readonly log: HTMLElement;
  readonly members: HTMLElement;
  readonly form: HTMLFormElement;
  readonly input: HTMLInputElement;
  readonly nick: HTMLElement;
  readonly roomName: HTMLElement;
  readonly tabs: HTMLElement;
  readonly roomForm: HTMLFormElement;
  readonly roomList: HTMLDataListElement;
}

function describe(err: unknown): string {
  return err instanceof ApiError ? err.describe() : String(err);
}

function rememberedRooms(): string[] {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '[]');
    const rooms = Array.isArray(parsed) ? parsed.filter((r): r is string => typeof r === 'string' && ROOM_NAME.test(r)) : [];
    return [DEFAULT_ROOM, ...rooms.filter((r) => r !== DEFAULT_ROOM)].slice(0, MAX_ROOMS);
  } catch {
    return [DEFAULT_ROOM];
  }
}

export class ChatPanel {
  readonly #parts: ChatParts;
  readonly #rooms = new Map<string, Room>();
  /** Joins sent and not answered yet, in order (the socket answers in order). */
  readonly #pending: string[] = [];
  #active = DEFAULT_ROOM;
  #live: LiveConnection | null = null;
  #user = '';
  #listTimer: ReturnType<typeof setInterval> | null = null;

  constructor(parts: ChatParts) {
    this.#parts = parts;
    this.#parts.input.maxLength = MAX_TEXT;
    parts.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#send();
    });
    parts.roomForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const input = parts.roomForm.elements.namedItem('room');
      if (!(input instanceof HTMLInputElement)) return;
      const name = input.value.trim();
      if (!ROOM_NAME.test(name)) {
        this.#line(this.#active, 'system', t('chat.badRoom'));
        return;
      }
      input.value = '';
      this.open(name);
    });
    for (const room of rememberedRooms()) this.#rooms.set(room, this.#room(room));
  }

  attach(live: LiveConnection, user: string): void {
    this.#live = live;
    this.#user = user;
    for (const room of this.#rooms.values()) room.nick = user;
    this.#renderTabs();
    if (this.#listTimer === null) this.#listTimer = setInterval(() => void this.#loadRoomList(), ROOM_LIST_REFRESH_MS);
  }

  /** (Re)joins every room after every WebSocket open. */
  join(): void {
    this.#pending.length = 0;
    for (const room of this.#rooms.values()) this.#sendJoin(room);
    void this.#loadRoomList();
  }

  /** Joins a room (or shows it, when already in). */
  open(name: string): void {
    let room = this.#rooms.get(name);
    if (room === undefined) {
      if (this.#rooms.size >= MAX_ROOMS) {
        this.#line(this.#active, 'system', t('chat.tooManyRooms', { n: MAX_ROOMS }));
        return;
      }
      room = this.#room(name);
      this.#rooms.set(name, room);
      this.#remember();
      this.#sendJoin(room);
    }
    this.#show(name);
  }

  /** A chat error from the server; true when it was the chat's to handle. */
  handleError(code: string, message: string): boolean {
    if (code === 'GL_ERR_CHAT_NICK_TAKEN' && this.#pending.length > 0) {
      const room = this.#rooms.get(this.#pending.shift() ?? '');
      if (room !== undefined && !room.joined && room.attempt < 5) {
        room.attempt += 1;
        room.nick = `${this.#user}-${room.attempt + 1}`;
        this.#sendJoin(room);
        return true;
      }
    }
    if (code.startsWith('GL_ERR_CHAT_')) {
      // A join refused for a bad name: that room is not ours.
      if (code === 'GL_ERR_CHAT_BAD_NAME' && this.#pending.length > 0) this.#drop(this.#pending.shift() ?? '');
      this.#line(this.#active, 'system', `${message} (${code})`);
      return true;
    }
    return false;
  }

  event(event: ChatEvent): void {
    const room = this.#rooms.get(event.room);
    if (room === undefined) return;
    room.joined = true;
    switch (event.type) {
      case 'joined':
        room.members.add(event.from);
        this.#line(room.name, 'notice', t('chat.joinedLine', { who: event.from }), event.at);
        break;
      case 'left':
        room.members.delete(event.from);
        this.#line(room.name, 'notice', t('chat.leftLine', { who: event.from }), event.at);
        break;
      case 'message':
        this.#line(room.name, 'message', event.text ?? '', event.at, event.from);
        break;
      case 'private':
        this.#line(room.name, 'private', event.text ?? '', event.at, `${event.from} → ${event.to ?? t('chat.you')}`);
        break;
      case 'announce':
        this.#line(room.name, 'announce', event.text ?? '', event.at, event.from);
        break;
    }
    if (room.name === this.#active) this.#renderMembers();
  }

  /** The server's answer to a join: we are in, under this nickname, with these members. */
  joined(name: string, nick: string, members: readonly string[]): void {
    const at = this.#pending.indexOf(name);
    if (at !== -1) this.#pending.splice(at, 1);
    const room = this.#rooms.get(name);
    if (room === undefined) return;
    room.joined = true;
    room.nick = nick;
    room.members.clear();
    for (const member of members) room.members.add(member);
    room.members.add(nick);
    if (name === this.#active) this.#renderMembers();
    this.#renderTabs();
  }

  /** The server confirmed a leave. */
  left(name: string): void {
    this.#drop(name);
  }

  /** Redraws the labels in the page's (new) language. */
  relabel(): void {
    this.#renderTabs();
    this.#renderMembers();
  }

  #room(name: string): Room {
    return { name, nick: this.#user, attempt: 0, joined: false, unread: 0, members: new Set(), lines: [] };
  }

  #sendJoin(room: Room): void {
    room.joined = false;
    if (this.#live?.send({ op: 'join', room: room.name, nick: room.nick }) === true) this.#pending.push(room.name);
  }

  #leave(name: string): void {
    if (this.#live?.send({ op: 'leave', room: name }) !== true) this.#drop(name);
  }

  #drop(name: string): void {
    if (!this.#rooms.delete(name)) return;
    this.#remember();
    if (this.#active === name) this.#active = this.#rooms.keys().next().value ?? DEFAULT_ROOM;
    if (this.#rooms.size === 0) {
      // Never without a room: back to the lobby.
      this.#rooms.set(DEFAULT_ROOM, this.#room(DEFAULT_ROOM));
      this.#sendJoin(this.#rooms.get(DEFAULT_ROOM)!);
      this.#active = DEFAULT_ROOM;
    }
    this.#show(this.#active);
  }

  #remember(): void {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify([...this.#rooms.keys()]));
    } catch {
      // not remembered; the lobby is joined anyway
    }
  }

  #show(name: string): void {
    const room = this.#rooms.get(name);
    if (room === undefined) return;
    this.#active = name;
    room.unread = 0;
    this.#parts.log.replaceChildren(...room.lines);
    this.#parts.log.scrollTop = this.#parts.log.scrollHeight;
    this.#renderTabs();
    this.#renderMembers();
    if (room.members.size === 0) void this.#loadMembers(room);
  }

  async #loadMembers(room: Room): Promise<void> {
    try {
      const members = await api<string[]>('GET', `/api/chat/${encodeURIComponent(room.name)}/members`);
      for (const member of members) room.members.add(member);
      // The list may have been read before the server handled our join (two channels).
      if (room.joined) room.members.add(room.nick);
      if (room.name === this.#active) this.#renderMembers();
    } catch (err) {
      this.#line(room.name, 'system', t('chat.membersUnavailable', { error: describe(err) }));
    }
  }

  async #loadRoomList(): Promise<void> {
    try {
      const rooms = await api<Array<{ room: string; members: number }>>('GET', '/api/chat/rooms');
      this.#parts.roomList.replaceChildren(...rooms.map((r) => h('option', { value: r.room }, t('chat.roomMembers', { room: r.room, n: r.members }))));
    } catch {
      // the suggestions stay as they were; joining by name still works
    }
  }

  #send(): void {
    const text = this.#parts.input.value.trim();
    if (text === '') return;
    const room = this.#rooms.get(this.#active);
    if (room === undefined || this.#live?.send({ op: 'say', room: room.name, text }) !== true) {
      this.#line(this.#active, 'system', t('chat.notConnected'));
      return;
    }
    this.#line(room.name, 'message own', text, Date.now(), room.nick);
    this.#parts.input.value = '';
  }

  #renderTabs(): void {
    const tabs = [...this.#rooms.values()].map((room) => {
      const open = h('button', { type: 'button', class: 'room-tab link', role: 'tab', 'aria-selected': room.name === this.#active ? 'true' : 'false', 'data-testid': `room-${room.name}` }, room.name, room.unread > 0 ? h('span', { class: 'unread' }, String(room.unread)) : null);
      open.addEventListener('click', () => this.#show(room.name));
      const leave = h('button', { type: 'button', class: 'room-leave quiet', title: t('chat.leave', { room: room.name }), 'aria-label': t('chat.leave', { room: room.name }), 'data-testid': `leave-${room.name}` }, '×');
      leave.addEventListener('click', () => this.#leave(room.name));
      return h('li', { class: room.name === this.#active ? 'active' : null }, open, leave);
    });
    this.#parts.tabs.replaceChildren(...tabs);
  }

  #renderMembers(): void {
    const room = this.#rooms.get(this.#active);
    setText(this.#parts.nick, room?.nick ?? this.#user);
    setText(this.#parts.roomName, this.#active);
    const names = [...(room?.members ?? [])].sort();
    this.#parts.members.replaceChildren(...names.map((name) => h('li', { class: name === room?.nick ? 'me' : null }, name)));
    this.#parts.members.dataset['count'] = String(names.length);
  }

  #line(name: string, kind: string, text: string, at = Date.now(), from: string | null = null): void {
    const room = this.#rooms.get(name);
    if (room === undefined) return;
    const line = h(
      'li',
      { class: `chat-line ${kind}`, 'data-testid': 'chat-line' },
      h('time', {}, formatTime(at)),
      from === null ? null : h('b', { class: 'from' }, from),
      h('span', { class: 'text' }, text),
    );
    room.lines.push(line);
    if (room.lines.length > MAX_LINES) room.lines.splice(0, room.lines.length - MAX_LINES);
    if (name !== this.#active) {
      if (kind.startsWith('message') || kind === 'private' || kind === 'announce') {
        room.unread += 1;
        this.#renderTabs();
      }
      return;
    }
    const log = this.#parts.log;
    const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    log.append(line);
    while (log.childElementCount > MAX_LINES) log.firstElementChild?.remove();
    // Follow the conversation unless the operator scrolled up to read.
    if (stick) log.scrollTop = log.scrollHeight;
  }
}
