import { z } from 'zod';
import type { Alarm, DeviceStatus, HistorySample, OperateResult, PointEvent, PointSnapshot, SelectLease } from './scada.js';
import {
  alarm,
  chatEvent,
  deviceStatus,
  digestName,
  digestOffer,
  entryInfo,
  getEnd,
  handle,
  hex32,
  hex64,
  hexXxh128,
  historySample,
  length,
  next,
  operateResult,
  path,
  pointEvent,
  pointSnapshot,
  selectLease,
  time,
  type pushes,
} from './replies.js';

export { pushSchemas, type PushName, type PushOf } from './replies.js';

/**
 * Versioned frames (docs/protocol.md §3): request headers carry `"v":1` and a
 * client-chosen `id` that every reply repeats. The table below is the single
 * definition of each command: the fields of its request, which the server
 * validates, and the header of its reply, which the client validates; the
 * client's types come from it as well.
 */
export const PROTOCOL_VERSION = 1;

export const requestId = z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().min(1).max(64)]);
export type RequestId = z.infer<typeof requestId>;

const limit = z.number().int().min(1).max(100_000);
/** Where a paged listing continues (the `next` of the previous page). */
const offset = z.number().int().min(0).max(100_000_000);
const room = z.string().min(1).max(64);
const point = z.string().min(1).max(600);
const pattern = z.string().min(1).max(256);
/** The user and role a login gives. */
const identity = z.object({ user: z.string(), role: z.string() });
/** A reply without fields of its own. */
const done = z.object({});

/**
 * Per command: `body`, whether the request frame carries data; `fields`, the
 * request's fields; `reply`, its reply header (docs/protocol.md §3.1–§3.6).
 */
export const commands = {
  /** docs/protocol.md §3.1 */
  hello: {
    body: false,
    fields: z.object({}),
    reply: z.object({ server: z.literal('gridlink'), version: z.string(), protocol: z.number().int(), maxHeaderBytes: z.number().int().min(1), commands: z.array(z.string()) }),
  },
  ping: { body: false, fields: z.object({}), reply: done },
  /** Files (docs/protocol.md §3.3); paths in replies start with `/`, the root of the area. */
  stat: { body: false, fields: z.object({ path }), reply: z.object({ entry: entryInfo }) },
  /**
   * `offset`: where the data must start (bytes kept from an earlier, cut
   * attempt). `digests`: the client's offer, preferred first; `digest` in the
   * reply is the server's choice (absent from a server before negotiation:
   * SHA-256). See docs/protocol.md §3.3, "Digests".
   */
  'put.open': {
    body: false,
    fields: z.object({ path, length, md5: z.boolean().optional(), digests: digestOffer.optional() }),
    reply: z.object({ upload: handle, offset: length, digest: digestName.optional() }),
  },
  'put.data': { body: true, fields: z.object({ upload: handle }), reply: z.object({ received: length }) },
  /**
   * Carries the chosen digest of the whole file (`sha256` for a client that
   * offered nothing). The reply's `path` is relative to the root of the area,
   * without a leading `/`; it repeats the digests the server computed.
   */
  'put.commit': {
    body: false,
    fields: z.object({ upload: handle, sha256: hex64.optional(), xxh128: hexXxh128.optional(), md5: hex32.optional() }),
    reply: z.object({ path: z.string(), length, sha256: hex64.optional(), xxh128: hexXxh128.optional(), md5: hex32.optional() }),
  },
  'put.abort': { body: false, fields: z.object({ upload: handle, discard: z.boolean().optional() }), reply: done },
  /** Logins (docs/protocol.md §3.2): `nonce` and `salt` in base64, and the scrypt cost. */
  'auth.challenge': {
    body: false,
    fields: z.object({ user: z.string().min(1).max(64) }),
    reply: z.object({ nonce: z.string(), salt: z.string(), N: z.number().int(), r: z.number().int(), p: z.number().int() }),
  },
  'auth.proof': { body: false, fields: z.object({ proof: z.string().min(1).max(128) }), reply: identity },
  'auth.password': { body: false, fields: z.object({ user: z.string().min(1).max(64), password: z.string().min(1).max(1024) }), reply: identity },
  pwd: { body: false, fields: z.object({}), reply: z.object({ path: z.string() }) },
  cd: { body: false, fields: z.object({ path }), reply: z.object({ path: z.string() }) },
  ls: { body: false, fields: z.object({ path: path.optional() }), reply: z.object({ path: z.string(), entries: z.array(entryInfo), truncated: z.boolean() }) },
  mkdir: { body: false, fields: z.object({ path, parents: z.boolean().optional() }), reply: z.object({ path: z.string() }) },
  rm: { body: false, fields: z.object({ path }), reply: z.object({ path: z.string() }) },
  rmdir: { body: false, fields: z.object({ path }), reply: z.object({ path: z.string() }) },
  mv: { body: false, fields: z.object({ from: path, to: path }), reply: z.object({ from: z.string(), to: z.string() }) },
  /** Chat (docs/protocol.md §3.4). */
  'chat.join': { body: false, fields: z.object({ room, nick: z.string().min(1).max(128) }), reply: z.object({ room: z.string(), nick: z.string(), members: z.array(z.string()) }) },
  'chat.leave': { body: false, fields: z.object({ room }), reply: done },
  'chat.say': { body: false, fields: z.object({ room, text: z.string().max(4096) }), reply: done },
  'chat.msg': { body: false, fields: z.object({ room, to: z.string().min(1).max(128), text: z.string().max(4096) }), reply: done },
  'chat.who': { body: false, fields: z.object({ room }), reply: z.object({ room: z.string(), members: z.array(z.string()) }) },
  /**
   * The SCADA data plane (docs/protocol.md §3.6). Listings come a page at a
   * time: ask again with `offset: next` until `next` is null.
   */
  points: { body: false, fields: z.object({ pattern: pattern.optional(), offset: offset.optional() }), reply: z.object({ points: z.array(pointSnapshot), next }) },
  devices: { body: false, fields: z.object({ offset: offset.optional() }), reply: z.object({ devices: z.array(deviceStatus), next }) },
  history: {
    body: false,
    fields: z.object({ point, since: time, until: time.optional(), limit: limit.optional(), offset: offset.optional() }),
    reply: z.object({ point: z.string(), samples: z.array(historySample), next }),
  },
  events: {
    body: false,
    fields: z.object({ since: time, until: time.optional(), limit: limit.optional(), pattern: pattern.optional(), offset: offset.optional() }),
    reply: z.object({ events: z.array(pointEvent), next }),
  },
  alarms: { body: false, fields: z.object({ all: z.boolean().optional(), offset: offset.optional() }), reply: z.object({ alarms: z.array(alarm), next }) },
  'alarm.ack': { body: false, fields: z.object({ alarm: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }), reply: z.object({ alarm }) },
  select: { body: false, fields: z.object({ point }), reply: z.object({ lease: selectLease }) },
  deselect: { body: false, fields: z.object({ point }), reply: done },
  operate: { body: false, fields: z.object({ point, value: z.number().finite() }), reply: z.object({ result: operateResult }) },
  substitute: { body: false, fields: z.object({ point, value: z.number().finite().nullable() }), reply: z.object({ point: pointSnapshot }) },
  /**
   * Preceded by `point.snapshot` frames ({points}: the current state, a page
   * each) and followed by `point.event` frames (a PointEvent each) and, when
   * asked, `alarm.event` frames ({alarm}): see `pushes` in ./replies.ts.
   * The reply's `points` is how many snapshot points were sent.
   */
  watch: { body: false, fields: z.object({ pattern: pattern.optional(), alarms: z.boolean().optional() }), reply: z.object({ points: length }) },
  unwatch: { body: false, fields: z.object({}), reply: done },
  /**
   * The reply carries a body of `size` bytes; a `get.end` frame follows
   * ({@link getEnd}) with the digest named by `digest` (the server's choice
   * from `digests`; absent from a server before negotiation: SHA-256).
   */
  get: {
    body: false,
    fields: z.object({
      path,
      offset: length.optional(),
      ifMatch: z.object({ length, mtimeMs: z.number().finite() }).optional(),
      md5: z.boolean().optional(),
      digests: digestOffer.optional(),
    }),
    reply: z.object({ size: length, offset: length, length, mtimeMs: z.number(), digest: digestName.optional() }),
  },
} as const;

export type CommandName = keyof typeof commands;
/** A request's fields as the server's handler gets them (after validation). */
export type CommandFields<C extends CommandName> = z.infer<(typeof commands)[C]['fields']>;
/** A request's fields as a client sends them. */
export type FieldsOf<C extends CommandName> = z.input<(typeof commands)[C]['fields']>;
/** A command's reply header, as the client gets it once checked. */
export type ReplyOf<C extends CommandName> = z.output<(typeof commands)[C]['reply']>;
/** Replies, by request command (the reply's `cmd` is the request's). */
export type Replies = { [C in CommandName]: ReplyOf<C> };

/**
 * The table seen per command, a checked annotation (no cast): indexed by a
 * type parameter `C`, the table itself gives a union of every reply schema,
 * this view gives the one that parses to `ReplyOf<C>`.
 */
const perCommand: { readonly [C in CommandName]: { readonly reply: z.ZodType<ReplyOf<C>> } } = commands;

/** The schema of `cmd`'s reply header. */
export function replySchema<C extends CommandName>(cmd: C): z.ZodType<ReplyOf<C>> {
  return perCommand[cmd].reply;
}

export function isCommandName(value: string): value is CommandName {
  return Object.hasOwn(commands, value);
}

/** An entry as `stat` and `ls` report it. */
export type EntryInfo = Readonly<z.output<typeof entryInfo>>;

/** The trailer of a download (`get.end`): checksums of the whole file. */
export { getEnd };
export type GetEnd = z.output<typeof getEnd>;

/** What members of a room see (docs/protocol.md §3.4); pushed as `{"v":1,"cmd":"chat.event",…}` without an id. */
export type ChatEvent = Readonly<z.output<typeof chatEvent>>;

// Compile-time proofs: a `false` below does not compile.
//
// The server declares the SCADA vocabulary as TypeScript interfaces
// (src/protocol/scada.ts). VocabularyProofs keeps
// the schemas of ./replies.ts and those interfaces the same shape: a field
// added, dropped or retyped on one side only fails the build.
type Mutable<T> = { -readonly [K in keyof T]: Mutable<T[K]> };
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** The same fields (an optional field missing on one side is caught here), each assignable both ways. */
type Agrees<S extends z.ZodType, T> = Same<keyof z.output<S>, keyof T> extends true ? Same<Mutable<z.output<S>>, Mutable<T>> : false;
type Proof<T extends true> = T;
/**
 * The client hands on a reply header as it came once it passed its schema
 * (./replies.ts): sound only while each reply and push schema gives the type
 * it accepts, which a coercion, a default or a transform to another type
 * would break.
 */
type Untransformed<S extends z.ZodType> = Same<z.input<S>, z.output<S>>;
export type ReplyProofs = [Proof<{ [C in CommandName]: Untransformed<(typeof commands)[C]['reply']> }[CommandName]>, Proof<Untransformed<typeof getEnd>>];
export type PushProofs = Proof<{ [P in keyof typeof pushes]: Untransformed<(typeof pushes)[P]> }[keyof typeof pushes]>;
export type VocabularyProofs = [
  Proof<Agrees<typeof pointSnapshot, PointSnapshot>>,
  Proof<Agrees<typeof pointEvent, PointEvent>>,
  Proof<Agrees<typeof alarm, Alarm>>,
  Proof<Agrees<typeof deviceStatus, DeviceStatus>>,
  Proof<Agrees<typeof historySample, HistorySample>>,
  Proof<Agrees<typeof selectLease, SelectLease>>,
  Proof<Agrees<typeof operateResult, OperateResult>>,
];
