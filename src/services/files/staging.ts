import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where uploads live until they are complete and verified (SPEC §4 "atomic"):
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

  /** The resumable partial file of an upload of `length` bytes to `path` in area `areaKey`. */
  partialPath(areaKey: string, path: string, length: number): string {
    const key = createHash('sha256').update(`${areaKey}\0${path}\0${length}`).digest('hex');
    return join(this.partialDir, `${key}.part`);
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
