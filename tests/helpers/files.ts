import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';

/** Writes `size` random bytes to `path` and returns their SHA-256. */
export async function writeRandomFile(path: string, size: number): Promise<string> {
  const chunk = 1024 * 1024;
  const hash = createHash('sha256');
  const parts: Buffer[] = [];
  for (let done = 0; done < size; done += chunk) parts.push(randomBytes(Math.min(chunk, size - done)));
  const data = Buffer.concat(parts);
  hash.update(data);
  await writeFile(path, data);
  return hash.digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
