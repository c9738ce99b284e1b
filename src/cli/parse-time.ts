/** Relative durations: `30s`, `15m`, `2h`, `7d` (ago), or with `ms`. */
const RELATIVE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/u;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** What `--help` says about TIME arguments. */
export const TIME_HELP = 'a time: ISO 8601 (2026-11-22T10:00, local time unless it ends in Z or an offset), a duration ago (30s, 15m, 2h, 7d), "now", or milliseconds since 1970';

/**
 * Parses a point in time for `gridlink history --since T` (README.md "Quick tour"): an ISO
 * date/time, a duration before `now`, "now", or epoch milliseconds. Throws a
 * RangeError that says what is accepted.
 */
export function parseTime(text: string, now = Date.now()): number {
  const trimmed = text.trim();
  if (trimmed === 'now') return now;
  const relative = RELATIVE.exec(trimmed);
  if (relative !== null) return now - Math.round(Number(relative[1]) * UNIT_MS[relative[2]!]!);
  if (/^\d{10,16}$/u.test(trimmed)) return Number(trimmed);
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+)?(Z|[+-]\d{2}:?\d{2})?$/u.test(trimmed)) {
    const ms = Date.parse(trimmed.replace(' ', 'T'));
    if (Number.isFinite(ms)) return ms;
  }
  // Short enough for one line; --help lists every form.
  throw new RangeError(`"${text.slice(0, 40)}" is not a time (e.g. 15m, 2h, now, 2026-11-22T10:00Z)`);
}
