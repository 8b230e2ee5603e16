/** Sealing (`safePassword`): the format, what a seal is bound to, the cache, rotation, and the plaintext left in the store. */
import { describe, expect, it } from '@jest/globals';
import { createContext } from '../src/context.js';
import { redact } from '../src/events.js';
import { resolveOptions } from '../src/options.js';
import { Sealer, openRecord, sealKid, sealUser, sealable, splitVerified } from '../src/seal.js';
import { MemoryStore, type Logger, type TokenRecord } from '../src/index.js';
import { SECRET, T0, codeOf, login, ok, req, setup } from './helpers.js';

const PW = 'unit-test-safe-password-0123456789-abcdef';
const PW2 = 'unit-test-next-password-9876543210-zyxwvu';

function ctxWith(safePassword?: string | string[], extra: { verifiedCacheSize?: number; logger?: Logger } = {}) {
  return createContext(resolveOptions({ secret: SECRET, logger: false, ...(safePassword ? { safePassword } : {}), ...extra }), new MemoryStore());
}

function record(over: Partial<TokenRecord> = {}): TokenRecord {
  return { id: 'sid-1', kind: 'session', subject: 'alice', family: 'sid-1', createdAt: T0, lastSeenAt: T0, expiresAt: T0 + 60, revokedAt: null, ...over };
}

const ALICE = { id: 'alice', name: 'Alice Liddell', roles: ['admin'] };
const CREDS = { accessToken: 'upstream-access-token-value', expiresAt: 1_900_000_000 };

/** The seal with one bit of its ciphertext (part 3) or tag (part 4) flipped. */
function flip(sealed: string, part = 3): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[part]!, 'base64url');
  bytes[0]! ^= 1;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

/** Like a store round trip: a fresh object each read. */
const reread = (r: TokenRecord): TokenRecord => JSON.parse(JSON.stringify(r));

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { error: { code: string; reason: string } }).error.code + ':' + (err as { error: { reason: string } }).error.reason;
  }
  return 'opened';
}

describe('sealing', () => {
  it('writes v1.<kid>.<iv>.<ciphertext>.<tag>, the user as { id } only, and opens to the user and credentials', () => {
    const ctx = ctxWith(PW);
    const r = record();
    const stored = sealUser(ctx, r, ALICE, CREDS);
    expect(stored).toEqual(ALICE);
    expect(r.user).toEqual({ id: 'alice' });
    const parts = r.sealed!.split('.');
    expect(parts).toHaveLength(5);
    expect(parts[0]).toBe('v1');
    expect(parts[1]).toBe(sealKid(PW));
    expect(Buffer.from(parts[2]!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(parts[4]!, 'base64url')).toHaveLength(16);
    const text = JSON.stringify(r);
    for (const s of ['Liddell', 'admin', 'upstream-access-token-value', 'accessToken', PW]) expect(text).not.toContain(s);
    // A fresh instance (no cache) opens it.
    const opened = openRecord(ctxWith(PW), reread(r))!;
    expect(opened.user).toEqual(ALICE);
    expect(opened.credentials).toEqual(CREDS);
    expect(Object.isFrozen(opened.user) && Object.isFrozen(opened.credentials)).toBe(true);
    // Two seals of one value differ (a random IV each).
    const r2 = record();
    sealUser(ctx, r2, ALICE, CREDS);
    expect(r2.sealed).not.toBe(r.sealed);
  });

  it('is bound to the kind, id, subject and tenant of its record; the cache answers only for that record', () => {
    for (const fresh of [false, true]) {
      const ctx = ctxWith(PW);
      const r = record({ tenant: 't1' });
      sealUser(ctx, r, ALICE);
      const open = (x: TokenRecord) => reasonOf(() => openRecord(fresh ? ctxWith(PW) : ctx, x));
      expect(open(reread(r))).toBe('opened');
      expect(open({ ...reread(r), id: 'sid-2', family: 'sid-2' })).toBe('SESSION_ENDED:seal-failed');
      expect(open({ ...reread(r), subject: 'bob' })).toBe('SESSION_ENDED:seal-failed');
      expect(open({ ...reread(r), kind: 'api' })).toBe('SESSION_ENDED:seal-failed');
      expect(open({ ...reread(r), tenant: 't2' })).toBe('SESSION_ENDED:seal-failed');
      expect(open({ ...reread(r), tenant: null })).toBe('SESSION_ENDED:seal-failed');
      expect(open({ ...reread(r), sealed: flip(r.sealed!) })).toBe('SESSION_ENDED:seal-failed');
      expect(open({ ...reread(r), sealed: flip(r.sealed!, 4) })).toBe('SESSION_ENDED:seal-failed');
      expect(open({ ...reread(r), sealed: flip(r.sealed!, 2) })).toBe('SESSION_ENDED:seal-failed');
      const [v, kid, iv, body, tag] = r.sealed!.split('.');
      expect(open({ ...reread(r), sealed: [v, kid, iv, body, tag!.slice(0, 8)].join('.') })).toBe('SESSION_ENDED:seal-malformed'); // a truncated tag is refused, not checked short
      expect(open({ ...reread(r), sealed: [v, kid, iv!.slice(0, 4), body, tag].join('.') })).toBe('SESSION_ENDED:seal-malformed');
      expect(open({ ...reread(r), sealed: ['v2', kid, iv, body, tag].join('.') })).toBe('SESSION_ENDED:seal-malformed');
      expect(open({ ...reread(r), sealed: [v, 'x'.repeat(12), iv, body, tag].join('.') })).toBe('SESSION_ENDED:seal-unknown-key');
      expect(open({ ...reread(r), sealed: null })).toBe('SESSION_ENDED:seal-missing');
    }
  });

  it('an API record ends without touching cookies; sealing off reads plaintext records and refuses sealed ones', () => {
    const ctx = ctxWith(PW);
    const api = record({ id: 'api-1', family: 'api-1', kind: 'api', expiresAt: null });
    sealUser(ctx, api, ALICE);
    const off = ctxWith(undefined);
    try {
      openRecord(off, reread(api));
      throw new Error('opened');
    } catch (err) {
      expect(err).toMatchObject({ error: { code: 'SESSION_ENDED', reason: 'seal-unconfigured' }, clear: 'none' });
    }
    const plain = record();
    sealUser(off, plain, ALICE);
    expect(plain.user).toEqual(ALICE);
    expect(plain.sealed).toBeUndefined();
    expect(openRecord(off, plain)).toBeNull();
  });

  it('rotation: the first password seals, every password of the keyring opens, a removed one does not', () => {
    const old = record();
    sealUser(ctxWith(PW), old, ALICE);
    const ring = ctxWith([PW2, PW]);
    expect(openRecord(ring, reread(old))!.user).toEqual(ALICE);
    const next = record({ id: 'sid-2', family: 'sid-2' });
    sealUser(ring, next, ALICE);
    expect(next.sealed!.split('.')[1]).toBe(sealKid(PW2));
    expect(reasonOf(() => openRecord(ctxWith(PW2), reread(old)))).toBe('SESSION_ENDED:seal-unknown-key');
    expect(openRecord(ctxWith(PW2), reread(next))!.user).toEqual(ALICE);
  });

  it('credentials: JSON objects only, and only with safePassword (before anything is written)', () => {
    expect(() => sealable(ctxWith(undefined), ALICE, CREDS)).toThrow(/^safePassword: credentials were handed over/);
    expect(sealable(ctxWith(undefined), ALICE, null)).toEqual({ user: ALICE, credentials: null });
    expect(() => sealable(ctxWith(PW), ALICE, ['a'] as never)).toThrow(TypeError);
    expect(() => sealable(ctxWith(PW), ALICE, { f: () => 1 } as never)).toThrow("the credentials can't be stored as JSON: `credentials.f` is a function");
    expect(() => sealUser(ctxWith(PW), record({ subject: 'bob' }), ALICE)).toThrow(/subject/);
  });

  it('splitVerified: a user, or { user, credentials }', () => {
    expect(splitVerified(null)).toEqual({ user: null, credentials: null });
    expect(splitVerified(ALICE)).toEqual({ user: ALICE, credentials: null });
    expect(splitVerified({ user: ALICE, credentials: CREDS })).toEqual({ user: ALICE, credentials: CREDS });
    expect(splitVerified({ user: ALICE })).toEqual({ user: ALICE, credentials: null });
    // A user that happens to have a `user` field is still a user.
    const odd = { id: 'x', user: { id: 'y' } };
    expect(splitVerified(odd)).toEqual({ user: odd, credentials: null });
  });

  it('the cache is bounded by verifiedCacheSize (0: none), and a miss decrypts again', () => {
    const sealer = new Sealer([PW], 2, { info() {}, warn() {}, error() {} }, () => T0);
    const records = [1, 2, 3].map(i => record({ id: `s${i}`, family: `s${i}` }));
    for (const r of records) r.sealed = sealer.seal(r, { user: ALICE, credentials: null });
    expect((sealer as unknown as { cache: Map<string, unknown> }).cache.size).toBe(2);
    expect(typeof sealer.open(records[0]!)).toBe('object'); // evicted, opened again
    const none = new Sealer([PW], 0, { info() {}, warn() {}, error() {} }, () => T0);
    none.seal(records[0]!, { user: ALICE, credentials: null });
    expect((none as unknown as { cache: Map<string, unknown> }).cache.size).toBe(0);
  });

  it('warns once per reason per 10 s, with the count left out, and never a value', () => {
    const lines: { obj: object; msg?: string }[] = [];
    let now = T0;
    const sealer = new Sealer([PW], 10, { info() {}, error() {}, warn: (obj, msg) => void lines.push({ obj, msg }) }, () => now);
    for (let i = 0; i < 5; i++) sealer.warn('seal-failed', 'session');
    now += 10;
    sealer.warn('seal-failed', 'session');
    expect(lines.map(l => l.obj)).toEqual([{ reason: 'seal-failed', kind: 'session' }, { reason: 'seal-failed', kind: 'session', suppressed: 4 }]);
  });

  it('redact() hides a seal a store error message may quote', () => {
    const r = record();
    sealUser(ctxWith(PW), r, ALICE);
    expect(redact(`duplicate value ${r.sealed} in row`)).toBe('duplicate value [sealed] in row');
  });

  it('end to end: login, the hot path and a tampered record', async () => {
    const s = setup({ safePassword: PW, verifyCredentials: () => ({ user: ALICE, credentials: CREDS }), logger: false });
    const { jar } = await login(s.core);
    const r = ok(await s.core.authenticate(req({ cookie: jar.header })));
    expect(r.session.user).toEqual(ALICE);
    expect(r.session.credentials()).toEqual(CREDS);
    expect(JSON.stringify(r.session)).not.toContain('upstream');
    expect(Object.keys(r.session)).not.toContain('credentials');
    expect({ ...r.session }).not.toHaveProperty('credentials');
    const sid = r.session.id;
    const stored = (await s.store.get(sid))!;
    await s.store.put({ ...stored, sealed: flip(stored.sealed!) });
    expect(codeOf(await s.core.authenticate(req({ cookie: jar.header })))).toBe('SESSION_ENDED');
  });
});
