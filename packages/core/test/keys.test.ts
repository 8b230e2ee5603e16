import { describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import type { KeyObject } from 'node:crypto';
import { ConfigError, MemoryStore, createTessera, generateSecret, kidOf, type TesseraEvent, type TesseraOptions, type TokenStore } from '../src/index.js';
import { buildKeyRing } from '../src/keys.js';
import { OTHER_SECRET, SECRET, T0, codeOf, decodeJwt, fakeClock, login, ok, req, verifyCredentials } from './helpers.js';

const THIRD_SECRET = 'a-third-unit-test-secret-0123456789-abcdefgh';

function instance(store: TokenStore, options: Partial<TesseraOptions> = {}) {
  const events: TesseraEvent[] = [];
  const core = createTessera({ store, clock: fakeClock(), verifyCredentials, onEvent: e => void events.push(e), ...options });
  return { core, events };
}

const reasons = (events: TesseraEvent[]) => events.flatMap(e => (e.type === 'rejected' ? [`${e.code}:${e.reason}`] : []));

describe('kidOf and the keyring', () => {
  it('a kid is a short digest: stable per secret, distinct across secrets, never the secret', () => {
    expect(kidOf(SECRET)).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(kidOf(SECRET)).toBe(kidOf(SECRET));
    expect(kidOf(SECRET)).not.toBe(kidOf(OTHER_SECRET));
    expect(SECRET).not.toContain(kidOf(SECRET));
  });

  it('buildKeyRing: the first key signs, every key is found by its kid', () => {
    const ring = buildKeyRing([SECRET, OTHER_SECRET, SECRET]);
    expect(ring.signing.kid).toBe(kidOf(SECRET));
    expect([...ring.byKid.keys()]).toEqual([kidOf(SECRET), kidOf(OTHER_SECRET)]);
    expect((ring.byKid.get(kidOf(OTHER_SECRET))!.material as KeyObject).export().toString()).toBe(OTHER_SECRET);
  });

  it('generateSecret: 256 random bits, base64url', () => {
    const a = generateSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateSecret()).not.toBe(a);
  });
});

describe('a keyring in use: the first key signs, all verify', () => {
  it('tokens carry the kid of the signing key', async () => {
    const { core } = instance(new MemoryStore(), { secret: [OTHER_SECRET, SECRET] });
    const { jar } = await login(core);
    expect(decodeJwt(jar.get('tessera')!).header).toEqual({ alg: 'HS256', typ: 'tessera-session+jwt', kid: kidOf(OTHER_SECRET) });
  });

  it('rotation: a token of the old key still verifies after a new key is put first; dropping the old key ends it', async () => {
    const store = new MemoryStore();
    const before = instance(store, { secret: SECRET });
    const { jar } = await login(before.core);
    const oldCookie = jar.header;
    const rotated = instance(store, { secret: [OTHER_SECRET, SECRET] });
    ok(await rotated.core.authenticate(req({ cookie: oldCookie })));
    const fresh = (await login(rotated.core)).jar;
    expect(decodeJwt(fresh.get('tessera')!).header.kid).toBe(kidOf(OTHER_SECRET));
    const after = instance(store, { secret: OTHER_SECRET });
    ok(await after.core.authenticate(req({ cookie: fresh.header })));
    expect(codeOf(await after.core.authenticate(req({ cookie: oldCookie })))).toBe('TOKEN_INVALID');
    expect(reasons(after.events)).toEqual(['TOKEN_INVALID:kid']);
  });

  it('a token whose kid names one key but that was signed with another is refused', async () => {
    const { core, events } = instance(new MemoryStore(), { secret: [SECRET, OTHER_SECRET] });
    const issued = ok(await core.issue(req(), { id: 'alice' }));
    const forged = await new SignJWT({ sid: issued.session.id })
      .setProtectedHeader({ alg: 'HS256', typ: 'tessera-session+jwt', kid: kidOf(SECRET) })
      .setIssuer('tessera')
      .setAudience('tessera')
      .setSubject('alice')
      .setJti('j1')
      .setIssuedAt(T0)
      .setExpirationTime(T0 + 60)
      .sign(new TextEncoder().encode(THIRD_SECRET));
    expect(codeOf(await core.authenticate(req({ cookie: `tessera=${forged}` })))).toBe('TOKEN_INVALID');
    expect(reasons(events)).toEqual(['TOKEN_INVALID:signature']);
  });

  it('the algorithm is pinned: a token signed with the right key under another HS algorithm is refused', async () => {
    const { core, events } = instance(new MemoryStore(), { secret: SECRET });
    const issued = ok(await core.issue(req(), { id: 'alice' }));
    const other = await new SignJWT({ sid: issued.session.id })
      .setProtectedHeader({ alg: 'HS512', typ: 'tessera-session+jwt', kid: kidOf(SECRET) })
      .setIssuer('tessera')
      .setAudience('tessera')
      .setSubject('alice')
      .setJti('j1')
      .setIssuedAt(T0)
      .setExpirationTime(T0 + 60)
      .sign(new TextEncoder().encode(SECRET));
    expect(codeOf(await core.authenticate(req({ cookie: `tessera=${other}` })))).toBe('TOKEN_INVALID');
    expect(reasons(events)).toEqual(['TOKEN_INVALID:alg']);
  });
});

describe('a generated secret, kept in the store', () => {
  /** A memory store counting its initSecret calls. */
  function counting() {
    const store = new MemoryStore();
    const candidates: string[] = [];
    const initSecret = store.initSecret.bind(store);
    store.initSecret = (candidate: string) => {
      candidates.push(candidate);
      return initSecret(candidate);
    };
    return { store, candidates };
  }

  it('the first instance stores its secret; a second instance on the same store reuses it', async () => {
    const { store, candidates } = counting();
    const a = instance(store);
    await a.core.ready();
    expect(candidates).toHaveLength(1);
    const kept = candidates[0]!;
    expect(kept).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const { jar } = await login(a.core);
    expect(decodeJwt(jar.get('tessera')!).header.kid).toBe(kidOf(kept));

    const b = instance(store);
    await b.core.ready();
    expect(candidates).toHaveLength(2);
    expect(candidates[1]).not.toBe(kept); // b offered its own candidate, and got the kept one
    ok(await b.core.authenticate(req({ cookie: jar.header })));
    expect(decodeJwt((await login(b.core)).jar.get('tessera')!).header.kid).toBe(kidOf(kept));
    expect(await store.initSecret(generateSecret())).toBe(kept);
  });

  it('an instance on another store has another secret: the token is refused', async () => {
    const a = instance(new MemoryStore());
    const { jar } = await login(a.core);
    const other = instance(new MemoryStore());
    expect(codeOf(await other.core.authenticate(req({ cookie: jar.header })))).toBe('TOKEN_INVALID');
    expect(reasons(other.events)).toEqual(['TOKEN_INVALID:kid']);
  });

  it('the keys load on first use without ready(), once, even under concurrent first requests', async () => {
    const { store, candidates } = counting();
    const { core } = instance(store);
    const results = await Promise.all(Array.from({ length: 5 }, () => core.authenticate(req())));
    expect(results.map(codeOf)).toEqual(Array(5).fill('TOKEN_MISSING'));
    expect(candidates).toHaveLength(1);
    await core.ready();
    await core.ready();
    expect(candidates).toHaveLength(1);
  });

  it('a configured secret never asks the store', async () => {
    const { store, candidates } = counting();
    const { core } = instance(store, { secret: SECRET });
    await core.ready();
    await login(core);
    expect(candidates).toEqual([]);
  });

  it('no secret and a store that cannot keep one: createTessera throws a ConfigError', () => {
    const inner = new MemoryStore();
    const store: TokenStore = {
      get: id => inner.get(id),
      put: r => inner.put(r),
      touch: (id, l, e) => inner.touch(id, l, e),
      rotate: (u, n, now) => inner.rotate(u, n, now),
      countReuse: (id, limit) => inner.countReuse(id, limit),
      revoke: (w, now) => inner.revoke(w, now),
      list: q => inner.list(q),
      purgeExpired: now => inner.purgeExpired(now),
      close: () => inner.close(),
    };
    expect(() => createTessera({ store })).toThrow(ConfigError);
    expect(() => createTessera({ store })).toThrow(/^secret: no secret configured and this store cannot keep one/);
    expect(() => createTessera({ store, secret: SECRET })).not.toThrow();
  });
});
