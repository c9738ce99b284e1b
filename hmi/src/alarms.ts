/**
 * The alarm list (docs/http-api.md, "Points, history, alarms, control"): unacknowledged alarms first, newest first;
 * acknowledged-and-cleared alarms leave the list. Alarms arrive from the
 * REST snapshot and then live; whichever copy is further along wins, so a
 * late snapshot cannot undo an acknowledgement seen on the WebSocket.
 * Unacknowledged alarms blink (style.css) and sound (sound.ts) until an
 * operator acknowledges them.
 */

import type { Alarm } from '../../src/protocol/scada.js';
import { ApiError, api } from './api.js';
import { h, setText } from './dom.js';
import { formatTime } from './format.js';
import { formatCount, t } from './i18n.js';

const PROGRESS: Readonly<Record<Alarm['state'], number>> = { active: 0, activeAcked: 1, cleared: 1, clearedAcked: 2 };
/** Kept (for the counter and ordering) even after they leave the list; bounded. */
const MAX_ALARMS = 500;

function unacked(alarm: Alarm): boolean {
  return alarm.state === 'active' || alarm.state === 'cleared';
}

export class AlarmList {
  readonly #body: HTMLElement;
  readonly #counter: HTMLElement;
  readonly #message: HTMLElement;
  readonly #alarms = new Map<number, Alarm>();
  readonly #onDeviceAlarm: () => void;
  readonly #onUnacked: (ids: readonly number[]) => void;
  #canAck = false;

  constructor(body: HTMLElement, counter: HTMLElement, message: HTMLElement, onDeviceAlarm: () => void, onUnacked: (ids: readonly number[]) => void) {
    this.#body = body;
    this.#counter = counter;
    this.#message = message;
    this.#onDeviceAlarm = onDeviceAlarm;
    this.#onUnacked = onUnacked;
    this.#render();
  }

  /** Draws the list again in the page's (new) language. */
  relabel(): void {
    this.#render();
  }

  setCanAck(canAck: boolean): void {
    this.#canAck = canAck;
    this.#render();
  }

  async load(): Promise<void> {
    try {
      this.update(await api<Alarm[]>('GET', '/api/alarms'));
    } catch (err) {
      setText(this.#message, t('alarms.unavailable', { error: err instanceof ApiError ? err.describe() : String(err) }));
    }
  }

  update(alarms: readonly Alarm[]): void {
    for (const alarm of alarms) {
      const known = this.#alarms.get(alarm.id);
      if (known !== undefined && PROGRESS[known.state] > PROGRESS[alarm.state]) continue;
      this.#alarms.set(alarm.id, alarm);
      if (alarm.source.startsWith('device:')) this.#onDeviceAlarm();
    }
    if (this.#alarms.size > MAX_ALARMS) {
      const done = [...this.#alarms.values()].filter((a) => a.state === 'clearedAcked').sort((a, b) => a.raisedAt - b.raisedAt);
      for (const alarm of done.slice(0, this.#alarms.size - MAX_ALARMS)) this.#alarms.delete(alarm.id);
    }
    this.#render();
  }

  async #ack(alarm: Alarm, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      this.update([await api<Alarm>('POST', `/api/alarms/${alarm.id}/ack`)]);
      setText(this.#message, '');
    } catch (err) {
      button.disabled = false;
      setText(this.#message, t('alarms.ackFailed', { error: err instanceof ApiError ? err.describe() : String(err) }));
    }
  }

  #render(): void {
    const shown = [...this.#alarms.values()]
      .filter((a) => a.state !== 'clearedAcked')
      .sort((a, b) => Number(unacked(b)) - Number(unacked(a)) || b.raisedAt - a.raisedAt);
    const open = shown.filter(unacked);
    const count = open.length;
    setText(this.#counter, formatCount(count));
    this.#counter.dataset['count'] = String(count);
    this.#onUnacked(open.map((a) => a.id));
    if (shown.length === 0) {
      this.#body.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: 4 }, t('alarms.none'))));
      return;
    }
    this.#body.replaceChildren(
      ...shown.map((alarm) => {
        const ack = h(
          'button',
          {
            type: 'button',
            'data-testid': `ack-${alarm.id}`,
            disabled: !this.#canAck || !unacked(alarm),
            title: this.#canAck ? t('alarms.ackTitle') : t('alarms.noRole'),
          },
          t('alarms.ack'),
        );
        ack.addEventListener('click', () => void this.#ack(alarm, ack));
        return h(
          'tr',
          { 'data-testid': `alarm-${alarm.id}`, class: `alarm sev-${alarm.severity} st-${alarm.state}${unacked(alarm) ? ' unacked' : ''}`, title: alarm.ackedBy === null ? null : t('alarms.ackedBy', { who: alarm.ackedBy }) },
          h('td', { class: 'time' }, formatTime(alarm.raisedAt)),
          h('td', { class: 'message' }, h('b', { class: 'source' }, alarm.source), h('span', { class: 'kind' }, t(`alarms.kind.${alarm.kind}`)), h('span', { class: 'text' }, alarm.message)),
          h('td', { class: 'state' }, t(`alarms.state.${alarm.state}`)),
          h('td', {}, unacked(alarm) ? ack : null),
        );
      }),
    );
  }
}
