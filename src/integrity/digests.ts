import { createHash, timingSafeEqual, type Hash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { CHUNK_BYTES } from '../transport/buffer-sizes.js';

/** The checksums of one transfer: SHA-256 always, MD5 when a client asks (SPEC §4). */
export interface DigestResult {
  readonly sha256: string;
  readonly md5?: string;
}

/** Running SHA-256 (and optionally MD5) over the bytes of a transfer. */
export class Digests {
  readonly #sha256: Hash = createHash('sha256');
  readonly #md5: Hash | null;

  constructor(withMd5: boolean) {
    this.#md5 = withMd5 ? createHash('md5') : null;
  }

  update(chunk: Uint8Array): void {
    this.#sha256.update(chunk);
    this.#md5?.update(chunk);
  }

  /** Feeds a whole stream (e.g. the already-stored prefix of a resumed transfer). */
  async updateFrom(stream: Readable): Promise<void> {
    for await (const chunk of stream) this.update(chunk as Buffer);
  }

  /** A pass-through stream that hashes what flows through it. */
  tap(): Transform {
    return new Transform({
      highWaterMark: CHUNK_BYTES,
      transform: (chunk: Buffer, _encoding, callback) => {
        this.update(chunk);
        callback(null, chunk);
      },
    });
  }

  digest(): DigestResult {
    const sha256 = this.#sha256.digest('hex');
    return this.#md5 === null ? { sha256 } : { sha256, md5: this.#md5.digest('hex') };
  }
}

/** Compares two hex digests in constant time (case-insensitive). */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a.toLowerCase(), 'utf8');
  const y = Buffer.from(b.toLowerCase(), 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
