import { describe, expect, it } from '@jest/globals';
import { cookieHeader, type SuiteContext, type TestApp } from '../adapter-suite.js';
import { basic, basicLoginRequest, clearedCookie, cookiesOf, decodeJwt, expectError } from './helpers.js';

const PAIR = { mode: 'pair', accessTtl: 60, refreshTtl: 3600 } as const;

function sensitive(app: TestApp, cookie?: string) {
  const r = app.http().post('/api/sensitive');
  return cookie === undefined ? r : r.set('Cookie', cookie);
}

/** 401 REAUTH_REQUIRED with the cookies left as they are: the session is fine, only too old for this. */
function expectReauth(res: Awaited<ReturnType<typeof sensitive>>): void {
  expectError(res, 'REAUTH_REQUIRED');
  expect(res.headers['set-cookie']).toBeUndefined();
}

export default function freshness(ctx: SuiteContext): void {
  describe('requireFresh: sensitive actions need a recent login', () => {
    it('200 within freshAge (600 s by default), then 401 REAUTH_REQUIRED with no Set-Cookie; the session itself lives on', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login();
      const ok = await sensitive(app, cookie);
      expect({ status: ok.status, body: ok.body }).toEqual({ status: 200, body: { ok: true } });
      expect(ok.headers['set-cookie']).toBeUndefined();
      ctx.clock.advance(600);
      expect((await sensitive(app, cookie)).status).toBe(200);
      ctx.clock.advance(1);
      expectReauth(await sensitive(app, cookie));
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
      expect(app.events.find(e => e.type === 'rejected' && e.code === 'REAUTH_REQUIRED')).toMatchObject({ path: '/api/sensitive', subject: 'alice' });
    });

    it('a sliding reissue does not make the login fresh: createdAt stays the login time', async () => {
      const app = await ctx.app({ ttl: 1000 });
      const login = await app.login();
      const loginAt = ctx.clock.now();
      ctx.clock.advance(850); // inside the last 20%: the next request reissues
      const me = await app.http().get('/api/me').set('Cookie', login.cookie);
      expect(me.status).toBe(200);
      const reissued = cookieHeader(cookiesOf(me), login.jar);
      expect(decodeJwt(reissued.jar.tessera!).payload.iat).toBe(ctx.clock.now());
      expectReauth(await sensitive(app, reissued.cookie));
      // and an explicit refresh neither
      const refreshed = await app.http().post('/auth/refresh').set('Cookie', reissued.cookie);
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.createdAt).toBe(loginAt);
      expectReauth(await sensitive(app, cookieHeader(cookiesOf(refreshed), reissued.jar).cookie));
    });

    it('pair mode: a refresh does not make the login fresh', async () => {
      const app = await ctx.app(PAIR);
      const login = await app.login();
      const loginAt = ctx.clock.now();
      ctx.clock.advance(601);
      const refreshed = await app.http().post('/auth/refresh').set('Cookie', login.cookie);
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.createdAt).toBe(loginAt);
      const next = cookieHeader(cookiesOf(refreshed), login.jar);
      expect(Object.keys(next.jar)).toEqual(['tessera', 'tessera-refresh']);
      expectReauth(await sensitive(app, next.cookie));
      expect((await app.http().get('/api/me').set('Cookie', next.cookie)).status).toBe(200);
    });

    it('a new login (route or issue) makes it fresh again', async () => {
      const app = await ctx.app();
      const first = await app.login();
      ctx.clock.advance(700);
      expectReauth(await sensitive(app, first.cookie));
      const again = await app.http().post('/auth/login').set('Cookie', first.cookie).send({ username: 'alice', password: 'wonderland' });
      expect(again.status).toBe(200);
      const second = cookieHeader(cookiesOf(again));
      expect((await sensitive(app, second.cookie)).status).toBe(200);
      ctx.clock.advance(700);
      expectReauth(await sensitive(app, second.cookie));
      const viaBasic = await basicLoginRequest(app, basic('alice', 'wonderland'), second.cookie);
      expect(viaBasic.status).toBe(200);
      expect((await sensitive(app, cookieHeader(cookiesOf(viaBasic)).cookie)).status).toBe(200);
    });

    it('a custom freshAge', async () => {
      const app = await ctx.app({ freshAge: 60 });
      const { cookie } = await app.login();
      ctx.clock.advance(60);
      expect((await sensitive(app, cookie)).status).toBe(200);
      ctx.clock.advance(1);
      expectReauth(await sensitive(app, cookie));
      const strict = await ctx.app({ freshAge: 0 });
      const s = await strict.login();
      expect((await sensitive(strict, s.cookie)).status).toBe(200); // the same second
      ctx.clock.advance(1);
      expectReauth(await sensitive(strict, s.cookie));
    });

    it('API tokens are never a fresh login: 403 FORBIDDEN', async () => {
      const app = await ctx.app();
      const { token } = await app.core.createApiToken({ user: { id: 'alice', name: 'Alice' } });
      const res = await app.http().post('/api/sensitive').set('Authorization', `Bearer ${token}`);
      expectError(res, 'FORBIDDEN');
      expect(res.headers['set-cookie']).toBeUndefined();
      expect((await app.http().get('/api/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    });

    it('anonymous: 401 TOKEN_MISSING; an ended session: SESSION_ENDED with its cookie cleared', async () => {
      const app = await ctx.app();
      const anon = await sensitive(app);
      expectError(anon, 'TOKEN_MISSING');
      expect(anon.headers['set-cookie']).toBeUndefined();
      const { cookie } = await app.login();
      await app.http().post('/auth/logout').set('Cookie', cookie);
      const ended = await sensitive(app, cookie);
      expectError(ended, 'SESSION_ENDED');
      expect(cookiesOf(ended).map(c => c.raw)).toEqual([clearedCookie('tessera')]);
    });
  });
}
