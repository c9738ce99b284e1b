import type { Stats } from 'node:fs';
import { chmod, lstat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { GridlinkError } from '../errors/index.js';

/**
 * Longest Unix socket path the kernel takes (sun_path less its NUL). Node
 * does not refuse a longer one: it silently truncates it and binds or
 * connects somewhere else, so both ends check first.
 */
const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

/** Only the owner may connect: filesystem permissions are the admin socket's authentication (docs/protocol.md §6). */
export const SOCKET_MODE = 0o600;

/** Refuses a socket path the kernel would truncate. */
export function checkSocketPath(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new GridlinkError('GL_ERR_ADMIN_SOCKET', `${path} is ${bytes} bytes; a Unix socket path may have at most ${MAX_SOCKET_PATH_BYTES}`);
  }
}

/** What sits at a socket path. */
export type SocketState = 'absent' | 'stale' | 'live';

/**
 * Finds out whether a server listens at `path`: `live` when a connection is
 * accepted (or the listener is merely busy), `stale` when the socket file is
 * left over from a server that died, `absent` when there is no file. Anything
 * else there (a regular file, someone else's socket) is refused, never removed.
 */
export async function probeSocket(path: string, timeoutMs = 2_000): Promise<SocketState> {
  const stats = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new GridlinkError('GL_ERR_ADMIN_SOCKET', `${path}: ${err.message}`, { cause: err });
  });
  if (stats === null) return 'absent';
  if (!stats.isSocket()) throw new GridlinkError('GL_ERR_ADMIN_SOCKET', `${path} exists and is not a socket`);
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    const done = (state: SocketState | Error): void => {
      clearTimeout(timer);
      socket.destroy();
      if (state instanceof Error) reject(state);
      else resolve(state);
    };
    // A server that accepts nothing for this long is still a server: never unlink it.
    const timer = setTimeout(() => done('live'), timeoutMs);
    socket.once('connect', () => done('live'));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') done('stale');
      else if (err.code === 'ENOENT') done('absent');
      else if (err.code === 'EAGAIN') done('live'); // backlog full
      else done(new GridlinkError('GL_ERR_ADMIN_SOCKET', `${path}: ${err.message}`, { cause: err }));
    });
  });
}

/** Removes a stale socket file; one already gone is fine. */
export async function removeStale(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw new GridlinkError('GL_ERR_ADMIN_SOCKET', `cannot remove stale ${path}: ${err.message}`, { cause: err });
  });
}

/**
 * Sets the socket's mode to {@link SOCKET_MODE} and checks the result: a
 * socket, owned by this process's user, connectable by nobody else. Returns
 * its identity, so that close removes this socket and not a successor's.
 */
export async function lockDown(path: string): Promise<Stats> {
  await chmod(path, SOCKET_MODE);
  const stats = await lstat(path);
  const uid = process.getuid?.();
  if (!stats.isSocket() || (stats.mode & 0o777) !== SOCKET_MODE || (uid !== undefined && stats.uid !== uid)) {
    throw new GridlinkError('GL_ERR_ADMIN_SOCKET', `${path} is not a socket of mode 0600 owned by this user after chmod`);
  }
  return stats;
}

/** Unlinks the socket file if it is still the one identified by `identity`. */
export async function removeIfSame(path: string, identity: Stats): Promise<void> {
  const now = await lstat(path).catch(() => null);
  if (now !== null && now.ino === identity.ino && now.dev === identity.dev) await unlink(path).catch(() => undefined);
}
