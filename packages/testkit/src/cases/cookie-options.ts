import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '@tessera/core';
import type { SuiteContext } from '../adapter-suite.js';
import { cookiesOf, expires } from './helpers.js';

export default function cookieOptions(ctx: SuiteContext): void {
  describe('cookie options', () => {
    it('honours name, httpOnly, secure, sameSite, path and domain', async () => {
      const app = await ctx.app({
        ttl: '1h',
        cookie: { name: 'app_session', httpOnly: false, secure: true, sameSite: 'strict', path: '/', domain: 'example.test' },
      });
      const now = ctx.clock.now();
      const res = await app.login();
      expect(res.status).toBe(200);
      const c = res.cookies[0]!;
      expect(c.raw).toBe(`app_session=${c.value}; Path=/; Domain=example.test; Max-Age=3600; Expires=${expires(now, 3600)}; Secure; SameSite=Strict`);
      const me = await app.http().get('/api/me').set('Cookie', `app_session=${c.value}`);
      expect(me.status).toBe(200);
    });

    it('persistence "session" sets neither Max-Age nor Expires', async () => {
      const app = await ctx.app({ cookie: { name: 'sess', persistence: 'session' } });
      const res = await app.login();
      const c = res.cookies[0]!;
      expect(c.raw).toBe(`sess=${c.value}; Path=/; HttpOnly; SameSite=Lax`);
    });

    it('secure "auto" follows the request as the framework sees it (trust proxy)', async () => {
      const trusted = await ctx.app({ cookie: { name: 's' } }, { trustProxy: true });
      const viaTls = await trusted.http().post('/auth/login').set('X-Forwarded-Proto', 'https').send({ username: 'alice', password: 'wonderland' });
      expect(cookiesOf(viaTls)[0]!.attrs.secure).toBe(true);
      const plain = await trusted.http().post('/auth/login').send({ username: 'alice', password: 'wonderland' });
      expect(cookiesOf(plain)[0]!.attrs.secure).toBeUndefined();
      const untrusted = await ctx.app({ cookie: { name: 's' } });
      const spoofed = await untrusted.http().post('/auth/login').set('X-Forwarded-Proto', 'https').send({ username: 'alice', password: 'wonderland' });
      expect(spoofed.status).toBe(200);
      expect(cookiesOf(spoofed)[0]!.attrs.secure).toBeUndefined();
    });

    it('refuses unsafe or invalid cookie settings at start-up', async () => {
      await expect(ctx.app({ cookie: { sameSite: 'none' } })).rejects.toBeInstanceOf(ConfigError);
      await expect(ctx.app({ cookie: { name: 'bad name' } })).rejects.toBeInstanceOf(ConfigError);
      await expect(ctx.app({ cookie: { name: '__Host-x', secure: 'auto' } })).rejects.toBeInstanceOf(ConfigError);
      await expect(ctx.app({ cookie: { path: 'no-slash' } })).rejects.toBeInstanceOf(ConfigError);
      await expect(ctx.app({ ttl: 'forever' as never })).rejects.toThrow(/ttl/);
    });
  });
}
