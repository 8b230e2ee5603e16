import { describe, expect, it } from '@jest/globals';
import type { SuiteContext } from '../adapter-suite.js';
import { clearedCookie, cookiesOf, decodeJwt, expectError } from './helpers.js';
import { sessionIdOf } from '@tessera/core';

export default function storeTracking(ctx: SuiteContext): void {
  describe('tokens are tracked in the store', () => {
    it('login writes a session record; the token names it', async () => {
      const app = await ctx.app();
      const { cookies } = await app.login();
      const sid = sessionIdOf(decodeJwt(cookies[0]!.value).payload.sid as string);
      const rec = await app.store.get(sid);
      expect(rec).toMatchObject({ id: sid, kind: 'session', subject: 'alice', family: sid, revokedAt: null, user: { id: 'alice', name: 'Alice' } });
      expect(rec!.expiresAt).toBe(ctx.clock.now() + 604800);
    });

    it('a revoked record is rejected on the very next request and the cookie cleared', async () => {
      const app = await ctx.app();
      const { cookie, cookies } = await app.login();
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
      const sid = sessionIdOf(decodeJwt(cookies[0]!.value).payload.sid as string);
      expect(await app.store.revoke({ id: sid }, ctx.clock.now())).toBe(1);
      const res = await app.http().get('/api/me').set('Cookie', cookie);
      expectError(res, 'SESSION_ENDED');
      expect(cookiesOf(res).map(c => c.raw)).toEqual([clearedCookie(app.cookieName)]);
    });

    it('a signed token whose record is gone is rejected (SESSION_ENDED)', async () => {
      const app = await ctx.app();
      const first = await ctx.app({ store: ctx.newStore() });
      const { cookie } = await first.login();
      // same secret, other store: the signature is good, the record unknown
      const res = await app.http().get('/api/me').set('Cookie', cookie.replace(first.cookieName, app.cookieName));
      expectError(res, 'SESSION_ENDED');
    });

    it('logout ends the session: 204, cookie cleared, token refused afterwards', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login();
      const out = await app.http().post('/auth/logout').set('Cookie', cookie);
      expect(out.status).toBe(204);
      expect(out.text).toBe('');
      expect(cookiesOf(out).map(c => c.raw)).toEqual([clearedCookie(app.cookieName)]);
      expectError(await app.http().get('/api/me').set('Cookie', cookie), 'SESSION_ENDED');
      expect(app.events.some(e => e.type === 'revoked' && e.by === 'logout' && e.count === 1)).toBe(true);
    });

    it('logout without a session still answers 204 and clears the cookie', async () => {
      const app = await ctx.app();
      const out = await app.http().post('/auth/logout');
      expect(out.status).toBe(204);
      expect(cookiesOf(out).map(c => c.raw)).toEqual([clearedCookie(app.cookieName)]);
    });

    it('admin revocation of all a user\'s sessions takes effect at once', async () => {
      const app = await ctx.app();
      const a1 = await app.login('alice');
      const a2 = await app.login('alice');
      const b = await app.login('bob');
      expect(await app.store.revoke({ subject: 'alice' }, ctx.clock.now())).toBe(2);
      expectError(await app.http().get('/api/me').set('Cookie', a1.cookie), 'SESSION_ENDED');
      expectError(await app.http().get('/api/me').set('Cookie', a2.cookie), 'SESSION_ENDED');
      expect((await app.http().get('/api/me').set('Cookie', b.cookie)).status).toBe(200);
    });
  });
}
