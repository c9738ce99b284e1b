/**
 * The live view (docs/http-api.md, WebSocket /api/live): per device a busbar with one bay per feeder —
 * breaker symbol and state, then the feeder's measurements, each with its
 * quality. The layout is built once per set of point names; updates only
 * touch the cells of the points that changed, batched per animation frame.
 */

import type { DeviceStatus, PointSnapshot } from '../../src/protocol/scada.js';
import { flash, h, setText } from './dom.js';
import { formatTime, formatValue } from './format.js';
import { QUALITY_BADGE, compareQuantities, labelOf, naturalCompare, placeOf, stateOf } from './points.js';

export type BreakerAction = 'open' | 'closed';

export interface CommandRequest {
  /** `sub1.f1` */
  readonly feeder: string;
  /** The controllable point the command goes to. */
  readonly point: PointSnapshot;
  readonly action: BreakerAction;
}

interface ValueCell {
  readonly row: HTMLElement;
  readonly value: HTMLElement;
  readonly unit: HTMLElement;
  readonly badge: HTMLElement;
}

interface Bay {
  readonly id: string;
  readonly element: HTMLElement;
  readonly state: HTMLElement;
  readonly symbol: HTMLElement;
  readonly stateBadge: HTMLElement;
  readonly openButton: HTMLButtonElement;
  readonly closeButton: HTMLButtonElement;
  /** Name of the status point shown as the breaker, if the bay has one. */
  breaker: string | null;
  /** Name of the point that select/operate go to. */
  control: string | null;
}

export class SubstationView {
  readonly #root: HTMLElement;
  readonly #onCommand: (request: CommandRequest) => void;
  readonly #points = new Map<string, PointSnapshot>();
  readonly #pending = new Set<string>();
  readonly #cells = new Map<string, ValueCell>();
  readonly #bays = new Map<string, Bay>();
  readonly #deviceBadges = new Map<string, HTMLElement>();
  #devices = new Map<string, DeviceStatus>();
  #canOperate = false;
  #busy = new Set<string>();
  #frame: number | null = null;
  #layoutStale = true;

  constructor(root: HTMLElement, onCommand: (request: CommandRequest) => void) {
    this.#root = root;
    this.#onCommand = onCommand;
    this.#renderEmpty();
  }

  setCanOperate(canOperate: boolean): void {
    this.#canOperate = canOperate;
    for (const bay of this.#bays.values()) this.#updateButtons(bay);
  }

  /** Marks a feeder as having a command in progress (its buttons stay disabled). */
  setBusy(feeder: string, busy: boolean): void {
    if (busy) this.#busy.add(feeder);
    else this.#busy.delete(feeder);
    const bay = this.#bays.get(feeder);
    if (bay !== undefined) this.#updateButtons(bay);
  }

  point(name: string): PointSnapshot | undefined {
    return this.#points.get(name);
  }

  update(points: readonly PointSnapshot[]): void {
    for (const point of points) {
      if (!this.#points.has(point.name)) this.#layoutStale = true;
      this.#points.set(point.name, point);
      this.#pending.add(point.name);
    }
    this.#schedule();
  }

  setDevices(devices: readonly DeviceStatus[]): void {
    this.#devices = new Map(devices.map((d) => [d.name, d]));
    for (const [name, badge] of this.#deviceBadges) this.#renderDevice(name, badge);
  }

  #schedule(): void {
    if (this.#frame !== null) return;
    // Background tabs get no frames; the pending set is bounded by the number of points.
    this.#frame = requestAnimationFrame(() => {
      this.#frame = null;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#layoutStale) {
      this.#layoutStale = false;
      this.#build();
      this.#pending.clear();
      for (const point of this.#points.values()) this.#apply(point, false);
      return;
    }
    for (const name of this.#pending) {
      const point = this.#points.get(name);
      if (point !== undefined) this.#apply(point, true);
    }
    this.#pending.clear();
  }

  #renderEmpty(): void {
    this.#root.replaceChildren(h('p', { class: 'empty', 'data-testid': 'points-empty' }, 'Waiting for the first values from the substation…'));
  }

  /** Groups the known points into devices → feeders → quantities and builds the DOM. */
  #build(): void {
    this.#cells.clear();
    this.#bays.clear();
    this.#deviceBadges.clear();
    const devices = new Map<string, Map<string, PointSnapshot[]>>();
    for (const point of this.#points.values()) {
      const place = placeOf(point.name);
      let feeders = devices.get(place.device);
      if (feeders === undefined) devices.set(place.device, (feeders = new Map<string, PointSnapshot[]>()));
      let list = feeders.get(place.feeder);
      if (list === undefined) feeders.set(place.feeder, (list = []));
      list.push(point);
    }
    if (devices.size === 0) {
      this.#renderEmpty();
      return;
    }
    const sections: HTMLElement[] = [];
    for (const device of [...devices.keys()].sort(naturalCompare)) {
      const feeders = devices.get(device) ?? new Map<string, PointSnapshot[]>();
      const badge = h('span', { class: 'device-status', 'data-testid': `device-status-${device}` });
      this.#deviceBadges.set(device, badge);
      this.#renderDevice(device, badge);
      const bays: HTMLElement[] = [];
      let general: HTMLElement | null = null;
      for (const feeder of [...feeders.keys()].sort(naturalCompare)) {
        const points = feeders.get(feeder) ?? [];
        if (feeder === '') general = this.#buildGeneral(device, points);
        else bays.push(this.#buildBay(device, feeder, points));
      }
      sections.push(
        h(
          'section',
          { class: 'device', 'data-testid': `device-${device}` },
          h('header', { class: 'device-head' }, h('h3', {}, device === '' ? 'Points' : device), badge),
          bays.length > 0 ? h('div', { class: 'busbar', 'aria-hidden': 'true' }) : null,
          bays.length > 0 ? h('div', { class: 'bays' }, ...bays) : null,
          general,
        ),
      );
    }
    this.#root.replaceChildren(...sections);
  }

  #renderDevice(name: string, badge: HTMLElement): void {
    const status = this.#devices.get(name);
    if (status === undefined) {
      badge.textContent = '';
      badge.className = 'device-status';
      return;
    }
    badge.className = `device-status ${status.online ? 'online' : 'offline'}`;
    badge.textContent = status.online ? 'online' : 'OFFLINE';
    badge.title = status.online
      ? `${status.address} — last poll ${formatTime(status.lastPollAt)}, ${status.polls} polls, ${status.failures} failures`
      : `${status.address} — ${status.lastError ?? 'not answering'}`;
  }

  #buildBay(device: string, feeder: string, points: PointSnapshot[]): HTMLElement {
    const id = `${device}.${feeder}`;
    const statusPoints = points.filter((p) => p.class === 'status');
    const breaker = statusPoints.find((p) => placeOf(p.name).quantity === 'breaker') ?? statusPoints[0] ?? null;
    const control =
      (breaker?.controllable === true ? breaker : null) ?? points.find((p) => p.controllable && (p.class === 'control' || p.class === 'status')) ?? null;
    const rows = points
      .filter((p) => p !== breaker && p !== control)
      .sort((a, b) => compareQuantities(placeOf(a.name).quantity, placeOf(b.name).quantity))
      .map((p) => this.#buildRow(p));
    const symbol = h('div', { class: 'breaker-symbol', 'data-testid': `breaker-symbol-${id}` });
    const state = h('span', { class: 'breaker-state', 'data-testid': `breaker-${id}` }, '—');
    const stateBadge = h('span', { class: 'q-badge' });
    const openButton = h('button', { type: 'button', class: 'cmd cmd-open', 'data-testid': `open-${id}` }, 'Open');
    const closeButton = h('button', { type: 'button', class: 'cmd cmd-close', 'data-testid': `close-${id}` }, 'Close');
    const element = h(
      'article',
      { class: 'bay', 'data-testid': `feeder-${id}`, 'data-breaker': 'unknown' },
      h('div', { class: 'oneline', 'aria-hidden': 'true' }, h('div', { class: 'wire wire-top' }), symbol, h('div', { class: 'wire wire-bottom' }), h('div', { class: 'load' })),
      h('header', { class: 'bay-head' }, h('h4', {}, feeder), h('span', { class: 'breaker-line' }, state, stateBadge)),
      h('table', { class: 'meas' }, h('tbody', {}, ...rows)),
      control === null ? null : h('div', { class: 'bay-controls' }, openButton, closeButton),
    );
    const bay: Bay = { id, element, state, symbol, stateBadge, openButton, closeButton, breaker: breaker?.name ?? null, control: control?.name ?? null };
    openButton.addEventListener('click', () => this.#command(bay, 'open'));
    closeButton.addEventListener('click', () => this.#command(bay, 'closed'));
    this.#bays.set(id, bay);
    return element;
  }

  #buildGeneral(device: string, points: PointSnapshot[]): HTMLElement {
    const rows = points.sort((a, b) => compareQuantities(placeOf(a.name).quantity, placeOf(b.name).quantity)).map((p) => this.#buildRow(p));
    return h('table', { class: 'meas general', 'data-testid': `general-${device}` }, h('tbody', {}, ...rows));
  }

  #buildRow(point: PointSnapshot): HTMLElement {
    const [symbol, name] = labelOf(placeOf(point.name).quantity);
    const value = h('td', { class: 'value', 'data-testid': `value-${point.name}` }, '—');
    const unit = h('td', { class: 'unit' }, point.unit);
    const badge = h('span', { class: 'q-badge' });
    const row = h(
      'tr',
      { 'data-testid': `point-${point.name}`, 'data-quality': point.quality },
      h('th', { scope: 'row', title: point.name }, symbol === '' ? null : h('span', { class: 'sym' }, symbol), h('span', { class: symbol === '' ? 'name' : 'name optional' }, name)),
      value,
      unit,
      h('td', { class: 'quality' }, badge),
    );
    this.#cells.set(point.name, { row, value, unit, badge });
    return row;
  }

  #apply(point: PointSnapshot, animate: boolean): void {
    const cell = this.#cells.get(point.name);
    if (cell !== undefined) {
      const changed = setText(cell.value, formatValue(point.value, point.unit));
      setText(cell.unit, point.unit);
      this.#applyQuality(cell.row, cell.badge, point);
      cell.row.title = `${point.name}: ${point.quality}${point.alarm === undefined ? '' : `, alarm ${point.alarm}`}, source time ${formatTime(point.sourceTime)}`;
      if (changed && animate) flash(cell.value);
    }
    for (const bay of this.#bays.values()) {
      const isBreaker = bay.breaker === point.name || (bay.breaker === null && bay.control === point.name);
      if (isBreaker) this.#applyBreaker(bay, point, animate);
      if (isBreaker || bay.control === point.name) this.#updateButtons(bay);
    }
  }

  #applyQuality(row: HTMLElement, badge: HTMLElement, point: PointSnapshot): void {
    row.dataset['quality'] = point.quality;
    const alarm = point.alarm === 'active' || point.alarm === 'activeAcked' ? point.alarm : null;
    if (alarm === null) delete row.dataset['alarm'];
    else row.dataset['alarm'] = alarm;
    setText(badge, alarm === null ? QUALITY_BADGE[point.quality] : 'ALM');
    badge.className = `q-badge q-${point.quality}${alarm === null ? '' : ' q-alarm'}`;
  }

  #applyBreaker(bay: Bay, point: PointSnapshot, animate: boolean): void {
    const state = point.quality === 'invalid' ? 'unknown' : stateOf(point);
    const before = bay.element.dataset['breaker'];
    bay.element.dataset['breaker'] = state;
    bay.element.dataset['quality'] = point.quality;
    setText(bay.state, state === 'unknown' ? (point.quality === 'invalid' ? 'INVALID' : '—') : state.toUpperCase());
    setText(bay.stateBadge, point.quality === 'good' || point.quality === 'invalid' ? '' : QUALITY_BADGE[point.quality]);
    bay.stateBadge.className = `q-badge q-${point.quality}`;
    bay.symbol.title = `${point.name}: ${state} (${point.quality}), source ${formatTime(point.sourceTime)}`;
    if (animate && before !== state) flash(bay.element, 'toggled');
  }

  #updateButtons(bay: Bay): void {
    const control = bay.control === null ? undefined : this.#points.get(bay.control);
    const state = bay.element.dataset['breaker'];
    const reason = !this.#canOperate
      ? 'Your role may not operate breakers'
      : control === undefined
        ? 'No control point'
        : this.#busy.has(bay.id)
          ? 'A command is in progress'
          : state === 'unknown'
            ? 'Breaker position unknown: no valid status from the device'
            : null;
    bay.openButton.disabled = reason !== null || state === 'open';
    bay.closeButton.disabled = reason !== null || state === 'closed';
    bay.openButton.title = reason ?? (state === 'open' ? 'Already open' : `Open breaker ${bay.id}`);
    bay.closeButton.title = reason ?? (state === 'closed' ? 'Already closed' : `Close breaker ${bay.id}`);
  }

  #command(bay: Bay, action: BreakerAction): void {
    const point = bay.control === null ? undefined : this.#points.get(bay.control);
    if (point === undefined || !this.#canOperate) return;
    this.#onCommand({ feeder: bay.id, point, action });
  }
}
