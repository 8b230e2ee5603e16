import { describe, expect, it } from '@jest/globals';
import type { SuiteContext } from '../adapter-suite.js';
import { expectError } from './helpers.js';

export default function admin(ctx: SuiteContext): void {
  describe('administration', () => {
    it('core API: list a user\'s sessions, revoke one, revoke a user, revoke everything', async () => {
      const app = await ctx.app();
      const a1 = await app.login('alice');
      ctx.clock.advance(5);
      const a2 = await app.login('alice');
      const b = await app.login('bob');
      const { sessions } = await app.core.listSessions('alice');
      expect(sessions).toHaveLength(2);
      expect(sessions[0]).toMatchObject({ kind: 'session', subject: 'alice', ip: '127.0.0.1', revokedAt: null });
      expect(sessions.every(s => typeof s.createdAt === 'number' && typeof s.lastSeenAt === 'number')).toBe(true);
      const first = sessions.find(s => s.createdAt === ctx.clock.now() - 5)!;
      expect(await app.core.revokeSession(first.id)).toBeGreaterThanOrEqual(1);
      expectError(await app.http().get('/api/me').set('Cookie', a1.cookie), 'SESSION_ENDED');
      expect((await app.http().get('/api/me').set('Cookie', a2.cookie)).status).toBe(200);
      await app.core.revokeUser('alice');
      expectError(await app.http().get('/api/me').set('Cookie', a2.cookie), 'SESSION_ENDED');
      expect((await app.http().get('/api/me').set('Cookie', b.cookie)).status).toBe(200);
      await app.core.revokeAll();
      expectError(await app.http().get('/api/me').set('Cookie', b.cookie), 'SESSION_ENDED');
      expect(app.events.filter(e => e.type === 'revoked' && e.by === 'admin')).toHaveLength(3);
    });

    it('guarded routes: self-service for everyone, other users only for admins', async () => {
      const app = await ctx.app();
      const alice = await app.login('alice');
      const bob = await app.login('bob');
      const root = await app.login('root');
      const own = await app.http().get('/auth/admin/sessions').set('Cookie', alice.cookie);
      expect(own.status).toBe(200);
      expect(own.body.sessions).toHaveLength(1);
      expect(own.body.current).toBe(own.body.sessions[0].id);
      expectError(await app.http().get('/auth/admin/users/bob/sessions').set('Cookie', alice.cookie), 'FORBIDDEN');
      expectError(await app.http().post('/auth/admin/users/bob/revoke').set('Cookie', alice.cookie), 'FORBIDDEN');
      expectError(await app.http().post('/auth/admin/revoke-all').set('Cookie', alice.cookie), 'FORBIDDEN');
      const bobs = await app.http().get('/auth/admin/users/bob/sessions').set('Cookie', root.cookie);
      expect(bobs.body.sessions).toHaveLength(1);
      expectError(await app.http().delete(`/auth/admin/sessions/${bobs.body.sessions[0].id}`).set('Cookie', alice.cookie), 'FORBIDDEN');
      const kick = await app.http().post('/auth/admin/users/bob/revoke').set('Cookie', root.cookie);
      expect(kick.status).toBe(200);
      expect(kick.body.revoked).toBeGreaterThanOrEqual(1);
      expectError(await app.http().get('/api/me').set('Cookie', bob.cookie), 'SESSION_ENDED');
      expect((await app.http().get('/api/me').set('Cookie', alice.cookie)).status).toBe(200);
      const mine = await app.http().delete(`/auth/admin/sessions/${own.body.current}`).set('Cookie', alice.cookie);
      expect(mine.status).toBe(200);
      expectError(await app.http().get('/api/me').set('Cookie', alice.cookie), 'SESSION_ENDED');
      expectError(await app.http().get('/auth/admin/sessions'), 'TOKEN_MISSING');
    });
  });
}
