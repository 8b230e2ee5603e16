import { describe, expect, it } from '@jest/globals';
import type { SuiteContext } from '../adapter-suite.js';
import { cookiesOf, decodeJwt, expectError, expires } from './helpers.js';
import { sessionIdOf } from '@tessera/core';

export default function slidingRefresh(ctx: SuiteContext): void {
  describe('sliding refresh', () => {
    it('reissues inside the refresh window only, extending the record', async () => {
      const app = await ctx.app({ ttl: 1000, refreshBefore: '20%' });
      const { cookie, cookies } = await app.login();
      const sid = sessionIdOf(decodeJwt(cookies[0]!.value).payload.sid as string);
      ctx.clock.advance(700);
      const early = await app.http().get('/api/me').set('Cookie', cookie);
      expect(early.status).toBe(200);
      expect(early.headers['set-cookie']).toBeUndefined();
      ctx.clock.advance(150); // 150 s left of 1000: inside the last 20%
      const now = ctx.clock.now();
      const late = await app.http().get('/api/me').set('Cookie', cookie);
      expect(late.status).toBe(200);
      const fresh = cookiesOf(late);
      expect(fresh).toHaveLength(1);
      expect(fresh[0]!.raw).toBe(`${app.cookieName}=${fresh[0]!.value}; Path=/; Max-Age=1000; Expires=${expires(now, 1000)}; HttpOnly; SameSite=Lax`);
      const p = decodeJwt(fresh[0]!.value).payload;
      expect(p).toMatchObject({ sid: decodeJwt(cookies[0]!.value).payload.sid, iat: now, exp: now + 1000 });
      expect(sessionIdOf(p.sid as string)).toBe(sid);
      expect((await app.store.get(sid))!.expiresAt).toBe(now + 1000);
      // the new token outlives the old one
      ctx.clock.advance(500);
      expectError(await app.http().get('/api/me').set('Cookie', cookie), 'TOKEN_EXPIRED');
      expect((await app.http().get('/api/me').set('Cookie', `${app.cookieName}=${fresh[0]!.value}`)).status).toBe(200);
    });

    it('refreshBefore in seconds', async () => {
      const app = await ctx.app({ ttl: 1000, refreshBefore: 60 });
      const { cookie } = await app.login();
      ctx.clock.advance(900);
      expect((await app.http().get('/api/me').set('Cookie', cookie)).headers['set-cookie']).toBeUndefined();
      ctx.clock.advance(50);
      expect(cookiesOf(await app.http().get('/api/me').set('Cookie', cookie))).toHaveLength(1);
    });

    it('refreshable: false never reissues; the token simply expires', async () => {
      const app = await ctx.app({ ttl: 1000, refreshable: false });
      const { cookie } = await app.login();
      ctx.clock.advance(990);
      const res = await app.http().get('/api/me').set('Cookie', cookie);
      expect(res.status).toBe(200);
      expect(res.headers['set-cookie']).toBeUndefined();
      ctx.clock.advance(20);
      const gone = await app.http().get('/api/me').set('Cookie', cookie);
      expectError(gone, 'TOKEN_EXPIRED');
      expect(gone.headers['set-cookie']).toBeUndefined();
      expect((await app.http().post('/auth/refresh').set('Cookie', cookie)).status).toBe(404);
    });

    it('POST /auth/refresh reissues on demand', async () => {
      const app = await ctx.app({ ttl: 1000 });
      const { cookie } = await app.login();
      ctx.clock.advance(100);
      const now = ctx.clock.now();
      const res = await app.http().post('/auth/refresh').set('Cookie', cookie);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ user: { id: 'alice' }, expiresAt: now + 1000 });
      const c = cookiesOf(res);
      expect(c).toHaveLength(1);
      expect(decodeJwt(c[0]!.value).payload.exp).toBe(now + 1000);
      expectError(await app.http().post('/auth/refresh'), 'TOKEN_MISSING');
    });

    it('an expired token cannot be refreshed', async () => {
      const app = await ctx.app({ ttl: 1000 });
      const { cookie } = await app.login();
      ctx.clock.advance(1100);
      expectError(await app.http().post('/auth/refresh').set('Cookie', cookie), 'TOKEN_EXPIRED');
    });
  });
}
