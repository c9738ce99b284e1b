import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where uploads live until they are complete and verified (docs/protocol.md §3.3 "atomic"):
 * `<data>/staging/partial/` holds resumable uploads under a name derived from
 * (area, path, length), `<data>/staging/tmp/` holds one-shot legacy uploads.
 * Nothing here is reachable through any protocol, so a half-written file is
 * never visible as a finished one; a rename moves it into place.
 */
export class Staging {
  readonly partialDir: string;
  readonly tmpDir: string;

  constructor(dataDir: string) {
    this.partialDir = join(dataDir, 'staging', 'partial');
    this.tmpDir = join(dataDir, 'staging', 'tmp');
  }

  async init(): Promise<void> {
    await mkdir(this.partialDir, { recursive: true, mode: 0o700 });
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    // One-shot temp files of a previous run can never complete: drop them.
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
  }

  /**
   * The resumable partial file of an upload of `length` bytes to `path` in
   * area `areaKey`: `<area>-<path>-<length>.part`, hashed, so the name reveals
   * nothing yet the partials of one area can be found (for its quota).
   */
  partialPath(areaKey: string, path: string, length: number): string {
    return join(this.partialDir, `${areaPrefix(areaKey)}${hex(path).slice(0, 40)}-${length}.part`);
  }

  /**
   * The partial file of an open-ended upload to `path` in area `areaKey`
   * (an FTP STOR or APPE: no length up front, see stream-upload.ts):
   * `<area>-<path>-stream.part`, one per name, so a cut upload is found
   * again by name alone. Same prefix as {@link partialPath}: it counts
   * against the area's quota like any other unfinished upload.
   */
  streamPartialPath(areaKey: string, path: string): string {
    return join(this.partialDir, `${areaPrefix(areaKey)}${hex(path).slice(0, 40)}-stream.part`);
  }

  /** Bytes held by the partial uploads of an area, except the file `exclude`. */
  async partialBytes(areaKey: string, exclude?: string): Promise<number> {
    const prefix = areaPrefix(areaKey);
    let total = 0;
    for (const name of await readdir(this.partialDir)) {
      const path = join(this.partialDir, name);
      if (!name.startsWith(prefix) || path === exclude) continue;
      total += (await stat(path).catch(() => ({ size: 0 }))).size;
    }
    return total;
  }

  /** A fresh name for a one-shot upload. */
  tempPath(): string {
    return join(this.tmpDir, `${randomUUID()}.tmp`);
  }

  /** Removes partial uploads untouched for longer than `maxAgeMs`; returns how many. */
  async sweep(maxAgeMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.partialDir)) {
      const path = join(this.partialDir, name);
      const info = await stat(path).catch(() => null);
      if (info !== null && now - info.mtimeMs > maxAgeMs) {
        await rm(path, { force: true });
        removed += 1;
      }
    }
    return removed;
  }
}

function hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function areaPrefix(areaKey: string): string {
  return `${hex(areaKey).slice(0, 16)}-`;
}
