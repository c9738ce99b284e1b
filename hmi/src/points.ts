/**
 * How point names map onto the one-line view: `<device>.<feeder>.<quantity>`
 * (e.g. `sub1.f1.current`). Grouping is by the tokens, never by a fixed list,
 * so a substation with more feeders or other quantities shows up as it is.
 */

import type { PointSnapshot } from '../../src/protocol/scada.js';
import { t } from './i18n.js';
import type { MessageKey } from './messages.js';

export interface PointPlace {
  readonly device: string;
  /** The middle token(s); '' for points directly under a device. */
  readonly feeder: string;
  readonly quantity: string;
}

export function placeOf(name: string): PointPlace {
  const tokens = name.split('.');
  if (tokens.length >= 3) {
    return { device: tokens[0] ?? '', feeder: tokens.slice(1, -1).join('.'), quantity: tokens[tokens.length - 1] ?? '' };
  }
  if (tokens.length === 2) return { device: tokens[0] ?? '', feeder: '', quantity: tokens[1] ?? '' };
  return { device: '', feeder: '', quantity: name };
}

/** Natural order: f2 before f10. */
export const naturalCompare = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' }).compare;

const QUANTITY_ORDER = ['voltage', 'current', 'activePower', 'reactivePower', 'frequency'];

const LABELS: Readonly<Record<string, readonly [symbol: string, name: MessageKey]>> = {
  voltage: ['U', 'quantity.voltage'],
  current: ['I', 'quantity.current'],
  activePower: ['P', 'quantity.activePower'],
  reactivePower: ['Q', 'quantity.reactivePower'],
  frequency: ['f', 'quantity.frequency'],
};

export function compareQuantities(a: string, b: string): number {
  const ia = QUANTITY_ORDER.indexOf(a);
  const ib = QUANTITY_ORDER.indexOf(b);
  if (ia !== -1 || ib !== -1) return (ia === -1 ? Infinity : ia) - (ib === -1 ? Infinity : ib);
  return naturalCompare(a, b);
}

/** [symbol, name] for a quantity token, in the page's language; unknown camelCase tokens are spelled out. */
export function labelOf(quantity: string): readonly [string, string] {
  const known = LABELS[quantity];
  if (known !== undefined) return [known[0], t(known[1])];
  const words = quantity.replace(/([a-z0-9])([A-Z])/gu, '$1 $2').toLowerCase();
  return ['', words.charAt(0).toUpperCase() + words.slice(1)];
}

/** 'open' / 'closed' (or the point's own state names), 'unknown' without a value. */
export function stateOf(point: PointSnapshot | undefined): string {
  if (point?.value === null || point === undefined) return 'unknown';
  const states = point.states ?? ['open', 'closed'];
  return (point.value === 0 ? states[0] : states[1]).toLowerCase();
}

/** The value that drives a status point to `state` (index in `states`). */
export function valueFor(point: PointSnapshot, state: 'open' | 'closed'): number {
  const states = (point.states ?? ['open', 'closed']).map((s) => s.toLowerCase());
  const index = states.indexOf(state);
  return index === -1 ? (state === 'closed' ? 1 : 0) : index;
}

/** Short enough for a feeder's column; the legend and the row's tooltip spell them out. */
export function qualityBadge(quality: PointSnapshot['quality']): string {
  return quality === 'good' ? '' : t(`badge.${quality}`);
}

/** The quality in words. */
export function qualityName(quality: PointSnapshot['quality']): string {
  return t(`quality.${quality}`);
}
