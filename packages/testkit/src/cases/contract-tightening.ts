/** Contract tightening: no grace at `graceSeconds: 0`, a bounded token lifetime, session tokens refused as Bearer (`bearerSessions: false`), and the per-user session cap. */
import { describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { cookieHeader, type SuiteContext, type TestApp } from '../adapter-suite.js';
import { SECRET, SECRET_KID, USERS } from '../fixtures.js';
import { basic, basicLoginRequest, clearedCookie, cookiesOf, decodeJwt, expectError } from './helpers.js';
import { sessionIdOf } from '@tessera/core';

const PAIR = { mode: 'pair', accessTtl: 60, refreshTtl: 3600 } as const;
const key = new TextEncoder().encode(SECRET);

/** A token signed with the suite's own secret and kid: genuine to the server, whatever its times say. */
function forge(typ: 'session' | 'access' | 'refresh', payload: Record<string, unknown>): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: `tessera-${typ}+jwt`, kid: SECRET_KID }).sign(key);
}

const refreshName = (app: TestApp) => `${app.cookieName}-refresh`;
const refreshOnly = (app: TestApp, jar: Record<string, string>) => `${refreshName(app)}=${jar[refreshName(app)]}`;
const sidOf = (login: { jar: Record<string, string> }, app: TestApp) => sessionIdOf(decodeJwt(login.jar[app.cookieName]!).payload.sid as string);
const reasons = (app: TestApp) => app.events.flatMap(e => (e.type === 'rejected' ? [e.reason] : []));

export default function contractTightening(ctx: SuiteContext): void {
  describe('contract tightening', () => {
    describe('refreshReuse.graceSeconds: 0', () => {
      it('means no grace: a rotated-out refresh token presented again in the same second is REFRESH_REUSED', async () => {
        const app = await ctx.app({ ...PAIR, refreshReuse: { maxReuse: 5, graceSeconds: 0 } });
        const login = await app.login();
        const r0 = refreshOnly(app, login.jar);
        const first = await app.http().post('/auth/refresh').set('Cookie', r0);
        expect(first.status).toBe(200);
        const successor = cookieHeader(cookiesOf(first), login.jar);
        const replay = await app.http().post('/auth/refresh').set('Cookie', r0); // the clock has not moved
        expectError(replay, 'REFRESH_REUSED');
        expect(cookiesOf(replay).map(c => c.raw)).toEqual([clearedCookie(app.cookieName), clearedCookie(refreshName(app), '/auth')]);
        // the family is revoked: the successor is dead too
        expectError(await app.http().get('/api/me').set('Cookie', successor.cookie), 'SESSION_ENDED');
        expect(app.events.filter(e => e.type === 'reuse-detected')).toHaveLength(1);
      });

      it('graceSeconds: 1 still hands the head to a same-second reuse', async () => {
        const app = await ctx.app({ ...PAIR, refreshReuse: { maxReuse: 5, graceSeconds: 1 } });
        const login = await app.login();
        const r0 = refreshOnly(app, login.jar);
        const first = await app.http().post('/auth/refresh').set('Cookie', r0);
        const again = await app.http().post('/auth/refresh').set('Cookie', r0);
        expect(again.status).toBe(200);
        expect(cookieHeader(cookiesOf(again)).jar[refreshName(app)]).toBe(cookieHeader(cookiesOf(first)).jar[refreshName(app)]);
      });
    });

    describe('token lifetime (exp - iat) bounded by what this server issues', () => {
      it('sliding: longer than ttl + clockTolerance is TOKEN_INVALID (reason lifetime), access cookie cleared, cached or not', async () => {
        const app = await ctx.app({ ttl: 3600, clockTolerance: 5 });
        const { payload } = decodeJwt((await app.login()).cookies[0]!.value);
        const now = ctx.clock.now();
        const cookie = async (iat: number, exp: number) => `${app.cookieName}=${await forge('session', { ...payload, iat, exp })}`;
        // at the bound: accepted (and outside the reissue window, so nothing is reissued)
        expect((await app.http().get('/api/me').set('Cookie', await cookie(now, now + 3605))).status).toBe(200);
        for (const [iat, exp] of [
          [now, now + 3606], // one second too long
          [now - 100_000, now + 60], // an old iat: lives far longer than any token issued here
          [now, now + 10 * 365 * 86_400], // ten years
        ] as const) {
          const forged = await cookie(iat, exp);
          for (let i = 0; i < 2; i++) {
            // twice: a refused token must not be answered from the verified-token cache either
            const res = await app.http().get('/api/me').set('Cookie', forged);
            expectError(res, 'TOKEN_INVALID');
            expect(cookiesOf(res).map(c => c.raw)).toEqual([clearedCookie(app.cookieName)]);
          }
        }
        expect(new Set(reasons(app))).toEqual(new Set(['lifetime']));
      });

      it('pair: an access token longer than accessTtl, a refresh token longer than refreshTtl (+ clockTolerance) are TOKEN_INVALID', async () => {
        const app = await ctx.app({ ...PAIR, clockTolerance: 5 });
        const login = await app.login();
        const now = ctx.clock.now();
        const access = decodeJwt(login.jar[app.cookieName]!).payload;
        const refresh = decodeJwt(login.jar[refreshName(app)]!).payload;
        const accessCookie = async (exp: number) => `${app.cookieName}=${await forge('access', { ...access, iat: now, exp })}`;
        expect((await app.http().get('/api/me').set('Cookie', await accessCookie(now + 65))).status).toBe(200);
        const longAccess = await app.http().get('/api/me').set('Cookie', await accessCookie(now + 66));
        expectError(longAccess, 'TOKEN_INVALID');
        expect(cookiesOf(longAccess).map(c => c.raw)).toEqual([clearedCookie(app.cookieName)]);

        // a refresh token is judged at the refresh route: refused before the store is asked, every cookie cleared
        const refreshCookie = async (exp: number) => `${refreshName(app)}=${await forge('refresh', { ...refresh, iat: now, exp })}`;
        const longRefresh = await app.http().post('/auth/refresh').set('Cookie', await refreshCookie(now + 3606));
        expectError(longRefresh, 'TOKEN_INVALID');
        expect(cookiesOf(longRefresh).map(c => c.raw)).toEqual([clearedCookie(app.cookieName), clearedCookie(refreshName(app), '/auth')]);
        expect(new Set(reasons(app))).toEqual(new Set(['lifetime', 'refresh-lifetime']));
        // the genuine refresh record was not consumed; a token at the bound rotates it
        expect((await app.http().post('/auth/refresh').set('Cookie', await refreshCookie(now + 3605))).status).toBe(200);
      });
    });

    describe('bearerSessions: false', () => {
      it('refuses a session token sent as Bearer (401 TOKEN_INVALID, cookies untouched); the cookie and API tokens still work', async () => {
        const store = ctx.newStore();
        const open = await ctx.app({ store });
        const strict = await ctx.app({ store, bearerSessions: false });
        const login = await strict.login();
        const token = login.jar[strict.cookieName]!;
        const bearer = `Bearer ${token}`;
        // the default accepts it
        expect((await open.http().get('/api/me').set('Authorization', bearer)).status).toBe(200);
        const res = await strict.http().get('/api/me').set('Authorization', bearer);
        expectError(res, 'TOKEN_INVALID');
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(strict.events.find(e => e.type === 'rejected')).toMatchObject({ code: 'TOKEN_INVALID', reason: 'bearer-session' });
        // the header is refused, not skipped, even beside a good cookie
        expectError(await strict.http().get('/api/me').set('Authorization', bearer).set('Cookie', login.cookie), 'TOKEN_INVALID');
        expect((await strict.http().get('/api/me').set('Cookie', login.cookie)).status).toBe(200);
        // API tokens are bearer credentials by nature
        const { token: api } = await strict.core.createApiToken({ user: USERS.alice!.user });
        expect((await strict.http().get('/api/me').set('Authorization', `Bearer ${api}`)).status).toBe(200);
      });

      it('pair: a Bearer access token is refused, and does not stand in for a fresh access cookie at the refresh route', async () => {
        const app = await ctx.app({ ...PAIR, bearerSessions: false });
        const login = await app.login();
        const bearer = `Bearer ${login.jar[app.cookieName]}`;
        expectError(await app.http().get('/api/me').set('Authorization', bearer), 'TOKEN_INVALID');
        // with a fresh access cookie the refresh route rotates nothing; a fresh access token as Bearer does not count
        const res = await app.http().post('/auth/refresh').set('Authorization', bearer).set('Cookie', refreshOnly(app, login.jar));
        expect(res.status).toBe(200);
        expect(cookiesOf(res).map(c => c.name)).toEqual([app.cookieName, refreshName(app)]);
      });
    });

    describe('maxSessionsPerUser', () => {
      const me = (app: TestApp, cookie: string) => app.http().get('/api/me').set('Cookie', cookie);

      it('a login beyond the cap ends the oldest session; API tokens and other users neither count nor end', async () => {
        const app = await ctx.app({ maxSessionsPerUser: 2 });
        const { token: api } = await app.core.createApiToken({ user: USERS.alice!.user });
        const bob = await app.login('bob');
        const first = await app.login();
        ctx.clock.advance(1);
        const second = await app.login();
        ctx.clock.advance(1);
        expect((await me(app, first.cookie)).status).toBe(200); // two sessions: at the cap, nothing ended yet
        const third = await app.login();
        expectError(await me(app, first.cookie), 'SESSION_ENDED');
        for (const s of [second, third, bob]) expect((await me(app, s.cookie)).status).toBe(200);
        expect((await app.http().get('/api/me').set('Authorization', `Bearer ${api}`)).status).toBe(200);
        const { sessions } = await app.core.listSessions('alice');
        expect(sessions.map(s => s.id).sort()).toEqual([sidOf(second, app), sidOf(third, app)].sort());
        expect(app.events.filter(e => e.type === 'revoked')).toEqual([{ type: 'revoked', at: ctx.clock.now(), by: 'session-cap', where: { family: sidOf(first, app) }, count: 1 }]);
        // issue() (HTTP Basic here) is a login too
        expect((await basicLoginRequest(app, basic('alice', 'wonderland'))).status).toBe(200);
        expectError(await me(app, second.cookie), 'SESSION_ENDED');
        expect((await me(app, third.cookie)).status).toBe(200);
      });

      it('sessions started before the cap was set: the login ends as many of the oldest as needed to leave exactly the cap', async () => {
        const store = ctx.newStore();
        const open = await ctx.app({ store });
        const logins = [];
        for (let i = 0; i < 4; i++) {
          logins.push(await open.login());
          ctx.clock.advance(1);
        }
        const capped = await ctx.app({ store, maxSessionsPerUser: 2 });
        const latest = await capped.login();
        const { sessions } = await capped.core.listSessions('alice');
        expect(sessions.map(s => s.id).sort()).toEqual([sidOf(logins[3]!, capped), sidOf(latest, capped)].sort());
        for (const l of logins.slice(0, 3)) expectError(await me(capped, l.cookie), 'SESSION_ENDED');
      });

      it('pair mode: the ended session cannot be refreshed either', async () => {
        const app = await ctx.app({ ...PAIR, maxSessionsPerUser: 1 });
        const first = await app.login();
        ctx.clock.advance(1);
        const second = await app.login();
        expectError(await app.http().post('/auth/refresh').set('Cookie', refreshOnly(app, first.jar)), 'SESSION_ENDED');
        expect((await app.http().post('/auth/refresh').set('Cookie', refreshOnly(app, second.jar))).status).toBe(200);
      });

      it('counts per tenant: a login in one tenant never ends a session in another', async () => {
        const app = await ctx.app({ maxSessionsPerUser: 1, tenant: req => req.header('x-tenant') ?? null });
        const loginAt = async (tenant: string) => {
          const res = await app.http().post('/auth/login').set('X-Tenant', tenant).send({ username: 'alice', password: 'wonderland' });
          expect(res.status).toBe(200);
          return cookieHeader(cookiesOf(res)).cookie;
        };
        const acme = await loginAt('acme');
        ctx.clock.advance(1);
        const globex = await loginAt('globex');
        expect((await me(app, acme).set('X-Tenant', 'acme')).status).toBe(200);
        expect((await me(app, globex).set('X-Tenant', 'globex')).status).toBe(200);
        ctx.clock.advance(1);
        await loginAt('acme');
        expectError(await me(app, acme).set('X-Tenant', 'acme'), 'SESSION_ENDED');
        expect((await me(app, globex).set('X-Tenant', 'globex')).status).toBe(200);
      });
    });
  });
}
