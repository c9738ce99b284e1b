import { z } from 'zod';
import type { HistorySample } from '../scada/history-store.js';
import type { Alarm, DeviceStatus, OperateResult, PointEvent, PointSnapshot, SelectLease } from '../scada/types.js';

/**
 * Versioned frames (SPEC §2.2, docs/protocol.md): request headers carry
 * `"v":1` and a client-chosen `id` that every reply repeats. These schemas
 * are the single definition of each command's fields, used by the server to
 * validate and by the client for its types.
 */
export const PROTOCOL_VERSION = 1;

export const requestId = z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().min(1).max(64)]);
export type RequestId = z.infer<typeof requestId>;

const path = z.string().min(1).max(4096);
const length = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const hex64 = z.string().regex(/^[0-9a-fA-F]{64}$/u, 'a SHA-256 digest in hex');
const hex32 = z.string().regex(/^[0-9a-fA-F]{32}$/u, 'an MD5 digest in hex');
const handle = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
/** Milliseconds since the epoch. */
const time = z.number().int().min(0).max(8_640_000_000_000_000);
const limit = z.number().int().min(1).max(100_000);
/** Where a paged listing continues (the `next` of the previous page). */
const offset = z.number().int().min(0).max(100_000_000);

/** Field schemas per command; `body` says whether the frame carries data. */
export const commands = {
  hello: { body: false, fields: z.object({}) },
  ping: { body: false, fields: z.object({}) },
  stat: { body: false, fields: z.object({ path }) },
  'put.open': { body: false, fields: z.object({ path, length, md5: z.boolean().optional() }) },
  'put.data': { body: true, fields: z.object({ upload: handle }) },
  'put.commit': { body: false, fields: z.object({ upload: handle, sha256: hex64, md5: hex32.optional() }) },
  'put.abort': { body: false, fields: z.object({ upload: handle, discard: z.boolean().optional() }) },
  'auth.challenge': { body: false, fields: z.object({ user: z.string().min(1).max(64) }) },
  'auth.proof': { body: false, fields: z.object({ proof: z.string().min(1).max(128) }) },
  'auth.password': { body: false, fields: z.object({ user: z.string().min(1).max(64), password: z.string().min(1).max(1024) }) },
  pwd: { body: false, fields: z.object({}) },
  cd: { body: false, fields: z.object({ path }) },
  ls: { body: false, fields: z.object({ path: path.optional() }) },
  mkdir: { body: false, fields: z.object({ path, parents: z.boolean().optional() }) },
  rm: { body: false, fields: z.object({ path }) },
  rmdir: { body: false, fields: z.object({ path }) },
  mv: { body: false, fields: z.object({ from: path, to: path }) },
  'chat.join': { body: false, fields: z.object({ room: z.string().min(1).max(64), nick: z.string().min(1).max(128) }) },
  'chat.leave': { body: false, fields: z.object({ room: z.string().min(1).max(64) }) },
  'chat.say': { body: false, fields: z.object({ room: z.string().min(1).max(64), text: z.string().max(4096) }) },
  'chat.msg': { body: false, fields: z.object({ room: z.string().min(1).max(64), to: z.string().min(1).max(128), text: z.string().max(4096) }) },
  'chat.who': { body: false, fields: z.object({ room: z.string().min(1).max(64) }) },
  points: { body: false, fields: z.object({ pattern: z.string().min(1).max(256).optional(), offset: offset.optional() }) },
  devices: { body: false, fields: z.object({ offset: offset.optional() }) },
  history: { body: false, fields: z.object({ point: z.string().min(1).max(600), since: time, until: time.optional(), limit: limit.optional(), offset: offset.optional() }) },
  events: { body: false, fields: z.object({ since: time, until: time.optional(), limit: limit.optional(), pattern: z.string().min(1).max(256).optional(), offset: offset.optional() }) },
  alarms: { body: false, fields: z.object({ all: z.boolean().optional(), offset: offset.optional() }) },
  'alarm.ack': { body: false, fields: z.object({ alarm: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }) },
  select: { body: false, fields: z.object({ point: z.string().min(1).max(600) }) },
  deselect: { body: false, fields: z.object({ point: z.string().min(1).max(600) }) },
  operate: { body: false, fields: z.object({ point: z.string().min(1).max(600), value: z.number().finite() }) },
  substitute: { body: false, fields: z.object({ point: z.string().min(1).max(600), value: z.number().finite().nullable() }) },
  watch: { body: false, fields: z.object({ pattern: z.string().min(1).max(256).optional(), alarms: z.boolean().optional() }) },
  unwatch: { body: false, fields: z.object({}) },
  get: {
    body: false,
    fields: z.object({
      path,
      offset: length.optional(),
      ifMatch: z.object({ length, mtimeMs: z.number().finite() }).optional(),
      md5: z.boolean().optional(),
    }),
  },
} as const;

export type CommandName = keyof typeof commands;
export type CommandFields<C extends CommandName> = z.infer<(typeof commands)[C]['fields']>;

export function isCommandName(value: string): value is CommandName {
  return Object.hasOwn(commands, value);
}

/** An entry as `stat` reports it. */
export interface EntryInfo {
  readonly name: string;
  readonly type: 'file' | 'dir' | 'link' | 'other';
  readonly length: number;
  readonly mtimeMs: number;
}

/** Replies, by request command (the reply's `cmd` is the request's). */
export interface Replies {
  hello: { server: 'gridlink'; version: string; protocol: number; maxHeaderBytes: number; commands: string[] };
  ping: Record<string, never>;
  'auth.challenge': { nonce: string; salt: string; N: number; r: number; p: number };
  'auth.proof': { user: string; role: string };
  'auth.password': { user: string; role: string };
  pwd: { path: string };
  cd: { path: string };
  ls: { path: string; entries: EntryInfo[]; truncated: boolean };
  mkdir: { path: string };
  rm: { path: string };
  rmdir: { path: string };
  mv: { from: string; to: string };
  stat: { entry: EntryInfo };
  'chat.join': { room: string; nick: string; members: string[] };
  'chat.leave': Record<string, never>;
  'chat.say': Record<string, never>;
  'chat.msg': Record<string, never>;
  'chat.who': { room: string; members: string[] };
  'put.open': { upload: number; offset: number };
  'put.data': { received: number };
  'put.commit': { path: string; length: number; sha256: string; md5?: string };
  'put.abort': Record<string, never>;
  /** Listings come a page at a time (a header is at most 64 KiB): ask again with `offset: next` until `next` is null. */
  points: { points: PointSnapshot[]; next: number | null };
  devices: { devices: DeviceStatus[]; next: number | null };
  history: { point: string; samples: HistorySample[]; next: number | null };
  events: { events: PointEvent[]; next: number | null };
  alarms: { alarms: Alarm[]; next: number | null };
  'alarm.ack': { alarm: Alarm };
  select: { lease: SelectLease };
  deselect: Record<string, never>;
  operate: { result: OperateResult };
  substitute: { point: PointSnapshot };
  /**
   * Preceded by `point.snapshot` frames ({points}: the current state, a page
   * each) and followed by `point.event` frames (a PointEvent each) and, when
   * asked, `alarm.event` frames ({alarm}).
   */
  watch: { points: number };
  unwatch: Record<string, never>;
  /** Followed by a body of `size` bytes, then a `get.end` frame. */
  get: { size: number; offset: number; length: number; mtimeMs: number };
}

/** The trailer of a download: checksums of the whole file. */
export interface GetEnd {
  sha256: string;
  md5?: string;
}

/** What members of a room see (SPEC §5.1). */
/** Pushed as `{"v":1,"cmd":"chat.event",…}` without an id. */
export interface ChatEvent {
  readonly type: 'joined' | 'left' | 'message' | 'private' | 'announce';
  readonly room: string;
  /** Nickname of the sender (`管理员` for announcements). */
  readonly from: string;
  /** For private messages: the recipient. */
  readonly to?: string;
  readonly text?: string;
  readonly at: number;
}

