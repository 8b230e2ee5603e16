import { describe, expect, it } from '@jest/globals';
import {
  BOB,
  EPOCH,
  T0,
  codeOf,
  decodeJwt,
  expectErrorReply,
  headerOf,
  login,
  post,
  req,
  setCookiesOf,
  setup,
  type ReqInit,
} from './helpers.js';
import { sessionIdOf } from '../src/lib/at-rest.js';

const CLEAR_ACCESS = `tessera=; Path=/; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`;
const CLEAR_REFRESH = `tessera-refresh=; Path=/auth; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`;

async function signedIn(options: Parameters<typeof setup>[0] = {}) {
  const s = setup(options);
  const { jar } = await login(s.core);
  const sid = sessionIdOf(decodeJwt(jar.get('tessera')!).payload.sid as string);
  const logout = (init: ReqInit = {}) => s.core.route('logout', post('/auth/logout', undefined, init));
  return { ...s, jar, sid, logout };
}

describe('logout', () => {
  it('sliding: 204, the cookie cleared, the session revoked, a revoked event', async () => {
    const { logout, jar, store, sid, events, core } = await signedIn();
    const reply = await logout({ cookie: jar.header });
    expect(reply.status).toBe(204);
    expect(reply.body).toBeNull();
    expect(headerOf(reply, 'cache-control')).toBe('no-store');
    expect(setCookiesOf(reply)).toEqual([CLEAR_ACCESS]);
    expect((await store.get(sid))!.revokedAt).toBe(T0);
    expect(events.filter(e => e.type === 'revoked')).toEqual([{ type: 'revoked', at: T0, by: 'logout', where: { family: sid }, count: 1 }]);
    expect(codeOf(await core.authenticate(req({ cookie: jar.header })))).toBe('SESSION_ENDED');
  });

  it('pair mode: both cookies cleared, the session and its refresh tokens revoked', async () => {
    const { logout, jar, store, sid, events, core } = await signedIn({ mode: 'pair' });
    const reply = await logout({ cookie: jar.header });
    expect(reply.status).toBe(204);
    expect(setCookiesOf(reply)).toEqual([CLEAR_ACCESS, CLEAR_REFRESH]);
    const rid = decodeJwt(jar.get('tessera-refresh')!).payload.jti as string;
    expect((await store.get(sid))!.revokedAt).toBe(T0);
    expect((await store.get(rid))!.revokedAt).toBe(T0);
    expect(events.filter(e => e.type === 'revoked')).toEqual([{ type: 'revoked', at: T0, by: 'logout', where: { family: sid }, count: 2 }]);
    expectErrorReply(await core.route('refresh', post('/auth/refresh', undefined, { cookie: jar.header })), 'SESSION_ENDED');
  });

  it('pair mode: the refresh cookie alone is enough (the access cookie already gone)', async () => {
    const { logout, jar, store, sid } = await signedIn({ mode: 'pair' });
    expect((await logout({ cookie: jar.only('tessera-refresh') })).status).toBe(204);
    expect((await store.get(sid))!.revokedAt).toBe(T0);
  });

  it('expired tokens still end their session', async () => {
    const { logout, jar, store, sid, clock, core } = await signedIn({ ttl: 100, refreshable: false });
    clock.set(T0 + 10_000);
    expect(codeOf(await core.authenticate(req({ cookie: jar.header })))).toBe('TOKEN_EXPIRED');
    expect((await logout({ cookie: jar.header })).status).toBe(204);
    expect((await store.get(sid))!.revokedAt).toBe(T0 + 10_000);
  });

  it('pair mode: an expired refresh token still ends its session', async () => {
    const { logout, jar, store, sid, clock } = await signedIn({ mode: 'pair', accessTtl: 60, refreshTtl: 600 });
    clock.set(T0 + 5000);
    expect((await logout({ cookie: jar.only('tessera-refresh') })).status).toBe(204);
    expect((await store.get(sid))!.revokedAt).toBe(T0 + 5000);
  });

  it('a bearer session token is ended too; every session presented is ended', async () => {
    const { logout, jar, store, sid, core } = await signedIn();
    const { jar: bobJar } = await login(core, BOB);
    const bobSid = sessionIdOf(decodeJwt(bobJar.get('tessera')!).payload.sid as string);
    expect((await logout({ cookie: jar.header, headers: { authorization: `Bearer ${bobJar.get('tessera')}` } })).status).toBe(204);
    expect((await store.get(sid))!.revokedAt).toBe(T0);
    expect((await store.get(bobSid))!.revokedAt).toBe(T0);
  });

  it('no credentials, or tokens that are not genuine: 204 and the cookies cleared, nothing revoked', async () => {
    const { logout, store, sid, events, jar } = await signedIn({ mode: 'pair' });
    const none = await logout();
    expect(none.status).toBe(204);
    expect(setCookiesOf(none)).toEqual([CLEAR_ACCESS, CLEAR_REFRESH]);
    const [h, p] = jar.get('tessera')!.split('.');
    const forged = `${h}.${p}.${'A'.repeat(43)}`;
    expect((await logout({ cookie: `tessera=${forged}; tessera-refresh=garbage` })).status).toBe(204);
    expect((await store.get(sid))!.revokedAt).toBeNull();
    expect(events.filter(e => e.type === 'revoked')).toEqual([]);
  });

  it('an API token is not ended by logout', async () => {
    const { logout, core, store } = await signedIn();
    const { token, info } = await core.createApiToken({ user: { id: 'alice' } });
    expect((await logout({ headers: { authorization: `Bearer ${token}` } })).status).toBe(204);
    expect((await store.get(info.id))!.revokedAt).toBeNull();
  });

  it('cross-origin: 403 CSRF_FAILED, nothing revoked, nothing cleared', async () => {
    const { logout, jar, store, sid } = await signedIn();
    const reply = await logout({ cookie: jar.header, headers: { origin: 'https://evil.example', host: 'app.example' } });
    expectErrorReply(reply, 'CSRF_FAILED');
    expect(setCookiesOf(reply)).toEqual([]);
    expect((await store.get(sid))!.revokedAt).toBeNull();
  });
});
