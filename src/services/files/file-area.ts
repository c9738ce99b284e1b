import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, realpath, rename, rm, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { GridlinkError, fromSystemError } from '../../errors/index.js';
import type { EntryInfo } from '../../protocol/v1.js';
import { printable, resolveAreaPath } from './path-rules.js';

/** A file opened for reading inside an area, with the stat taken on the open descriptor. */
export interface OpenedFile {
  readonly handle: FileHandle;
  readonly stats: Stats;
  readonly path: string;
}

/** What {@link FileArea.makeDirectory} tells its caller as it goes. */
export interface DirectoryHooks {
  readonly beforeCreate?: (missing: number) => void;
  readonly created?: () => void;
}

/**
 * A directory tree that clients are confined to: the anonymous area (docs/protocol.md §2)
 * or a user's home (docs/protocol.md §3.3). Paths come in as client strings, are normalised
 * by {@link resolveAreaPath}, and every filesystem access is then checked
 * against the area's real root, so symlinks cannot lead outside:
 *
 * - reads open first, then check the real path of the *open descriptor*
 *   (`/proc/self/fd/N`), which a symlink swapped in later cannot change;
 * - writes resolve the parent's real path, rename into it, and check again
 *   after the rename, undoing it if a parent was swapped for a link meanwhile.
 */
export class FileArea {
  /** Stable identifier, used to key partial uploads. */
  readonly key: string;
  readonly writable: boolean;
  #root = '';
  /** The end of the queue of changes to this area (see {@link exclusive}). */
  #mutations: Promise<unknown> = Promise.resolve();

  /** Told of each regular file this area deletes or replaces (its last link), e.g. to drop its digest sidecar. */
  readonly #onFileGone: ((stats: Stats) => void) | null;

  constructor(key: string, root: string, writable: boolean, onFileGone: ((stats: Stats) => void) | null = null) {
    this.key = key;
    this.writable = writable;
    this.#root = root;
    this.#onFileGone = onFileGone;
  }

  /** Resolves the root once (it may itself be reached through a link). */
  async init(): Promise<void> {
    this.#root = await realpath(this.#root);
  }

  get root(): string {
    return this.#root;
  }

  /**
   * Runs `work` when every change queued before it on this area has ended.
   * Commits, removals, moves and new directories go through here, so the
   * quota ledger settles each against the area as it really is at that
   * moment: no interleaving of put, mv and rm on one name can make the
   * usage it records differ from the disk.
   */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#mutations.then(work, work);
    this.#mutations = run.catch(() => undefined);
    return run;
  }

  /** The size of the regular file at `relative` now, or null when there is none (used by commits). */
  async fileSize(relative: string): Promise<number | null> {
    const target = join(await this.realParent(relative), basename(relative));
    const info = await lstat(target).catch(() => null);
    return info?.isFile() === true ? info.size : null;
  }

  /** Normalises a client path; see {@link resolveAreaPath}. */
  resolve(input: unknown, cwd = '', allowAbsolute = true): string {
    return resolveAreaPath(input, cwd, allowAbsolute);
  }

  /** The absolute filesystem path of a normalised area path. */
  fullPath(relative: string): string {
    return relative === '' ? this.#root : join(this.#root, relative);
  }

  /** True when `real` is the root or below it. */
  contains(real: string): boolean {
    return real === this.#root || real.startsWith(this.#root + sep);
  }

  /** Opens a regular file for reading; refuses directories, devices and anything outside. */
  async openForRead(relative: string): Promise<OpenedFile> {
    const path = this.fullPath(relative);
    let handle: FileHandle;
    try {
      // O_NONBLOCK: opening a FIFO planted in the area must not hang the server.
      handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      throw fromSystemError(err, printable(relative));
    }
    try {
      await this.#checkDescriptor(handle, relative);
      const stats = await handle.stat();
      if (stats.isDirectory()) throw new GridlinkError('GL_ERR_FILE_IS_DIRECTORY', printable(relative));
      if (!stats.isFile()) throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `${printable(relative)} is not a regular file`);
      return { handle, stats, path: relative };
    } catch (err) {
      await handle.close();
      throw fromSystemError(err, printable(relative));
    }
  }

  /** Stat of an entry (not following a final symlink), confined to the area. */
  async stat(relative: string): Promise<Stats> {
    const parent = await this.realParent(relative);
    try {
      return await lstat(join(parent, basename(this.fullPath(relative))));
    } catch (err) {
      throw fromSystemError(err, printable(relative));
    }
  }

  /**
   * Real path of the directory that holds `relative`, checked to be inside the
   * area. Fails with GL_ERR_FILE_NOT_FOUND when the directory does not exist.
   */
  async realParent(relative: string): Promise<string> {
    if (relative === '') throw new GridlinkError('GL_ERR_PATH_INVALID', 'the area root has no parent');
    let real: string;
    try {
      real = await realpath(dirname(this.fullPath(relative)));
    } catch (err) {
      const mapped = fromSystemError(err, `parent directory of ${printable(relative)}`);
      throw mapped;
    }
    if (!this.contains(real)) {
      throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `${printable(relative)} leads outside through a link`);
    }
    return real;
  }

  /**
   * Checks that a file can be stored at `relative` (writable area, parent exists
   * inside, target not a directory) before any byte is accepted.
   */
  async checkWritable(relative: string): Promise<void> {
    if (!this.writable) throw new GridlinkError('GL_ERR_FILE_READ_ONLY');
    if (relative === '') throw new GridlinkError('GL_ERR_FILE_IS_DIRECTORY', 'the area root');
    const parent = await this.realParent(relative);
    const existing = await lstat(join(parent, basename(relative))).catch(() => null);
    if (existing?.isDirectory() === true) {
      throw new GridlinkError('GL_ERR_FILE_IS_DIRECTORY', printable(relative));
    }
  }

  /**
   * Moves a complete, verified staged file to `relative` in one rename, so
   * readers see either the old file or the new one, never a mix (docs/protocol.md §3.3).
   * `durable`: fsync the directory so the rename itself survives a power cut
   * (the caller has already synced the file). Without it nothing is synced:
   * on ext4 a directory fsync right after the rename also forces the file's
   * data out, which is the very cost `files.durable: false` opts out of.
   */
  async commit(stagedPath: string, relative: string, durable: boolean): Promise<void> {
    await this.checkWritable(relative);
    const parent = await this.realParent(relative);
    const target = join(parent, basename(relative));
    const previous = await lstat(target).catch(() => null);
    try {
      await rename(stagedPath, target);
    } catch (err) {
      throw fromSystemError(err, printable(relative));
    }
    if (previous !== null) this.#gone(previous);
    // A parent swapped for a link between the check and the rename would have
    // carried the file outside: detect it and take the file back out.
    const after = await realpath(parent).catch(() => null);
    if (after === null || !this.contains(after)) {
      await rm(target, { force: true });
      throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `${printable(relative)}: a parent was replaced by a link`);
    }
    if (durable) await fsyncDirectory(parent);
  }

  /** Real path of a directory inside the area ('' is the root). */
  async realDirectory(relative: string): Promise<string> {
    let real: string;
    try {
      real = await realpath(this.fullPath(relative));
    } catch (err) {
      throw fromSystemError(err, printable(relative === '' ? '/' : relative));
    }
    if (!this.contains(real)) throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `${printable(relative)} leads outside through a link`);
    const info = await lstat(real);
    if (!info.isDirectory()) throw new GridlinkError('GL_ERR_FILE_NOT_DIRECTORY', printable(relative));
    return real;
  }

  /** Lists a directory: at most `limit` entries, sorted by name. */
  async list(relative: string, limit = 10_000): Promise<{ entries: EntryInfo[]; truncated: boolean }> {
    const dir = await this.realDirectory(relative);
    const names = (await readdir(dir)).sort();
    const entries: EntryInfo[] = [];
    for (const name of names.slice(0, limit)) {
      const info = await lstat(join(dir, name)).catch(() => null);
      if (info === null) continue; // removed meanwhile
      entries.push({ name, type: entryType(info), length: info.size, mtimeMs: info.mtimeMs });
    }
    return { entries, truncated: names.length > limit };
  }

  /**
   * Creates a directory; with `parents`, every missing one on the way (mkdir -p).
   * Walks one name at a time from the root, checking each real path, so a link
   * inside the area can never make it create anything outside.
   * `hooks.beforeCreate` learns how many directories are missing before the
   * first is made, and may refuse (the entries limit); `hooks.created` hears
   * of each one made, also when a later step fails. Returns how many were made.
   */
  async makeDirectory(relative: string, parents: boolean, hooks: DirectoryHooks = {}): Promise<number> {
    if (!this.writable) throw new GridlinkError('GL_ERR_FILE_READ_ONLY');
    if (relative === '') {
      if (parents) return 0;
      throw new GridlinkError('GL_ERR_FILE_EXISTS', '/');
    }
    let created = 0;
    const names = relative.split('/');
    let current = this.#root;
    for (const [index, name] of names.entries()) {
      const last = index === names.length - 1;
      const next = join(current, name);
      const info = await lstat(next).catch(() => null);
      if (info === null) {
        if (!last && !parents) throw new GridlinkError('GL_ERR_FILE_NOT_FOUND', `${printable(names.slice(0, index + 1).join('/'))}; use parents to create it`);
        // The first missing name: it and every name after it will be created.
        if (created === 0) hooks.beforeCreate?.(names.length - index);
        try {
          await mkdir(next, { mode: 0o755 });
          created += 1;
          hooks.created?.();
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(err, printable(relative));
        }
      } else if (last && !parents) {
        throw new GridlinkError('GL_ERR_FILE_EXISTS', printable(relative));
      }
      const real = await realpath(next);
      if (!this.contains(real)) throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `${printable(relative)} leads outside through a link`);
      if (!(await lstat(real)).isDirectory()) throw new GridlinkError('GL_ERR_FILE_NOT_DIRECTORY', printable(names.slice(0, index + 1).join('/')));
      current = real;
    }
    return created;
  }

  /** Removes a file (or a link itself, never its target); returns the bytes freed. */
  async removeFile(relative: string): Promise<number> {
    if (!this.writable) throw new GridlinkError('GL_ERR_FILE_READ_ONLY');
    const target = join(await this.realParent(relative), basename(relative));
    const info = await lstat(target).catch((err: unknown) => {
      throw fromSystemError(err, printable(relative));
    });
    if (info.isDirectory()) throw new GridlinkError('GL_ERR_FILE_IS_DIRECTORY', `${printable(relative)}; use rmdir`);
    await unlink(target).catch((err: unknown) => {
      throw fromSystemError(err, printable(relative));
    });
    this.#gone(info);
    return info.isFile() ? info.size : 0;
  }

  #gone(stats: Stats): void {
    if (stats.isFile() && stats.nlink <= 1) this.#onFileGone?.(stats);
  }

  /** Removes an empty directory (never the area root). */
  async removeDirectory(relative: string): Promise<void> {
    if (!this.writable) throw new GridlinkError('GL_ERR_FILE_READ_ONLY');
    if (relative === '') throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', 'the root of your area cannot be removed');
    const target = join(await this.realParent(relative), basename(relative));
    const info = await lstat(target).catch((err: unknown) => {
      throw fromSystemError(err, printable(relative));
    });
    if (!info.isDirectory()) throw new GridlinkError('GL_ERR_FILE_NOT_DIRECTORY', printable(relative));
    await rmdir(target).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code;
      throw code === 'ENOTEMPTY' || code === 'EEXIST' ? new GridlinkError('GL_ERR_FILE_NOT_EMPTY', printable(relative)) : fromSystemError(err, printable(relative));
    });
  }

  /** Renames within the area; refuses to replace an existing entry. */
  async move(from: string, to: string): Promise<void> {
    if (!this.writable) throw new GridlinkError('GL_ERR_FILE_READ_ONLY');
    if (from === '' || to === '') throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', 'the root of your area cannot be moved');
    if (to === from || to.startsWith(`${from}/`)) throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `cannot move ${printable(from)} into itself`);
    const source = join(await this.realParent(from), basename(from));
    const targetParent = await this.realParent(to);
    const target = join(targetParent, basename(to));
    await lstat(source).catch((err: unknown) => {
      throw fromSystemError(err, printable(from));
    });
    if ((await lstat(target).catch(() => null)) !== null) throw new GridlinkError('GL_ERR_FILE_EXISTS', printable(to));
    await rename(source, target).catch((err: unknown) => {
      throw fromSystemError(err, `${printable(from)} -> ${printable(to)}`);
    });
    const after = await realpath(targetParent).catch(() => null);
    if (after === null || !this.contains(after)) {
      await rename(target, source).catch(() => undefined);
      throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `${printable(to)}: a parent was replaced by a link`);
    }
  }

  async #checkDescriptor(handle: FileHandle, relative: string): Promise<void> {
    let real: string;
    try {
      real = await readlink(`/proc/self/fd/${handle.fd}`);
    } catch {
      // No /proc (not Linux): fall back to the path's real path.
      real = await realpath(this.fullPath(relative));
    }
    if (!this.contains(real)) {
      throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `${printable(relative)} leads outside through a link`);
    }
  }
}

/** The protocol's name for an entry's type. */
export function entryType(info: Stats): EntryInfo['type'] {
  return info.isFile() ? 'file' : info.isDirectory() ? 'dir' : info.isSymbolicLink() ? 'link' : 'other';
}

/** Makes a rename durable: the directory entry itself must reach the disk. */
export async function fsyncDirectory(path: string): Promise<void> {
  const dir = await open(path, constants.O_RDONLY | constants.O_DIRECTORY).catch(() => null);
  if (dir === null) return;
  try {
    await dir.sync();
  } catch {
    // Some filesystems (tmpfs, some network mounts) refuse fsync on directories.
  } finally {
    await dir.close();
  }
}
