import type { EntryInfo } from '../protocol/v1.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SIX_MONTHS_MS = 182 * 24 * 3_600_000;

/** The facts MLSD and MLST can give (RFC 3659 §7), in the order they are written. */
export const MLST_FACTS = ['type', 'size', 'modify', 'perm'] as const;
export type MlstFact = (typeof MLST_FACTS)[number];

/**
 * Names a listing can show: one with a control character (possible only
 * for a file placed on the disk by other means, since gridlink refuses
 * such names) would split a listing line, so it is left out.
 */
export function listable(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u.test(name);
}

/**
 * One line of LIST in the common Unix `ls -l` form that clients parse
 * (docs/ftp.md "Listings"): type and mode, links, owner, group, size,
 * date (time of day within six months, else the year; UTC), name. Owner and
 * group are the area's owner; modes say what this account may do.
 */
export function listLine(entry: EntryInfo, owner: string, writable: boolean, now = Date.now()): string {
  const type = entry.type === 'dir' ? 'd' : entry.type === 'link' ? 'l' : '-';
  const mode = entry.type === 'dir' ? (writable ? 'rwxr-xr-x' : 'r-xr-xr-x') : writable ? 'rw-r--r--' : 'r--r--r--';
  const date = new Date(entry.mtimeMs);
  const month = MONTHS[date.getUTCMonth()]!;
  const day = String(date.getUTCDate()).padStart(2, ' ');
  const recent = entry.mtimeMs > now - SIX_MONTHS_MS && entry.mtimeMs < now + 3_600_000;
  const when = recent ? `${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}` : ` ${date.getUTCFullYear()}`;
  const size = String(entry.type === 'dir' ? 4096 : entry.length).padStart(12, ' ');
  const name8 = owner.length > 8 ? owner.slice(0, 8) : owner.padEnd(8, ' ');
  return `${type}${mode} ${entry.type === 'dir' ? 2 : 1} ${name8} ${name8} ${size} ${month} ${day} ${when} ${entry.name}`;
}

/** RFC 3659 time-val: YYYYMMDDHHMMSS in UTC. */
export function timeVal(mtimeMs: number): string {
  const d = new Date(mtimeMs);
  return `${d.getUTCFullYear()}${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}${pad2(d.getUTCHours())}${pad2(d.getUTCMinutes())}${pad2(d.getUTCSeconds())}`;
}

/**
 * The facts of one entry for MLSD/MLST (RFC 3659 §7.5): `type`, `size`
 * (files), `modify`, `perm` (what this account may do: r read, w write,
 * a append, d delete, f rename; e enter, l list, c create, m make
 * directories, p remove entries), then a space and the name.
 */
export function mlstLine(entry: EntryInfo, facts: ReadonlySet<MlstFact>, writable: boolean, name: string): string {
  const out: string[] = [];
  const isDir = entry.type === 'dir';
  if (facts.has('type')) out.push(`type=${isDir ? 'dir' : entry.type === 'file' ? 'file' : 'OS.unix=symlink'}`);
  if (facts.has('size') && !isDir) out.push(`size=${entry.length}`);
  if (facts.has('modify') && entry.mtimeMs > 0) out.push(`modify=${timeVal(entry.mtimeMs)}`);
  if (facts.has('perm')) out.push(`perm=${isDir ? (writable ? 'cdeflmp' : 'el') : writable ? 'adfrw' : 'r'}`);
  return `${out.map((fact) => `${fact};`).join('')} ${name}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}
