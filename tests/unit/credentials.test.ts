import { describe, expect, it } from 'vitest';
import { computeProof, createCredential, deriveClientKeys, deriveKeys, verifyPassword, verifyProof } from '../../src/accounts/credentials.js';
import { LoginThrottle } from '../../src/accounts/login-throttle.js';

describe('SCRAM-style credentials (docs/protocol.md §3.2)', () => {
  // Vector computed independently: tests/peers/gridlink_client.py selftest, and openssl.
  it('matches the independent test vector', async () => {
    const salt = Buffer.from(Array.from({ length: 16 }, (_, i) => i));
    const nonce = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const { clientKey, storedKey } = await deriveKeys('pencil', salt, { N: 1024, r: 8, p: 1 });
    expect(clientKey.toString('hex')).toBe('7ed173b3e344e736fa53d10c5937a4504877645fe936b737eef2a042ba827efd');
    expect(storedKey.toString('hex')).toBe('0aa0a68a41dfa87103e64a31f6183d96f479e8e348b3fb75d87a7cb1e584ed9f');
    expect(computeProof(clientKey, storedKey, nonce).toString('base64')).toBe('cWig759G9yAHGooIlGzdr1ZZf102kQgUMh/fvD2J118=');
  });

  it('verifies the right password and proof, refuses wrong ones', async () => {
    const credential = await createCredential('correct horse');
    expect(await verifyPassword('correct horse', credential)).toBe(true);
    expect(await verifyPassword('correct hors', credential)).toBe(false);
    const { clientKey, storedKey } = await deriveKeys('correct horse', credential.salt, credential);
    const nonce = Buffer.alloc(32, 7);
    const proof = computeProof(clientKey, storedKey, nonce);
    expect(verifyProof(proof, nonce, credential)).toBe(true);
    expect(verifyProof(proof, Buffer.alloc(32, 8), credential)).toBe(false); // another nonce: replay fails
    expect(verifyProof(proof.subarray(1), nonce, credential)).toBe(false);
    expect(verifyProof(Buffer.alloc(32), nonce, credential)).toBe(false);
    // The stored key alone cannot log in: it is not the client key.
    expect(verifyProof(computeProof(storedKey, storedKey, nonce), nonce, credential)).toBe(false);
  });
});

describe('client key cache', () => {
  it('derives once per (password, salt, cost) and never mixes different inputs', async () => {
    const salt = Buffer.alloc(16, 1);
    const cost = { N: 1024, r: 8, p: 1 };
    const a = deriveClientKeys('pw-one-1234', salt, cost);
    expect(deriveClientKeys('pw-one-1234', salt, cost)).toBe(a);
    expect((await a).clientKey).toEqual((await deriveKeys('pw-one-1234', salt, cost)).clientKey);
    const other = await deriveClientKeys('pw-two-1234', salt, cost);
    expect(other.clientKey).not.toEqual((await a).clientKey);
    const otherSalt = await deriveClientKeys('pw-one-1234', Buffer.alloc(16, 2), cost);
    expect(otherSalt.clientKey).not.toEqual((await a).clientKey);
  });
});

describe('login throttle', () => {
  it('allows 4 failures, then blocks with a doubling delay; success resets the user', () => {
    let now = 1_000_000;
    const throttle = new LoginThrottle(() => now);
    for (let i = 0; i < 4; i += 1) throttle.failed('10.0.0.1', 'alice');
    expect(throttle.waitMs('10.0.0.1', 'alice')).toBe(0);
    throttle.failed('10.0.0.1', 'alice');
    expect(throttle.waitMs('10.0.0.1', 'alice')).toBe(1000);
    throttle.failed('10.0.0.1', 'alice');
    expect(throttle.waitMs('10.0.0.1', 'alice')).toBe(2000);
    // The user is blocked from any address, the address for any user.
    expect(throttle.waitMs('10.9.9.9', 'alice')).toBe(2000);
    expect(throttle.waitMs('10.0.0.1', 'bob')).toBe(2000);
    now += 2000;
    expect(throttle.waitMs('10.0.0.1', 'alice')).toBe(0);
    for (let i = 0; i < 30; i += 1) throttle.failed('10.0.0.2', 'carol');
    expect(throttle.waitMs('10.0.0.2', 'carol')).toBe(15 * 60_000);
    throttle.succeeded('10.0.0.1', 'alice');
    expect(throttle.waitMs('10.0.0.1', 'alice')).toBe(0);
  });
});
