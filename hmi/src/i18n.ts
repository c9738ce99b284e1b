/**
 * The page in English and Simplified Chinese (docs/http-api.md, "the page"):
 * every string the page shows comes from {@link t}; numbers, dates, times and
 * durations are formatted with Intl for the chosen language. The language
 * is the first of the browser's languages (navigator.languages) the page
 * speaks, or the one picked on the page (remembered in localStorage).
 * The server's error messages stay English; {@link describeError} shows a
 * localized text for the codes the page knows, the server's words otherwise.
 */

import { MESSAGES_EN, MESSAGES_ZH, type MessageKey } from './messages.js';

export type Locale = 'en' | 'zh-CN';
export const LOCALES: readonly Locale[] = ['en', 'zh-CN'];
const STORAGE_KEY = 'gridlink.lang';

const TABLES: Readonly<Record<Locale, Readonly<Record<MessageKey, string>>>> = { en: MESSAGES_EN, 'zh-CN': MESSAGES_ZH };

/** The supported locale a BCP 47 tag asks for, if any (`zh`, `zh-CN`, `zh-Hans-SG` → zh-CN; `en-GB` → en). */
export function localeOf(tag: string): Locale | null {
  const lower = tag.toLowerCase();
  if (lower === 'zh' || lower.startsWith('zh-cn') || lower.startsWith('zh-hans') || lower.startsWith('zh-sg')) return 'zh-CN';
  if (lower.startsWith('zh')) return 'zh-CN'; // Traditional Chinese readers get Simplified rather than English
  if (lower === 'en' || lower.startsWith('en-')) return 'en';
  return null;
}

function stored(): Locale | null {
  try {
    const value = localStorage.getItem(STORAGE_KEY);
    return value === 'en' || value === 'zh-CN' ? value : null;
  } catch {
    return null; // storage refused (privacy mode): the browser's language then
  }
}

/** What the browser asks for: the first of navigator.languages the page speaks, English otherwise. */
export function browserLocale(languages: readonly string[] = navigator.languages): Locale {
  for (const tag of languages) {
    const locale = localeOf(tag);
    if (locale !== null) return locale;
  }
  return 'en';
}

let current: Locale = stored() ?? browserLocale();
const listeners = new Set<() => void>();

export function locale(): Locale {
  return current;
}

/** Switches the page's language, remembers it, and lets every part re-render. */
export function setLocale(next: Locale): void {
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // not remembered, still switched
  }
  if (next === current) return;
  current = next;
  formatters.clear();
  applyStatic(document);
  for (const listener of listeners) listener();
}

/** Called after every language switch (the parts redraw their text). */
export function onLocaleChange(listener: () => void): void {
  listeners.add(listener);
}

/** The message `key` in the current language, `{name}` placeholders filled from `params`. */
export function t(key: MessageKey, params: Readonly<Record<string, string | number>> = {}): string {
  const text = TABLES[current][key];
  return text.replace(/\{(\w+)\}/gu, (whole, name: string) => {
    const value = params[name];
    return value === undefined ? whole : typeof value === 'number' ? formatNumber(value) : value;
  });
}

/**
 * Fills the static page from its attributes: `data-i18n` (text),
 * `data-i18n-title`, `data-i18n-placeholder`, `data-i18n-aria` (aria-label).
 */
export function applyStatic(root: ParentNode): void {
  if (root === document) {
    document.documentElement.lang = current;
    document.title = t('app.title');
  }
  for (const element of root.querySelectorAll<HTMLElement>('[data-i18n]')) element.textContent = t(element.dataset['i18n'] as MessageKey);
  for (const element of root.querySelectorAll<HTMLElement>('[data-i18n-title]')) element.title = t(element.dataset['i18nTitle'] as MessageKey);
  for (const element of root.querySelectorAll<HTMLInputElement>('[data-i18n-placeholder]')) element.placeholder = t(element.dataset['i18nPlaceholder'] as MessageKey);
  for (const element of root.querySelectorAll<HTMLElement>('[data-i18n-aria]')) element.setAttribute('aria-label', t(element.dataset['i18nAria'] as MessageKey));
}

// --- formats (Intl, per locale; built once per language and option set) ---

const formatters = new Map<string, Intl.NumberFormat | Intl.DateTimeFormat>();

function numberFormat(options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `n${JSON.stringify(options)}`;
  let format = formatters.get(key) as Intl.NumberFormat | undefined;
  if (format === undefined) formatters.set(key, (format = new Intl.NumberFormat(current, options)));
  return format;
}

function dateFormat(options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `d${JSON.stringify(options)}`;
  let format = formatters.get(key) as Intl.DateTimeFormat | undefined;
  if (format === undefined) formatters.set(key, (format = new Intl.DateTimeFormat(current, options)));
  return format;
}

/** A number for the locale; `decimals` fixes the digits after the point (no grouping below 10,000). */
export function formatNumber(value: number, decimals?: number): string {
  return numberFormat(decimals === undefined ? { maximumFractionDigits: 3, useGrouping: 'min2' } : { minimumFractionDigits: decimals, maximumFractionDigits: decimals, useGrouping: 'min2' }).format(value);
}

/** A count with grouping (1,234 / 1,234). */
export function formatCount(value: number): string {
  return numberFormat({ maximumFractionDigits: 0 }).format(value);
}

/** Milliseconds or seconds as a duration in the locale's words (`123 ms`, `12 s` / `123毫秒`). */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return numberFormat({ style: 'unit', unit: 'millisecond', unitDisplay: 'short', maximumFractionDigits: 0, useGrouping: false }).format(ms);
  if (ms < 120_000) return numberFormat({ style: 'unit', unit: 'second', unitDisplay: 'short', maximumFractionDigits: 0 }).format(Math.ceil(ms / 1000));
  return numberFormat({ style: 'unit', unit: 'minute', unitDisplay: 'short', maximumFractionDigits: 0 }).format(Math.round(ms / 60_000));
}

/** 24-hour time with seconds. */
export function formatTime(ms: number | null): string {
  if (ms === null) return '—';
  return dateFormat({ hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(ms);
}

/** Time with milliseconds, for the sequence of events. */
export function formatPreciseTime(ms: number): string {
  return dateFormat({ hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3, hourCycle: 'h23' }).format(ms);
}

/** Date and time. */
export function formatDateTime(ms: number): string {
  return dateFormat({ year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(ms);
}

/** The header clock: weekday, date and time. */
export function formatClock(ms: number): { date: string; time: string } {
  return {
    date: dateFormat({ weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms),
    time: dateFormat({ hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(ms),
  };
}

/** A date/time axis tick: time of day for short spans, day and time for longer, the date for weeks. */
export function formatTick(ms: number, spanMs: number): string {
  if (spanMs <= 2 * 60_000) return dateFormat({ hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(ms);
  if (spanMs <= 36 * 3_600_000) return dateFormat({ hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ms);
  if (spanMs <= 10 * 86_400_000) return dateFormat({ month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ms);
  return dateFormat({ year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes in binary units with a locale number (`3.1 MiB`). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${formatCount(bytes)} B` : `${formatNumber(value, value < 10 ? 1 : 0)} ${BYTE_UNITS[unit]}`;
}

/** A list joined for the locale ("a, b and c" / "a、b和c"). */
export function formatList(items: readonly string[]): string {
  return new Intl.ListFormat(current, { style: 'long', type: 'conjunction' }).format(items);
}

/** A localized text for an error code the page knows, else null (the server's English message is shown then). */
export function errorText(code: string): string | null {
  const key = `error.${code}` as MessageKey;
  return key in MESSAGES_EN ? t(key) : null;
}

/**
 * One line for a status bar, always with the code: in English the server's
 * message and hint; in Chinese the page's text for the code when it knows it,
 * followed by the server's message (names, numbers) as it came.
 */
export function describeError(code: string, message: string, hint: string | null): string {
  const local = current === 'en' ? null : errorText(code);
  if (local !== null) return `${local}：${message} (${code})`;
  return `${message}${hint === null ? '' : ` — ${hint}`} (${code})`;
}

/** A range's length in the locale's words (`15 min`, `1 hr`, `7 days` / `15分钟`, `1小时`, `7天`). */
export function formatSpan(ms: number): string {
  if (ms % 86_400_000 === 0) return numberFormat({ style: 'unit', unit: 'day', unitDisplay: 'short' }).format(ms / 86_400_000);
  if (ms % 3_600_000 === 0) return numberFormat({ style: 'unit', unit: 'hour', unitDisplay: 'short' }).format(ms / 3_600_000);
  return numberFormat({ style: 'unit', unit: 'minute', unitDisplay: 'short', maximumFractionDigits: 0 }).format(ms / 60_000);
}
