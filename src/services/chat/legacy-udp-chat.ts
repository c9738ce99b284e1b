import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { GridlinkError } from '../../errors/index.js';
import { ADMIN_NICK, checkNick, type ChatEvent, type ChatRooms, type Membership } from './chat-rooms.js';

/** Legacy members share this room with native ones (docs/legacy-chat.md). */
export const LOBBY = 'lobby';
/** The course client sends short lines; anything bigger is refused unread. */
const MAX_DATAGRAM = 4096;
/** Refusals per address per second: a spoofed source must not turn us into a reflector. */
const REFUSALS_PER_SECOND = 5;
/** Names one address may hold, by default (docs/security.md). */
export const DEFAULT_MAX_NAMES_PER_ADDRESS = 4;
/** Bytes sent to one address in one second at most, by default; datagrams beyond are dropped. */
export const DEFAULT_MAX_BYTES_PER_ADDRESS_PER_SECOND = 64 * 1024;
/** Addresses whose sending budget is remembered before stale ones are forgotten. */
const MAX_BUDGETS = 10_000;
/** A dropping address is logged at most this often. */
const DROP_LOG_INTERVAL_MS = 10_000;

export interface LegacyUdpChatOptions {
  readonly host: string;
  readonly port: number;
  readonly rooms: ChatRooms;
  readonly logger: Logger;
  /** A member that sends nothing for this long is removed (UDP has no disconnect). */
  readonly idleTimeoutMs: number;
  readonly maxMembers: number;
  /** Names one IP address may hold at once (from any of its ports). */
  readonly maxNamesPerAddress?: number | undefined;
  /** Bytes sent to one IP address per second at most (room traffic, answers and refusals alike). */
  readonly maxBytesPerAddressPerSecond?: number | undefined;
}

/** What has been sent to one address in the current second. */
interface Budget {
  second: number;
  bytes: number;
  /** Datagrams dropped since the last log line about this address. */
  dropped: number;
  loggedAt: number;
}

interface LegacyMember {
  readonly address: string;
  readonly port: number;
  readonly membership: Membership;
  lastSeen: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** How a room event looks to the course's UDP client (docs/legacy-chat.md, byte for byte). */
export function renderLegacy(event: ChatEvent): string | null {
  switch (event.type) {
    case 'joined':
      return `\n欢迎 ${event.from} 进入聊天室`;
    case 'left':
      return `\n${event.from} 退出聊天室`;
    case 'message':
    case 'private':
      return `\n${event.from}: ${event.text ?? ''}`;
    case 'announce':
      return `\n${ADMIN_NICK}: ${event.text ?? ''}`;
  }
}

/**
 * The course's UDP chat room, wire-compatible (docs/protocol.md): `L name`,
 * `C name text`, `Q name`. Unlike the course version, `C` and `Q` for a name
 * are accepted only from the address that logged in with it. Its members are
 * members of the `lobby` room, alongside native and WebSocket ones.
 *
 * UDP sources can be forged, so what an `L` can make the server send is
 * bounded (docs/security.md): an address holds at most a few names, and the
 * bytes sent to one address per second are capped (the rest is dropped, as
 * UDP may), so the room cannot be turned into a reflector.
 */
export class LegacyUdpChat {
  readonly #options: LegacyUdpChatOptions;
  readonly #socket: Socket;
  readonly #members = new Map<string, LegacyMember>();
  readonly #refusals = new Map<string, { second: number; count: number }>();
  /** Names held per IP address. */
  readonly #namesByAddress = new Map<string, number>();
  /** Logins waiting for their join (the cluster's answer). */
  #joining = 0;
  #closing = false;
  readonly #budgets = new Map<string, Budget>();
  readonly #maxNamesPerAddress: number;
  readonly #maxBytesPerSecond: number;
  #droppedDatagrams = 0;
  #sweeper: NodeJS.Timeout | null = null;

  constructor(options: LegacyUdpChatOptions) {
    this.#options = options;
    this.#maxNamesPerAddress = options.maxNamesPerAddress ?? DEFAULT_MAX_NAMES_PER_ADDRESS;
    this.#maxBytesPerSecond = options.maxBytesPerAddressPerSecond ?? DEFAULT_MAX_BYTES_PER_ADDRESS_PER_SECOND;
    this.#socket = createSocket({ type: options.host.includes(':') ? 'udp6' : 'udp4' });
    this.#socket.on('message', (data, from) => this.#onDatagram(data, from));
    this.#socket.on('error', (err) => options.logger.warn({ event: 'chat.udp_error', err: err.message }));
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#socket.once('error', reject);
      this.#socket.bind(this.#options.port, this.#options.host, () => {
        this.#socket.off('error', reject);
        this.#sweeper = setInterval(() => this.#expireIdle(), Math.min(60_000, this.#options.idleTimeoutMs)).unref();
        resolve(this.#socket.address());
      });
    });
  }

  get members(): number {
    return this.#members.size;
  }

  /** Datagrams not sent because their address had used its bytes for the second. */
  get droppedDatagrams(): number {
    return this.#droppedDatagrams;
  }

  close(): Promise<void> {
    this.#closing = true;
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    for (const member of this.#members.values()) member.membership.leave();
    this.#members.clear();
    this.#namesByAddress.clear();
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  #onDatagram(data: Buffer, from: RemoteInfo): void {
    try {
      this.#handle(data, from);
    } catch (err) {
      const reason = err instanceof GridlinkError ? err : new GridlinkError('GL_ERR_CHAT_BAD_MESSAGE');
      this.#refuse(from, reason);
    }
  }

  #handle(data: Buffer, from: RemoteInfo): void {
    if (data.length === 0) throw new GridlinkError('GL_ERR_CHAT_BAD_MESSAGE', 'empty datagram; send "L name", "C name text" or "Q name"');
    if (data.length > MAX_DATAGRAM) throw new GridlinkError('GL_ERR_CHAT_BAD_MESSAGE', `datagram over ${MAX_DATAGRAM} bytes`);
    let text: string;
    try {
      text = utf8.decode(data);
    } catch {
      throw new GridlinkError('GL_ERR_CHAT_BAD_MESSAGE', 'datagram is not valid UTF-8');
    }
    const space = text.indexOf(' ');
    if (space < 0) throw new GridlinkError('GL_ERR_CHAT_BAD_MESSAGE', 'expected "L name", "C name text" or "Q name"');
    const verb = text.slice(0, space);
    const rest = text.slice(space + 1);
    switch (verb) {
      case 'L':
        return this.#login(rest, from);
      case 'C': {
        const gap = rest.indexOf(' ');
        const name = gap < 0 ? rest : rest.slice(0, gap);
        const member = this.#owned(name, from);
        if (member === undefined) return;
        member.membership.say(gap < 0 ? '' : rest.slice(gap + 1));
        return;
      }
      case 'Q': {
        const member = this.#owned(rest, from);
        if (member === undefined) return;
        this.#send(member.address, member.port, 'EXIT');
        this.#forget(rest);
        member.membership.leave();
        this.#options.logger.info({ event: 'chat.legacy_quit', name: rest });
        return;
      }
      default:
        throw new GridlinkError('GL_ERR_CHAT_BAD_MESSAGE', `unknown verb ${JSON.stringify(verb.slice(0, 16))}; send L, C or Q`);
    }
  }

  #login(name: string, from: RemoteInfo): void {
    // A lookup, not a sorted list of the room: a join costs O(members) (its announcement), not more.
    const taken = this.#options.rooms.has(LOBBY, name);
    if (taken || name.includes(ADMIN_NICK)) {
      this.#send(from.address, from.port, '该用户存在');
      return;
    }
    checkNick(name);
    if (this.#members.size + this.#joining >= this.#options.maxMembers) throw new GridlinkError('GL_ERR_SERVER_BUSY', 'the legacy chat room is full');
    const held = this.#namesByAddress.get(from.address) ?? 0;
    if (held >= this.#maxNamesPerAddress) throw new GridlinkError('GL_ERR_SERVER_BUSY', `at most ${this.#maxNamesPerAddress} names per address; send Q for one first`);
    // The address's place is held while the join is pending (in a cluster it asks the other nodes, docs/cluster.md).
    this.#namesByAddress.set(from.address, held + 1);
    this.#joining += 1;
    let membership: Membership | undefined;
    this.#options.rooms
      .join(LOBBY, name, {
        deliver: (event) => {
          const line = renderLegacy(event);
          if (line !== null) this.#send(from.address, from.port, line);
        },
        drop: (reason) => {
          if (reason === 'kicked') this.#send(from.address, from.port, 'EXIT');
          if (membership !== undefined && this.#members.get(name)?.membership === membership) this.#forget(name);
        },
      })
      .then(
        (joined) => {
          this.#joining -= 1;
          membership = joined;
          if (this.#closing) {
            joined.leave();
            return;
          }
          this.#send(from.address, from.port, 'OK');
          this.#members.set(name, { address: from.address, port: from.port, membership: joined, lastSeen: Date.now() });
          this.#options.logger.info({ event: 'chat.legacy_login', name, from: `${from.address}:${from.port}` });
        },
        (err: unknown) => {
          this.#joining -= 1;
          const left = (this.#namesByAddress.get(from.address) ?? 1) - 1;
          if (left > 0) this.#namesByAddress.set(from.address, left);
          else this.#namesByAddress.delete(from.address);
          if (err instanceof GridlinkError && err.code === 'GL_ERR_CHAT_NICK_TAKEN') this.#send(from.address, from.port, '该用户存在');
          else this.#refuse(from, err instanceof GridlinkError ? err : new GridlinkError('GL_ERR_CHAT_BAD_MESSAGE'));
        },
      );
  }

  /** The member `name` if this datagram comes from the address that logged in with it. */
  #owned(name: string, from: RemoteInfo): LegacyMember | undefined {
    const member = this.#members.get(name);
    if (member === undefined || member.address !== from.address || member.port !== from.port) {
      // Not theirs: ignored (docs/legacy-chat.md), and logged, since it may be a spoof.
      this.#options.logger.info({ event: 'chat.legacy_not_owner', name, from: `${from.address}:${from.port}` });
      return undefined;
    }
    member.lastSeen = Date.now();
    return member;
  }

  #refuse(to: RemoteInfo, error: GridlinkError): void {
    const second = Math.floor(Date.now() / 1000);
    const key = `${to.address}:${to.port}`;
    const entry = this.#refusals.get(key);
    if (entry !== undefined && entry.second === second && entry.count >= REFUSALS_PER_SECOND) return;
    if (entry === undefined || entry.second !== second) this.#refusals.set(key, { second, count: 1 });
    else entry.count += 1;
    if (this.#refusals.size > 10_000) this.#refusals.clear();
    this.#send(to.address, to.port, `ERROR ${error.code}: ${error.message}`);
  }

  /** Removes a member's record and gives its address's place back (the membership is left by the caller). */
  #forget(name: string): void {
    const member = this.#members.get(name);
    if (member === undefined) return;
    this.#members.delete(name);
    const held = (this.#namesByAddress.get(member.address) ?? 1) - 1;
    if (held > 0) this.#namesByAddress.set(member.address, held);
    else this.#namesByAddress.delete(member.address);
  }

  /** Sends one datagram if its address has bytes left this second; drops it otherwise. */
  #send(address: string, port: number, text: string): void {
    const data = Buffer.from(text, 'utf8');
    const now = Date.now();
    const second = Math.floor(now / 1000);
    let budget = this.#budgets.get(address);
    if (budget === undefined) {
      if (this.#budgets.size >= MAX_BUDGETS) this.#forgetStaleBudgets(second);
      budget = { second, bytes: 0, dropped: 0, loggedAt: 0 };
      this.#budgets.set(address, budget);
    } else if (budget.second !== second) {
      budget.second = second;
      budget.bytes = 0;
    }
    if (budget.bytes + data.length > this.#maxBytesPerSecond) {
      this.#droppedDatagrams += 1;
      budget.dropped += 1;
      if (now - budget.loggedAt >= DROP_LOG_INTERVAL_MS) {
        this.#options.logger.warn(
          { event: 'chat.legacy_send_limited', address, limit: this.#maxBytesPerSecond, dropped: budget.dropped },
          'datagrams to this address dropped: over its bytes per second',
        );
        budget.loggedAt = now;
        budget.dropped = 0;
      }
      return;
    }
    budget.bytes += data.length;
    this.#socket.send(data, port, address, () => undefined);
  }

  /** Keeps the budgets map bounded: addresses not sent to this second or the last ten are forgotten. */
  #forgetStaleBudgets(second: number): void {
    for (const [address, budget] of this.#budgets) {
      if (second - budget.second > DROP_LOG_INTERVAL_MS / 1000) this.#budgets.delete(address);
    }
    // Still full (a flood of fresh addresses): start over rather than grow.
    if (this.#budgets.size >= MAX_BUDGETS) this.#budgets.clear();
  }

  #expireIdle(): void {
    const oldest = Date.now() - this.#options.idleTimeoutMs;
    for (const [name, member] of this.#members) {
      if (member.lastSeen < oldest) {
        this.#forget(name);
        member.membership.leave();
      }
    }
  }
}
