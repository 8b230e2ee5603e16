import { describe, expect, it } from '@jest/globals';
import { MemoryStore, createTessera, type TokenStore } from '../src/index.js';
import {
  EPOCH,
  SECRET,
  T0,
  codeOf,
  cookieValue,
  decodeJwt,
  expectErrorReply,
  expires,
  fakeClock,
  headerOf,
  login,
  ok,
  post,
  req,
  setCookiesOf,
  setup,
  verifyCredentials,
} from './helpers.js';
import { sessionIdOf } from '../src/lib/at-rest.js';

/** A sliding session of ttl 1000 s (reissue window: the last 200 s), alice signed in at T0. */
async function sliding(options: Parameters<typeof setup>[0] = {}) {
  const s = setup({ ttl: 1000, clockTolerance: 0, ...options });
  const { jar } = await login(s.core);
  const sid = sessionIdOf(decodeJwt(jar.get('tessera')!).payload.sid as string);
  return { ...s, jar, sid, auth: () => s.core.authenticate(req({ cookie: jar.header })) };
}

describe('sliding: reissue inside the refresh window', () => {
  it('outside the window (201 s left) nothing is reissued', async () => {
    const { auth, clock, store, sid, events } = await sliding();
    clock.set(T0 + 799);
    const r = ok(await auth());
    expect(r.refreshed).toBe(false);
    expect(r.cookies).toEqual([]);
    expect(r.session.expiresAt).toBe(T0 + 1000);
    expect((await store.get(sid))!.expiresAt).toBe(T0 + 1000);
    expect(events.filter(e => e.type === 'refreshed')).toEqual([]);
  });

  it('inside the window (200 s left): a new cookie, the record expiry moved, a refreshed event', async () => {
    const { auth, clock, store, sid, jar, events } = await sliding();
    const old = jar.get('tessera')!;
    clock.set(T0 + 800);
    const r = ok(await auth());
    expect(r.refreshed).toBe(true);
    expect(r.cookies).toHaveLength(1);
    const token = cookieValue(r.cookies[0]!);
    expect(token).not.toBe(old);
    expect(r.cookies[0]).toBe(`tessera=${token}; Path=/; Max-Age=1000; Expires=${expires(T0 + 800, 1000)}; HttpOnly; SameSite=Lax`);
    expect(decodeJwt(token).payload).toMatchObject({ sub: 'alice', sid: decodeJwt(old).payload.sid, iat: T0 + 800, exp: T0 + 1800 });
    expect(decodeJwt(token).payload.jti).not.toBe(decodeJwt(old).payload.jti);
    expect(r.session).toMatchObject({ id: sid, expiresAt: T0 + 1800, sessionExpiresAt: T0 + 1800, createdAt: T0 });
    const rec = (await store.get(sid))!;
    expect(rec).toMatchObject({ expiresAt: T0 + 1800, lastSeenAt: T0 + 800, revokedAt: null, createdAt: T0, user: { id: 'alice', name: 'Alice' } });
    expect(events.filter(e => e.type === 'refreshed')).toEqual([{ type: 'refreshed', at: T0 + 800, mode: 'sliding', sessionId: sid, subject: 'alice', grace: false }]);
    // the reissued token outlives the first one
    jar.absorb(r);
    clock.set(T0 + 1500);
    const later = ok(await auth());
    expect(later.cookies).toEqual([]);
    expect(later.session.expiresAt).toBe(T0 + 1800);
  });

  it('refreshBefore in seconds sets the window', async () => {
    const { auth, clock } = await sliding({ refreshBefore: 60 });
    clock.set(T0 + 939);
    expect(ok(await auth()).refreshed).toBe(false);
    clock.set(T0 + 940);
    expect(ok(await auth()).refreshed).toBe(true);
  });

  it('refreshable: false never reissues; the token just expires', async () => {
    const { auth, clock } = await sliding({ refreshable: false });
    clock.set(T0 + 999);
    expect(ok(await auth()).cookies).toEqual([]);
    clock.set(T0 + 1000);
    expect(codeOf(await auth())).toBe('TOKEN_EXPIRED');
  });

  it('the reissue is capped by absoluteTimeout, and stops once the cap is reached', async () => {
    const { auth, clock, store, sid, jar } = await sliding({ absoluteTimeout: 1500 });
    clock.set(T0 + 850);
    const r = ok(await auth());
    expect(r.cookies).toEqual([`tessera=${cookieValue(r.cookies[0]!)}; Path=/; Max-Age=650; Expires=${expires(T0 + 850, 650)}; HttpOnly; SameSite=Lax`]);
    expect(decodeJwt(cookieValue(r.cookies[0]!)).payload.exp).toBe(T0 + 1500);
    expect((await store.get(sid))!).toMatchObject({ expiresAt: T0 + 1500, absoluteExpiresAt: T0 + 1500 });
    jar.absorb(r);
    clock.set(T0 + 1400); // in the window, but a new token would not outlive this one
    const capped = ok(await auth());
    expect(capped.refreshed).toBe(false);
    expect(capped.cookies).toEqual([]);
    clock.set(T0 + 1500);
    expect(codeOf(await auth())).toBe('TOKEN_EXPIRED');
  });

  it('the expiry moves by a partial touch: a revocation landing between the read and the reissue stands', async () => {
    const inner = new MemoryStore();
    // Revokes the session just before the reissue's write, as a concurrent logout would.
    const store: TokenStore = {
      get: id => inner.get(id),
      put: r => inner.put(r),
      touch: async (id, lastSeenAt, expiresAt) => {
        if (expiresAt !== undefined) await inner.revoke({ family: id }, lastSeenAt);
        return inner.touch(id, lastSeenAt, expiresAt);
      },
      rotate: (u, n, now) => inner.rotate(u, n, now),
      countReuse: (id, limit) => inner.countReuse(id, limit),
      revoke: (w, now) => inner.revoke(w, now),
      list: q => inner.list(q),
      purgeExpired: now => inner.purgeExpired(now),
      close: () => inner.close(),
    };
    const clock = fakeClock();
    const core = createTessera({ secret: SECRET, store, clock, ttl: 1000, verifyCredentials });
    const { jar } = await login(core);
    const sid = sessionIdOf(decodeJwt(jar.get('tessera')!).payload.sid as string);
    clock.set(T0 + 900);
    const r = await core.authenticate(req({ cookie: jar.header }));
    expect(codeOf(r)).toBe('SESSION_ENDED');
    expect(setCookiesOf(r)).toEqual([`tessera=; Path=/; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`]);
    expect(await inner.get(sid)).toMatchObject({ revokedAt: T0 + 900, expiresAt: T0 + 1000 });
  });
});

describe('sliding: the refresh route', () => {
  it('reissues whatever the window: a new cookie and the session body', async () => {
    const { core, clock, jar, sid, store } = await sliding();
    clock.set(T0 + 100);
    const reply = await core.route('refresh', post('/auth/refresh', undefined, { cookie: jar.header }));
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ user: { id: 'alice', name: 'Alice' }, id: sid, kind: 'session', mode: 'sliding', createdAt: T0, expiresAt: T0 + 1100, sessionExpiresAt: T0 + 1100 });
    const cookies = setCookiesOf(reply);
    expect(cookies).toEqual([`tessera=${cookieValue(cookies[0]!)}; Path=/; Max-Age=1000; Expires=${expires(T0 + 100, 1000)}; HttpOnly; SameSite=Lax`]);
    expect(cookieValue(cookies[0]!)).not.toBe(jar.get('tessera'));
    expect(headerOf(reply, 'cache-control')).toBe('no-store');
    expect((await store.get(sid))!.expiresAt).toBe(T0 + 1100);
  });

  it('tokenInLoginBody: the new token is in the body too', async () => {
    const { core, clock, jar } = await sliding({ tokenInLoginBody: true });
    clock.set(T0 + 100);
    const reply = await core.route('refresh', post('/auth/refresh', undefined, { cookie: jar.header }));
    const token = (reply.body as { token: string }).token;
    expect(setCookiesOf(reply).map(cookieValue)).toEqual([token]);
  });

  it('after the middleware reissued (prior.refreshed), the route answers without setting the cookie twice', async () => {
    const { core, clock, jar, store, sid } = await sliding();
    clock.set(T0 + 900);
    const prior = ok(await core.authenticate(req({ cookie: jar.header, method: 'POST', path: '/auth/refresh' })));
    expect(prior.refreshed).toBe(true);
    const reply = await core.route('refresh', post('/auth/refresh', undefined, { cookie: jar.header }), prior);
    expect(reply.status).toBe(200);
    expect(setCookiesOf(reply)).toEqual([]);
    expect(reply.body).toMatchObject({ id: sid, expiresAt: T0 + 1900 });
    expect((await store.get(sid))!.expiresAt).toBe(T0 + 1900);
  });

  it('a final refusal from the middleware stands (not re-run)', async () => {
    const { core, jar, sid } = await sliding();
    await core.revokeSession(sid);
    const prior = await core.authenticate(req({ cookie: jar.header }));
    expect(codeOf(prior)).toBe('SESSION_ENDED');
    if (prior.ok) throw new Error('unreachable');
    const reply = await core.route('refresh', post('/auth/refresh', undefined, { cookie: jar.header }), prior);
    expect(reply).toBe(prior.reply);
  });

  it('no cookie: 401 TOKEN_MISSING; a revoked session: SESSION_ENDED; cross-origin: CSRF_FAILED', async () => {
    const { core, jar, sid } = await sliding();
    expectErrorReply(await core.route('refresh', post('/auth/refresh')), 'TOKEN_MISSING');
    expectErrorReply(await core.route('refresh', post('/auth/refresh', undefined, { cookie: jar.header, headers: { origin: 'https://evil.example', host: 'app.example' } })), 'CSRF_FAILED');
    await core.revokeSession(sid);
    expectErrorReply(await core.route('refresh', post('/auth/refresh', undefined, { cookie: jar.header })), 'SESSION_ENDED');
  });

  it('an API token cannot be refreshed', async () => {
    const { core } = await sliding();
    const { token } = await core.createApiToken({ user: { id: 'alice' } });
    expectErrorReply(await core.route('refresh', post('/auth/refresh', undefined, { headers: { authorization: `Bearer ${token}` } })), 'TOKEN_INVALID');
  });
});
