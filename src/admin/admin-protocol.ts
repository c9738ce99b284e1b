import { z } from 'zod';
import { ROLES, type Role } from '../accounts/roles.js';
import type { UserInfo } from '../accounts/user-store.js';

/**
 * The local admin protocol (docs/protocol.md §6), spoken over `<data>/admin.sock` in
 * gridlink frames (docs/protocol.md §1) in the versioned style of docs/protocol.md §3: a request
 * `{v:1, id, cmd, ...fields}` gets one reply `{v:1, id, cmd, ...}` or
 * `{v:1, id, cmd:'error', code, message}`. No command carries a body, and no
 * command runs anything: the socket reads status, edits accounts, speaks to
 * chat rooms and re-reads the server's own configuration file.
 *
 * These schemas are the single definition of each command's fields: the
 * server validates requests with them, the client takes its types from them.
 */
export const ADMIN_PROTOCOL_VERSION = 1;

/**
 * Names are only bounded here; their rules (1-32 safe characters) are the
 * user store's, so a bad name gets GL_ERR_ADMIN_BAD_NAME, not a field error.
 */
const name = z.string().max(256);
/** Bounded so that nobody can make the server hash megabytes; strength is the store's rule. */
const password = z.string().max(1024);
const quota = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const role = z.enum(ROLES);

/** Users per `user.list` reply: keeps a reply well under the 64 KiB header limit. */
export const USER_LIST_PAGE = 200;

/** Field schemas per admin command. */
export const adminCommands = {
  status: z.object({}),
  'user.add': z.object({ name, password, role: role.optional(), quota: quota.optional() }),
  'user.passwd': z.object({ name, password }),
  'user.quota': z.object({ name, quota }),
  'user.role': z.object({ name, role }),
  'user.del': z.object({ name }),
  /** An announcement to every chat room, legacy UDP members included (docs/protocol.md §3.4, docs/protocol.md §6). */
  announce: z.object({ text: z.string().min(1).max(4096) }),
  /** Removes every chat membership with this nickname (docs/protocol.md §6). */
  kick: z.object({ name: z.string().min(1).max(128) }),
  /** Paged by name: `after` is the last name of the previous page. */
  'user.list': z.object({ after: name.optional(), limit: z.number().int().min(1).max(USER_LIST_PAGE).optional() }),
  /** Re-reads the configuration file and applies what can change live (docs/configuration.md "Reload"). */
  reload: z.object({}),
} as const;

export type AdminCommandName = keyof typeof adminCommands;
export type AdminFields<C extends AdminCommandName> = z.infer<(typeof adminCommands)[C]>;

export function isAdminCommand(value: string): value is AdminCommandName {
  return Object.hasOwn(adminCommands, value);
}

/** Replies, by request command (the reply's `cmd` is the request's). */
export interface AdminReplies {
  status: { status: Record<string, unknown> };
  'user.add': { user: UserInfo };
  'user.passwd': Record<string, never>;
  'user.quota': Record<string, never>;
  'user.role': Record<string, never>;
  'user.del': Record<string, never>;
  /** How many rooms the announcement reached. */
  announce: { rooms: number };
  /** How many memberships were removed. */
  kick: { kicked: number };
  /** `next` is present when more users follow; pass it as `after`. */
  'user.list': { users: UserInfo[]; next?: string };
  reload: ReloadReply;
}

const names = z.array(z.string()).max(1_000);
const count = z.number().int().min(0);
const reloadReply = z.object({
  /** Keys that changed and now apply. */
  applied: z.array(z.string()),
  /** Keys that changed in the file and wait for a restart (not applied). */
  restartNeeded: z.array(z.string()),
  warnings: z.array(z.string()),
  scada: z
    .object({
      devices: z.object({ added: count, removed: count, restarted: count, unchanged: count }),
      points: z.object({ added: count, removed: count, changed: count }),
      names: z.object({ devicesAdded: names, devicesRemoved: names, devicesRestarted: names, pointsAdded: names, pointsRemoved: names }),
    })
    .optional(),
});
/** The reply to `reload`: what applied, what waits for a restart, what the data plane changed. */
export type ReloadReply = z.infer<typeof reloadReply>;

const userInfo = z.object({ name: z.string(), role: z.enum(ROLES), quotaBytes: z.number(), createdAt: z.number() });

/** Reply schemas, for the client: a reply is data from a peer, so it is checked too. */
export const adminReplies = {
  status: z.object({ status: z.record(z.string(), z.unknown()) }),
  'user.add': z.object({ user: userInfo }),
  'user.passwd': z.object({}),
  'user.quota': z.object({}),
  'user.role': z.object({}),
  'user.del': z.object({}),
  'user.list': z.object({ users: z.array(userInfo), next: z.string().optional() }),
  announce: z.object({ rooms: z.number().int().min(0) }),
  kick: z.object({ kicked: z.number().int().min(0) }),
  reload: reloadReply,
} as const satisfies { [C in AdminCommandName]: z.ZodType };

export type { Role, UserInfo };
