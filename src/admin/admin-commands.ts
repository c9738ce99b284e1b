import type { AuditLog } from '../accounts/audit-log.js';
import { checkUserName, type UserStore } from '../accounts/user-store.js';
import { GridlinkError } from '../errors/index.js';
import { USER_LIST_PAGE, adminCommands, isAdminCommand, type AdminCommandName, type AdminFields, type AdminReplies, type ReloadReply } from './admin-protocol.js';

/** What the admin commands act on. */
export interface AdminContext {
  readonly users: UserStore;
  readonly audit: AuditLog;
  readonly status: () => Record<string, unknown>;
  /** The chat rooms, for announce and kick. */
  readonly chat: { announce(text: string): number; kick(nick: string): number };
  /** Re-reads the configuration file and applies it (docs/configuration.md "Reload"); audited by the reloader. */
  readonly reload: (by: string) => Promise<ReloadReply>;
}

type Handler<C extends AdminCommandName> = (fields: AdminFields<C>) => Promise<AdminReplies[C]> | AdminReplies[C];
type HandlerTable = { [C in AdminCommandName]: Handler<C> };

/** Every change made through the socket is audited under this actor (docs/protocol.md §3.2, docs/protocol.md §6). */
export const ADMIN_ACTOR = 'admin-socket';

/**
 * The admin command table (docs/protocol.md §6). Each state-changing command writes one
 * audit row after it succeeds; the detail names the user and what changed,
 * never the password.
 */
function createHandlers(ctx: AdminContext): HandlerTable {
  const { users, audit } = ctx;
  const record = (event: string, detail: Record<string, unknown>): void => audit.record({ event, actor: ADMIN_ACTOR, detail });
  /** The current record, or GL_ERR_ADMIN_NO_USER; a bad name is refused as such first. */
  const existing = (name: string) => {
    checkUserName(name);
    const user = users.get(name);
    if (user === undefined) throw new GridlinkError('GL_ERR_ADMIN_NO_USER', name);
    return user;
  };
  return {
    status: () => ({ status: ctx.status() }),
    announce: ({ text }) => {
      const rooms = ctx.chat.announce(text);
      record('admin.announce', { rooms, length: text.length });
      return { rooms };
    },
    kick: ({ name }) => {
      const kicked = ctx.chat.kick(name);
      record('admin.kick', { name, kicked });
      return { kicked };
    },
    'user.add': async ({ name, password, role, quota }) => {
      const user = await users.add(name, password, role, quota);
      record('admin.user_add', { name: user.name, role: user.role, quotaBytes: user.quotaBytes });
      return { user };
    },
    'user.passwd': async ({ name, password }) => {
      existing(name);
      await users.setPassword(name, password);
      record('admin.user_passwd', { name });
      return {};
    },
    'user.quota': ({ name, quota }) => {
      const before = existing(name);
      users.setQuota(name, quota);
      record('admin.user_quota', { name, quotaBytes: quota, previousQuotaBytes: before.quotaBytes });
      return {};
    },
    'user.role': ({ name, role }) => {
      const before = existing(name);
      users.setRole(name, role);
      record('admin.user_role', { name, role, previousRole: before.role });
      return {};
    },
    'user.del': ({ name }) => {
      const before = existing(name);
      users.delete(name);
      record('admin.user_del', { name, role: before.role });
      return {};
    },
    reload: () => ctx.reload(ADMIN_ACTOR),
    'user.list': ({ after, limit }) => {
      const page = limit ?? USER_LIST_PAGE;
      // Names are ASCII (user-store rules), so JS order equals SQLite's ORDER BY name.
      const rest = after === undefined ? users.list() : users.list().filter((u) => u.name > after);
      const list = rest.slice(0, page);
      const last = list.at(-1);
      return rest.length > page && last !== undefined ? { users: list, next: last.name } : { users: list };
    },
  };
}

/** Runs admin commands: validates a request header's fields, then runs its handler. */
export type AdminDispatcher = (cmd: string, header: Readonly<Record<string, unknown>>) => Promise<Record<string, unknown>>;

/**
 * Builds the dispatcher. Unknown commands get GL_ERR_PROTO_UNKNOWN_CMD and bad
 * fields GL_ERR_PROTO_BAD_FIELD, as on the native protocol (docs/protocol.md §3).
 */
export function createAdminDispatcher(ctx: AdminContext): AdminDispatcher {
  const handlers = createHandlers(ctx);
  return async (cmd, header) => {
    if (!isAdminCommand(cmd)) throw new GridlinkError('GL_ERR_PROTO_UNKNOWN_CMD', JSON.stringify(cmd.slice(0, 64)));
    const parsed = adminCommands[cmd].safeParse(header);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.join('.') ?? '';
      // zod's messages name the expected type, never the value received, so no password leaks here.
      throw new GridlinkError('GL_ERR_PROTO_BAD_FIELD', `${cmd}: ${where === '' ? '' : `"${where}" `}${issue?.message ?? 'invalid'}`);
    }
    // The schema just checked these fields against this command; TypeScript
    // cannot correlate the two lookups by `cmd`, hence the one cast.
    const handler = handlers[cmd] as (fields: typeof parsed.data) => Promise<object> | object;
    return { ...(await handler(parsed.data)) };
  };
}
