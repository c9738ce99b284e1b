import { z } from 'zod';

/**
 * What the server's replies and pushed frames are made of (docs/protocol.md
 * §3), as zod schemas: the command table in `./v1.ts` names the reply of each
 * command with them, and the client checks every reply and pushed frame it
 * receives against them, so a reply that does not match is a
 * GL_ERR_CLIENT_PROTOCOL and never a wrongly typed value.
 *
 * A header is checked, not rebuilt: the client hands on the header as it
 * came once it passed, with its envelope (`v`, `id`, `cmd`) and any field a
 * later server adds (docs/protocol.md §1: unknown header fields are
 * ignored). That is sound because every schema here gives the type it
 * accepts: none coerces, defaults or transforms to another type (proved at
 * the end of ./v1.ts), so a header that passes already has the schema's type.
 */

// --- building blocks, shared with the request schemas of ./v1.ts ---

export const path = z.string().min(1).max(4096);
export const length = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const hex64 = z.string().regex(/^[0-9a-fA-F]{64}$/u, 'a SHA-256 digest in hex');
export const hex32 = z.string().regex(/^[0-9a-fA-F]{32}$/u, 'an MD5 digest in hex');
/** An upload handle (`put.open`). */
export const handle = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
/** Milliseconds since the epoch. */
export const time = z.number().int().min(0).max(8_640_000_000_000_000);
/** Where a paged listing continues (docs/protocol.md §3.6 "Pages"): the `offset` to ask for next, null on the last page. */
export const next = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable();

// --- files (docs/protocol.md §3.3) ---

/** An entry as `stat` and `ls` report it. */
export const entryInfo = z.object({
  name: z.string(),
  type: z.enum(['file', 'dir', 'link', 'other']),
  length,
  mtimeMs: z.number(),
});

/** An XXH3-128 digest in hex. */
export const hexXxh128 = z.string().regex(/^[0-9a-fA-F]{32}$/u, 'an XXH3-128 digest in hex');
/** A digest's name (docs/protocol.md §3.3, "Digests"). */
export const digestName = z.enum(['xxh128', 'sha256', 'md5']);
/**
 * What a client offers, preferred first: names the server does not know are
 * skipped, so a later client's offer never fails here.
 */
export const digestOffer = z.array(z.string().min(1).max(32)).min(1).max(8);

/**
 * The trailer of a download (`get.end`): digests of the whole file. A client
 * that offered nothing gets `sha256` (and `md5` when asked), as before
 * negotiation; otherwise the digest the reply's `digest` named.
 */
export const getEnd = z.object({ sha256: hex64.optional(), xxh128: hexXxh128.optional(), md5: hex32.optional() });

// --- chat (docs/protocol.md §3.4) ---

/** What members of a room see; pushed as `{"v":1,"cmd":"chat.event",…}` without an id. */
export const chatEvent = z.object({
  type: z.enum(['joined', 'left', 'message', 'private', 'announce']),
  room: z.string(),
  /** Nickname of the sender (`管理员` for announcements). */
  from: z.string(),
  /** For private messages: the recipient. */
  to: z.string().optional(),
  text: z.string().optional(),
  at: z.number(),
});

// --- SCADA data plane (docs/protocol.md §3.6) ---

const quality = z.enum(['good', 'invalid', 'questionable', 'substituted']);
const alarmState = z.enum(['active', 'activeAcked', 'cleared', 'clearedAcked']);
const maybeTime = z.number().nullable();

export const pointSnapshot = z.object({
  name: z.string(),
  class: z.enum(['telemetry', 'status', 'control', 'setpoint']),
  device: z.string(),
  /** Information object address on IEC 104 (docs/iec104.md "Addresses"). */
  ioa: z.number().int(),
  unit: z.string(),
  value: z.number().nullable(),
  quality,
  sourceTime: maybeTime,
  serverTime: maybeTime,
  controllable: z.boolean(),
  states: z.tuple([z.string(), z.string()]).readonly().optional(),
  alarm: alarmState.optional(),
  substitutedBy: z.string().optional(),
});

export const pointEvent = z.object({
  seq: z.number().int(),
  point: z.string(),
  value: z.number().nullable(),
  quality,
  sourceTime: z.number(),
  serverTime: z.number(),
  kind: z.enum(['change', 'quality']),
});

export const alarm = z.object({
  id: z.number().int(),
  source: z.string(),
  kind: z.enum(['lowLow', 'low', 'high', 'highHigh', 'deviceLost', 'commandFailed']),
  severity: z.enum(['low', 'high']),
  message: z.string(),
  raisedAt: z.number(),
  clearedAt: maybeTime,
  ackedAt: maybeTime,
  ackedBy: z.string().nullable(),
  state: alarmState,
});

export const deviceStatus = z.object({
  name: z.string(),
  address: z.string(),
  online: z.boolean(),
  lastPollAt: maybeTime,
  lastError: z.string().nullable(),
  polls: z.number().int(),
  failures: z.number().int(),
});

export const historySample = z.object({ value: z.number().nullable(), quality, sourceTime: z.number(), serverTime: z.number() });
export const selectLease = z.object({ point: z.string(), holder: z.string(), expiresAt: z.number() });
export const operateResult = z.object({ point: z.string(), value: z.number(), confirmed: z.literal(true), tookMs: z.number() });

/**
 * The data plane's vocabulary as it crosses the wire, for the client, which
 * loads no server code. The server declares the same shapes in
 * src/protocol/scada.ts; ./v1.ts proves the two
 * agree.
 */
export type PointSnapshot = Readonly<z.output<typeof pointSnapshot>>;
export type PointEvent = Readonly<z.output<typeof pointEvent>>;
export type Alarm = Readonly<z.output<typeof alarm>>;
export type DeviceStatus = Readonly<z.output<typeof deviceStatus>>;
export type HistorySample = Readonly<z.output<typeof historySample>>;
export type SelectLease = Readonly<z.output<typeof selectLease>>;
export type OperateResult = Readonly<z.output<typeof operateResult>>;

/**
 * Frames the server pushes without an `id` (docs/protocol.md §3.4, §3.6),
 * by `cmd`. A `point.event` is a PointEvent at the top level of its header.
 */
export const pushes = {
  'chat.event': chatEvent,
  'point.snapshot': z.object({ points: z.array(pointSnapshot) }),
  'point.event': pointEvent,
  'alarm.event': z.object({ alarm }),
} as const;

export type PushName = keyof typeof pushes;
export type PushOf<P extends PushName> = z.output<(typeof pushes)[P]>;

/** The push schemas, seen per name: `pushSchemas[cmd]` parses to `PushOf<cmd>` for any name. */
export const pushSchemas: { readonly [P in PushName]: z.ZodType<PushOf<P>> } = pushes;
