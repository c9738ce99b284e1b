/**
 * The sequence of events (docs/http-api.md, "Sequence of events"): value and
 * quality changes, alarms and commands in one list, newest first, filtered
 * by point pattern, time range and kind, paged from `GET /api/soe` ("Older
 * events" follows its cursor). While the range is open-ended and the view
 * is on screen, newer entries are polled (`after=`) and appear at the top.
 * Every command shows who gave it (operator, or `iec104:<address>`) and how
 * it ended.
 */

import type { PointSnapshot } from '../../src/protocol/scada.js';
import type { SoeEntry, SoePage } from '../../src/web/routes/soe-types.js';
import { ApiError, api, query } from './api.js';
import { h, setText } from './dom.js';
import { formatValue } from './format.js';
import { formatCount, formatDateTime, formatPreciseTime, t } from './i18n.js';
import type { MessageKey } from './messages.js';
import { qualityName } from './points.js';

export interface SoeParts {
  readonly form: HTMLFormElement;
  readonly body: HTMLElement;
  readonly status: HTMLElement;
  readonly more: HTMLButtonElement;
}

const PAGE = 100;
const POLL_MS = 2_000;
const MAX_ROWS = 2_000;
const HOUR = 3_600_000;
const KINDS = ['change', 'alarm', 'command', 'quality'] as const;

interface Filter {
  readonly pattern: string | undefined;
  readonly since: number;
  /** Undefined: up to now, and live. */
  readonly until: number | undefined;
  readonly kinds: string;
}

/** ms of a datetime-local input's value (local time), or undefined when empty or invalid. */
function timeOf(input: Element | RadioNodeList | null): number | undefined {
  if (!(input instanceof HTMLInputElement) || input.value === '') return undefined;
  const ms = new Date(input.value).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

export class SoeView {
  readonly #parts: SoeParts;
  readonly #known: (name: string) => PointSnapshot | undefined;
  #entries: SoeEntry[] = [];
  #filter: Filter | null = null;
  #next: string | null = null;
  #visible = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #ticket = 0;

  constructor(parts: SoeParts, known: (name: string) => PointSnapshot | undefined) {
    this.#parts = parts;
    this.#known = known;
    parts.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.load();
    });
    parts.more.addEventListener('click', () => void this.#older());
  }

  show(): void {
    this.#visible = true;
    if (this.#filter === null) void this.load();
    else this.#schedulePoll();
  }

  hide(): void {
    this.#visible = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Shows only this pattern (from elsewhere on the page). */
  filterPoints(pattern: string): void {
    const input = this.#parts.form.elements.namedItem('pattern');
    if (input instanceof HTMLInputElement) input.value = pattern;
    void this.load();
  }

  relabel(): void {
    this.#render();
  }

  /** Reads the filter from the form and loads the newest page. */
  async load(): Promise<void> {
    const elements = this.#parts.form.elements;
    const patternInput = elements.namedItem('pattern');
    const pattern = patternInput instanceof HTMLInputElement && patternInput.value.trim() !== '' ? patternInput.value.trim() : undefined;
    const until = timeOf(elements.namedItem('until'));
    const since = timeOf(elements.namedItem('since')) ?? (until ?? Date.now()) - HOUR;
    const kinds = KINDS.filter((kind) => [...this.#parts.form.querySelectorAll<HTMLInputElement>('input[name="kind"]')].some((box) => box.value === kind && box.checked));
    const filter: Filter = { pattern, since, until, kinds: kinds.join(',') };
    this.#filter = filter;
    this.#entries = [];
    this.#next = null;
    const ticket = ++this.#ticket;
    if (kinds.length === 0) {
      this.#render();
      return;
    }
    this.#parts.body.dataset['state'] = 'loading';
    try {
      const page = await this.#fetch(filter, {});
      if (ticket !== this.#ticket) return;
      this.#entries = page.entries;
      this.#next = page.next;
      this.#render();
    } catch (err) {
      if (ticket !== this.#ticket) return;
      this.#fail(err);
    }
    this.#schedulePoll();
  }

  #fetch(filter: Filter, cursor: { before?: string; after?: string }): Promise<SoePage> {
    return api<SoePage>('GET', `/api/soe${query({ pattern: filter.pattern, since: Math.max(0, Math.floor(filter.since)), until: filter.until, kinds: filter.kinds, limit: PAGE, ...cursor })}`);
  }

  async #older(): Promise<void> {
    const filter = this.#filter;
    if (filter === null || this.#next === null) return;
    const ticket = this.#ticket;
    try {
      const page = await this.#fetch(filter, { before: this.#next });
      if (ticket !== this.#ticket) return;
      this.#entries.push(...page.entries);
      this.#next = page.next;
      this.#render();
    } catch (err) {
      this.#fail(err);
    }
  }

  #schedulePoll(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#visible || this.#filter === null || this.#filter.until !== undefined || this.#filter.kinds === '') return;
    this.#timer = setTimeout(() => void this.#poll(), POLL_MS);
  }

  /** Entries newer than the newest shown, at the top. */
  async #poll(): Promise<void> {
    this.#timer = null;
    const filter = this.#filter;
    if (filter === null || !this.#visible) return;
    const ticket = this.#ticket;
    const newest = this.#entries[0]?.cursor;
    try {
      const page = await this.#fetch(filter, newest === undefined ? {} : { after: newest });
      if (ticket !== this.#ticket) return;
      const known = new Set(this.#entries.map((e) => e.cursor));
      const fresh = page.entries.filter((e) => !known.has(e.cursor));
      if (fresh.length > 0) {
        this.#entries.unshift(...fresh);
        if (this.#entries.length > MAX_ROWS) {
          this.#entries.length = MAX_ROWS;
          this.#next = this.#entries[this.#entries.length - 1]!.cursor;
        }
        this.#render(new Set(fresh.map((e) => e.cursor)));
      }
    } catch {
      // a failed poll is tried again; the list stays as it is
    }
    this.#schedulePoll();
  }

  #fail(err: unknown): void {
    this.#parts.body.dataset['state'] = 'error';
    setText(this.#parts.status, t('soe.failed', { error: err instanceof ApiError ? err.describe() : String(err) }));
  }

  #render(fresh: ReadonlySet<string> = new Set()): void {
    const rows = this.#entries.map((entry) => this.#row(entry, fresh.has(entry.cursor)));
    if (rows.length === 0) rows.push(h('tr', { class: 'empty' }, h('td', { colspan: 5 }, t('soe.none'))));
    this.#parts.body.replaceChildren(...rows);
    this.#parts.body.dataset['state'] = 'ready';
    this.#parts.body.dataset['count'] = String(this.#entries.length);
    this.#parts.more.hidden = this.#next === null;
    setText(this.#parts.status, this.#filter?.until === undefined ? t('soe.count', { n: formatCount(this.#entries.length) }) : t('soe.countTo', { n: formatCount(this.#entries.length) }));
  }

  /** A value as the page shows it: a status point's state name, else the number with its unit. */
  #valueText(point: string, value: number | null | undefined): string {
    if (value === null || value === undefined) return '—';
    const known = this.#known(point);
    if (known?.class === 'status' || known?.class === 'control') {
      const states = known.states ?? ['open', 'closed'];
      const state = (value === 0 ? states[0] : states[1]).toLowerCase();
      return state === 'open' ? t('breaker.open') : state === 'closed' ? t('breaker.closed') : state;
    }
    return `${formatValue(value, known?.unit ?? '')}${known?.unit ? ` ${known.unit}` : ''}`;
  }

  #row(entry: SoeEntry, fresh: boolean): HTMLElement {
    let what: Array<Node | string> = [];
    let who: Array<Node | string> = [];
    let outcome: string | null = null;
    switch (entry.kind) {
      case 'change':
        what = [this.#valueText(entry.point, entry.value)];
        if (entry.quality !== undefined && entry.quality !== 'good') what.push(' ', h('span', { class: `q-badge q-${entry.quality}` }, qualityName(entry.quality)));
        break;
      case 'quality':
        what = [t('soe.qualityTo', { quality: qualityName(entry.quality ?? 'good') }), ' · ', this.#valueText(entry.point, entry.value)];
        break;
      case 'alarm': {
        const alarm = entry.alarm!;
        const kindKey = `alarms.kind.${alarm.kind}` as MessageKey;
        what = [h('span', { title: alarm.message }, t(`soe.alarm.${alarm.action}`, { kind: t(kindKey) })), ' ', h('span', { class: 'muted' }, alarm.action === 'raised' ? alarm.message : '')];
        if (alarm.by !== null) who = [alarm.by];
        break;
      }
      case 'command': {
        const command = entry.command!;
        outcome = command.outcome;
        const result =
          command.outcome === 'confirmed'
            ? t('soe.outcome.confirmed', { ms: command.tookMs ?? 0 })
            : command.outcome === 'pending'
              ? t('soe.outcome.pending')
              : t(`soe.outcome.${command.outcome}`, { reason: command.reason ?? '' });
        what = [t('soe.command', { value: this.#valueText(entry.point, command.value) }), ' — ', h('b', { class: `outcome outcome-${command.outcome}`, 'data-testid': 'soe-outcome' }, result)];
        who = [h('b', { 'data-testid': 'soe-who' }, command.by), ' ', h('span', { class: 'muted' }, t('soe.via', { via: command.via }))];
        break;
      }
    }
    return h(
      'tr',
      { class: `soe-row kind-${entry.kind}${fresh ? ' fresh' : ''}${outcome === null ? '' : ` outcome-${outcome}`}`, 'data-testid': 'soe-row', 'data-kind': entry.kind, 'data-point': entry.point, title: formatDateTime(entry.at) },
      h('td', { class: 'time' }, formatPreciseTime(entry.at)),
      h('td', { class: 'kind' }, h('span', { class: `kind-badge kind-${entry.kind}` }, t(`soe.kind.${entry.kind}`))),
      h('td', { class: 'point' }, h('code', {}, entry.point)),
      h('td', { class: 'what' }, ...what),
      h('td', { class: 'who' }, ...who),
    );
  }
}
