/** Acting beyond one's own sessions: another user's sessions through the admin routes (with encoded-path tricks), and what a stolen API token may not do. */
import { expect } from '@jest/globals';
import { USERS } from '../../fixtures.js';
import { type Attack, expectRefusal, genuine, me } from './harness.js';
import { sessionIdOf } from '@tessera/core';

export const AUTHORIZATION_ATTACKS: Attack[] = [
  {
    id: 'A122',
    title: 'a user cannot list or end another user\'s sessions, also through encoded ids (../, %00, %2F)',
    async run(ctx) {
      const app = await ctx.app();
      const alice = await genuine(app);
      const bob = await genuine(app, 'bob');
      const as = alice.cookie;
      const bobSid = sessionIdOf(bob.payload.sid as string);
      for (const r of [
        app.http().get('/auth/admin/users/bob/sessions').set('Cookie', as),
        app.http().post('/auth/admin/users/bob/revoke').set('Cookie', as),
        app.http().delete(`/auth/admin/sessions/${bobSid}`).set('Cookie', as),
        app.http().post('/auth/admin/revoke-all').set('Cookie', as),
      ]) {
        expectRefusal(await r, 'FORBIDDEN', 'none');
      }
      // Encoded ids are decoded once, then compared whole. Fastify's router answers its own 404 to a
      // path holding an encoded slash (%2F) before any handler runs: refused before Tessera, then.
      const encoded: [method: 'get' | 'post' | 'delete', path: string, code: 'FORBIDDEN' | 'BAD_REQUEST'][] = [
        ['get', '/auth/admin/users/bob%2F..%2Falice/sessions', 'FORBIDDEN'],
        ['post', '/auth/admin/users/alice%00/revoke', 'FORBIDDEN'],
        ['post', '/auth/admin/users/..%2Fbob/revoke', 'FORBIDDEN'],
        ['delete', `/auth/admin/sessions/..%2F${bobSid}`, 'BAD_REQUEST'],
      ];
      for (const [method, path, code] of encoded) {
        const res = await app.http()[method](path).set('Cookie', as);
        if (ctx.framework === 'fastify' && path.includes('%2F')) {
          expect(res.status).toBe(404);
          expect(res.headers['set-cookie']).toBeUndefined();
        } else {
          expectRefusal(res, code, 'none');
        }
      }
      expect((await me(app, bob.cookie)).status).toBe(200);
      expect((await me(app, alice.cookie)).status).toBe(200);
    },
  },
  {
    id: 'A123',
    title: 'a stolen API token cannot mint another API token, nor pass requireFresh() (403 FORBIDDEN)',
    async run(ctx) {
      const app = await ctx.app();
      const { token } = await app.core.createApiToken({ user: USERS.alice!.user });
      const bearer = `Bearer ${token}`;
      expectRefusal(await app.http().post('/auth/admin/api-tokens').set('Authorization', bearer).send({ label: 'persistence' }), 'FORBIDDEN', 'none', [token]);
      expectRefusal(await app.http().post('/api/sensitive').set('Authorization', bearer), 'FORBIDDEN', 'none', [token]);
      expect((await app.core.listApiTokens('alice')).tokens).toHaveLength(1);
    },
  },
];
