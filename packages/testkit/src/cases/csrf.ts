import { describe, expect, it } from '@jest/globals';
import type { SuiteContext } from '../adapter-suite.js';
import { expectError } from './helpers.js';

export default function csrf(ctx: SuiteContext): void {
  describe('cross-site request protection', () => {
    it('refuses cookie-authenticated unsafe requests from another origin with 403 CSRF_FAILED', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login();
      const host = new URL(app.url).host;
      expect((await app.http().post('/api/data').set('Cookie', cookie)).status).toBe(200);
      expect((await app.http().post('/api/data').set('Cookie', cookie).set('Origin', `http://${host}`)).status).toBe(200);
      expect((await app.http().post('/api/data').set('Cookie', cookie).set('Sec-Fetch-Site', 'same-origin')).status).toBe(200);
      const evil = await app.http().post('/api/data').set('Cookie', cookie).set('Origin', 'https://evil.example');
      expectError(evil, 'CSRF_FAILED');
      expect(evil.headers['set-cookie']).toBeUndefined();
      expectError(await app.http().post('/api/data').set('Cookie', cookie).set('Sec-Fetch-Site', 'cross-site'), 'CSRF_FAILED');
      expectError(await app.http().post('/auth/logout').set('Cookie', cookie).set('Origin', 'https://evil.example'), 'CSRF_FAILED');
      // the session survived the forged logout
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
      // safe methods are not affected
      expect((await app.http().get('/api/me').set('Cookie', cookie).set('Sec-Fetch-Site', 'cross-site')).status).toBe(200);
    });

    it('login CSRF is refused too; trusted origins and csrf: false opt out', async () => {
      const app = await ctx.app({ csrf: { trustedOrigins: ['https://app.example'] } });
      const creds = { username: 'alice', password: 'wonderland' };
      expectError(await app.http().post('/auth/login').set('Origin', 'https://evil.example').send(creds), 'CSRF_FAILED');
      expect((await app.http().post('/auth/login').set('Origin', 'https://app.example').set('Sec-Fetch-Site', 'same-site').send(creds)).status).toBe(200);
      const open = await ctx.app({ csrf: false });
      const { cookie } = await open.login();
      expect((await open.http().post('/api/data').set('Cookie', cookie).set('Origin', 'https://evil.example')).status).toBe(200);
    });
  });
}
