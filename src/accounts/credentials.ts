import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password and device-key credentials (docs/protocol.md §3.2), SCRAM-style (RFC 5802 with
 * SHA-256 and scrypt): the server stores only StoredKey = SHA-256(ClientKey),
 * so neither the password nor anything that logs in can be read from the
 * database. See docs/protocol.md §3.2.
 */
export interface StoredCredential {
  readonly salt: Buffer;
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly storedKey: Buffer;
}

/** scrypt cost: about 16 MiB and tens of milliseconds per derivation. */
export const SCRYPT_COST = { N: 16_384, r: 8, p: 1 } as const;
const KEY_BYTES = 32;

function scryptAsync(password: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { N: cost.N, r: cost.r, p: cost.p, maxmem: 256 * cost.N * cost.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))));
}

export interface DerivedKeys {
  readonly clientKey: Buffer;
  readonly storedKey: Buffer;
}

/** ClientKey and StoredKey from a password (or device key) and its salt. */
export async function deriveKeys(password: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<DerivedKeys> {
  const salted = await scryptAsync(password, salt, cost);
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return { clientKey, storedKey: createHash('sha256').update(clientKey).digest() };
}

const clientKeyCache = new Map<string, Promise<DerivedKeys>>();
const CLIENT_KEY_CACHE_SIZE = 16;

/**
 * {@link deriveKeys} for clients, remembering the last few results in this
 * process: a client that logs in again (reconnects, opens more connections)
 * pays for scrypt once, as SCRAM clients do. Keyed by a hash of the inputs,
 * so the cache holds no password; what it holds logs in only as long as the
 * password is unchanged, like the password this process already has.
 */
export function deriveClientKeys(password: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<DerivedKeys> {
  const key = createHash('sha256').update(`${cost.N}:${cost.r}:${cost.p}:${salt.toString('base64')}:`).update(password.normalize('NFC')).digest('base64');
  let keys = clientKeyCache.get(key);
  if (keys === undefined) {
    keys = deriveKeys(password, salt, cost);
    keys.catch(() => clientKeyCache.delete(key));
    clientKeyCache.set(key, keys);
    if (clientKeyCache.size > CLIENT_KEY_CACHE_SIZE) clientKeyCache.delete(clientKeyCache.keys().next().value!);
  }
  return keys;
}

/** A new credential for a password, with a fresh random salt. */
export async function createCredential(password: string): Promise<StoredCredential> {
  const salt = randomBytes(16);
  const { storedKey } = await deriveKeys(password, salt, SCRYPT_COST);
  return { salt, ...SCRYPT_COST, storedKey };
}

/** Checks a password against a credential (constant-time compare). */
export async function verifyPassword(password: string, credential: StoredCredential): Promise<boolean> {
  const { storedKey } = await deriveKeys(password, credential.salt, credential);
  return timingSafeEqual(storedKey, credential.storedKey);
}

/** The proof a client sends for `nonce` (used by the client library). */
export function computeProof(clientKey: Buffer, storedKey: Buffer, nonce: Buffer): Buffer {
  const signature = createHmac('sha256', storedKey).update(nonce).digest();
  return xor(clientKey, signature);
}

/** Checks a client's proof for `nonce` in constant time. */
export function verifyProof(proof: Buffer, nonce: Buffer, credential: StoredCredential): boolean {
  if (proof.length !== KEY_BYTES) return false;
  const signature = createHmac('sha256', credential.storedKey).update(nonce).digest();
  const clientKey = xor(proof, signature);
  return timingSafeEqual(createHash('sha256').update(clientKey).digest(), credential.storedKey);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i += 1) out[i] = a[i]! ^ b[i]!;
  return out;
}
