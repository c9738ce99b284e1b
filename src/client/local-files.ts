import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { GridlinkError } from '../errors/index.js';

/**
 * The client side of a resumable download: bytes go to `<local>.gridlink-part`
 * and what they belong to is kept in `<local>.gridlink-part.json`, so a rerun
 * of the same command continues where the last one stopped (docs/protocol.md
 * §3.3, "Download").
 */
export interface PartialDownload {
  readonly partPath: string;
  readonly metaPath: string;
  /** Bytes already held, 0 when starting afresh. */
  readonly offset: number;
  /** What the server reported when the download began; absent when starting afresh. */
  readonly ifMatch?: { readonly length: number; readonly mtimeMs: number } | undefined;
}

/** What `<local>.gridlink-part.json` holds. */
const partMeta = z.object({ remote: z.string(), length: z.number().int(), mtimeMs: z.number() });
type PartMeta = z.infer<typeof partMeta>;

export async function findPartialDownload(local: string, remote: string): Promise<PartialDownload> {
  const partPath = `${local}.gridlink-part`;
  const metaPath = `${partPath}.json`;
  const [meta, part] = await Promise.all([readMeta(metaPath), stat(partPath).catch(() => null)]);
  if (meta === null || part === null || meta.remote !== remote || part.size > meta.length) {
    await forgetPartialDownload({ partPath, metaPath, offset: 0 });
    return { partPath, metaPath, offset: 0 };
  }
  return { partPath, metaPath, offset: part.size, ifMatch: { length: meta.length, mtimeMs: meta.mtimeMs } };
}

export async function rememberPartialDownload(partial: PartialDownload, remote: string, length: number, mtimeMs: number): Promise<void> {
  const meta: PartMeta = { remote, length, mtimeMs };
  await writeFile(partial.metaPath, JSON.stringify(meta));
}

export async function forgetPartialDownload(partial: PartialDownload): Promise<void> {
  await Promise.all([rm(partial.partPath, { force: true }), rm(partial.metaPath, { force: true })]);
}

async function readMeta(path: string): Promise<PartMeta | null> {
  try {
    const parsed = partMeta.safeParse(JSON.parse(await readFile(path, 'utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // Missing or damaged: start afresh.
  }
  return null;
}

/** Size of a local regular file to upload; a clear error otherwise. */
export async function localFileLength(path: string): Promise<number> {
  const info = await stat(path).catch((cause: unknown) => {
    throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `${path}: ${messageOf(cause)}`, { cause });
  });
  if (!info.isFile()) throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `${path} is not a regular file`);
  return info.size;
}


/** The message of something thrown, which need not be an Error. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
