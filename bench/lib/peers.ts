import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
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
}

export interface GridlinkServer extends RunningServer {
  /** Where the anonymous area keeps uploaded files (`<dataDir>/public`). */
  readonly anonymousDir: string;
}

/** Runs `node bin/gridlink.js serve` with an anonymous, writable area and quiet logs. */
export async function startGridlink(options: GridlinkServerOptions): Promise<GridlinkServer> {
  const port = await freePort();
  const dataDir = join(options.dir, 'data');
  const configPath = join(options.dir, 'gridlink.json');
  const config = {
    dataDir,
    native: { host: LOOPBACK, port },
    anonymous: { enabled: true, writable: true },
    log: { level: 'warn' },
    ...options.config,
  };
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const server = new ServerProcess('gridlink', process.execPath, [join(REPO_ROOT, 'bin', 'gridlink.js'), 'serve', '--config', configPath], { cwd: REPO_ROOT });
  await server.waitForPort(LOOPBACK, port);
  return { process: server, port, anonymousDir: join(dataDir, 'public') };
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
  const configPath = join(dir, 'vsftpd.conf');
  await writeFile(configPath, vsftpdConfig(port, root, emptyDir, join(dir, 'vsftpd.log')));
  const server = new ServerProcess('vsftpd', '/usr/sbin/vsftpd', [configPath]);
  await server.waitForPort(LOOPBACK, port);
  return { process: server, port, baseUrl: `ftp://${LOOPBACK}:${port}/pub/`, loginArgs: [], filesDir };
}

function vsftpdConfig(port: number, anonRoot: string, emptyDir: string, logFile: string): string {
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
    anonymous_enable: 'YES',
    local_enable: 'NO',
    no_anon_password: 'YES',
    anon_root: anonRoot,
    anon_upload_enable: 'YES',
    anon_other_write_enable: 'YES',
    // Anonymous users may only download world-readable files: make uploads so.
    anon_umask: '022',
    ftp_username: 'ftp',
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

async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
  }
  throw new Error(`no "${name}" user in /etc/passwd (the vsftpd package creates it; reinstall vsftpd)`);
}
