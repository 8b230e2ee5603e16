import { describe, expect, it } from '@jest/globals';
import { MemoryStore, createTessera, type TesseraOptions } from '../src/index.js';
import { SECRET, req, res } from './helpers.js';

function clock(start = 1_800_000_000) {
  let t = start;
  const c = () => t;
  c.advance = (s: number) => void (t += s);
  return c;
}

const verifyCredentials: TesseraOptions['verifyCredentials'] = async ({ username, password }) =>
  username === 'alice' && password === 'pw' ? { id: 'alice' } : null;

async function login(t: ReturnType<typeof createTessera>) {
  const r = res();
  const reply = await t.route('login', req({ method: 'POST', path: '/auth/login', body: { username: 'alice', password: 'pw' } }), r);
  const set = reply.headers.filter(([n]) => n === 'set-cookie').map(([, v]) => v);
  return { reply, cookie: set.map(c => c.split(';')[0]).join('; ') };
}

describe('engine (hand-built requests, fake clock)', () => {
  it('the verified-signature cache never outlives expiry or the store record', async () => {
    const c = clock();
    const store = new MemoryStore();
    const t = createTessera({ secret: SECRET, store, clock: c, ttl: 100, refreshable: false, clockTolerance: 0, cookie: { name: 's' }, verifyCredentials });
    const { cookie } = await login(t);
    const first = await t.authenticate(req({ headers: { cookie } }), res());
    expect(first.ok).toBe(true);
    // cached now; revoke in the store: the next request is refused
    const sid = first.ok ? first.session.id : '';
    await store.revoke({ id: sid }, c());
    const revoked = await t.authenticate(req({ headers: { cookie } }), res());
    expect(revoked.ok ? 'ok' : revoked.error.code).toBe('SESSION_ENDED');
    // a fresh session, cached, then past exp with clockTolerance 0: expired at exactly exp
    const second = await login(t);
    expect((await t.authenticate(req({ headers: { cookie: second.cookie } }), res())).ok).toBe(true);
    c.advance(99);
    expect((await t.authenticate(req({ headers: { cookie: second.cookie } }), res())).ok).toBe(true);
    c.advance(1);
    const expired = await t.authenticate(req({ headers: { cookie: second.cookie } }), res());
    expect(expired.ok ? 'ok' : expired.error.code).toBe('TOKEN_EXPIRED');
  });

  it('the login reply carries no token unless tokenInLoginBody; HEAD/GET session route matching', async () => {
    const t = createTessera({ secret: SECRET, store: new MemoryStore(), verifyCredentials, cookie: { name: 's' } });
    const { reply } = await login(t);
    expect(reply.status).toBe(200);
    expect(Object.keys(reply.body!)).toEqual(['user', 'expiresAt']);
    expect(t.matchRoute('GET', '/session')).toBe('session');
    expect(t.matchRoute('POST', '/session')).toBeNull();
    expect(t.matchRoute('POST', '/login/')).toBe('login');
    expect(t.matchRoute('GET', '/login')).toBeNull();
  });

  it('pair mode: a non-browser client refreshes with the token in the body', async () => {
    const c = clock();
    const t = createTessera({ secret: SECRET, store: new MemoryStore(), clock: c, mode: 'pair', accessTtl: 60, refreshTtl: 600, tokenInLoginBody: true, verifyCredentials, cookie: { name: 's' } });
    const { reply } = await login(t);
    const { accessToken, refreshToken } = reply.body as { accessToken: string; refreshToken: string };
    expect(typeof accessToken).toBe('string');
    c.advance(120);
    const stale = await t.authenticate(req({ headers: { authorization: `Bearer ${accessToken}` } }), res());
    expect(stale.ok ? 'ok' : stale.error.code).toBe('TOKEN_EXPIRED');
    const refreshed = await t.route('refresh', req({ method: 'POST', body: { refreshToken } }), res());
    expect(refreshed.status).toBe(200);
    const next = (refreshed.body as { accessToken: string }).accessToken;
    const ok = await t.authenticate(req({ headers: { authorization: `Bearer ${next}` } }), res());
    expect(ok.ok).toBe(true);
  });

  it('a failing onEvent listener and an absent verifyCredentials are handled', async () => {
    const t = createTessera({ secret: SECRET, store: new MemoryStore(), cookie: { name: 's' } });
    const reply = await t.route('login', req({ method: 'POST', body: { username: 'a', password: 'b' } }), res());
    expect(reply.status).toBe(401);
    expect((reply.body as { error: { code: string } }).error.code).toBe('LOGIN_FAILED');
  });
});
