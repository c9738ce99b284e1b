import { MAX_APDU_BYTES, MAX_APDU_LENGTH, MIN_APDU_LENGTH, START_BYTE } from './apci.js';
import { Iec104CodecError } from './errors.js';

/**
 * Cuts a TCP byte stream into whole APDUs (docs/iec104.md "APCI"): feed it
 * chunks as they are read, in any sizes; it calls `onApdu` once per APDU, in
 * order. Pure: no socket, no timers, no stream machinery.
 *
 * - An APDU inside one chunk is handed on as a zero-copy view of that chunk;
 *   only an APDU split across chunks is copied (into a fresh buffer, so the
 *   consumer may keep it).
 * - The start byte and the length octet are checked as soon as they arrive,
 *   before the body is waited for; so at most one APDU (255 bytes) is ever
 *   held, whatever the peer sends.
 * - After an error framing is lost: `push` keeps throwing the same error and
 *   the connection should be closed. APDUs before the bad byte were delivered.
 */
export class ApduSplitter {
  readonly #onApdu: (apdu: Buffer) => void;
  /** The APDU being assembled across chunks: its first `#held` bytes. */
  readonly #partial = Buffer.allocUnsafe(MAX_APDU_BYTES);
  #held = 0;
  #failure: Error | null = null;
  #apdus = 0;

  constructor(onApdu: (apdu: Buffer) => void) {
    this.#onApdu = onApdu;
  }

  /** APDUs handed on so far. */
  get apduCount(): number {
    return this.#apdus;
  }

  /** Bytes of an incomplete APDU waiting for the next chunk (0 between APDUs). */
  get pending(): number {
    return this.#held;
  }

  /**
   * Takes the next chunk of the stream. Throws {@link Iec104CodecError}
   * `bad_start_byte` or `bad_length`; an error thrown by `onApdu` also
   * propagates, and fails the splitter the same way.
   */
  push(chunk: Uint8Array): void {
    if (this.#failure !== null) throw this.#failure;
    try {
      this.#split(chunk);
    } catch (error) {
      this.#failure = error instanceof Error ? error : new Error(String(error));
      this.#held = 0;
      throw this.#failure;
    }
  }

  /** Says the stream ended; throws `truncated` if it ended inside an APDU. */
  end(): void {
    if (this.#failure !== null) throw this.#failure;
    if (this.#held > 0) {
      this.#failure = new Iec104CodecError('truncated', `stream ended ${this.#held} bytes into an APDU`);
      throw this.#failure;
    }
  }

  #split(chunk: Uint8Array): void {
    const size = chunk.length;
    let pos = 0;
    if (this.#held > 0) {
      pos = this.#completePartial(chunk);
      if (this.#held > 0) return; // the chunk ended first
    }
    while (pos < size) {
      if (chunk[pos] !== START_BYTE) throw badStart(chunk[pos]!);
      if (pos + 1 === size) {
        this.#partial[0] = START_BYTE;
        this.#held = 1;
        return;
      }
      const total = 2 + checkLength(chunk[pos + 1]!);
      if (pos + total > size) {
        this.#partial.set(chunk.subarray(pos), 0);
        this.#held = size - pos;
        return;
      }
      this.#deliver(view(chunk, pos, total));
      pos += total;
    }
  }

  /** Moves bytes of `chunk` into the held APDU; delivers it once whole. Returns the bytes taken. */
  #completePartial(chunk: Uint8Array): number {
    let pos = 0;
    if (this.#held === 1) {
      if (chunk.length === 0) return 0;
      this.#partial[1] = checkLength(chunk[0]!);
      this.#held = 2;
      pos = 1;
    }
    const total = 2 + this.#partial[1]!;
    const take = Math.min(total - this.#held, chunk.length - pos);
    this.#partial.set(chunk.subarray(pos, pos + take), this.#held);
    this.#held += take;
    pos += take;
    if (this.#held === total) {
      this.#held = 0;
      this.#deliver(Buffer.from(this.#partial.subarray(0, total)));
    }
    return pos;
  }

  #deliver(apdu: Buffer): void {
    this.#apdus += 1;
    this.#onApdu(apdu);
  }
}

function checkLength(length: number): number {
  if (length < MIN_APDU_LENGTH || length > MAX_APDU_LENGTH) {
    throw new Iec104CodecError('bad_length', `length octet ${length} is outside ${MIN_APDU_LENGTH}..${MAX_APDU_LENGTH}`);
  }
  return length;
}

function badStart(byte: number): Iec104CodecError {
  return new Iec104CodecError('bad_start_byte', `0x${byte.toString(16).padStart(2, '0')} instead of 0x68`);
}

function view(chunk: Uint8Array, start: number, length: number): Buffer {
  return Buffer.from(chunk.buffer, chunk.byteOffset + start, length);
}
