import type { KV } from '@nats-io/kv';
import type { Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { GridlinkError, isErrorCode } from '../errors/index.js';
import type { AcquisitionOwners, OwnedDevice, OwnershipHandlers } from '../scada/scada-cluster.js';
import type { ClusterLink } from './cluster-link.js';
import { isRace } from './cluster-leases.js';
import { openBucket } from './kv-buckets.js';

/** The bucket of device owners (docs/cluster.md, "Acquisition ownership"). */
export const OWNERS_BUCKET = 'gridlink_owners';
/** Commands for a device go to its owner on `gl.scada.cmd.<node>` (request/reply): `{device, point, value, node}` → `{after}` or `{code, message}`. */
export const COMMAND_SUBJECT = 'gl.scada.cmd';

/** What an owner writes at each renewal. */
interface OwnerValue {
  readonly node: string;
  /** This run of the node (a restart is a new run). */
  readonly run: string;
  readonly at: number;
}

export interface DeviceOwnershipOptions {
  readonly replicas: number;
  readonly logger: Logger;
  /** A unique id of this run of the node. */
  readonly run: string;
  /** Is that node alive? A dead node's devices are taken at once. */
  readonly isLive?: (node: string) => boolean;
  /** How long a command routed to the owner may take, delivery included. */
  readonly commandTimeoutMs?: number;
}

/** An owner that has not renewed for this many poll periods (as seen by this node's clock) has lost its device: with the checks, a takeover comes within about two periods, leaving one for a loaded machine. */
const LEASE_POLLS = 1.5;
/** Non-owners look at the lease this many times per poll period. */
const CHECKS_PER_POLL = 4;
const MIN_LEASE_MS = 500;
const COMMAND_TIMEOUT_MS = 8_000;

interface Tracked {
  readonly device: OwnedDevice;
  readonly leaseMs: number;
  /** The revision this node wrote last while it owns the device; 0 when it does not. */
  mine: number;
  /** The owner as last seen, and since when (local clock) its revision has not moved. */
  owner: string | null;
  seenRevision: number;
  seenAt: number;
  timer: NodeJS.Timeout | null;
  busy: boolean;
  /** Times this node took the device over from another owner. */
  takeovers: number;
}

/**
 * Which node acquires each device (docs/cluster.md, "Acquisition
 * ownership"): a KV entry per device, renewed by its owner every poll
 * period with an `update` at the revision it wrote last. The others read
 * it a few times per poll period and remember, by their own clock, since
 * when its revision stood still: once it stood still for one and a half poll periods
 * (or its node is known dead) one of them takes it with an `update` at
 * that revision, which JetStream lets exactly one node do. Judging by the
 * revision's age on the reader's clock, not by a time written in the
 * entry, needs no agreement of clocks. An owner whose renewal is refused
 * (someone took the device) stops polling it at once.
 *
 * Without NATS an owner keeps polling its devices (the node serves what it
 * can locally) and a non-owner takes nothing; once NATS is back, a node that
 * lost its device meanwhile sees its renewal refused and stops.
 */
export class DeviceOwnership implements AcquisitionOwners {
  readonly #link: ClusterLink;
  readonly #kv: KV;
  readonly #options: DeviceOwnershipOptions;
  readonly #devices = new Map<string, Tracked>();
  #handlers: OwnershipHandlers | null = null;
  #commands: Subscription | null = null;
  #stopped = false;

  private constructor(link: ClusterLink, kv: KV, options: DeviceOwnershipOptions) {
    this.#link = link;
    this.#kv = kv;
    this.#options = options;
  }

  static async open(link: ClusterLink, options: DeviceOwnershipOptions): Promise<DeviceOwnership> {
    const kv = await openBucket(link, OWNERS_BUCKET, { history: 1, replicas: options.replicas }, options.logger);
    return new DeviceOwnership(link, kv, options);
  }

  start(devices: readonly OwnedDevice[], handlers: OwnershipHandlers): void {
    this.#handlers = handlers;
    this.#commands ??= this.#link.nc.subscribe(`${COMMAND_SUBJECT}.${this.#link.node}`, { callback: (err, msg) => (err === null ? void this.#serve(msg.data, (reply) => msg.respond(reply)) : undefined) });
    for (const device of devices) this.#track(device);
  }

  /** Follows a new list of devices (a reload): new ones are tracked, removed ones released. */
  async setDevices(devices: readonly OwnedDevice[]): Promise<void> {
    const wanted = new Set(devices.map((d) => d.name));
    for (const [name, tracked] of [...this.#devices]) {
      if (wanted.has(name)) continue;
      await this.#untrack(tracked);
    }
    for (const device of devices) if (!this.#devices.has(device.name)) this.#track(device);
  }

  owns(device: string): boolean {
    return (this.#devices.get(device)?.mine ?? 0) > 0;
  }

  ownerOf(device: string): string | null {
    const tracked = this.#devices.get(device);
    if (tracked === undefined) return null;
    return tracked.mine > 0 ? this.#link.node : tracked.owner;
  }

  /** Each device with its owner as this node knows it (for `admin status`). */
  owners(): Array<{ device: string; owner: string | null; self: boolean; takeovers: number }> {
    return [...this.#devices.values()].map((t) => ({ device: t.device.name, owner: this.ownerOf(t.device.name), self: t.mine > 0, takeovers: t.takeovers }));
  }

  async command(device: string, point: string, value: number): Promise<number> {
    const owner = this.ownerOf(device);
    if (owner === null) throw new Error(`no node acquires ${device} now`);
    if (this.#link.state !== 'connected') throw new Error(`NATS is away: the command cannot reach ${device}'s owner ${owner}`);
    let reply;
    try {
      reply = await this.#link.nc.request(`${COMMAND_SUBJECT}.${owner}`, JSON.stringify({ device, point, value, node: this.#link.node }), { timeout: this.#options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS });
    } catch (err) {
      throw new Error(`${device}'s owner ${owner} did not answer: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const answer = reply.json<{ after?: number; code?: string; message?: string }>();
    if (typeof answer.after === 'number') return answer.after;
    // The owner's driver said no (a refusal of the device): the same error as on the owner.
    if (typeof answer.code === 'string' && isErrorCode(answer.code) && answer.code.startsWith('GL_ERR_SCADA_')) throw new GridlinkError(answer.code, `${answer.message ?? ''} (on ${owner})`);
    throw new Error(`${answer.message ?? 'failed'} (on ${owner})`);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#commands?.unsubscribe();
    for (const tracked of [...this.#devices.values()]) await this.#untrack(tracked);
  }

  #track(device: OwnedDevice): void {
    const leaseMs = Math.max(MIN_LEASE_MS, LEASE_POLLS * device.pollMs);
    const tracked: Tracked = { device, leaseMs, mine: 0, owner: null, seenRevision: 0, seenAt: 0, timer: null, busy: false, takeovers: 0 };
    this.#devices.set(device.name, tracked);
    void this.#tick(tracked);
  }

  async #untrack(tracked: Tracked): Promise<void> {
    this.#devices.delete(tracked.device.name);
    if (tracked.timer !== null) clearTimeout(tracked.timer);
    const mine = tracked.mine;
    if (mine > 0) {
      tracked.mine = 0;
      await this.#handlers?.release(tracked.device.name);
      // Hand it over now rather than after the lease time: delete at the revision this node wrote.
      if (this.#link.state === 'connected') await this.#kv.delete(tracked.device.name, { previousSeq: mine }).catch(() => undefined);
    }
  }

  #schedule(tracked: Tracked): void {
    if (this.#stopped || this.#devices.get(tracked.device.name) !== tracked) return;
    const every = tracked.mine > 0 ? tracked.device.pollMs : Math.max(50, Math.floor(tracked.device.pollMs / CHECKS_PER_POLL));
    tracked.timer = setTimeout(() => void this.#tick(tracked), every);
    tracked.timer.unref();
  }

  async #tick(tracked: Tracked): Promise<void> {
    if (tracked.busy) return;
    tracked.busy = true;
    try {
      if (this.#link.state === 'connected') await (tracked.mine > 0 ? this.#renew(tracked) : this.#look(tracked));
    } catch (err) {
      this.#options.logger.debug({ event: 'cluster.ownership_tick_failed', device: tracked.device.name, err });
    } finally {
      tracked.busy = false;
      this.#schedule(tracked);
    }
  }

  #value(): string {
    return JSON.stringify({ node: this.#link.node, run: this.#options.run, at: Date.now() } satisfies OwnerValue);
  }

  async #renew(tracked: Tracked): Promise<void> {
    try {
      tracked.mine = await this.#kv.update(tracked.device.name, this.#value(), tracked.mine);
    } catch (err) {
      if (!isRace(err)) throw err; // NATS trouble: keep polling, try again next period
      const entry = await this.#kv.get(tracked.device.name).catch(() => null);
      const owner = entry?.operation === 'PUT' ? ownerOf(entry.string()) : null;
      tracked.mine = 0;
      tracked.owner = owner?.node ?? null;
      tracked.seenRevision = entry?.revision ?? 0;
      tracked.seenAt = Date.now();
      this.#options.logger.warn({ event: 'cluster.device_lost_ownership', device: tracked.device.name, owner: tracked.owner }, 'another node acquires this device now: this node stops polling it');
      await this.#handlers?.release(tracked.device.name);
    }
  }

  async #look(tracked: Tracked): Promise<void> {
    const name = tracked.device.name;
    const entry = await this.#kv.get(name);
    const now = Date.now();
    if (entry === null || entry.operation !== 'PUT') {
      await this.#take(tracked, entry?.revision ?? 0, null);
      return;
    }
    const owner = ownerOf(entry.string());
    if (entry.revision !== tracked.seenRevision) {
      tracked.seenRevision = entry.revision;
      tracked.seenAt = now;
      tracked.owner = owner?.node ?? null;
    }
    // The entry names this node, from a run that is over (a restart): nobody polls the device.
    const ourOldRun = owner !== null && owner.node === this.#link.node && owner.run !== this.#options.run;
    const ownerDead = owner !== null && owner.node !== this.#link.node && this.#options.isLive !== undefined && !this.#options.isLive(owner.node);
    if (owner === null || ourOldRun || ownerDead || now - tracked.seenAt >= tracked.leaseMs) await this.#take(tracked, entry.revision, owner?.node ?? null);
  }

  async #take(tracked: Tracked, revision: number, from: string | null): Promise<void> {
    const name = tracked.device.name;
    try {
      tracked.mine = revision === 0 ? await this.#kv.create(name, this.#value()) : await this.#kv.update(name, this.#value(), revision);
    } catch (err) {
      if (isRace(err)) return; // another node took it first: it is theirs
      throw err;
    }
    tracked.owner = this.#link.node;
    if (from !== null && from !== this.#link.node) tracked.takeovers += 1;
    this.#options.logger.info({ event: 'cluster.device_acquired', device: name, from }, from === null ? 'this node acquires the device' : `this node takes the device over from ${from}`);
    this.#handlers?.acquire(name);
  }

  async #serve(data: Uint8Array, respond: (reply: string) => void): Promise<void> {
    let request: { device?: unknown; point?: unknown; value?: unknown; node?: unknown };
    try {
      request = JSON.parse(Buffer.from(data).toString('utf8')) as typeof request;
    } catch {
      respond(JSON.stringify({ code: 'GL_ERR_PROTO_BAD_FIELD', message: 'not JSON' }));
      return;
    }
    const { device, point, value, node } = request;
    if (typeof device !== 'string' || typeof point !== 'string' || typeof value !== 'number' || !Number.isFinite(value) || typeof node !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/u.test(node)) {
      respond(JSON.stringify({ code: 'GL_ERR_PROTO_BAD_FIELD', message: 'a command is {device, point, value, node}' }));
      return;
    }
    if (!this.owns(device) || this.#handlers === null) {
      respond(JSON.stringify({ code: 'GL_ERR_SCADA_DEVICE_UNAVAILABLE', message: `${this.#link.node} does not acquire ${device.slice(0, 64)} now` }));
      return;
    }
    try {
      const after = await this.#handlers.execute(point, value, node);
      respond(JSON.stringify({ after }));
    } catch (err) {
      respond(JSON.stringify({ code: err instanceof GridlinkError ? err.code : undefined, message: err instanceof Error ? err.message : String(err) }));
    }
  }
}

/** The owner an entry names; null when it does not parse (another program, corruption): then nobody owns it. */
function ownerOf(text: string): OwnerValue | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  const v = value as Partial<OwnerValue>;
  return typeof v.node === 'string' && typeof v.run === 'string' ? (v as OwnerValue) : null;
}
