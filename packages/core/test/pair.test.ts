import { describe, expect, it } from '@jest/globals';
import type { HttpReply, TesseraEvent } from '../src/index.js';
import {
  EPOCH,
  T0,
  codeOf,
  decodeJwt,
  expectErrorReply,
  expires,
  login,
  ok,
  post,
  req,
  setCookiesOf,
  setup,
  Jar,
} from './helpers.js';
import { sessionIdOf, tokenIdOf } from '../src/lib/at-rest.js';

const CLEAR_ALL = [
  `tessera=; Path=/; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`,
  `tessera-refresh=; Path=/auth; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`,
];

/** Pair mode: access 60 s, refresh 3600 s; alice signed in at T0. */
async function pair(options: Parameters<typeof setup>[0] = {}) {
  const s = setup({ mode: 'pair', accessTtl: 60, refreshTtl: 3600, clockTolerance: 0, ...options });
  const { jar, reply } = await login(s.core);
  /** The token's `sid` claim: the session key; the store knows the session as `sid`, its hash. */
  const key = decodeJwt(jar.get('tessera')!).payload.sid as string;
  const sid = sessionIdOf(key);
  const refresh = (cookie: string = jar.header) => s.core.route('refresh', post('/auth/refresh', undefined, { cookie }));
  /** The family's refresh records, oldest first. */
  const refreshRecords = async () => (await s.store.list({ subject: 'alice', kind: 'refresh', limit: 1000 })).records.filter(r => r.family === sid).sort((a, b) => a.createdAt - b.createdAt || (a.rotatedAt == null ? 1 : -1));
  return { ...s, jar, loginReply: reply, sid, key, refresh, refreshRecords };
}

const refreshValue = (reply: HttpReply) => new Jar(reply).get('tessera-refresh');
const jtiOf = (token: string) => decodeJwt(token).payload.jti as string;
const ofType = <T extends TesseraEvent['type']>(events: TesseraEvent[], type: T) => events.filter((e): e is Extract<TesseraEvent, { type: T }> => e.type === type);

describe('pair mode: login', () => {
  it('sets the access and the refresh cookie, and stores the session and its first refresh record', async () => {
    const { loginReply, jar, sid, key, store, events } = await pair();
    const access = jar.get('tessera')!;
    const refresh = jar.get('tessera-refresh')!;
    expect(setCookiesOf(loginReply)).toEqual([
      `tessera=${access}; Path=/; Max-Age=3600; Expires=${expires(T0, 3600)}; HttpOnly; SameSite=Lax`,
      `tessera-refresh=${refresh}; Path=/auth; Max-Age=3600; Expires=${expires(T0, 3600)}; HttpOnly; SameSite=Lax`,
    ]);
    expect(loginReply.body).toEqual({ user: { id: 'alice', name: 'Alice' }, expiresAt: T0 + 60, sessionExpiresAt: T0 + 3600 });
    expect(decodeJwt(access)).toMatchObject({ header: { typ: 'tessera-access+jwt', alg: 'HS256' }, payload: { sub: 'alice', sid: key, iat: T0, exp: T0 + 60 } });
    expect(decodeJwt(refresh)).toMatchObject({ header: { typ: 'tessera-refresh+jwt' }, payload: { sub: 'alice', sid: key, iat: T0, exp: T0 + 3600 } });
    expect(await store.get(sid)).toMatchObject({ kind: 'session', family: sid, expiresAt: T0 + 3600, revokedAt: null });
    expect(await store.get(key)).toBeNull(); // the store never sees the key
    expect(await store.get(jtiOf(refresh))).toEqual({
      id: jtiOf(refresh),
      kind: 'refresh',
      subject: 'alice',
      family: sid,
      createdAt: T0,
      lastSeenAt: T0,
      expiresAt: T0 + 3600,
      revokedAt: null,
    });
    expect(ofType(events, 'issued').map(e => e.kind)).toEqual(['access', 'refresh']);
  });
});

describe('pair mode: refresh rotates', () => {
  it('the refresh route issues a new pair, marks the used token rotated and extends the session', async () => {
    const { refresh, jar, clock, store, sid, key, events } = await pair();
    const used = jtiOf(jar.get('tessera-refresh')!);
    clock.set(T0 + 30);
    const reply = await refresh(jar.only('tessera-refresh')); // no access token: it would still be fresh
    expect(reply.status).toBe(200);
    const next = new Jar(reply);
    const access = next.get('tessera')!;
    const rt = next.get('tessera-refresh')!;
    expect(setCookiesOf(reply)).toEqual([
      `tessera=${access}; Path=/; Max-Age=3600; Expires=${expires(T0 + 30, 3600)}; HttpOnly; SameSite=Lax`,
      `tessera-refresh=${rt}; Path=/auth; Max-Age=3600; Expires=${expires(T0 + 30, 3600)}; HttpOnly; SameSite=Lax`,
    ]);
    expect(reply.body).toEqual({ user: { id: 'alice', name: 'Alice' }, id: sid, kind: 'session', mode: 'pair', createdAt: T0, expiresAt: T0 + 90, sessionExpiresAt: T0 + 3630 });
    expect(rt).not.toBe(jar.get('tessera-refresh'));
    expect(decodeJwt(access).payload).toMatchObject({ sid: key, iat: T0 + 30, exp: T0 + 90 });
    expect(await store.get(used)).toMatchObject({ rotatedAt: T0 + 30, replacedBy: jtiOf(rt), reuseCount: 0, revokedAt: null });
    expect(await store.get(jtiOf(rt))).toMatchObject({ kind: 'refresh', family: sid, createdAt: T0 + 30, expiresAt: T0 + 3630, revokedAt: null });
    expect(await store.get(sid)).toMatchObject({ expiresAt: T0 + 3630, lastSeenAt: T0 + 30 });
    expect(ofType(events, 'refreshed')).toEqual([{ type: 'refreshed', at: T0 + 30, mode: 'pair', sessionId: sid, subject: 'alice', grace: false }]);
  });

  it('the new access token authenticates; the chain keeps rotating', async () => {
    const { refresh, core, jar, clock } = await pair();
    for (let i = 1; i <= 3; i++) {
      clock.set(T0 + i * 100);
      const reply = await refresh();
      expect(reply.status).toBe(200);
      jar.absorb(reply);
      expect(ok(await core.authenticate(req({ cookie: jar.only('tessera') }))).session.expiresAt).toBe(T0 + i * 100 + 60);
    }
  });

  it('authenticate refreshes transparently: an expired access cookie with the refresh cookie at hand', async () => {
    const { core, jar, clock, sid } = await pair();
    clock.set(T0 + 61);
    expect(codeOf(await core.authenticate(req({ cookie: jar.only('tessera') })))).toBe('TOKEN_EXPIRED');
    const r = ok(await core.authenticate(req({ cookie: jar.header })));
    expect(r.refreshed).toBe(true);
    expect(r.cookies).toHaveLength(2);
    expect(r.session).toMatchObject({ id: sid, expiresAt: T0 + 121, sessionExpiresAt: T0 + 3661 });
  });

  it('authenticate rotates inside the access window (20% of accessTtl) when the refresh cookie is sent', async () => {
    const { core, jar, clock } = await pair();
    clock.set(T0 + 47); // 13 s left of 60: outside the 12 s window
    expect(ok(await core.authenticate(req({ cookie: jar.header }))).refreshed).toBe(false);
    clock.set(T0 + 48);
    expect(ok(await core.authenticate(req({ cookie: jar.header }))).refreshed).toBe(true);
    // without the refresh cookie, the access token is simply accepted
    clock.set(T0 + 50);
    expect(ok(await core.authenticate(req({ cookie: jar.only('tessera') }))).refreshed).toBe(false);
  });

  it('the refresh is capped by absoluteTimeout', async () => {
    const { refresh, clock } = await pair({ absoluteTimeout: 100 });
    clock.set(T0 + 50);
    const reply = await refresh();
    const j = new Jar(reply);
    expect(setCookiesOf(reply)[1]).toBe(`tessera-refresh=${j.get('tessera-refresh')}; Path=/auth; Max-Age=50; Expires=${expires(T0 + 50, 50)}; HttpOnly; SameSite=Lax`);
    expect(decodeJwt(j.get('tessera')!).payload.exp).toBe(T0 + 100);
    expect(decodeJwt(j.get('tessera-refresh')!).payload.exp).toBe(T0 + 100);
    clock.set(T0 + 100);
    expectErrorReply(await refresh(j.header), 'SESSION_ENDED');
  });

  it('an expired refresh token: SESSION_ENDED, both cookies cleared', async () => {
    const { refresh, clock } = await pair();
    clock.set(T0 + 3600);
    const reply = await refresh();
    expectErrorReply(reply, 'SESSION_ENDED');
    expect(setCookiesOf(reply)).toEqual(CLEAR_ALL);
  });

  it('no refresh cookie: TOKEN_MISSING; a duplicated one, or an access token in its place: TOKEN_INVALID clearing both', async () => {
    const { refresh, jar } = await pair();
    expectErrorReply(await refresh(jar.only('tessera')), 'TOKEN_MISSING');
    const dup = await refresh(`${jar.header}; tessera-refresh=${jar.get('tessera-refresh')}`);
    expectErrorReply(dup, 'TOKEN_INVALID');
    expect(setCookiesOf(dup)).toEqual(CLEAR_ALL);
    const swapped = await refresh(`tessera-refresh=${jar.get('tessera')}`);
    expectErrorReply(swapped, 'TOKEN_INVALID');
    expect(setCookiesOf(swapped)).toEqual(CLEAR_ALL);
  });

  it('a refresh token is not an access token', async () => {
    const { core, jar } = await pair();
    expect(codeOf(await core.authenticate(req({ headers: { authorization: `Bearer ${jar.get('tessera-refresh')}` } })))).toBe('TOKEN_INVALID');
    expect(codeOf(await core.authenticate(req({ cookie: `tessera=${jar.get('tessera-refresh')}` })))).toBe('TOKEN_INVALID');
  });

  it('a non-browser client refreshes with the token in the body (tokenInLoginBody)', async () => {
    const { core, loginReply, clock } = await pair({ tokenInLoginBody: true });
    const { accessToken, refreshToken } = loginReply.body as { accessToken: string; refreshToken: string };
    expect(ok(await core.authenticate(req({ headers: { authorization: `Bearer ${accessToken}` } }))).session.subject).toBe('alice');
    clock.set(T0 + 120);
    expect(codeOf(await core.authenticate(req({ headers: { authorization: `Bearer ${accessToken}` } })))).toBe('TOKEN_EXPIRED');
    const reply = await core.route('refresh', post('/auth/refresh', { refreshToken }));
    expect(reply.status).toBe(200);
    const body = reply.body as { accessToken: string; refreshToken: string };
    expect(body.refreshToken).not.toBe(refreshToken);
    expect(ok(await core.authenticate(req({ headers: { authorization: `Bearer ${body.accessToken}` } }))).session.expiresAt).toBe(T0 + 180);
    expectErrorReply(await core.route('refresh', post('/auth/refresh', { refreshToken: 42 })), 'BAD_REQUEST');
    expectErrorReply(await core.route('refresh', post('/auth/refresh', {})), 'TOKEN_MISSING');
  });

  it("the refresh route keeps the middleware's final verdict: REFRESH_REUSED is not re-run into SESSION_ENDED", async () => {
    const { core, refresh, jar, clock } = await pair({ refreshReuse: { maxReuse: 10, graceSeconds: 10 } });
    clock.set(T0 + 10);
    expect((await refresh(jar.only('tessera-refresh'))).status).toBe(200); // rotated: the jar now holds a rotated-out token
    clock.set(T0 + 71); // access expired, grace over
    const request = post('/auth/refresh', undefined, { cookie: jar.header });
    const prior = await core.authenticate(request);
    expect(codeOf(prior)).toBe('REFRESH_REUSED');
    if (prior.ok) throw new Error('unreachable');
    const reply = await core.route('refresh', request, prior);
    expect(reply).toBe(prior.reply);
    expectErrorReply(reply, 'REFRESH_REUSED');
    expectErrorReply(await refresh(), 'SESSION_ENDED'); // what re-running it would have said
  });

  it('refreshable: false has no refresh: an expired access token stays expired', async () => {
    const { core, jar, clock } = await pair({ refreshable: false });
    clock.set(T0 + 60);
    expect(codeOf(await core.authenticate(req({ cookie: jar.header })))).toBe('TOKEN_EXPIRED');
  });
});

describe('pair mode: the reuse rule', () => {
  it('within graceSeconds, up to maxReuse times, the rotated-out token gets the very same successor', async () => {
    const { refresh, jar, clock, store, events, refreshRecords } = await pair({ refreshReuse: { maxReuse: 2, graceSeconds: 10 } });
    const r0 = jar.only('tessera-refresh');
    clock.set(T0 + 10);
    const first = await refresh(r0);
    expect(first.status).toBe(200);
    const successor = refreshValue(first)!;
    clock.set(T0 + 15);
    const again = await refresh(r0);
    expect(again.status).toBe(200);
    expect(refreshValue(again)).toBe(successor); // deterministic signing: the same token
    clock.set(T0 + 20); // exactly graceSeconds after the rotation
    const third = await refresh(r0);
    expect(third.status).toBe(200);
    expect(refreshValue(third)).toBe(successor);
    expect(await store.get(jtiOf(jar.get('tessera-refresh')!))).toMatchObject({ reuseCount: 2 });
    const refreshed = ofType(events, 'refreshed');
    expect(refreshed.map(e => e.grace)).toEqual([false, true, true]);
    const heads = (await refreshRecords()).filter(r => r.rotatedAt == null && r.revokedAt === null);
    expect(heads.map(r => r.id)).toEqual([jtiOf(successor)]);
  });

  it('over maxReuse: REFRESH_REUSED, the whole family revoked', async () => {
    const { refresh, jar, clock, store, sid, events, core, refreshRecords } = await pair({ refreshReuse: { maxReuse: 1, graceSeconds: 10 } });
    const r0 = jar.only('tessera-refresh');
    clock.set(T0 + 10);
    const first = await refresh(r0);
    expect((await refresh(r0)).status).toBe(200);
    const over = await refresh(r0);
    expectErrorReply(over, 'REFRESH_REUSED');
    expect(setCookiesOf(over)).toEqual(CLEAR_ALL);
    expect(await store.get(sid)).toMatchObject({ revokedAt: T0 + 10 });
    expect((await refreshRecords()).map(r => r.revokedAt)).toEqual([T0 + 10, T0 + 10]);
    expect(ofType(events, 'reuse-detected')).toEqual([{ type: 'reuse-detected', at: T0 + 10, sessionId: sid, subject: 'alice', tokenId: tokenIdOf(jtiOf(jar.get('tessera-refresh')!)) }]);
    expect(ofType(events, 'revoked')).toEqual([{ type: 'revoked', at: T0 + 10, by: 'reuse', where: { family: sid }, count: 3 }]);
    // the successor is dead too, and so is the access token
    expectErrorReply(await refresh(new Jar(first).header), 'SESSION_ENDED');
    expect(codeOf(await core.authenticate(req({ cookie: new Jar(first).only('tessera') })))).toBe('SESSION_ENDED');
  });

  it('past graceSeconds: REFRESH_REUSED at the first reuse', async () => {
    const { refresh, jar, clock, store, sid } = await pair({ refreshReuse: { maxReuse: 10, graceSeconds: 10 } });
    const r0 = jar.only('tessera-refresh');
    clock.set(T0 + 10);
    expect((await refresh(r0)).status).toBe(200);
    clock.set(T0 + 21);
    expectErrorReply(await refresh(r0), 'REFRESH_REUSED');
    expect((await store.get(sid))!.revokedAt).toBe(T0 + 21);
  });

  it('refreshReuse: false: any reuse is REFRESH_REUSED, even in the same second', async () => {
    const { refresh, jar, store, sid } = await pair({ refreshReuse: false });
    const r0 = jar.only('tessera-refresh');
    expect((await refresh(r0)).status).toBe(200);
    expectErrorReply(await refresh(r0), 'REFRESH_REUSED');
    expect((await store.get(sid))!.revokedAt).toBe(T0);
  });

  it('maxReuse 0: no reuse at all', async () => {
    const { refresh, jar } = await pair({ refreshReuse: { maxReuse: 0, graceSeconds: 10 } });
    const r0 = jar.only('tessera-refresh');
    expect((await refresh(r0)).status).toBe(200);
    expectErrorReply(await refresh(r0), 'REFRESH_REUSED');
  });

  it('concurrent refreshes with one token: exactly one rotation, the others get it by grace, one live head', async () => {
    const { refresh, jar, events, refreshRecords, store } = await pair();
    const replies = await Promise.all(Array.from({ length: 10 }, () => refresh(jar.only('tessera-refresh'))));
    expect(replies.map(r => r.status)).toEqual(Array(10).fill(200));
    const successors = new Set(replies.map(refreshValue));
    expect(successors.size).toBe(1);
    const records = await refreshRecords();
    expect(records).toHaveLength(2); // the original and one successor: no fork
    const heads = records.filter(r => r.rotatedAt == null && r.revokedAt === null);
    expect(heads.map(r => r.id)).toEqual([jtiOf([...successors][0]!)]);
    const refreshed = ofType(events, 'refreshed');
    expect(refreshed.filter(e => !e.grace)).toHaveLength(1);
    expect(refreshed.filter(e => e.grace)).toHaveLength(9);
    expect(ofType(events, 'reuse-detected')).toEqual([]);
    expect((await store.get(jtiOf(jar.get('tessera-refresh')!)))!.reuseCount).toBe(9);
  });
});

describe('pair mode: grace hands out the current head, however many generations behind', () => {
  /** R0 -> R1 -> ... -> Rn, Ri rotated at T0 + i (refresh cookie only); the refresh-only Cookie headers, oldest first. */
  async function chain(p: Awaited<ReturnType<typeof pair>>, n: number): Promise<string[]> {
    const gens = [p.jar.only('tessera-refresh')];
    for (let i = 0; i < n; i++) {
      p.clock.set(T0 + i);
      const reply = await p.refresh(gens[i]);
      expect(reply.status).toBe(200);
      gens.push(`tessera-refresh=${refreshValue(reply)}`);
    }
    return gens;
  }
  const valueOf = (cookie: string) => cookie.slice(cookie.indexOf('=') + 1);

  it('generations N, N+1, N+2 presented within grace all get the same head; nothing forks', async () => {
    const p = await pair();
    const gens = await chain(p, 3); // R0..R3, R3 the head
    const head = valueOf(gens[3]!);
    p.clock.set(T0 + 5);
    for (const g of [gens[0]!, gens[1]!, gens[2]!, gens[0]!]) {
      const reply = await p.refresh(g);
      expect(reply.status).toBe(200);
      expect(refreshValue(reply)).toBe(head); // deterministic signing: the very same token
    }
    const records = await p.refreshRecords();
    expect(records).toHaveLength(4);
    expect(records.filter(r => r.rotatedAt == null && r.revokedAt === null).map(r => r.id)).toEqual([jtiOf(head)]);
    expect(ofType(p.events, 'refreshed').map(e => e.grace)).toEqual([false, false, false, true, true, true, true]);
    expect(ofType(p.events, 'reuse-detected')).toEqual([]);
  });

  it('the plain sequence R0, R1, R0 within grace: 200 with the head', async () => {
    const p = await pair();
    const gens = await chain(p, 2);
    const third = await p.refresh(gens[0]);
    expect(third.status).toBe(200);
    expect(refreshValue(third)).toBe(valueOf(gens[2]!));
  });

  it("the grace runs from the presented token's own rotation: inclusive at graceSeconds; after it, reuse revokes the family", async () => {
    const p = await pair({ refreshReuse: { maxReuse: 1000, graceSeconds: 10 } });
    const gens = await chain(p, 3); // R0 rotated at T0, R1 at T0+1, R2 at T0+2
    p.clock.set(T0 + 10);
    expect(refreshValue(await p.refresh(gens[0]))).toBe(valueOf(gens[3]!));
    p.clock.set(T0 + 11); // R0's grace is over, R1's is not
    expect(refreshValue(await p.refresh(gens[1]))).toBe(valueOf(gens[3]!));
    const reused = await p.refresh(gens[0]);
    expectErrorReply(reused, 'REFRESH_REUSED');
    expect(setCookiesOf(reused)).toEqual(CLEAR_ALL);
    // theft detection: the whole family is revoked, the head included
    expect((await p.store.get(p.sid))!.revokedAt).toBe(T0 + 11);
    expect((await p.refreshRecords()).every(r => r.revokedAt === T0 + 11)).toBe(true);
    expectErrorReply(await p.refresh(gens[3]), 'SESSION_ENDED');
    expect(ofType(p.events, 'reuse-detected')).toHaveLength(1);
  });

  it('the walk is bounded: 16 hops are followed, a 17th is reuse', async () => {
    const p = await pair({ refreshReuse: { maxReuse: 1000, graceSeconds: 60 } });
    const gens = await chain(p, 18); // R18 the head
    p.clock.set(T0 + 18);
    expect(refreshValue(await p.refresh(gens[2]))).toBe(valueOf(gens[18]!)); // R3..R18: 16 hops
    expectErrorReply(await p.refresh(gens[1]), 'REFRESH_REUSED'); // 17 hops
  });

  it('the default maxReuse (1000) is not the limit of a burst', async () => {
    const p = await pair();
    const gens = await chain(p, 1);
    const replies = await Promise.all(Array.from({ length: 50 }, () => p.refresh(gens[0])));
    expect(replies.map(r => r.status)).toEqual(Array(50).fill(200));
    expect(new Set(replies.map(refreshValue))).toEqual(new Set([valueOf(gens[1]!)]));
  });
});

describe('pair mode: a refresh with a still-fresh access token does not rotate', () => {
  it('answers the session as it stands: 200, no cookies, nothing rotated, no event', async () => {
    const { refresh, jar, clock, store, sid, events } = await pair();
    const r0 = jtiOf(jar.get('tessera-refresh')!);
    clock.set(T0 + 30);
    const reply = await refresh(jar.header);
    expect(reply.status).toBe(200);
    expect(setCookiesOf(reply)).toEqual([]);
    expect(reply.body).toEqual({ user: { id: 'alice', name: 'Alice' }, id: sid, kind: 'session', mode: 'pair', createdAt: T0, expiresAt: T0 + 60, sessionExpiresAt: T0 + 3600 });
    expect((await store.get(r0))!.rotatedAt).toBeUndefined();
    expect(ofType(events, 'refreshed')).toEqual([]);
  });

  it('rotates when the access token is inside its refresh window, expired, or of another session', async () => {
    const { core, refresh, jar, clock } = await pair();
    clock.set(T0 + 48); // 12 s left of 60: inside the window
    const inWindow = await refresh(jar.header);
    expect(setCookiesOf(inWindow)).toHaveLength(2);
    jar.absorb(inWindow);
    clock.set(T0 + 48 + 61); // expired
    const expired = await refresh(jar.header);
    expect(setCookiesOf(expired)).toHaveLength(2);
    jar.absorb(expired);
    const bob = (await login(core, { username: 'bob', password: 'builder' })).jar;
    const mixed = await refresh(`${bob.only('tessera')}; ${jar.only('tessera-refresh')}`);
    expect(setCookiesOf(mixed)).toHaveLength(2);
    expect(decodeJwt(refreshValue(mixed)!).payload.sub).toBe('alice');
  });

  it('a rotated-out refresh token beside a fresh access token: the head within grace, REFRESH_REUSED after it', async () => {
    const { refresh, jar, clock, store, sid } = await pair();
    clock.set(T0 + 1);
    const rotated = await refresh(jar.only('tessera-refresh'));
    const next = new Jar(rotated);
    const stale = `${next.only('tessera')}; ${jar.only('tessera-refresh')}`; // fresh access, R0
    clock.set(T0 + 5);
    const inGrace = await refresh(stale);
    expect(refreshValue(inGrace)).toBe(next.get('tessera-refresh'));
    clock.set(T0 + 12);
    expectErrorReply(await refresh(stale), 'REFRESH_REUSED');
    expect((await store.get(sid))!.revokedAt).toBe(T0 + 12);
  });

  it('a revoked session is still refused (SESSION_ENDED)', async () => {
    const { core, refresh, jar, sid } = await pair();
    await core.revokeSession(sid);
    expectErrorReply(await refresh(jar.header), 'SESSION_ENDED');
  });

  it('tokenInLoginBody: a fresh bearer access token with the body refresh token gets no new tokens', async () => {
    const { core, loginReply, clock } = await pair({ tokenInLoginBody: true });
    const { accessToken, refreshToken } = loginReply.body as { accessToken: string; refreshToken: string };
    clock.set(T0 + 10);
    const reply = await core.route('refresh', post('/auth/refresh', { refreshToken }, { headers: { authorization: `Bearer ${accessToken}` } }));
    expect(reply.status).toBe(200);
    expect(setCookiesOf(reply)).toEqual([]);
    expect(reply.body).not.toHaveProperty('accessToken');
    expect(reply.body).not.toHaveProperty('refreshToken');
    const rotated = await core.route('refresh', post('/auth/refresh', { refreshToken }));
    expect(rotated.body).toHaveProperty('refreshToken');
  });
});
