import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { AuditLog } from '../accounts/audit-log.js';
import type { Config } from '../config/schema.js';
import { GridlinkError } from '../errors/index.js';
import type { ScadaReload } from '../scada/scada-service.js';

/**
 * The keys a reload applies to the running server (docs/configuration.md
 * "Reload"). Every other key that changed is named as needing a restart and
 * left as it runs. `scada.*` keys apply only while the data plane runs.
 */
export const LIVE_KEYS = ['log.level', 'anonymous.quota', 'files.maxEntries', 'scada.devices', 'scada.simulator.pollMs', 'scada.selectTimeoutMs', 'scada.history.retentionDays'] as const;

/** Keys compared whole, not key by key: a change anywhere in them is one change. */
const WHOLE_KEYS = new Set<string>(['scada.devices']);

/** Names per list in a reload's reply: keeps it well inside one frame header. */
export const RELOAD_NAMES = 50;

/** What a reload acts on; the server wires these to its parts. */
export interface ReloadTargets {
  setLogLevel(level: Config['log']['level']): void;
  /** `anonymous.quota` and `files.maxEntries`, read by the file service at every upload. */
  setFileLimits(limits: { readonly anonymousQuota: number; readonly maxEntries: number }): void;
  /** The data plane; null when `scada.enabled` was false at start. */
  readonly scada: { reconfigure(next: Config['scada']): Promise<ScadaReload> } | null;
  /** gridlink's own IEC 104 station, when it runs: it takes the data plane's points again after a change (throws when it cannot map them). */
  readonly iec104Station: { reloadPoints(devices: Config['scada']['devices']): void } | null;
}

export interface ReloadReport {
  /** Keys that changed and now apply. */
  readonly applied: string[];
  /** Keys whose new value differs from the one the server runs with and waits for a restart. */
  readonly restartNeeded: string[];
  /** What else the operator should know (an IEC 104 station that could not take the new points). */
  readonly warnings: string[];
  /** The data plane's changes, when `scada.devices` (or the simulator's poll period) changed. */
  readonly scada?: {
    readonly devices: { readonly added: number; readonly removed: number; readonly restarted: number; readonly unchanged: number };
    readonly points: { readonly added: number; readonly removed: number; readonly changed: number };
    /** The first {@link RELOAD_NAMES} names of each kind. */
    readonly names: { readonly devicesAdded: string[]; readonly devicesRemoved: string[]; readonly devicesRestarted: string[]; readonly pointsAdded: string[]; readonly pointsRemoved: string[] };
  };
}

export interface ConfigReloaderOptions {
  /** The file reloads read (shown by `gridlink admin status`). */
  readonly file: string;
  /** The configuration the server started with. */
  readonly running: Config;
  /** Reads and validates the configuration file again (throws GL_ERR_CONFIG_READ / GL_ERR_CONFIG_INVALID). */
  readonly read: () => Promise<Config>;
  readonly targets: ReloadTargets;
  readonly audit: AuditLog;
  readonly logger: Logger;
}

/**
 * `gridlink admin reload` and SIGHUP (docs/configuration.md "Reload"): reads
 * the configuration file again and applies what can change without a
 * restart. A file that cannot be read or does not validate changes nothing
 * (the error names the key). Reloads run one at a time, in the order they
 * were asked for, each against the result of the one before; so of racing
 * reloads the last one read decides. Each is audited (`config.reload`,
 * `config.reload.refused`).
 */
export class ConfigReloader {
  readonly #options: ConfigReloaderOptions;
  readonly #logger: Logger;
  #running: Config;
  /** Keys changed in the file that wait for a restart, as of the last reload. */
  #pending: string[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: ConfigReloaderOptions) {
    this.#options = options;
    this.#running = options.running;
    this.#logger = options.logger.child({ component: 'reload' });
  }

  /** The configuration in force: the start's, with what reloads applied. */
  get running(): Config {
    return this.#running;
  }

  #reloads = 0;
  #lastReloadAt: number | null = null;

  /** What `gridlink admin status` shows under `config`: the file, reloads done, and the keys waiting for a restart. */
  status(): { file: string; reloads: number; lastReloadAt: number | null; restartPending: string[] } {
    return { file: this.#options.file, reloads: this.#reloads, lastReloadAt: this.#lastReloadAt, restartPending: [...this.#pending] };
  }

  /** Reloads after every reload asked for before; `by` names who asked (audit). */
  reload(by: string): Promise<ReloadReport> {
    const next = this.#queue.then(() => this.#reload(by));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Waits for the reload in progress and refuses later ones (server shutdown). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
  }

  async #reload(by: string): Promise<ReloadReport> {
    if (this.#closed) throw new GridlinkError('GL_ERR_SERVER_SHUTTING_DOWN', 'no reload while the server stops');
    const { audit, targets } = this.#options;
    let file: Config;
    try {
      file = await this.#options.read();
    } catch (err) {
      const error = err instanceof GridlinkError ? err : new GridlinkError('GL_ERR_CONFIG_READ', (err as Error).message, { cause: err });
      audit.record({ event: 'config.reload.refused', actor: by, detail: { code: error.code, message: error.message } });
      this.#logger.warn({ event: 'config.reload_refused', by, code: error.code, reason: error.message }, 'configuration not reloaded; nothing changed');
      throw error;
    }
    const running = this.#running;
    const plane = targets.scada;
    const scadaLive = running.scada.enabled && file.scada.enabled && plane !== null;
    const applied: string[] = [];
    const restartNeeded: string[] = [];
    for (const key of changedKeys(running, file)) {
      const live = (LIVE_KEYS as readonly string[]).includes(key) && (!key.startsWith('scada.') || scadaLive);
      (live ? applied : restartNeeded).push(key);
    }
    // The configuration now in force: the running one with the live keys of the file.
    const next = structuredClone(running);
    for (const key of applied) setKey(next, key, getKey(file, key));
    let scada: ReloadReport['scada'];
    const warnings: string[] = [];
    if (plane !== null && scadaLive && applied.some((key) => key.startsWith('scada.'))) {
      const changes = await plane.reconfigure(next.scada);
      if (changes.devicesAdded.length + changes.devicesRemoved.length + changes.devicesRestarted.length > 0) scada = summarise(changes);
      if (targets.iec104Station !== null && changes.pointsAdded.length + changes.pointsRemoved.length + changes.pointsChanged.length > 0) {
        try {
          targets.iec104Station.reloadPoints(next.scada.devices);
        } catch (err) {
          // The data plane runs the new points; the station cannot map them (two on one address).
          warnings.push(`the IEC 104 station keeps serving its previous points: ${err instanceof GridlinkError ? (err.detail ?? err.message) : err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    // After the data plane, the one part that could fail: then nothing else was applied either.
    if (applied.includes('log.level')) targets.setLogLevel(next.log.level);
    if (applied.includes('anonymous.quota') || applied.includes('files.maxEntries')) targets.setFileLimits({ anonymousQuota: next.anonymous.quota, maxEntries: next.files.maxEntries });
    this.#running = next;
    this.#pending = restartNeeded;
    this.#reloads += 1;
    this.#lastReloadAt = Date.now();
    const report: ReloadReport = scada === undefined ? { applied, restartNeeded, warnings } : { applied, restartNeeded, warnings, scada };
    audit.record({ event: 'config.reload', actor: by, detail: { applied, restartNeeded, ...(scada === undefined ? {} : { devices: scada.devices, points: scada.points }) } });
    this.#logger.info({ event: 'config.reloaded', by, applied, restartNeeded, warnings }, applied.length === 0 && restartNeeded.length === 0 ? 'configuration reloaded: nothing changed' : 'configuration reloaded');
    return report;
  }
}

function summarise(changes: ScadaReload): NonNullable<ReloadReport['scada']> {
  const first = (names: readonly string[]): string[] => names.slice(0, RELOAD_NAMES);
  return {
    devices: { added: changes.devicesAdded.length, removed: changes.devicesRemoved.length, restarted: changes.devicesRestarted.length, unchanged: changes.devicesUnchanged },
    points: { added: changes.pointsAdded.length, removed: changes.pointsRemoved.length, changed: changes.pointsChanged.length },
    names: {
      devicesAdded: first(changes.devicesAdded),
      devicesRemoved: first(changes.devicesRemoved),
      devicesRestarted: first(changes.devicesRestarted),
      pointsAdded: first(changes.pointsAdded),
      pointsRemoved: first(changes.pointsRemoved),
    },
  };
}

type Tree = Record<string, unknown>;

const isTree = (value: unknown): value is Tree => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Dotted paths of the leaves (and whole keys) that differ between two configurations, in key order. */
export function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  if (prefix !== '' && (WHOLE_KEYS.has(prefix) || !isTree(a) || !isTree(b))) return isDeepStrictEqual(a, b) ? [] : [prefix];
  const left = isTree(a) ? a : {};
  const right = isTree(b) ? b : {};
  const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])];
  return keys.flatMap((key) => changedKeys(left[key], right[key], prefix === '' ? key : `${prefix}.${key}`));
}

function getKey(tree: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((node, part) => (isTree(node) ? node[part] : undefined), tree);
}

function setKey(tree: Tree, key: string, value: unknown): void {
  const parts = key.split('.');
  const last = parts.pop()!;
  let node = tree;
  for (const part of parts) {
    const child = node[part];
    if (!isTree(child)) throw new Error(`no section ${part} in ${key}`);
    node = child;
  }
  if (value === undefined) delete node[last];
  else node[last] = value;
}
