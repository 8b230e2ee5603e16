import { describe, expect, it } from '@jest/globals';
import type { SuiteContext } from '../adapter-suite.js';
import { expectError } from './helpers.js';

export default function storeFailure(ctx: SuiteContext): void {
  describe('a failing store fails closed with 503', () => {
    it('store errors: 503 STORE_UNAVAILABLE with Retry-After, cookies untouched, nothing lost', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login();
      app.store.mode = 'fail';
      for (const [method, path] of [['get', '/api/me'], ['get', '/auth/session'], ['post', '/auth/refresh'], ['post', '/auth/logout']] as const) {
        const res = await app.http()[method](path).set('Cookie', cookie);
        expectError(res, 'STORE_UNAVAILABLE');
        expect(res.headers['retry-after']).toBe('1');
        expect(res.headers['set-cookie']).toBeUndefined();
      }
      const login = await app.http().post('/auth/login').send({ username: 'alice', password: 'wonderland' });
      expectError(login, 'STORE_UNAVAILABLE');
      expect(login.headers['set-cookie']).toBeUndefined();
      expect(app.store.refused).toBeGreaterThanOrEqual(5);
      expect(app.events.some(e => e.type === 'store-error')).toBe(true);
      app.store.mode = 'ok';
      // the failed logout consumed nothing: the session is still there
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
    });

    it('a hanging store times out within storeTimeout', async () => {
      const app = await ctx.app({ storeTimeout: '150ms' });
      const { cookie } = await app.login();
      app.store.mode = 'hang';
      const started = Date.now();
      const res = await app.http().get('/api/me').set('Cookie', cookie);
      expectError(res, 'STORE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(2000);
      app.store.mode = 'ok';
    });

    it('a public route stays reachable (anonymous) while the store is down', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login();
      app.store.mode = 'fail';
      const res = await app.http().get('/public').set('Cookie', cookie);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ user: null });
      app.store.mode = 'ok';
    });
  });
}
