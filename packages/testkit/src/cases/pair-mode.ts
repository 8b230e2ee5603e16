import { describe, expect, it } from '@jest/globals';
import { cookieHeader, type SuiteContext } from '../adapter-suite.js';
import { EPOCH, cookiesOf, decodeJwt, expectError, expires } from './helpers.js';

const PAIR = { mode: 'pair', accessTtl: 60, refreshTtl: 3600 } as const;

/** The Cookie header with the refresh cookie alone (a client whose access token is gone). */
const refreshOnly = (app: { cookieName: string }, jar: Record<string, string>) => `${app.cookieName}-refresh=${jar[`${app.cookieName}-refresh`]}`;

export default function pairMode(ctx: SuiteContext): void {
  describe('pair mode: access + refresh tokens', () => {
    it('login sets a short access cookie and a refresh cookie scoped to the auth routes', async () => {
      const app = await ctx.app(PAIR);
      const now = ctx.clock.now();
      const res = await app.login();
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ user: { id: 'alice' }, expiresAt: now + 60, sessionExpiresAt: now + 3600 });
      const [access, refresh] = res.cookies;
      expect(access!.raw).toBe(`${app.cookieName}=${access!.value}; Path=/; Max-Age=3600; Expires=${expires(now, 3600)}; HttpOnly; SameSite=Lax`);
      expect(refresh!.raw).toBe(`${app.cookieName}-refresh=${refresh!.value}; Path=/auth; Max-Age=3600; Expires=${expires(now, 3600)}; HttpOnly; SameSite=Lax`);
      expect(decodeJwt(access!.value)).toMatchObject({ header: { typ: 'tessera-access+jwt' }, payload: { exp: now + 60 } });
      expect(decodeJwt(refresh!.value)).toMatchObject({ header: { typ: 'tessera-refresh+jwt' }, payload: { exp: now + 3600 } });
      // a refresh token is not an access token, and vice versa
      expectError(await app.http().get('/api/me').set('Cookie', `${app.cookieName}=${refresh!.value}`), 'TOKEN_INVALID');
      expect((await app.http().get('/api/me').set('Cookie', `${app.cookieName}=${access!.value}`)).status).toBe(200);
    });

    it('an expired access token gets TOKEN_EXPIRED; POST /auth/refresh rotates both tokens', async () => {
      const app = await ctx.app(PAIR);
      const login = await app.login();
      const accessOnly = `${app.cookieName}=${login.jar[app.cookieName]}`;
      ctx.clock.advance(66); // 60 s lifetime + the default 5 s clock tolerance
      const expired = await app.http().get('/api/me').set('Cookie', accessOnly);
      expectError(expired, 'TOKEN_EXPIRED');
      expect(expired.headers['set-cookie']).toBeUndefined();
      const now = ctx.clock.now();
      const res = await app.http().post('/auth/refresh').set('Cookie', login.cookie);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ user: { id: 'alice' }, expiresAt: now + 60 });
      const cookies = cookiesOf(res);
      expect(cookies.map(c => c.name)).toEqual([app.cookieName, `${app.cookieName}-refresh`]);
      const oldRefresh = decodeJwt(login.jar[`${app.cookieName}-refresh`]!).payload;
      const newRefresh = decodeJwt(cookies[1]!.value).payload;
      expect(newRefresh.jti).not.toBe(oldRefresh.jti);
      expect(newRefresh.sid).toBe(oldRefresh.sid);
      expect(newRefresh.exp).toBe(now + 3600);
      const next = cookieHeader(cookies, login.jar);
      expect((await app.http().get('/api/me').set('Cookie', next.cookie)).status).toBe(200);
      expect(app.events.some(e => e.type === 'refreshed' && e.mode === 'pair')).toBe(true);
    });

    it('transparent refresh when the refresh cookie reaches the route (refreshCookie.path "/")', async () => {
      const app = await ctx.app({ ...PAIR, refreshCookie: { path: '/' } });
      const login = await app.login();
      expect(login.cookies[1]!.attrs.path).toBe('/');
      ctx.clock.advance(120);
      const res = await app.http().get('/api/me').set('Cookie', login.cookie);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ user: { id: 'alice', name: 'Alice' } });
      expect(cookiesOf(res).map(c => c.name)).toEqual([app.cookieName, `${app.cookieName}-refresh`]);
      // with only the refresh cookie (the access cookie was dropped) the same happens
      const onlyRefresh = `${app.cookieName}-refresh=${cookieHeader(cookiesOf(res)).jar[`${app.cookieName}-refresh`]}`;
      const again = await app.http().get('/api/me').set('Cookie', onlyRefresh);
      expect(again.status).toBe(200);
    });

    it('reusing a rotated-out refresh token outside the grace rules revokes the whole family', async () => {
      const app = await ctx.app({ ...PAIR, refreshReuse: false });
      const login = await app.login();
      const first = await app.http().post('/auth/refresh').set('Cookie', refreshOnly(app, login.jar));
      expect(first.status).toBe(200);
      const successor = cookieHeader(cookiesOf(first), login.jar);
      const replay = await app.http().post('/auth/refresh').set('Cookie', refreshOnly(app, login.jar));
      expectError(replay, 'REFRESH_REUSED');
      expect(cookiesOf(replay).map(c => c.raw)).toEqual([
        `${app.cookieName}=; Path=/; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`,
        `${app.cookieName}-refresh=; Path=/auth; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`,
      ]);
      // every token descended from that login is dead now
      expectError(await app.http().get('/api/me').set('Cookie', successor.cookie), 'SESSION_ENDED');
      expectError(await app.http().post('/auth/refresh').set('Cookie', successor.cookie), 'SESSION_ENDED');
      expect(app.events.find(e => e.type === 'reuse-detected')).toMatchObject({ subject: 'alice' });
    });

    it('grace: a rotated-out token may be presented maxReuse times within graceSeconds (when set that low)', async () => {
      const app = await ctx.app({ ...PAIR, refreshReuse: { maxReuse: 2, graceSeconds: 10 } });
      const login = await app.login();
      const r0 = refreshOnly(app, login.jar);
      const first = await app.http().post('/auth/refresh').set('Cookie', r0);
      const successorToken = cookieHeader(cookiesOf(first)).jar[`${app.cookieName}-refresh`];
      ctx.clock.advance(5);
      for (let i = 0; i < 2; i++) {
        const again = await app.http().post('/auth/refresh').set('Cookie', r0);
        expect(again.status).toBe(200);
        // the honest client gets the same successor, not a fork
        const jti = decodeJwt(cookieHeader(cookiesOf(again)).jar[`${app.cookieName}-refresh`]!).payload.jti;
        expect(jti).toBe(decodeJwt(successorToken!).payload.jti);
      }
      expectError(await app.http().post('/auth/refresh').set('Cookie', r0), 'REFRESH_REUSED');
    });

    it('grace ends after graceSeconds', async () => {
      const app = await ctx.app({ ...PAIR, refreshReuse: { maxReuse: 5, graceSeconds: 10 } });
      const login = await app.login();
      const r0 = refreshOnly(app, login.jar);
      expect((await app.http().post('/auth/refresh').set('Cookie', r0)).status).toBe(200);
      ctx.clock.advance(11);
      expectError(await app.http().post('/auth/refresh').set('Cookie', r0), 'REFRESH_REUSED');
    });

    it('POST /auth/refresh with a still-fresh access token rotates nothing: 200, the session, no cookies', async () => {
      const app = await ctx.app(PAIR);
      const login = await app.login();
      ctx.clock.advance(30); // 30 s of 60 left: outside the refresh window
      const now = ctx.clock.now();
      const res = await app.http().post('/auth/refresh').set('Cookie', login.cookie);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ user: { id: 'alice' }, mode: 'pair', expiresAt: now + 30 });
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(app.events.filter(e => e.type === 'refreshed')).toHaveLength(0);
      // the refresh token is untouched: it still rotates, once
      const rotated = await app.http().post('/auth/refresh').set('Cookie', refreshOnly(app, login.jar));
      expect(cookiesOf(rotated).map(c => c.name)).toEqual([app.cookieName, `${app.cookieName}-refresh`]);
    });

    it('logout ends this login only; another client of the same user stays signed in', async () => {
      const app = await ctx.app(PAIR);
      const laptop = await app.login();
      const phone = await app.login();
      const out = await app.http().post('/auth/logout').set('Cookie', laptop.cookie);
      expect(out.status).toBe(204);
      expect(cookiesOf(out)).toHaveLength(2);
      expectError(await app.http().get('/api/me').set('Cookie', laptop.cookie), 'SESSION_ENDED');
      expectError(await app.http().post('/auth/refresh').set('Cookie', laptop.cookie), 'SESSION_ENDED');
      expect((await app.http().get('/api/me').set('Cookie', phone.cookie)).status).toBe(200);
      expect((await app.http().post('/auth/refresh').set('Cookie', phone.cookie)).status).toBe(200);
    });

    it('an expired refresh token ends the session', async () => {
      const app = await ctx.app(PAIR);
      const login = await app.login();
      ctx.clock.advance(3700);
      expectError(await app.http().post('/auth/refresh').set('Cookie', login.cookie), 'SESSION_ENDED');
    });
  });
}
