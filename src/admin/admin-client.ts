import { resolve } from 'node:path';
import { FrameConnection } from '../client/frame-connection.js';
import { GridlinkError } from '../errors/index.js';
import { adminReplies, type AdminCommandName, type AdminReplies, type ReloadReply, type Role, type UserInfo } from './admin-protocol.js';
import { checkSocketPath } from './socket-file.js';

/** Why a connect to the admin socket failed, in words an operator can act on. */
function describeConnectFailure(path: string, cause: unknown): string {
  const errno = cause instanceof GridlinkError ? (cause.cause as NodeJS.ErrnoException | undefined)?.code : undefined;
  const where = resolve(path);
  switch (errno) {
    case 'ENOENT':
      return `${where} does not exist (is "gridlink serve" running with this --data directory?)`;
    case 'ECONNREFUSED':
      return `nothing answers on ${where} (the server that made it is gone)`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied on ${where} (run as the user that runs the server)`;
    default:
      return `${where}: ${cause instanceof Error ? cause.message : String(cause)}`;
  }
}

/**
 * Client of the local admin socket (docs/protocol.md §6), used by `gridlink admin`.
 * Each method sends one request and returns its checked reply; server-side
 * refusals arrive as {@link GridlinkError}s with the server's code.
 */
export class AdminClient {
  readonly #connection: FrameConnection;

  private constructor(connection: FrameConnection) {
    this.#connection = connection;
  }

  /** Connects to `<data>/admin.sock`; failure is GL_ERR_ADMIN_UNREACHABLE naming the path. */
  static async connect(socketPath: string, options: { connectTimeoutMs?: number } = {}): Promise<AdminClient> {
    try {
      // A longer path would be silently truncated by Node and could reach another socket.
      checkSocketPath(socketPath);
      const connection = await FrameConnection.connect({ host: '', port: 0, path: socketPath, connectTimeoutMs: options.connectTimeoutMs ?? 5_000 });
      return new AdminClient(connection);
    } catch (err) {
      throw new GridlinkError('GL_ERR_ADMIN_UNREACHABLE', describeConnectFailure(socketPath, err), { cause: err });
    }
  }

  /** Server status: uptime, connections, transfers, … (whatever the server reports). */
  async status(): Promise<Record<string, unknown>> {
    return (await this.#request('status', {})).status;
  }

  /** Creates a user; role defaults to viewer and quota to the server's default. */
  async addUser(name: string, password: string, options: { role?: Role | undefined; quotaBytes?: number | undefined } = {}): Promise<UserInfo> {
    const fields: Record<string, unknown> = { name, password };
    if (options.role !== undefined) fields['role'] = options.role;
    if (options.quotaBytes !== undefined) fields['quota'] = options.quotaBytes;
    return (await this.#request('user.add', fields)).user;
  }

  async setPassword(name: string, password: string): Promise<void> {
    await this.#request('user.passwd', { name, password });
  }

  /** Sets a user's quota in bytes. */
  async setQuota(name: string, quotaBytes: number): Promise<void> {
    await this.#request('user.quota', { name, quota: quotaBytes });
  }

  async setRole(name: string, role: Role): Promise<void> {
    await this.#request('user.role', { name, role });
  }

  async deleteUser(name: string): Promise<void> {
    await this.#request('user.del', { name });
  }

  /** Announces to every chat room; returns how many rooms it reached. */
  async announce(text: string): Promise<number> {
    return (await this.#request('announce', { text })).rooms;
  }

  /** Removes a nickname from every chat room; returns how many memberships. */
  async kick(name: string): Promise<number> {
    return (await this.#request('kick', { name })).kicked;
  }

  /**
   * Makes the server re-read its configuration file and apply what can change
   * live (docs/configuration.md "Reload"). A file with an error changes
   * nothing: GL_ERR_CONFIG_INVALID naming the key, or GL_ERR_CONFIG_READ.
   */
  async reload(): Promise<ReloadReply> {
    return this.#request('reload', {});
  }

  /** Every user, by name (fetched page by page). */
  async listUsers(): Promise<UserInfo[]> {
    const all: UserInfo[] = [];
    let after: string | undefined;
    do {
      const page = await this.#request('user.list', after === undefined ? {} : { after });
      all.push(...page.users);
      // A server that repeats a cursor would loop forever; names only grow.
      if (page.next !== undefined && after !== undefined && page.next <= after) throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', 'user.list cursor went backwards');
      after = page.next;
    } while (after !== undefined);
    return all;
  }

  /** Ends the connection politely. */
  async close(): Promise<void> {
    await this.#connection.end();
  }

  async #request<C extends AdminCommandName>(cmd: C, fields: Record<string, unknown>): Promise<AdminReplies[C]> {
    const header = await this.#connection.request(cmd, fields);
    const parsed = adminReplies[cmd].safeParse(header);
    if (!parsed.success || header.cmd !== cmd) throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `malformed ${cmd} reply`);
    return parsed.data as AdminReplies[C];
  }
}
