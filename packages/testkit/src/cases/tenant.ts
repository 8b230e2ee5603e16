import { describe, expect, it } from '@jest/globals';
import type { SuiteContext } from '../adapter-suite.js';
import { decodeJwt, expectError } from './helpers.js';

export default function tenant(ctx: SuiteContext): void {
  describe('tenants', () => {
    it('a token issued for tenant A is rejected on tenant B', async () => {
      const app = await ctx.app({ tenant: req => req.header('x-tenant') ?? null });
      const res = await app.http().post('/auth/login').set('X-Tenant', 'acme').send({ username: 'alice', password: 'wonderland' });
      expect(res.status).toBe(200);
      const cookie = (res.headers['set-cookie'] as unknown as string[])[0]!.split(';')[0]!;
      expect(decodeJwt(cookie.split('=')[1]!).payload.tnt).toBe('acme');
      expect((await app.http().get('/api/me').set('Cookie', cookie).set('X-Tenant', 'acme')).status).toBe(200);
      expectError(await app.http().get('/api/me').set('Cookie', cookie).set('X-Tenant', 'globex'), 'TOKEN_INVALID');
      expectError(await app.http().get('/api/me').set('Cookie', cookie), 'TOKEN_INVALID');
    });
  });
}
