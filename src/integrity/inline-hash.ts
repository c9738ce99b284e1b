import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { IHasher } from 'hash-wasm';
import xxhash128 from 'hash-wasm/dist/xxhash128.umd.min.js';
import { FILE_IO_BYTES } from '../units/buffer-sizes.js';
import type { DigestName, Digests } from './digests.js';

interface Running {
  update(chunk: Uint8Array): void;
  hex(): string;
}

function nodeHash(name: 'sha256' | 'md5'): Running {
  const hash: Hash = createHash(name);
  return { update: (chunk) => void hash.update(chunk), hex: () => hash.digest('hex') };
}

function wasmHash(hasher: IHasher): Running {
  hasher.init();
  return { update: (chunk) => void hasher.update(chunk), hex: () => hasher.digest('hex') };
}

/**
 * The digests of one transfer, computed on the bytes as they pass
 * (docs/protocol.md §3.3, "Digests"): the receiver hashes each chunk before
 * it writes it, the sender each chunk it has read, so a file is read once
 * and never again to check it. XXH3-128 is hash-wasm's streaming
 * implementation; SHA-256 and MD5 are node:crypto's. Synchronous on the
 * caller's thread: XXH3-128 costs a fraction of the copy the bytes already
 * take, and SHA-256 is what a client asked for.
 */
export class InlineHash {
  readonly names: readonly DigestName[];
  readonly #running: Running[];
  #bytes = 0;
  #done = false;

  private constructor(names: readonly DigestName[], running: Running[]) {
    this.names = names;
    this.#running = running;
  }

  static async create(names: readonly DigestName[]): Promise<InlineHash> {
    const running: Running[] = [];
    for (const name of names) running.push(name === 'xxh128' ? wasmHash(await xxhash128.createXXHash128()) : nodeHash(name));
    return new InlineHash(names, running);
  }

  /** Bytes hashed so far. */
  get bytes(): number {
    return this.#bytes;
  }

  update(chunk: Uint8Array): void {
    if (this.#done) throw new Error('digest already taken');
    for (const hash of this.#running) hash.update(chunk);
    this.#bytes += chunk.length;
  }

  /** The digests of everything hashed (once). */
  digest(): Digests {
    this.#done = true;
    const out: Record<string, string> = {};
    this.names.forEach((name, i) => (out[name] = this.#running[i]!.hex()));
    return out;
  }

  /**
   * Hashes bytes [start, end) of an open file, read once into one reused
   * buffer: the prefix of a resumed transfer, or a file sent without its
   * digest known. Throws if the file is shorter than `end`.
   */
  async hashFile(handle: FileHandle, start: number, end: number): Promise<void> {
    if (end <= start) return;
    const buffer = Buffer.allocUnsafeSlow(Math.min(FILE_IO_BYTES, end - start));
    for (let position = start; position < end; ) {
      const want = Math.min(buffer.length, end - position);
      const { bytesRead } = await handle.read(buffer, 0, want, position);
      if (bytesRead === 0) throw new Error(`file ended at ${position}, expected ${end} bytes`);
      this.update(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
  }
}
