import { computeProof, deriveKeys } from '../../src/accounts/credentials.js';
import type { FrameConnection } from '../../src/client/index.js';

/** Logs a raw connection in with the challenge–response; returns the proof it sent. */
export async function rawLogin(conn: FrameConnection, user: string, password: string): Promise<string> {
  const challenge = await conn.request('auth.challenge', { user });
  const keys = await deriveKeys(password, Buffer.from(String(challenge['salt']), 'base64'), {
    N: Number(challenge['N']),
    r: Number(challenge['r']),
    p: Number(challenge['p']),
  });
  const proof = computeProof(keys.clientKey, keys.storedKey, Buffer.from(String(challenge['nonce']), 'base64')).toString('base64');
  await conn.request('auth.proof', { proof });
  return proof;
}
