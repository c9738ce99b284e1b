import { access, chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, ServerProcess } from './processes.js';

/**
 * Starting and stopping the servers the benchmarks measure: gridlink itself
 * and the peers it is compared with. Each runs as a child on 127.0.0.1 with
 * all its state in a directory the caller owns (a temp dir).
 */

export const LOOPBACK = '127.0.0.1';

/** The repository root (this file is bench/lib/peers.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RunningServer {
  readonly process: ServerProcess;
  readonly port: number;
}

export interface GridlinkServerOptions {
  /** Data directory (and where the config file is written). */
  readonly dir: string;
  /** Extra top-level config keys, e.g. `{ files: { durable: false } }`. */
  readonly config?: Record<string, unknown>;
  /**
   * Enable a writable anonymous area (default true). With false the config has
   * no `anonymous` key: the shipped default, anonymous access off.
   */
  readonly anonymous?: boolean;
}

export interface GridlinkServer extends RunningServer {
  /** The server's data directory (`<dir>/data`). */
  readonly dataDir: string;
  /** Where the anonymous area keeps uploaded files (`<dataDir>/public`). */
  readonly anonymousDir: string;
}

/** Runs `node bin/gridlink.js serve` with quiet logs and (unless told otherwise) an anonymous, writable area. */
export async function startGridlink(options: GridlinkServerOptions): Promise<GridlinkServer> {
  const port = await freePort();
  const dataDir = join(options.dir, 'data');
  const configPath = join(options.dir, 'gridlink.json');
  const config = {
    dataDir,
    // Every client of a bench comes from 127.0.0.1: lift the per-address cap
    // (native.maxConnectionsPerAddress, 256 by default) meant for strangers.
    native: { host: LOOPBACK, port, maxConnectionsPerAddress: 20_000 },
    ...(options.anonymous === false ? {} : { anonymous: { enabled: true, writable: true } }),
    log: { level: 'warn' },
    // Only the native listener unless a bench asks for more: the web page
    // (:8000) and the simulator (:5020) are on by default and would collide
    // when a bench runs two servers side by side.
    http: { enabled: false },
    scada: { enabled: false },
    ...options.config,
  };
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const server = new ServerProcess('gridlink', process.execPath, [join(REPO_ROOT, 'bin', 'gridlink.js'), 'serve', '--config', configPath], { cwd: REPO_ROOT });
  await server.waitForPort(LOOPBACK, port);
  return { process: server, port, dataDir, anonymousDir: join(dataDir, 'public') };
}

/** The password the first start of a data directory gave `admin` (`<dataDir>/initial-admin-password`). */
export async function readInitialAdminPassword(dataDir: string): Promise<string> {
  const path = join(dataDir, 'initial-admin-password');
  const password = (await readFile(path, 'utf8')).trim();
  if (password === '') throw new Error(`${path} is empty`);
  return password;
}

/** Where a user's files live on disk: `<dataDir>/home/<user>`, created at its first login. */
export function gridlinkHomeDir(dataDir: string, user: string): string {
  return join(dataDir, 'home', user);
}

/** An FTP server as curl sees it. */
export interface FtpServer extends RunningServer {
  /** URL of the writable directory, ending in '/'. */
  readonly baseUrl: string;
  /** curl arguments for logging in (none for anonymous). */
  readonly loginArgs: readonly string[];
  /** The directory on disk behind `baseUrl`. */
  readonly filesDir: string;
}

/**
 * Runs vsftpd standalone with its own config. It serves anonymous FTP: as
 * root in a container that avoids PAM and local accounts entirely (root is in
 * /etc/ftpusers anyway). vsftpd's rules shape the layout: the anonymous root
 * is chrooted so it must not be writable; uploads go to `pub/`, owned by the
 * `ftp` user that the Debian package creates.
 */
export async function startVsftpd(dir: string): Promise<FtpServer> {
  const ftpUser = await systemUser('ftp');
  const root = join(dir, 'root');
  const filesDir = join(root, 'pub');
  const emptyDir = join(dir, 'empty');
  await mkdir(filesDir, { recursive: true });
  await mkdir(emptyDir);
  await chmod(root, 0o755);
  await chmod(emptyDir, 0o755);
  await chown(filesDir, ftpUser.uid, ftpUser.gid);
  const port = await freePort();
  const server = await runVsftpd(dir, port, emptyDir, {
    anonymous_enable: 'YES',
    local_enable: 'NO',
    no_anon_password: 'YES',
    anon_root: root,
    anon_upload_enable: 'YES',
    anon_other_write_enable: 'YES',
    // Anonymous users may only download world-readable files: make uploads so.
    anon_umask: '022',
    ftp_username: 'ftp',
  });
  return { process: server, port, baseUrl: `ftp://${LOOPBACK}:${port}/pub/`, loginArgs: [], filesDir };
}

/**
 * The local account the benchmarks log in to vsftpd with, and the file
 * holding its password: bench/run.sh creates both (keep the names in sync).
 */
export const LOCAL_FTP_USER = 'glbench';
export const LOCAL_FTP_PASSWORD_FILE = '/var/lib/gridlink-bench/glbench.password';

export interface LocalFtpServer extends FtpServer {
  readonly user: string;
  readonly password: string;
}

/**
 * Runs vsftpd standalone for the local user {@link LOCAL_FTP_USER}: a real
 * Unix account, logged in through PAM (`pam_service_name=vsftpd`, the
 * package's /etc/pam.d/vsftpd) and chrooted into `<dir>/root`, which it owns
 * (`allow_writeable_chroot`). The account's home is only entered on the way:
 * `local_root` moves the session (and its chroot) to our directory.
 */
export async function startVsftpdLocalUser(dir: string): Promise<LocalFtpServer> {
  const account = await systemUser(LOCAL_FTP_USER, 'bash bench/run.sh creates it (it also installs vsftpd and builds gridlink)');
  const password = await readFile(LOCAL_FTP_PASSWORD_FILE, 'utf8')
    .then((text) => text.trim())
    .catch((err: unknown) => {
      throw new Error(`cannot read ${LOCAL_FTP_PASSWORD_FILE} (bash bench/run.sh writes it): ${err instanceof Error ? err.message : String(err)}`);
    });
  if (password === '') throw new Error(`${LOCAL_FTP_PASSWORD_FILE} is empty; bash bench/run.sh rewrites it`);
  await access('/etc/pam.d/vsftpd').catch(() => {
    throw new Error('/etc/pam.d/vsftpd is missing: reinstall vsftpd (apt-get install --reinstall vsftpd)');
  });
  const root = join(dir, 'root');
  const emptyDir = join(dir, 'empty');
  await mkdir(root, { recursive: true });
  await mkdir(emptyDir);
  // The session enters `root` after it has become the user: the directories
  // on the way must be searchable by it, and temp dirs are created 0700. Only
  // ours (below the system temp dir) are opened up, and only for search.
  const tempRoot = resolve(tmpdir());
  for (let ancestor = resolve(dir); ancestor.startsWith(`${tempRoot}/`); ancestor = dirname(ancestor)) {
    await chmod(ancestor, 0o711);
  }
  await chown(root, account.uid, account.gid);
  await chmod(root, 0o755);
  await chmod(emptyDir, 0o755);
  const port = await freePort();
  const server = await runVsftpd(dir, port, emptyDir, {
    anonymous_enable: 'NO',
    local_enable: 'YES',
    chroot_local_user: 'YES',
    allow_writeable_chroot: 'YES',
    local_root: root,
    local_umask: '022',
    pam_service_name: 'vsftpd',
    // Explicitly unlimited: this vsftpd build refused a burst of 200 sessions
    // from 127.0.0.1 with "421 There are too many connections from your
    // internet address" when these were left out.
    max_clients: 0,
    max_per_ip: 0,
  });
  return { process: server, port, baseUrl: `ftp://${LOOPBACK}:${port}/`, loginArgs: ['--user', `${LOCAL_FTP_USER}:${password}`], filesDir: root, user: LOCAL_FTP_USER, password };
}

/** Writes `<dir>/vsftpd.conf` (common settings plus `modeSettings`) and starts vsftpd on it. */
async function runVsftpd(dir: string, port: number, emptyDir: string, modeSettings: Record<string, string | number>): Promise<ServerProcess> {
  const configPath = join(dir, 'vsftpd.conf');
  await writeFile(configPath, vsftpdConfig(port, emptyDir, join(dir, 'vsftpd.log'), modeSettings));
  const server = new ServerProcess('vsftpd', '/usr/sbin/vsftpd', [configPath]);
  await server.waitForPort(LOOPBACK, port);
  return server;
}

function vsftpdConfig(port: number, emptyDir: string, logFile: string, modeSettings: Record<string, string | number>): string {
  const settings: Record<string, string | number> = {
    listen: 'YES',
    listen_ipv6: 'NO',
    listen_address: LOOPBACK,
    listen_port: port,
    // Stay in the foreground so we own the process (and its group).
    background: 'NO',
    // The seccomp sandbox breaks in containers without the syscalls it expects.
    seccomp_sandbox: 'NO',
    write_enable: 'YES',
    ...modeSettings,
    // Our own empty dir: /var/run/vsftpd/empty may not exist in a container.
    secure_chroot_dir: emptyDir,
    pasv_enable: 'YES',
    pasv_address: LOOPBACK,
    // pasv_min_port/pasv_max_port are left unset (0): the kernel then picks a
    // free ephemeral port per transfer, which no fixed range can guarantee.
    connect_from_port_20: 'NO',
    xferlog_enable: 'NO',
    syslog_enable: 'NO',
    vsftpd_log_file: logFile,
  };
  return Object.entries(settings)
    .map(([key, value]) => `${key}=${value}\n`)
    .join('');
}

/**
 * Runs pyftpdlib (bench/lib/pyftpd-server.py) with a user that may write.
 * Uses the system Python, where the Debian package installs pyftpdlib
 * (`python3` on PATH may be another interpreter, e.g. a pyenv shim).
 */
export async function startPyftpdlib(dir: string): Promise<FtpServer> {
  const filesDir = join(dir, 'files');
  await mkdir(filesDir, { recursive: true });
  const script = join(REPO_ROOT, 'bench', 'lib', 'pyftpd-server.py');
  const server = new ServerProcess('pyftpdlib', '/usr/bin/python3', [script, '--host', LOOPBACK, '--root', filesDir, '--user', 'bench', '--password', 'bench']);
  const match = await server.waitForOutput(/^LISTENING (\d+)$/m);
  const port = Number(match[1]);
  return { process: server, port, baseUrl: `ftp://${LOOPBACK}:${port}/`, loginArgs: ['--user', 'bench:bench'], filesDir };
}

async function systemUser(name: string, hint = 'the vsftpd package creates it; reinstall vsftpd'): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
  }
  throw new Error(`no "${name}" user in /etc/passwd (${hint})`);
}

/** Mosquitto's settings that bench/chat-fanout.ts relies on. */
export interface MosquittoOptions {
  /**
   * Per client, outgoing messages mosquitto holds before it drops new ones
   * (for QoS 0 too, to a connected client: mosquitto 2.0 counts its outgoing
   * packet queue against this; the shipped default is 1,000).
   */
  readonly maxQueuedMessages: number;
}

/**
 * Runs the Debian package's mosquitto (MQTT broker) with its own config in
 * `dir`: one listener on loopback, anonymous clients, no persistence, only
 * warnings and errors logged (to stderr, which {@link ServerProcess} keeps).
 * TCP_NODELAY on, as gridlink sets it on its sockets. Started as root,
 * mosquitto drops to the package's `mosquitto` user after reading the config.
 */
export async function startMosquitto(dir: string, options: MosquittoOptions): Promise<RunningServer> {
  const port = await freePort();
  const configPath = join(dir, 'mosquitto.conf');
  const settings = [
    `listener ${port} ${LOOPBACK}`,
    'allow_anonymous true',
    `max_queued_messages ${options.maxQueuedMessages}`,
    'max_connections -1',
    'set_tcp_nodelay true',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'connection_messages false',
  ];
  await writeFile(configPath, settings.map((line) => `${line}\n`).join(''));
  const server = new ServerProcess('mosquitto', '/usr/sbin/mosquitto', ['-c', configPath]);
  await server.waitForPort(LOOPBACK, port);
  return { process: server, port };
}
