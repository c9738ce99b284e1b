/**
 * Trends (docs/http-api.md, `GET /api/history?…&buckets=N`): one chart of
 * one or more points over a time range, drawn by uPlot. The history of the
 * range is fetched reduced to the chart's width (the server keeps each
 * pixel column's first, lowest, highest and last value and its quality gaps),
 * so a range of 100,000 samples costs a few thousand points; zooming or
 * panning fetches the new range at the new resolution. Live values from
 * `/api/live` are appended at the right edge, and in live mode the range
 * follows the clock. An `invalid` sample (or one without value) breaks the
 * line: quality gaps show as gaps. One y axis per unit, labelled with it.
 */

import uPlot from 'uplot';
import type { PointSnapshot } from '../../src/protocol/scada.js';
import { ApiError, api, query } from './api.js';
import { serverNow } from './clock.js';
import { h, setText } from './dom.js';
import { decimalsOf, formatValue } from './format.js';
import { formatCount, formatDateTime, formatNumber, formatSpan, formatTick, locale, t } from './i18n.js';

interface Sample {
  readonly value: number | null;
  readonly quality: PointSnapshot['quality'];
  readonly sourceTime: number;
}

interface Decimated {
  readonly scanned: number;
  readonly complete: boolean;
  readonly decimated: boolean;
  readonly samples: Sample[];
}

interface Series {
  readonly name: string;
  readonly unit: string;
  readonly color: string;
  /** Seconds since the epoch (uPlot's time unit). */
  xs: number[];
  ys: Array<number | null>;
  scanned: number;
  complete: boolean;
}

export interface TrendParts {
  readonly form: HTMLFormElement;
  readonly input: HTMLInputElement;
  readonly datalist: HTMLDataListElement;
  readonly list: HTMLElement;
  readonly chart: HTMLElement;
  readonly range: HTMLElement;
  readonly status: HTMLElement;
  readonly presets: HTMLElement;
  readonly back: HTMLButtonElement;
  readonly forward: HTMLButtonElement;
  readonly zoomOut: HTMLButtonElement;
  readonly live: HTMLButtonElement;
}

const MAX_SERIES = 8;
const MINUTE = 60_000;
const PRESETS = [15 * MINUTE, 60 * MINUTE, 8 * 60 * MINUTE, 24 * 60 * MINUTE, 7 * 24 * 60 * MINUTE] as const;
const DEFAULT_SPAN = PRESETS[0];
/** The narrowest range a zoom goes to. */
const MIN_SPAN = 2_000;
const COLORS = ['#6cb6ff', '#f0c33c', '#30a46c', '#e5484d', '#c792ea', '#ff9f43', '#4fd1c5', '#e6edf3'];
const STORAGE_KEY = 'gridlink.trend.points';
const FETCH_DELAY_MS = 150;

function isGap(sample: { value: number | null; quality: string }): boolean {
  return sample.value === null || sample.quality === 'invalid';
}

export class TrendView {
  readonly #parts: TrendParts;
  readonly #known: () => PointSnapshot[];
  readonly #series: Series[] = [];
  #plot: uPlot | null = null;
  #span: number = DEFAULT_SPAN;
  #follow = true;
  #from = 0;
  #to = 0;
  #visible = false;
  #settingScale = false;
  #fetchTimer: ReturnType<typeof setTimeout> | null = null;
  #fetchTicket = 0;
  #frame: number | null = null;
  #liveCount = 0;
  #tick: ReturnType<typeof setInterval> | null = null;

  constructor(parts: TrendParts, known: () => PointSnapshot[]) {
    this.#parts = parts;
    this.#known = known;
    parts.form.addEventListener('submit', (event) => {
      event.preventDefault();
      const name = parts.input.value.trim();
      if (name === '') return;
      if (this.add(name)) parts.input.value = '';
    });
    parts.back.addEventListener('click', () => this.#pan(-0.5));
    parts.forward.addEventListener('click', () => this.#pan(0.5));
    parts.zoomOut.addEventListener('click', () => this.#zoomAround((this.#from + this.#to) / 2, 2));
    parts.live.addEventListener('click', () => this.#goLive(this.#span));
    new ResizeObserver(() => this.#resize()).observe(parts.chart);
    this.#renderPresets();
    for (const name of this.#remembered()) this.#addSeries(name, '');
    this.#setRange(serverNow() - this.#span, serverNow());
    this.#renderList();
  }

  /** The view is on screen: draw and fetch; the range follows the clock while live. */
  show(): void {
    this.#visible = true;
    this.#refreshPointList();
    if (this.#follow) this.#setRange(serverNow() - this.#span, serverNow());
    this.#tick ??= setInterval(() => {
      if (this.#follow && this.#visible) this.#setRange(serverNow() - this.#span, serverNow(), false);
    }, 1_000);
    this.#rebuild();
    this.#scheduleFetch(0);
  }

  hide(): void {
    this.#visible = false;
    if (this.#tick !== null) clearInterval(this.#tick);
    this.#tick = null;
  }

  /** Adds a point to the chart; false (with the reason shown) when it cannot be. */
  add(name: string): boolean {
    if (this.#series.some((s) => s.name === name)) return true;
    const point = this.#known().find((p) => p.name === name);
    if (point === undefined) {
      this.#say(t('trends.unknownPoint', { name }));
      return false;
    }
    if (this.#series.length >= MAX_SERIES) {
      this.#say(t('trends.tooMany', { n: MAX_SERIES }));
      return false;
    }
    this.#addSeries(name, point.unit);
    this.#remember();
    this.#renderList();
    this.#rebuild();
    this.#scheduleFetch(0);
    return true;
  }

  remove(name: string): void {
    const index = this.#series.findIndex((s) => s.name === name);
    if (index === -1) return;
    this.#series.splice(index, 1);
    this.#remember();
    this.#renderList();
    this.#rebuild();
  }

  /** A live update of a point: appended to its series when it is on the chart. */
  live(point: PointSnapshot): void {
    const series = this.#series.find((s) => s.name === point.name);
    if (series === undefined) return;
    if (series.unit === '' && point.unit !== '') {
      // Known from a remembered selection before the first snapshot arrived.
      (series as { unit: string }).unit = point.unit;
      this.#plot?.destroy();
      this.#plot = null;
    }
    const time = point.sourceTime ?? point.serverTime;
    if (time === null) return;
    const x = time / 1000;
    const last = series.xs[series.xs.length - 1];
    if (last !== undefined && x <= last) return;
    series.xs.push(x);
    series.ys.push(isGap(point) ? null : point.value);
    this.#liveCount += 1;
    this.#parts.chart.dataset['live'] = String(this.#liveCount);
    // Keep the live tail bounded: nothing older than a range before the left edge.
    const keepFrom = (this.#from - this.#span) / 1000;
    if (series.xs.length > 20_000 && series.xs[0]! < keepFrom) {
      const cut = series.xs.findIndex((v) => v >= keepFrom);
      series.xs.splice(0, cut);
      series.ys.splice(0, cut);
    }
    this.#redraw();
  }

  /** Redraws in the page's (new) language (axes, legend, labels). */
  relabel(): void {
    this.#renderPresets();
    this.#renderList();
    this.#plot?.destroy();
    this.#plot = null;
    this.#rebuild();
    this.#showRange();
  }

  #addSeries(name: string, unit: string): void {
    const used = new Set(this.#series.map((s) => s.color));
    const color = COLORS.find((c) => !used.has(c)) ?? COLORS[this.#series.length % COLORS.length]!;
    this.#series.push({ name, unit, color, xs: [], ys: [], scanned: 0, complete: true });
  }

  #remembered(): string[] {
    try {
      const parsed: unknown = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '[]');
      return Array.isArray(parsed) ? parsed.filter((p): p is string => typeof p === 'string' && p.length <= 256).slice(0, MAX_SERIES) : [];
    } catch {
      return [];
    }
  }

  #remember(): void {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.#series.map((s) => s.name)));
    } catch {
      // not remembered
    }
  }

  #refreshPointList(): void {
    const names = this.#known()
      .filter((p) => p.class === 'telemetry' || p.class === 'status')
      .map((p) => p.name)
      .sort();
    this.#parts.datalist.replaceChildren(...names.map((name) => h('option', { value: name })));
    // A remembered series whose unit was not known yet.
    for (const series of this.#series) {
      if (series.unit !== '') continue;
      const point = this.#known().find((p) => p.name === series.name);
      if (point !== undefined) (series as { unit: string }).unit = point.unit;
    }
  }

  #renderPresets(): void {
    const buttons = PRESETS.map((span) => {
      const button = h('button', { type: 'button', class: 'preset', 'data-testid': `trend-preset-${span / MINUTE}`, 'aria-pressed': String(this.#follow && this.#span === span), title: t('trends.range', { span: formatSpan(span) }) }, formatSpan(span));
      button.addEventListener('click', () => this.#goLive(span));
      return button;
    });
    this.#parts.presets.replaceChildren(...buttons);
    this.#parts.live.setAttribute('aria-pressed', String(this.#follow));
  }

  #renderList(): void {
    const items = this.#series.map((series) => {
      const remove = h('button', { type: 'button', class: 'quiet remove', title: t('trends.remove', { name: series.name }), 'aria-label': t('trends.remove', { name: series.name }), 'data-testid': `trend-remove-${series.name}` }, '×');
      remove.addEventListener('click', () => this.remove(series.name));
      return h('li', { 'data-testid': `trend-series-${series.name}`, style: `--series: ${series.color}` }, h('i', { class: 'swatch' }), h('code', {}, series.name), series.unit === '' ? null : h('span', { class: 'unit' }, series.unit), remove);
    });
    this.#parts.list.replaceChildren(...items);
    this.#parts.chart.dataset['series'] = String(this.#series.length);
    if (this.#series.length === 0) {
      this.#plot?.destroy();
      this.#plot = null;
      this.#parts.chart.replaceChildren(h('p', { class: 'empty', 'data-testid': 'trend-empty' }, t('trends.empty')));
      this.#parts.chart.dataset['state'] = 'empty';
      setText(this.#parts.status, '');
    }
  }

  #say(text: string): void {
    setText(this.#parts.status, text);
  }

  #goLive(span: number): void {
    this.#span = span;
    this.#follow = true;
    this.#renderPresets();
    this.#setRange(serverNow() - span, serverNow());
    this.#scheduleFetch(0);
  }

  #pan(fraction: number): void {
    const shift = (this.#to - this.#from) * fraction;
    this.#userRange(this.#from + shift, this.#to + shift);
  }

  #zoomAround(center: number, factor: number): void {
    const from = center - (center - this.#from) * factor;
    const to = center + (this.#to - center) * factor;
    this.#userRange(from, to);
  }

  /** A range the operator chose (zoom, pan): live mode ends unless it reaches now. */
  #userRange(from: number, to: number): void {
    let lo = from;
    let hi = to;
    if (hi - lo < MIN_SPAN) {
      const mid = (lo + hi) / 2;
      lo = mid - MIN_SPAN / 2;
      hi = mid + MIN_SPAN / 2;
    }
    const now = serverNow();
    this.#follow = hi >= now;
    if (this.#follow) {
      this.#span = hi - lo;
      hi = now;
      lo = now - this.#span;
    }
    this.#renderPresets();
    this.#setRange(lo, hi);
    this.#scheduleFetch(FETCH_DELAY_MS);
  }

  #setRange(from: number, to: number, redraw = true): void {
    this.#from = Math.round(from);
    this.#to = Math.round(to);
    this.#showRange();
    const plot = this.#plot;
    if (plot !== null) {
      this.#settingScale = true;
      try {
        plot.setScale('x', { min: this.#from / 1000, max: this.#to / 1000 });
      } finally {
        this.#settingScale = false;
      }
    } else if (redraw) this.#rebuild();
  }

  #showRange(): void {
    const range = this.#parts.range;
    range.dataset['from'] = String(this.#from);
    range.dataset['to'] = String(this.#to);
    range.dataset['follow'] = String(this.#follow);
    setText(range, t('trends.from', { from: formatDateTime(this.#from), to: formatDateTime(this.#to) }));
  }

  #scheduleFetch(delay: number): void {
    if (this.#fetchTimer !== null) clearTimeout(this.#fetchTimer);
    this.#fetchTimer = setTimeout(() => {
      this.#fetchTimer = null;
      void this.#fetch();
    }, delay);
  }

  /** Fetches every series over the shown range at the chart's resolution; live samples newer than the answer are kept. */
  async #fetch(): Promise<void> {
    if (!this.#visible || this.#series.length === 0) return;
    const ticket = ++this.#fetchTicket;
    const from = this.#from;
    const to = this.#to;
    const buckets = Math.max(50, Math.min(4_000, Math.round(this.#parts.chart.clientWidth || 1_000)));
    this.#parts.chart.dataset['state'] = 'loading';
    this.#say(t('trends.loading'));
    const started = performance.now();
    try {
      const answers = await Promise.all(
        this.#series.map((series) => api<Decimated>('GET', `/api/history${query({ point: series.name, since: Math.max(0, from - 1), until: to + 1, buckets })}`).then((answer) => ({ series, answer }))),
      );
      if (ticket !== this.#fetchTicket) return;
      for (const { series, answer } of answers) {
        const xs = answer.samples.map((s) => s.sourceTime / 1000);
        const ys = answer.samples.map((s) => (isGap(s) ? null : s.value));
        const lastX = xs[xs.length - 1] ?? -Infinity;
        // Live samples that arrived during the request, after what it returned.
        for (let i = 0; i < series.xs.length; i += 1) {
          if (series.xs[i]! > lastX && series.xs[i]! * 1000 >= to) {
            xs.push(series.xs[i]!);
            ys.push(series.ys[i]!);
          }
        }
        series.xs = xs;
        series.ys = ys;
        series.scanned = answer.scanned;
        series.complete = answer.complete;
      }
      this.#parts.chart.dataset['fetchMs'] = String(Math.round(performance.now() - started));
      this.#rebuild();
      const shown = this.#series.reduce((n, s) => n + s.xs.length, 0);
      const scanned = this.#series.reduce((n, s) => n + s.scanned, 0);
      const incomplete = this.#series.some((s) => !s.complete);
      this.#say(incomplete ? t('trends.incomplete', { n: formatCount(2_000_000) }) : shown < scanned ? t('trends.samples', { shown: formatCount(shown), scanned: formatCount(scanned) }) : t('trends.samplesExact', { shown: formatCount(shown) }));
      this.#parts.chart.dataset['state'] = 'ready';
      this.#parts.chart.dataset['scanned'] = String(scanned);
    } catch (err) {
      if (ticket !== this.#fetchTicket) return;
      this.#parts.chart.dataset['state'] = 'error';
      this.#say(t('trends.failed', { error: err instanceof ApiError ? err.describe() : String(err) }));
    }
  }

  /** The series on one time axis (uPlot.join: alignment gaps are spanned, nulls from the data break the line). */
  #data(): uPlot.AlignedData {
    if (this.#series.length === 0) return [[]];
    return uPlot.join(this.#series.map((s) => [s.xs, s.ys] as uPlot.AlignedData));
  }

  #redraw(): void {
    if (this.#frame !== null || !this.#visible) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = null;
      this.#rebuild();
    });
  }

  /** Creates the plot when the series changed, else gives it the new data; then the range. */
  #rebuild(): void {
    if (!this.#visible || this.#series.length === 0) return;
    const data = this.#data();
    const samples = this.#series.reduce((n, s) => n + s.xs.length, 0);
    this.#parts.chart.dataset['samples'] = String(samples);
    const plot = this.#plot;
    const shape = this.#series.map((s) => `${s.name}/${s.unit}`).join(',');
    if (plot === null || plot.series.length !== this.#series.length + 1 || this.#parts.chart.dataset['shape'] !== shape) {
      plot?.destroy();
      this.#parts.chart.replaceChildren();
      this.#parts.chart.dataset['shape'] = shape;
      // uPlot sets its scales as it starts: not the operator's zoom.
      this.#settingScale = true;
      try {
        this.#plot = new uPlot(this.#options(), data, this.#parts.chart);
      } finally {
        this.#settingScale = false;
      }
    } else {
      this.#settingScale = true;
      try {
        plot.setData(data, false);
      } finally {
        this.#settingScale = false;
      }
    }
    this.#setRange(this.#from, this.#to, false);
  }

  #size(): { width: number; height: number } {
    const box = this.#parts.chart.getBoundingClientRect();
    return { width: Math.max(300, Math.floor(box.width)), height: Math.max(200, Math.floor(box.height) - 40) };
  }

  #resize(): void {
    if (this.#plot === null || !this.#visible) return;
    this.#settingScale = true;
    try {
      this.#plot.setSize(this.#size());
    } finally {
      this.#settingScale = false;
    }
  }

  #options(): uPlot.Options {
    const units = [...new Set(this.#series.map((s) => s.unit))];
    this.#parts.chart.dataset['units'] = units.join(' ');
    const grid = { stroke: '#2a3a49', width: 1 };
    const ticks = { stroke: '#2a3a49', width: 1 };
    const lang = locale();
    const timeValue = (_u: uPlot, v: number | null): string => (v === null ? '—' : formatDateTime(v * 1000));
    return {
      ...this.#size(),
      tzDate: (ts) => new Date(ts * 1000),
      scales: { x: { time: true }, ...Object.fromEntries(units.map((unit) => [unit || '-', { auto: true }])) },
      series: [
        { label: t('trends.time'), value: timeValue },
        ...this.#series.map((s) => ({
          label: s.name,
          scale: s.unit || '-',
          stroke: s.color,
          width: 1.5,
          spanGaps: false,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : `${formatValue(v, s.unit)} ${s.unit}`),
        })),
      ],
      axes: [
        {
          stroke: '#8fa1b3',
          grid,
          ticks,
          space: lang === 'en' ? 70 : 80,
          values: (u, splits) => {
            const span = ((u.scales['x']?.max ?? 0) - (u.scales['x']?.min ?? 0)) * 1000;
            return splits.map((v) => formatTick(v * 1000, span));
          },
        },
        ...units.map((unit, i) => ({
          scale: unit || '-',
          label: unit,
          labelSize: 18,
          side: i % 2 === 0 ? 3 : 1,
          stroke: '#8fa1b3',
          grid: { ...grid, show: i === 0 },
          ticks,
          size: 60,
          values: (_u: uPlot, splits: number[]) => splits.map((v) => formatNumber(v, Math.min(3, Math.max(decimalsOf(unit, v) - 1, 0)))),
        })),
      ],
      legend: { show: true, live: true },
      cursor: {
        drag: { x: true, y: false, setScale: true },
        bind: {
          // Double-click: back to the live range (uPlot's own resets to the data's extent).
          dblclick: () => () => {
            this.#goLive(this.#span);
            return null;
          },
        },
      },
      hooks: {
        setScale: [
          (u, key) => {
            if (key !== 'x' || this.#settingScale) return;
            const min = u.scales['x']?.min;
            const max = u.scales['x']?.max;
            if (min === undefined || max === undefined || min === null || max === null) return;
            // uPlot reports scale changes after the fact (batched): the range we set ourselves comes back here too.
            if (Math.abs(min * 1000 - this.#from) < 2 && Math.abs(max * 1000 - this.#to) < 2) return;
            // A drag-zoom: uPlot has set the range; make it ours and fetch it at full resolution.
            this.#userRange(min * 1000, max * 1000);
          },
        ],
        ready: [
          (u) => {
            u.over.addEventListener(
              'wheel',
              (event) => {
                event.preventDefault();
                const at = u.posToVal(event.offsetX, 'x') * 1000;
                this.#zoomAround(at, event.deltaY < 0 ? 0.8 : 1.25);
              },
              { passive: false },
            );
          },
        ],
      },
    };
  }
}
