import { join } from 'node:path';
import { Argument, Option, type Command } from 'commander';
import { ROLES, type Role } from '../../accounts/roles.js';
import { DEFAULT_QUOTA_BYTES } from '../../accounts/user-store.js';
import { AdminClient } from '../../admin/admin-client.js';
import { GridlinkError } from '../../errors/index.js';
import type { ReloadReply, UserInfo } from '../../admin/admin-protocol.js';
import { SIZE_HELP, sizeArgument } from '../parse-size.js';
import { readNewPassword } from '../password-prompt.js';
import { formatBytes } from '../../units/bytes.js';

/** Same default as `gridlink serve` (README.md "Quick tour"). */
const DEFAULT_DATA_DIR = './gridlink-data';

/** The socket of the server that runs on `--data` (docs/protocol.md §6). */
function socketPath(command: Command): string {
  return join(command.optsWithGlobals<{ data: string }>().data, 'admin.sock');
}

async function withClient(command: Command, work: (client: AdminClient) => Promise<void>): Promise<void> {
  // Connect before asking for any password, so a stopped server is reported at once.
  const client = await AdminClient.connect(socketPath(command));
  try {
    await work(client);
  } finally {
    await client.close();
  }
}

const print = (line: string): void => void process.stdout.write(`${line}\n`);

/**
 * `uptimeMs: 3723000` → `uptime: 1h 2m 3s`; `fooBytes` in KiB/MiB; `fooAt`
 * as a time; a section (bus, scada, cluster, …) as its own indented lines, a
 * list of records (the cluster's nodes) one record a line.
 */
function statusLines(status: Record<string, unknown>, indent = ''): string[] {
  return Object.entries(status).flatMap(([key, value]) => {
    if (isRecord(value) && Object.keys(value).length > 0) return [`${indent}${key}:`, ...statusLines(value, `${indent}  `)];
    if (Array.isArray(value) && value.length > 0 && value.every(isRecord)) {
      return [`${indent}${key}:`, ...value.map((item) => `${indent}  - ${Object.entries(item).map(([k, v]) => `${k}=${scalar(k, v)}`).join(' ')}`)];
    }
    if (typeof value === 'number' && key.endsWith('Ms')) return [`${indent}${key.slice(0, -2)}: ${formatDuration(value)}`];
    if (typeof value === 'number' && key.endsWith('Bytes')) return [`${indent}${key.slice(0, -5)}: ${formatBytes(value)}`];
    return [`${indent}${key}: ${scalar(key, value)}`];
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function scalar(key: string, value: unknown): string {
  if (typeof value === 'number' && key.endsWith('At')) return new Date(value).toISOString();
  if (value === null || (isRecord(value) && Object.keys(value).length === 0)) return '-';
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.length === 0 ? '-' : value.join(', ');
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function formatDuration(ms: number): string {
  // Below a second (a delay, a last-seen age): milliseconds.
  if (ms < 1000) return `${ms < 10 ? Math.round(ms * 10) / 10 : Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  const parts = [[Math.floor(s / 86_400), 'd'], [Math.floor(s / 3600) % 24, 'h'], [Math.floor(s / 60) % 60, 'm'], [s % 60, 's']] as const;
  const shown = parts.filter(([n], i) => n > 0 || i === parts.length - 1);
  return shown.map(([n, unit]) => `${n}${unit}`).join(' ');
}

/** A left-aligned table with a header row. */
function userTable(users: readonly UserInfo[]): string[] {
  const rows = [['NAME', 'ROLE', 'QUOTA', 'CREATED'], ...users.map((u) => [u.name, u.role, formatBytes(u.quotaBytes), new Date(u.createdAt).toISOString().slice(0, 16).replace('T', ' ')])];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  return rows.map((row) => row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  '));
}

function registerUser(admin: Command): void {
  const user = admin.command('user').description('manage accounts: add, passwd, quota, role, del, list');

  user
    .command('add')
    .description('create a user; the password comes from GRIDLINK_PASSWORD or a prompt (typed twice, not shown)')
    .argument('<name>', 'user name: 1-32 letters, digits, ".", "_" or "-"')
    .addOption(new Option('--role <role>', 'role').choices(ROLES).default('viewer'))
    .option('--quota <size>', `disk quota (default ${formatBytes(DEFAULT_QUOTA_BYTES)}); SIZE is ${SIZE_HELP}`, sizeArgument)
    .action(async (name: string, flags: { role: Role; quota?: number }, command: Command) => {
      await withClient(command, async (client) => {
        const password = await readNewPassword(name);
        const info = await client.addUser(name, password, { role: flags.role, quotaBytes: flags.quota });
        print(`added user ${info.name} (${info.role}, quota ${formatBytes(info.quotaBytes)})`);
      });
    });

  user
    .command('passwd')
    .description("set a user's password; the new one comes from GRIDLINK_PASSWORD or a prompt (typed twice, not shown)")
    .argument('<name>', 'user name')
    .action(async (name: string, _flags: unknown, command: Command) => {
      await withClient(command, async (client) => {
        await client.setPassword(name, await readNewPassword(name));
        print(`password of ${name} changed`);
      });
    });

  user
    .command('quota')
    .description("set a user's disk quota")
    .argument('<name>', 'user name')
    .argument('<size>', SIZE_HELP, sizeArgument)
    .action(async (name: string, size: number, _flags: unknown, command: Command) => {
      await withClient(command, async (client) => {
        await client.setQuota(name, size);
        print(`quota of ${name} set to ${formatBytes(size)}`);
      });
    });

  user
    .command('role')
    .description("set a user's role (viewer < operator < admin)")
    .argument('<name>', 'user name')
    .addArgument(new Argument('<role>', 'new role').choices(ROLES))
    .action(async (name: string, role: Role, _flags: unknown, command: Command) => {
      await withClient(command, async (client) => {
        await client.setRole(name, role);
        print(`role of ${name} set to ${role}`);
      });
    });

  user
    .command('del')
    .description('delete a user (the files in its home directory are kept)')
    .argument('<name>', 'user name')
    .action(async (name: string, _flags: unknown, command: Command) => {
      await withClient(command, async (client) => {
        await client.deleteUser(name);
        print(`deleted user ${name}`);
      });
    });

  user
    .command('list')
    .description('list users')
    .option('--json', 'print JSON (an array of {name, role, quotaBytes, createdAt}) for scripts')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const users = await client.listUsers();
        if (flags.json === true) print(JSON.stringify(users));
        else if (users.length === 0) print('no users yet; add one with "gridlink admin user add NAME"');
        else userTable(users).forEach(print);
      });
    });
}

/**
 * `gridlink admin [--data DIR] status | reload | user …` (docs/protocol.md §6, README.md "Quick tour"): administers the
 * server running on DIR through `DIR/admin.sock`. Whoever may open that
 * socket (mode 0600: the server's own user) is the administrator; there is
 * no login.
 */
export function registerAdmin(program: Command): void {
  const admin = program
    .command('admin')
    .description('administer the running server through its local socket <data>/admin.sock')
    // The default shown as a path, not as a JSON string.
    .addOption(new Option('--data <dir>', 'data directory of the running server').default(DEFAULT_DATA_DIR, DEFAULT_DATA_DIR));

  admin
    .command('status')
    .description('show uptime, connections and transfers')
    .option('--json', 'print JSON for scripts')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const status = await client.status();
        if (flags.json === true) print(JSON.stringify(status));
        else statusLines(status).forEach(print);
      });
    });

  admin
    .command('announce')
    .description('announce to every chat room (legacy UDP members see "管理员: TEXT")')
    .argument('<text...>', 'the announcement')
    .action(async (words: string[], _flags: unknown, command: Command) => {
      await withClient(command, async (client) => {
        const rooms = await client.announce(words.join(' '));
        print(`announced to ${rooms} room${rooms === 1 ? '' : 's'}`);
      });
    });

  admin
    .command('kick')
    .description('remove a nickname from every chat room')
    .argument('<name>', 'nickname')
    .action(async (name: string, _flags: unknown, command: Command) => {
      await withClient(command, async (client) => {
        const kicked = await client.kick(name);
        if (kicked === 0) throw new GridlinkError('GL_ERR_CHAT_NO_SUCH_MEMBER', name);
        print(`kicked ${name} from ${kicked} room${kicked === 1 ? '' : 's'}`);
      });
    });

  admin
    .command('reload')
    .description('re-read the config file and apply what can change live (log level, quotas, SCADA devices and points); name the rest as needing a restart')
    .option('--json', 'print the reply as JSON for scripts')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withClient(command, async (client) => {
        const report = await client.reload();
        if (flags.json === true) print(JSON.stringify(report));
        else reloadLines(report).forEach(print);
      });
    });

  registerUser(admin);
}

/** What `gridlink admin reload` prints (docs/configuration.md "Reload"). */
function reloadLines(report: ReloadReply): string[] {
  const lines: string[] = [];
  if (report.applied.length === 0 && report.restartNeeded.length === 0) lines.push('configuration reloaded: nothing changed');
  if (report.applied.length > 0) lines.push(`applied: ${report.applied.join(', ')}`);
  const scada = report.scada;
  if (scada !== undefined) {
    const list = (count: number, names: readonly string[]): string => (count === 0 ? '0' : `${count} (${names.join(', ')}${count > names.length ? ', …' : ''})`);
    const { devices, points, names } = scada;
    lines.push(`  devices: added ${list(devices.added, names.devicesAdded)}, restarted ${list(devices.restarted, names.devicesRestarted)}, removed ${list(devices.removed, names.devicesRemoved)}, unchanged ${devices.unchanged}`);
    lines.push(`  points: added ${list(points.added, names.pointsAdded)}, removed ${list(points.removed, names.pointsRemoved)}, changed ${points.changed}`);
  }
  if (report.restartNeeded.length > 0) lines.push(`needs a restart (not applied): ${report.restartNeeded.join(', ')}`);
  for (const warning of report.warnings) lines.push(`note: ${warning}`);
  return lines;
}
