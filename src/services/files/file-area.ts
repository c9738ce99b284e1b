import { constants, type Stats } from 'node:fs';
import { lstat, open, readlink, realpath, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { GridlinkError, fromSystemError } from '../../errors/index.js';
import { printable, resolveAreaPath } from './path-rules.js';

/** A file opened for reading inside an area, with the stat taken on the open descriptor. */
export interface OpenedFile {
  readonly handle: FileHandle;
  readonly stats: Stats;
  readonly path: string;
}

/**
 * A directory tree that clients are confined to: the anonymous area (SPEC §2.1)
 * or a user's home (SPEC §4). Paths come in as client strings, are normalised
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

  constructor(key: string, root: string, writable: boolean) {
    this.key = key;
    this.writable = writable;
    this.#root = root;
  }

  /** Resolves the root once (it may itself be reached through a link). */
  async init(): Promise<void> {
    this.#root = await realpath(this.#root);
  }

  get root(): string {
    return this.#root;
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
   * readers see either the old file or the new one, never a mix (SPEC §4).
   */
  async commit(stagedPath: string, relative: string): Promise<void> {
    await this.checkWritable(relative);
    const parent = await this.realParent(relative);
    const target = join(parent, basename(relative));
    try {
      await rename(stagedPath, target);
    } catch (err) {
      throw fromSystemError(err, printable(relative));
    }
    // A parent swapped for a link between the check and the rename would have
    // carried the file outside: detect it and take the file back out.
    const after = await realpath(parent).catch(() => null);
    if (after === null || !this.contains(after)) {
      await rm(target, { force: true });
      throw new GridlinkError('GL_ERR_PATH_FORBIDDEN', `${printable(relative)}: a parent was replaced by a link`);
    }
    await fsyncDirectory(parent);
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
