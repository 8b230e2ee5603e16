import { describe, expect, it } from '@jest/globals';
import type { SuiteContext } from '../adapter-suite.js';
import { decodeJwt, expectError } from './helpers.js';
import { sessionIdOf } from '@tessera/core';

export default function tokenOptions(ctx: SuiteContext): void {
  describe('token options', () => {
    it('algorithm, issuer and audience are used when signing and pinned when verifying', async () => {
      const store = ctx.newStore();
      const app = await ctx.app({ store, algorithm: 'HS512', issuer: 'https://id.example', audience: 'shop', cookie: { name: 't' } });
      const { cookies, cookie } = await app.login();
      const { header, payload } = decodeJwt(cookies[0]!.value);
      expect(header.alg).toBe('HS512');
      expect(payload).toMatchObject({ iss: 'https://id.example', aud: 'shop' });
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
      // same secret and store, other pins: refused
      for (const other of [{ algorithm: 'HS256' as const }, { algorithm: 'HS512' as const, issuer: 'tessera', audience: 'shop' }, { algorithm: 'HS512' as const, issuer: 'https://id.example', audience: 'blog' }]) {
        const peer = await ctx.app({ store, cookie: { name: 't' }, ...other });
        expectError(await peer.http().get('/api/me').set('Cookie', cookie), 'TOKEN_INVALID');
      }
    });

    it('maxTokenBytes refuses longer tokens before parsing them', async () => {
      const app = await ctx.app({ maxTokenBytes: 256 });
      const { cookie } = await app.login(); // a session JWT is longer than 256 bytes
      expectError(await app.http().get('/api/me').set('Cookie', cookie), 'TOKEN_INVALID');
      expect(app.events.find(e => e.type === 'rejected')).toMatchObject({ reason: 'oversized' });
    });

    it('verifiedCacheSize: 0 verifies every request with jose and behaves the same', async () => {
      const app = await ctx.app({ verifiedCacheSize: 0, ttl: 100, refreshable: false });
      const { cookie } = await app.login();
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
      ctx.clock.advance(106);
      expectError(await app.http().get('/api/me').set('Cookie', cookie), 'TOKEN_EXPIRED');
    });

    it('touchInterval sets how often lastSeenAt is written', async () => {
      const app = await ctx.app({ touchInterval: 10 });
      const { cookies, cookie } = await app.login();
      const sid = sessionIdOf(decodeJwt(cookies[0]!.value).payload.sid as string);
      const loginAt = ctx.clock.now();
      ctx.clock.advance(9);
      await app.http().get('/api/me').set('Cookie', cookie);
      await new Promise(r => setTimeout(r, 50));
      expect((await app.store.get(sid))!.lastSeenAt).toBe(loginAt);
      ctx.clock.advance(2);
      await app.http().get('/api/me').set('Cookie', cookie);
      let seen = loginAt;
      for (let i = 0; i < 40 && seen === loginAt; i++) {
        await new Promise(r => setTimeout(r, 25)); // without an idle timeout the write is off the request path
        seen = (await app.store.get(sid))!.lastSeenAt;
      }
      expect(seen).toBe(loginAt + 11);
    });
  });
}
