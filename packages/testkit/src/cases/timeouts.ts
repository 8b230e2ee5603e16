import { describe, expect, it } from '@jest/globals';
import { cookieHeader, type SuiteContext } from '../adapter-suite.js';
import { cookiesOf, decodeJwt, expectError } from './helpers.js';
import { sessionIdOf } from '@tessera/core';

export default function timeouts(ctx: SuiteContext): void {
  describe('idle and absolute timeouts', () => {
    it('idleTimeout ends a session left unused; activity keeps it alive', async () => {
      const app = await ctx.app({ idleTimeout: 600 });
      const busy = await app.login();
      const idle = await app.login();
      for (let i = 0; i < 12; i++) {
        ctx.clock.advance(100);
        const r = await app.http().get('/api/me').set('Cookie', busy.cookie);
        expect({ at: i, status: r.status, body: r.body, events: r.status === 200 ? [] : app.events.slice(-3) }).toMatchObject({ status: 200 });
      }
      // 1200 s have passed: the busy one lives on, the idle one ended after 600 s
      const res = await app.http().get('/api/me').set('Cookie', idle.cookie);
      expectError(res, 'SESSION_ENDED');
      expect(app.events.find(e => e.type === 'rejected' && e.code === 'SESSION_ENDED')).toMatchObject({ reason: 'idle-timeout' });
    });

    it('touch is throttled: a busy session does not write on every request', async () => {
      const app = await ctx.app({ idleTimeout: 600 }); // touchInterval = 60 s
      const { cookies, cookie } = await app.login();
      const sid = sessionIdOf(decodeJwt(cookies[0]!.value).payload.sid as string);
      const loginAt = ctx.clock.now();
      ctx.clock.advance(30);
      for (let i = 0; i < 5; i++) await app.http().get('/api/me').set('Cookie', cookie);
      expect((await app.store.get(sid))!.lastSeenAt).toBe(loginAt);
      ctx.clock.advance(40);
      await app.http().get('/api/me').set('Cookie', cookie);
      await new Promise(r => setTimeout(r, 50)); // the touch is written off the request path
      expect((await app.store.get(sid))!.lastSeenAt).toBe(loginAt + 70);
    });

    it('absoluteTimeout ends a session at a fixed time after login, however active; refresh never extends it', async () => {
      const app = await ctx.app({ ttl: 600, absoluteTimeout: 1000 });
      const loginAt = ctx.clock.now();
      let { cookie, jar } = await app.login();
      for (let t = 0; t < 990; t += 110) {
        ctx.clock.advance(110);
        const r = await app.http().get('/api/me').set('Cookie', cookie);
        expect(r.status).toBe(200);
        ({ cookie, jar } = cookieHeader(cookiesOf(r), jar));
      }
      const latest = decodeJwt(jar[app.cookieName]!).payload;
      expect(latest.exp).toBeLessThanOrEqual(loginAt + 1000);
      ctx.clock.set(loginAt + 1000);
      const r = await app.http().post('/auth/refresh').set('Cookie', cookie);
      expect([401]).toContain(r.status);
      ctx.clock.set(loginAt + 1010);
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(401);
    });

    it('absoluteTimeout in pair mode caps the refresh chain', async () => {
      const app = await ctx.app({ mode: 'pair', accessTtl: 60, refreshTtl: 3600, absoluteTimeout: 300 });
      let { cookie, jar } = await app.login();
      for (let i = 0; i < 4; i++) {
        ctx.clock.advance(61);
        const r = await app.http().post('/auth/refresh').set('Cookie', cookie);
        expect(r.status).toBe(200);
        ({ cookie, jar } = cookieHeader(cookiesOf(r), jar));
      }
      ctx.clock.advance(61); // 305 s after login
      expectError(await app.http().post('/auth/refresh').set('Cookie', cookie), 'SESSION_ENDED');
    });
  });
}
