/**
 * The verified-token cache (TokenCodec): keyed by a number mixed from a token's last characters, so
 * tokens can share a slot. A hit must still be the whole token that was verified.
 */
import { describe, expect, it } from '@jest/globals';
import { buildKeyRing } from '../src/keys.js';
import { TokenCodec, type Claims } from '../src/token.js';

const SECRET = 'cache-test-secret-0123456789-abcdefghijklmnop';
const NOW = 1_800_000_000;

const codec = (cacheSize = 1000) =>
  new TokenCodec(buildKeyRing([SECRET]), {
    algorithm: 'HS256',
    issuer: 'tessera',
    audience: 'tessera',
    clockTolerance: 5,
    maxTokenBytes: 4096,
    cacheSize,
    maxLifetime: { session: 3600, access: 300, refresh: 86_400 },
  });

const claims = (sub: string, key = `sid-${sub}`): Claims => ({ sub, sid: '', key, jti: `jti-${sub}`, iat: NOW - 10, exp: NOW + 3000 });

/** `token` with its payload swapped for `other`'s: the same signature, so the same last characters (and cache slot). */
const spliced = (token: string, other: string): string => {
  const [h, , s] = token.split('.');
  return `${h}.${other.split('.')[1]}.${s}`;
};

describe('verified-token cache', () => {
  it('answers a verified token from the cache, and nothing else', async () => {
    const c = codec();
    const alice = await c.sign('session', claims('alice'));
    expect(c.verifyCached('session', alice, NOW)).toBeUndefined(); // never verified yet
    expect((await c.verify('session', alice, NOW)).ok).toBe(true);
    const hit = c.verifyCached('session', alice, NOW);
    expect(hit?.ok && hit.claims.sub).toBe('alice');
    expect(c.verifyCached('access', alice, NOW)).toBeUndefined(); // one cache per token type
  });

  it("refuses a forgery that shares a cached token's signature (and so its cache slot), from the cache and from jose", async () => {
    const c = codec();
    const alice = await c.sign('session', claims('alice'));
    const mallory = await c.sign('session', claims('mallory'));
    expect((await c.verify('session', alice, NOW)).ok).toBe(true);
    const forged = spliced(alice, mallory); // mallory's claims under alice's signature
    expect(forged.slice(-8)).toBe(alice.slice(-8));
    expect(c.verifyCached('session', forged, NOW)).toBeUndefined();
    const v = await c.verify('session', forged, NOW);
    expect(v).toMatchObject({ ok: false, code: 'TOKEN_INVALID', reason: 'signature' });
    // The genuine token keeps its slot: the forgery was never cached.
    expect(c.verifyCached('session', alice, NOW)?.ok).toBe(true);
  });

  it('a token of another length with the same last characters is a miss, not a hit', async () => {
    const c = codec();
    const alice = await c.sign('session', claims('alice'));
    await c.verify('session', alice, NOW);
    expect(c.verifyCached('session', `x${alice}`, NOW)).toBeUndefined();
    expect(c.verifyCached('session', alice.slice(1), NOW)).toBeUndefined();
  });

  it('short and empty strings are misses (no slot arithmetic on missing characters)', async () => {
    const c = codec();
    await c.verify('session', await c.sign('session', claims('alice')), NOW);
    for (const s of ['', 'a', 'a.b.c', '.......']) expect(c.verifyCached('session', s, NOW)).toBeUndefined();
  });

  it('stays within its size: the oldest verified token is dropped first', async () => {
    const c = codec(2);
    const [a, b, d] = await Promise.all(['a', 'b', 'd'].map(sub => c.sign('session', claims(sub))));
    for (const t of [a!, b!, d!]) await c.verify('session', t, NOW);
    expect(c.verifyCached('session', a!, NOW)).toBeUndefined();
    expect(c.verifyCached('session', b!, NOW)?.ok).toBe(true);
    expect(c.verifyCached('session', d!, NOW)?.ok).toBe(true);
  });

  it('checks the times on every hit', async () => {
    const c = codec();
    const alice = await c.sign('session', claims('alice'));
    await c.verify('session', alice, NOW);
    expect(c.verifyCached('session', alice, NOW + 3000 + 5)).toMatchObject({ ok: false, code: 'TOKEN_EXPIRED' });
  });
});
