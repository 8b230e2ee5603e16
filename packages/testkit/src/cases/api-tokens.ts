import { describe, expect, it } from '@jest/globals';
import type { SuiteContext } from '../adapter-suite.js';
import { expectError } from './helpers.js';

export default function apiTokens(ctx: SuiteContext): void {
  describe('API tokens', () => {
    it('created through the core API, sent as Bearer, non-expiring, revocable, stored hashed', async () => {
      const app = await ctx.app();
      const { token, info } = await app.core.createApiToken({ user: { id: 'alice', name: 'Alice' }, label: 'ci' });
      expect(token).toMatch(/^tsr_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      expect(info).toMatchObject({ kind: 'api', subject: 'alice', expiresAt: null, label: 'ci' });
      const rec = await app.store.get(info.id);
      expect(JSON.stringify(rec)).not.toContain(token.split('.')[1]!);
      ctx.clock.advance(10 * 365 * 86400);
      const me = await app.http().get('/api/me').set('Authorization', `Bearer ${token}`);
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ user: { id: 'alice', name: 'Alice' } });
      expect((await app.core.listApiTokens('alice')).tokens.map(t => t.id)).toEqual([info.id]);
      expect(await app.core.revokeApiToken(info.id)).toBe(1);
      expectError(await app.http().get('/api/me').set('Authorization', `Bearer ${token}`), 'SESSION_ENDED');
    });

    it('forged or unknown API tokens are TOKEN_INVALID', async () => {
      const app = await ctx.app();
      const { token } = await app.core.createApiToken({ user: { id: 'alice' } });
      const [id] = token.slice(4).split('.');
      for (const t of [`tsr_${id}.${'A'.repeat(43)}`, 'tsr_nope', `tsr_${'B'.repeat(22)}.${'C'.repeat(43)}`]) {
        expectError(await app.http().get('/api/me').set('Authorization', `Bearer ${t}`), 'TOKEN_INVALID');
      }
    });

    it('API tokens with a lifetime expire; revoking the user revokes their API tokens too', async () => {
      const app = await ctx.app();
      const short = await app.core.createApiToken({ user: { id: 'alice' }, ttl: '1h' });
      const long = await app.core.createApiToken({ user: { id: 'alice' } });
      const bob = await app.core.createApiToken({ user: { id: 'bob' } });
      ctx.clock.advance(3601);
      expectError(await app.http().get('/api/me').set('Authorization', `Bearer ${short.token}`), 'SESSION_ENDED');
      expect((await app.http().get('/api/me').set('Authorization', `Bearer ${long.token}`)).status).toBe(200);
      await app.core.revokeUser('alice');
      expectError(await app.http().get('/api/me').set('Authorization', `Bearer ${long.token}`), 'SESSION_ENDED');
      expect((await app.http().get('/api/me').set('Authorization', `Bearer ${bob.token}`)).status).toBe(200);
    });

    it('a signed-in user creates one through the admin route; it is shown once and listed without the secret', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login();
      const created = await app.http().post('/auth/admin/api-tokens').set('Cookie', cookie).send({ label: 'laptop script' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ kind: 'api', subject: 'alice', label: 'laptop script', expiresAt: null });
      const token = created.body.token as string;
      expect((await app.http().get('/api/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
      const list = await app.http().get('/auth/admin/api-tokens').set('Cookie', cookie);
      expect(list.status).toBe(200);
      expect(list.body.tokens).toHaveLength(1);
      expect(JSON.stringify(list.body)).not.toContain(token.split('.')[1]!);
      const del = await app.http().delete(`/auth/admin/api-tokens/${created.body.id}`).set('Cookie', cookie);
      expect(del.body).toEqual({ revoked: 1 });
      expectError(await app.http().get('/api/me').set('Authorization', `Bearer ${token}`), 'SESSION_ENDED');
      expectError(await app.http().post('/auth/admin/api-tokens').send({}), 'TOKEN_MISSING');
    });
  });
}
