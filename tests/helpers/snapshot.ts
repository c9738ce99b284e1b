import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Every entry below `dir` with its content ('dir' / 'link' for those), to compare before and after. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    out[path] = entry.isFile() ? await readFile(path, 'utf8') : entry.isSymbolicLink() ? 'link' : 'dir';
  }
  return out;
}
