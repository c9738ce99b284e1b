import { computeProof, deriveClientKeys } from '../accounts/credentials.js';
import { GridlinkError } from '../errors/index.js';
import type { ReplyOf } from '../protocol/v1.js';
import type { NativeChannel } from './native-channel.js';

/** The session itself (docs/protocol.md §3.1) and logging in (§3.2). */
export class SessionClient {
  readonly #channel: NativeChannel;

  constructor(channel: NativeChannel) {
    this.#channel = channel;
  }

  hello(): Promise<ReplyOf<'hello'>> {
    return this.#channel.request('hello', {});
  }

  async ping(): Promise<void> {
    await this.#channel.request('ping', {});
  }

  /**
   * Logs in with the challenge–response of docs/protocol.md §3.2: the password
   * never leaves this process, so this is safe on any connection.
   */
  async login(user: string, password: string): Promise<ReplyOf<'auth.proof'>> {
    const challenge = await this.#channel.request('auth.challenge', { user });
    const nonce = Buffer.from(challenge.nonce, 'base64');
    const salt = Buffer.from(challenge.salt, 'base64');
    const { N, r, p } = challenge;
    // A hostile server must not make us burn memory or time: bound its cost.
    const sane = (v: number, max: number): boolean => v >= 1 && v <= max;
    if (nonce.length < 32 || salt.length < 8 || !sane(N, 1 << 20) || (N & (N - 1)) !== 0 || !sane(r, 32) || !sane(p, 16)) {
      throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', 'the server sent an implausible login challenge');
    }
    const { clientKey, storedKey } = await deriveClientKeys(password, salt, { N, r, p });
    const proof = computeProof(clientKey, storedKey, nonce).toString('base64');
    return this.#channel.request('auth.proof', { proof });
  }

  /** Logs in by sending the password (the server accepts it only over TLS or loopback). */
  loginWithPassword(user: string, password: string): Promise<ReplyOf<'auth.password'>> {
    return this.#channel.request('auth.password', { user, password });
  }
}
