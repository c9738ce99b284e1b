import type { Bus, Subscription } from '../../bus/bus.js';
import { GridlinkError } from '../../errors/index.js';
import type { ChatEvent } from '../../protocol/v1.js';
import type { NickRegistry } from './nick-registry.js';

export type { ChatEvent };

/** Who receives a member's events: a native session or a legacy UDP address. */
export interface MemberSink {
  /** Delivers one event; the next waits until a returned promise settles (backpressure). */
  deliver(event: ChatEvent): void | Promise<void>;
  /** The member was too slow (its queue overflowed) or was kicked: cut it. */
  drop(reason: 'too-slow' | 'kicked'): void;
}

export const ADMIN_NICK = '管理员';
const ROOM = /^[A-Za-z0-9_-]{1,32}$/u;
// eslint-disable-next-line no-control-regex
const BAD_NICK = /[\s\u0000-\u001f\u007f-\u009f]/u;
const MAX_TEXT = 4096;
/** Events that may wait for one member before it counts as too slow (docs/protocol.md §3.4: then disconnect). */
const MEMBER_QUEUE = 1000;

export function checkRoom(room: string): void {
  if (!ROOM.test(room)) throw new GridlinkError('GL_ERR_CHAT_BAD_NAME', `room ${JSON.stringify(room.slice(0, 40))}`);
}

export function checkNick(nick: string): void {
  if (nick.length === 0 || [...nick].length > 32 || BAD_NICK.test(nick) || nick.includes(ADMIN_NICK) || !nick.isWellFormed()) {
    throw new GridlinkError('GL_ERR_CHAT_BAD_NAME', `nickname ${JSON.stringify(nick.slice(0, 40))}`);
  }
}

function checkText(text: string): void {
  if (text.length === 0 || text.length > MAX_TEXT) throw new GridlinkError('GL_ERR_CHAT_BAD_MESSAGE');
}

const hex = (text: string): string => Buffer.from(text, 'utf8').toString('hex');
const roomTopic = (room: string): string => `chat.room.${room}`;
const privateTopic = (room: string, nick: string): string => `chat.dm.${room}.${hex(nick)}`;
/** Kicks travel on the bus, so a kick given on one node reaches members on all (docs/cluster.md). */
const KICK_TOPIC = 'chat.kick';

/** One nickname in one room. */
export class Membership {
  readonly room: string;
  readonly nick: string;
  readonly #rooms: ChatRooms;
  readonly #subscriptions: Subscription[];
  #left = false;

  /** @internal */
  constructor(rooms: ChatRooms, room: string, nick: string, subscriptions: Subscription[]) {
    this.#rooms = rooms;
    this.room = room;
    this.nick = nick;
    this.#subscriptions = subscriptions;
  }

  /** A message to every other member of the room. */
  say(text: string): void {
    this.#live();
    checkText(text);
    this.#rooms.publish(this.room, { type: 'message', room: this.room, from: this.nick, text, at: Date.now() });
  }

  /** A private message to one member of the room. */
  whisper(to: string, text: string): void {
    this.#live();
    checkText(text);
    if (!this.#rooms.has(this.room, to)) throw new GridlinkError('GL_ERR_CHAT_NO_SUCH_MEMBER', to);
    this.#rooms.publishPrivate(this.room, to, { type: 'private', room: this.room, from: this.nick, to, text, at: Date.now() });
  }

  /** Leaves the room; the others see "left". Idempotent. */
  leave(): void {
    if (this.#left) return;
    this.#left = true;
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    this.#rooms.forget(this);
  }

  get active(): boolean {
    return !this.#left;
  }

  #live(): void {
    if (this.#left) throw new GridlinkError('GL_ERR_CHAT_NOT_MEMBER', this.room);
  }
}

/**
 * Chat rooms (docs/protocol.md §3.4) on the {@link Bus}: a nickname is unique in its
 * room; joining and leaving are announced to the others; messages go to
 * every other member; private messages to one; announcements to every room.
 * Events travel over the bus (topics `chat.room.<room>` and
 * `chat.dm.<room>.<nick>`), each member with a bounded queue and the
 * disconnect policy. The members are this process's; in a cluster a
 * {@link NickRegistry} makes a nickname unique across the nodes and lists
 * every node's members (docs/cluster.md).
 */
export class ChatRooms {
  readonly #bus: Bus;
  readonly #nicks: NickRegistry | null;
  readonly #rooms = new Map<string, Map<string, { membership: Membership; sink: MemberSink }>>();
  /** Joins waiting for the cluster's answer: a second join of the same name meanwhile is refused here. */
  readonly #claiming = new Set<string>();

  constructor(bus: Bus, nicks: NickRegistry | null = null) {
    this.#bus = bus;
    this.#nicks = nicks;
    // A kick given on any node: each node removes its own members of that name.
    if (nicks !== null) bus.subscribe(KICK_TOPIC, (m) => void this.#kickLocal(String((m.payload as { nick?: unknown }).nick)), { maxQueued: 1_000, policy: 'drop-oldest' });
    nicks?.onLost((room, nick) => this.publish(room, { type: 'left', room, from: nick, at: Date.now() }));
  }

  /** Joins `room` as `nick`; refused when the name is taken (on any node of a cluster). */
  async join(room: string, nick: string, sink: MemberSink): Promise<Membership> {
    checkRoom(room);
    checkNick(nick);
    const claim = `${room}\u0000${nick}`;
    if (this.#rooms.get(room)?.has(nick) === true || this.#claiming.has(claim)) throw new GridlinkError('GL_ERR_CHAT_NICK_TAKEN', `${nick} in ${room}`);
    if (this.#nicks !== null) {
      this.#claiming.add(claim);
      try {
        await this.#nicks.claim(room, nick);
      } finally {
        this.#claiming.delete(claim);
      }
    }
    let members = this.#rooms.get(room);
    const options = { maxQueued: MEMBER_QUEUE, policy: 'disconnect' as const, onOverflow: () => this.#drop(room, nick, 'too-slow') };
    const own = (event: ChatEvent): boolean => event.from === nick && event.type !== 'announce';
    const subscriptions = [
      // Everyone else's room events; a member does not hear itself.
      this.#bus.subscribe(roomTopic(room), (m) => (own(m.payload as ChatEvent) ? undefined : sink.deliver(m.payload as ChatEvent)), options),
      this.#bus.subscribe(privateTopic(room, nick), (m) => sink.deliver(m.payload as ChatEvent), options),
    ];
    const membership = new Membership(this, room, nick, subscriptions);
    if (members === undefined) {
      members = new Map();
      this.#rooms.set(room, members);
    }
    members.set(nick, { membership, sink });
    this.publish(room, { type: 'joined', room, from: nick, at: Date.now() });
    return membership;
  }

  /** True when `nick` is in `room`, on any node (constant time: joins must not sort the room). */
  has(room: string, nick: string): boolean {
    return this.#rooms.get(room)?.has(nick) === true || this.#nicks?.has(room, nick) === true;
  }

  /** Nicknames in a room (on every node of a cluster), sorted. */
  members(room: string): string[] {
    if (this.#nicks !== null) return [...new Set([...this.#nicks.members(room), ...(this.#rooms.get(room)?.keys() ?? [])])].sort();
    return [...(this.#rooms.get(room)?.keys() ?? [])].sort();
  }

  /** Rooms and their sizes (on every node of a cluster), for status. */
  rooms(): Record<string, number> {
    const local = Object.fromEntries([...this.#rooms].map(([room, members]) => [room, members.size]));
    return this.#nicks === null ? local : { ...local, ...this.#nicks.rooms() };
  }

  /** Rooms and their sizes on this node only. */
  localRooms(): Record<string, number> {
    return Object.fromEntries([...this.#rooms].map(([room, members]) => [room, members.size]));
  }

  /** An administrator's announcement to every room (docs/protocol.md §3.4, docs/protocol.md §6). */
  announce(text: string): number {
    checkText(text);
    const rooms = Object.keys(this.rooms());
    for (const room of rooms) this.publish(room, { type: 'announce', room, from: ADMIN_NICK, text, at: Date.now() });
    return rooms.length;
  }

  /** Removes every membership with this nickname (docs/protocol.md §6 kick), on every node; returns how many. */
  kick(nick: string): number {
    let kicked = 0;
    if (this.#nicks !== null) {
      for (const room of Object.keys(this.#nicks.rooms())) if (this.#nicks.has(room, nick) && this.#rooms.get(room)?.has(nick) !== true) kicked += 1;
    }
    kicked += this.#kickLocal(nick);
    if (this.#nicks !== null) this.#bus.publish(KICK_TOPIC, { nick });
    return kicked;
  }

  #kickLocal(nick: string): number {
    let kicked = 0;
    for (const [room, members] of this.#rooms) {
      if (members.has(nick)) {
        this.#drop(room, nick, 'kicked');
        kicked += 1;
      }
    }
    return kicked;
  }

  /** @internal */
  publish(room: string, event: ChatEvent): void {
    this.#bus.publish(roomTopic(room), event);
  }

  /** @internal */
  publishPrivate(room: string, to: string, event: ChatEvent): void {
    this.#bus.publish(privateTopic(room, to), event);
  }

  /** @internal */
  forget(membership: Membership): void {
    const members = this.#rooms.get(membership.room);
    if (members?.get(membership.nick)?.membership !== membership) return;
    members.delete(membership.nick);
    if (members.size === 0) this.#rooms.delete(membership.room);
    this.#nicks?.release(membership.room, membership.nick);
    this.publish(membership.room, { type: 'left', room: membership.room, from: membership.nick, at: Date.now() });
  }

  #drop(room: string, nick: string, reason: 'too-slow' | 'kicked'): void {
    const entry = this.#rooms.get(room)?.get(nick);
    if (entry === undefined) return;
    entry.membership.leave();
    entry.sink.drop(reason);
  }
}
