/**
 * The chat room over the WebSocket (docs/http-api.md, `/api/live`): the page joins `lobby` with
 * the user's name as nickname (suffixed if that name is already in the room,
 * e.g. the same user in a second window). The server sends a message to the
 * other members only, so our own lines are echoed locally.
 */

import type { ChatEvent } from '../../src/protocol/v1.js';
import { ApiError, api } from './api.js';
import { h, setText } from './dom.js';
import { formatTime } from './format.js';
import type { LiveConnection } from './live.js';

const MAX_LINES = 500;
const MAX_TEXT = 4096;

export class ChatPanel {
  readonly #room: string;
  readonly #log: HTMLElement;
  readonly #members: HTMLElement;
  readonly #form: HTMLFormElement;
  readonly #input: HTMLInputElement;
  readonly #nickLabel: HTMLElement;
  #live: LiveConnection | null = null;
  #user = '';
  #nick = '';
  #attempt = 0;
  #joined = false;
  readonly #memberSet = new Set<string>();

  constructor(room: string, parts: { log: HTMLElement; members: HTMLElement; form: HTMLFormElement; input: HTMLInputElement; nick: HTMLElement }) {
    this.#room = room;
    this.#log = parts.log;
    this.#members = parts.members;
    this.#form = parts.form;
    this.#input = parts.input;
    this.#nickLabel = parts.nick;
    this.#input.maxLength = MAX_TEXT;
    this.#form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#send();
    });
  }

  attach(live: LiveConnection, user: string): void {
    this.#live = live;
    this.#user = user;
    this.#nick = user;
  }

  /** (Re)joins after every WebSocket open. */
  join(): void {
    this.#joined = false;
    this.#live?.send({ op: 'join', room: this.#room, nick: this.#nick });
    // The WebSocket contract has no join reply: the member list tells us we are in.
    void this.#loadMembers();
  }

  /** A chat error from the server; true when it was about joining and handled. */
  handleError(code: string, message: string): boolean {
    if (code === 'GL_ERR_CHAT_NICK_TAKEN' && !this.#joined && this.#attempt < 5) {
      this.#attempt += 1;
      this.#nick = `${this.#user}-${this.#attempt + 1}`;
      this.join();
      return true;
    }
    if (code.startsWith('GL_ERR_CHAT_')) {
      this.#line('system', `${message} (${code})`);
      return true;
    }
    return false;
  }

  event(event: ChatEvent): void {
    this.#joined = true;
    switch (event.type) {
      case 'joined':
        this.#memberSet.add(event.from);
        this.#renderMembers();
        this.#line('notice', `${event.from} joined`, event.at);
        break;
      case 'left':
        this.#memberSet.delete(event.from);
        this.#renderMembers();
        this.#line('notice', `${event.from} left`, event.at);
        break;
      case 'message':
        this.#line('message', event.text ?? '', event.at, event.from);
        break;
      case 'private':
        this.#line('private', event.text ?? '', event.at, `${event.from} → ${event.to ?? 'you'}`);
        break;
      case 'announce':
        this.#line('announce', event.text ?? '', event.at, event.from);
        break;
    }
  }

  /** The server's answer to our join: we are in, under this nickname, with these members. */
  joined(nick: string, members: readonly string[]): void {
    this.#joined = true;
    this.#nick = nick;
    this.#memberSet.clear();
    for (const member of members) this.#memberSet.add(member);
    this.#memberSet.add(nick);
    this.#renderMembers();
  }

  async #loadMembers(): Promise<void> {
    try {
      const members = await api<string[]>('GET', `/api/chat/${encodeURIComponent(this.#room)}/members`);
      this.#memberSet.clear();
      for (const member of members) this.#memberSet.add(member);
      // The list may have been read before the server handled our join (two channels).
      this.#memberSet.add(this.#nick);
      this.#renderMembers();
    } catch (err) {
      this.#line('system', `members unavailable: ${err instanceof ApiError ? err.describe() : String(err)}`);
    }
  }

  #send(): void {
    const text = this.#input.value.trim();
    if (text === '') return;
    if (this.#live?.send({ op: 'say', text }) !== true) {
      this.#line('system', 'not connected; the message was not sent');
      return;
    }
    this.#line('message own', text, Date.now(), this.#nick);
    this.#input.value = '';
  }

  #renderMembers(): void {
    setText(this.#nickLabel, this.#nick);
    const names = [...this.#memberSet].sort();
    this.#members.replaceChildren(...names.map((name) => h('li', { class: name === this.#nick ? 'me' : null }, name)));
    this.#members.dataset['count'] = String(names.length);
  }

  #line(kind: string, text: string, at = Date.now(), from: string | null = null): void {
    const stick = this.#log.scrollTop + this.#log.clientHeight >= this.#log.scrollHeight - 8;
    this.#log.append(
      h(
        'li',
        { class: `chat-line ${kind}`, 'data-testid': 'chat-line' },
        h('time', {}, formatTime(at)),
        from === null ? null : h('b', { class: 'from' }, from),
        h('span', { class: 'text' }, text),
      ),
    );
    while (this.#log.childElementCount > MAX_LINES) this.#log.firstElementChild?.remove();
    // Follow the conversation unless the operator scrolled up to read.
    if (stick) this.#log.scrollTop = this.#log.scrollHeight;
  }
}
