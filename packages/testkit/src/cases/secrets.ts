import { describe, expect, it } from '@jest/globals';
import { ConfigError, kidOf } from '@tessera/core';
import type { SuiteContext } from '../adapter-suite.js';
import { SECRET } from '../fixtures.js';
import { decodeJwt, expectError } from './helpers.js';

const NEXT = 'next-secret-abcdefghijklmnopqrstuvwxyz-0123456789';

export default function secrets(ctx: SuiteContext): void {
  describe('secrets and keyrings', () => {
    it('a keyring verifies with every key and signs with the first', async () => {
      const store = ctx.newStore();
      const old = await ctx.app({ store, cookie: { name: 'k' } });
      const { cookie } = await old.login();
      const rotated = await ctx.app({ store, secret: [NEXT, SECRET], cookie: { name: 'k' } });
      expect((await rotated.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
      const fresh = await rotated.login();
      expect(decodeJwt(fresh.cookies[0]!.value).header.kid).toBe(kidOf(NEXT));
      expect(decodeJwt(fresh.cookies[0]!.value).header.kid).not.toBe(kidOf(SECRET));
      const retired = await ctx.app({ store, secret: NEXT, cookie: { name: 'k' } });
      expectError(await retired.http().get('/api/me').set('Cookie', cookie), 'TOKEN_INVALID');
      expect((await retired.http().get('/api/me').set('Cookie', fresh.cookie)).status).toBe(200);
    });

    it('refuses a secret shorter than 32 bytes at start-up, without echoing it', async () => {
      let err: unknown;
      try {
        await ctx.app({ secret: 'short-secret-1234' });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/32 bytes/);
      expect((err as Error).message).not.toContain('short-secret-1234');
      await expect(ctx.app({ secret: [NEXT, 'tiny'] })).rejects.toBeInstanceOf(ConfigError);
    });

    it('without a secret, one is generated once and kept in the store: a restart keeps sessions', async () => {
      const store = ctx.newStore();
      const first = await ctx.app({ store, secret: undefined, cookie: { name: 'auto' } });
      const { cookie, status } = await first.login();
      expect(status).toBe(200);
      const restarted = await ctx.app({ store, secret: undefined, cookie: { name: 'auto' } });
      expect((await restarted.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
      const stranger = await ctx.app({ secret: undefined, cookie: { name: 'auto' } });
      expectError(await stranger.http().get('/api/me').set('Cookie', cookie), 'TOKEN_INVALID');
    });
  });
}
