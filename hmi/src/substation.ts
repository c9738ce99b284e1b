/**
 * The live view (docs/http-api.md, WebSocket /api/live): per device a busbar with one bay per feeder —
 * breaker symbol and state, then the feeder's measurements, each with its
 * quality; a click on a value (or on a breaker's state) opens a detail row
 * with its quality, source and receive times and a way to its trend. The
 * layout is built once per set of point names (and again when the language
 * changes); updates only touch the cells of the points that changed,
 * batched per animation frame.
 */

import type { DeviceStatus, PointSnapshot } from '../../src/protocol/scada.js';
import { append, flash, h, setText } from './dom.js';
import { formatTime, formatValue } from './format.js';
import { formatCount, t } from './i18n.js';
import { compareQuantities, labelOf, naturalCompare, placeOf, qualityBadge, qualityName, stateOf } from './points.js';

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

/** The open detail row: which point, and the row under which it sits. */
interface Detail {
  readonly point: string;
  readonly row: HTMLTableRowElement;
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
  readonly #onTrend: (point: string) => void;
  #detail: Detail | null = null;
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

  constructor(root: HTMLElement, onCommand: (request: CommandRequest) => void, onTrend: (point: string) => void) {
    this.#root = root;
    this.#onCommand = onCommand;
    this.#onTrend = onTrend;
    this.#renderEmpty();
  }

  /** Every point known, by name. */
  points(): PointSnapshot[] {
    return [...this.#points.values()];
  }

  /** Builds the view again in the page's (new) language. */
  relabel(): void {
    this.#layoutStale = true;
    this.#schedule();
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
      const open = this.#detail?.point ?? null;
      this.#build();
      this.#pending.clear();
      for (const point of this.#points.values()) this.#apply(point, false);
      if (open !== null) this.#toggleDetail(open);
      return;
    }
    for (const name of this.#pending) {
      const point = this.#points.get(name);
      if (point !== undefined) this.#apply(point, true);
    }
    this.#pending.clear();
  }

  #renderEmpty(): void {
    this.#root.replaceChildren(h('p', { class: 'empty', 'data-testid': 'points-empty' }, t('substation.waiting')));
  }

  /** Groups the known points into devices → feeders → quantities and builds the DOM. */
  #build(): void {
    this.#cells.clear();
    this.#bays.clear();
    this.#deviceBadges.clear();
    this.#detail = null;
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
          h('header', { class: 'device-head' }, h('h3', {}, device === '' ? t('substation.points') : device), badge),
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
    badge.textContent = status.online ? t('device.online') : t('device.offline');
    badge.title = status.online
      ? t('device.onlineTitle', { address: status.address, time: formatTime(status.lastPollAt), polls: formatCount(status.polls), failures: formatCount(status.failures) })
      : t('device.offlineTitle', { address: status.address, error: status.lastError ?? t('device.notAnswering') });
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
    const openButton = h('button', { type: 'button', class: 'cmd cmd-open', 'data-testid': `open-${id}` }, t('control.open'));
    const closeButton = h('button', { type: 'button', class: 'cmd cmd-close', 'data-testid': `close-${id}` }, t('control.close'));
    const breakerLine = h('button', { type: 'button', class: 'breaker-line link', title: t('detail.show'), 'data-testid': `breaker-line-${id}` }, state, stateBadge);
    const body = h('tbody', {}, ...rows);
    const element = h(
      'article',
      { class: 'bay', 'data-testid': `feeder-${id}`, 'data-breaker': 'unknown' },
      h('div', { class: 'oneline', 'aria-hidden': 'true' }, h('div', { class: 'wire wire-top' }), symbol, h('div', { class: 'wire wire-bottom' }), h('div', { class: 'load' })),
      h('header', { class: 'bay-head' }, h('h4', { 'data-testid': `bay-name-${id}` }, t('substation.feeder', { name: feeder })), breakerLine),
      h('table', { class: 'meas' }, body),
      control === null ? null : h('div', { class: 'bay-controls' }, openButton, closeButton),
    );
    if (breaker !== null) breakerLine.addEventListener('click', () => this.#toggleDetail(breaker.name, body));
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
      { 'data-testid': `point-${point.name}`, 'data-quality': point.quality, class: 'point-row', tabindex: 0 },
      h('th', { scope: 'row', title: point.name }, symbol === '' ? null : h('span', { class: 'sym' }, symbol), h('span', { class: symbol === '' ? 'name' : 'name optional' }, name)),
      value,
      unit,
      h('td', { class: 'quality' }, badge),
    );
    this.#cells.set(point.name, { row, value, unit, badge });
    row.addEventListener('click', () => this.#toggleDetail(point.name));
    row.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this.#toggleDetail(point.name);
      }
    });
    return row;
  }

  /**
   * Opens the detail row of a point under its row (a breaker's at the top of
   * its bay's table), or closes it when it is the one open.
   */
  #toggleDetail(name: string, body?: HTMLElement): void {
    const open = this.#detail;
    if (open !== null) {
      open.row.remove();
      this.#cells.get(open.point)?.row.removeAttribute('aria-expanded');
      this.#detail = null;
      if (open.point === name) return;
    }
    const point = this.#points.get(name);
    if (point === undefined) return;
    const row = h('tr', { class: 'detail-row', 'data-testid': `detail-${name}` }, h('td', { colspan: 4 }));
    const cell = this.#cells.get(name);
    if (cell !== undefined) {
      cell.row.after(row);
      cell.row.setAttribute('aria-expanded', 'true');
    } else {
      const bay = [...this.#bays.values()].find((b) => b.breaker === name);
      const tbody = body ?? bay?.element.querySelector('tbody');
      if (tbody === null || tbody === undefined) return;
      tbody.prepend(row);
    }
    this.#detail = { point: name, row };
    this.#renderDetail(point);
  }

  #renderDetail(point: PointSnapshot): void {
    const detail = this.#detail;
    if (detail === null || detail.point !== point.name) return;
    const trend = h('button', { type: 'button', class: 'quiet', 'data-testid': `trend-${point.name}` }, t('detail.trend'));
    trend.addEventListener('click', (event) => {
      event.stopPropagation();
      this.#onTrend(point.name);
    });
    const item = (label: string, value: string, testId?: string): HTMLElement => h('span', { class: 'detail-item' }, h('span', { class: 'label' }, label), ' ', h('b', testId === undefined ? {} : { 'data-testid': testId }, value));
    const cell = detail.row.firstElementChild;
    if (cell === null) return;
    cell.replaceChildren();
    append(cell, [
      h('code', { class: 'detail-name' }, point.name),
      item(t('detail.quality'), `${qualityName(point.quality)}${point.substitutedBy === undefined ? '' : ` (${t('detail.substitutedBy', { who: point.substitutedBy })})`}`, `detail-quality-${point.name}`),
      item(t('detail.source'), formatTime(point.sourceTime), `detail-source-${point.name}`),
      item(t('detail.server'), formatTime(point.serverTime)),
      point.alarm === undefined ? null : item(t('detail.alarm'), t(`alarms.state.${point.alarm}`)),
      point.class === 'telemetry' || point.class === 'status' ? trend : null,
    ]);
  }

  #apply(point: PointSnapshot, animate: boolean): void {
    const cell = this.#cells.get(point.name);
    if (cell !== undefined) {
      const changed = setText(cell.value, formatValue(point.value, point.unit));
      setText(cell.unit, point.unit);
      this.#applyQuality(cell.row, cell.badge, point);
      cell.row.title =
        point.alarm === undefined
          ? t('point.title', { name: point.name, quality: qualityName(point.quality), time: formatTime(point.sourceTime) })
          : t('point.titleAlarm', { name: point.name, quality: qualityName(point.quality), alarm: t(`alarms.state.${point.alarm}`), time: formatTime(point.sourceTime) });
      if (changed && animate) flash(cell.value);
    }
    if (this.#detail?.point === point.name) this.#renderDetail(point);
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
    setText(badge, alarm === null ? qualityBadge(point.quality) : t('badge.alarm'));
    badge.className = `q-badge q-${point.quality}${alarm === null ? '' : ' q-alarm'}`;
  }

  #applyBreaker(bay: Bay, point: PointSnapshot, animate: boolean): void {
    const state = point.quality === 'invalid' ? 'unknown' : stateOf(point);
    const before = bay.element.dataset['breaker'];
    bay.element.dataset['breaker'] = state;
    bay.element.dataset['quality'] = point.quality;
    const shown = state === 'unknown' ? (point.quality === 'invalid' ? t('breaker.invalid') : '—') : state === 'open' ? t('breaker.open') : state === 'closed' ? t('breaker.closed') : state.toUpperCase();
    setText(bay.state, shown);
    setText(bay.stateBadge, point.quality === 'good' || point.quality === 'invalid' ? '' : qualityBadge(point.quality));
    bay.stateBadge.className = `q-badge q-${point.quality}`;
    bay.symbol.title = t('breaker.title', { name: point.name, state: shown, quality: qualityName(point.quality), time: formatTime(point.sourceTime) });
    if (animate && before !== state) flash(bay.element, 'toggled');
  }

  #updateButtons(bay: Bay): void {
    const control = bay.control === null ? undefined : this.#points.get(bay.control);
    const state = bay.element.dataset['breaker'];
    const reason = !this.#canOperate
      ? t('control.noRole')
      : control === undefined
        ? t('control.noPoint')
        : this.#busy.has(bay.id)
          ? t('control.busy')
          : state === 'unknown'
            ? t('control.unknownState')
            : null;
    bay.openButton.disabled = reason !== null || state === 'open';
    bay.closeButton.disabled = reason !== null || state === 'closed';
    bay.openButton.title = reason ?? (state === 'open' ? t('control.alreadyOpen') : t('control.openTitle', { feeder: bay.id }));
    bay.closeButton.title = reason ?? (state === 'closed' ? t('control.alreadyClosed') : t('control.closeTitle', { feeder: bay.id }));
  }

  #command(bay: Bay, action: BreakerAction): void {
    const point = bay.control === null ? undefined : this.#points.get(bay.control);
    if (point === undefined || !this.#canOperate) return;
    this.#onCommand({ feeder: bay.id, point, action });
  }
}
