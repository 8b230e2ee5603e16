import { describe, expect, it } from '@jest/globals';
import type { SuiteContext } from '../adapter-suite.js';
import { cookiesOf, decodeJwt, expectError, expires } from './helpers.js';

export default function cookieDefaults(ctx: SuiteContext): void {
  describe('login sets a token cookie with safe defaults', () => {
    it('issues a signed JWT in a persistent HttpOnly SameSite=Lax cookie with a fixed default name', async () => {
      const app = await ctx.app();
      const now = ctx.clock.now();
      const res = await app.http().post('/auth/login').send({ username: 'alice', password: 'wonderland' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ user: { id: 'alice', name: 'Alice' }, expiresAt: now + 604800 });
      expect(res.headers['cache-control']).toBe('no-store');
      const cookies = cookiesOf(res);
      expect(cookies).toHaveLength(1);
      const c = cookies[0]!;
      expect(c.name).toBe('tessera');
      expect(c.raw).toBe(`${app.cookieName}=${c.value}; Path=/; Max-Age=604800; Expires=${expires(now, 604800)}; HttpOnly; SameSite=Lax`);
      const { header, payload } = decodeJwt(c.value);
      expect(header).toEqual({ alg: 'HS256', typ: 'tessera-session+jwt', kid: expect.any(String) });
      expect(payload).toMatchObject({ sub: 'alice', iss: 'tessera', aud: 'tessera', iat: now, exp: now + 604800 });
      expect(typeof payload.sid).toBe('string');
      expect(typeof payload.jti).toBe('string');
      expect(res.body.token).toBeUndefined();
    });

    it('authenticates the protected route with the cookie and refuses it without', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login();
      const me = await app.http().get('/api/me').set('Cookie', cookie);
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ user: { id: 'alice', name: 'Alice' } });
      expect(me.headers['set-cookie']).toBeUndefined();
      const anon = await app.http().get('/api/me');
      expectError(anon, 'TOKEN_MISSING');
      expect(anon.headers['set-cookie']).toBeUndefined();
      const pub = await app.http().get('/public');
      expect(pub.body).toEqual({ user: null });
      const pubAuthed = await app.http().get('/public').set('Cookie', cookie);
      expect(pubAuthed.body).toEqual({ user: { id: 'alice', name: 'Alice' } });
    });

    it('keeps its cookie name whatever the Host header says (a proxy rewriting Host, a restart on another port)', async () => {
      const app = await ctx.app();
      const viaProxy = await app.http().post('/auth/login').set('Host', 'sessions.example.com:8443').send({ username: 'alice', password: 'wonderland' });
      expect(cookiesOf(viaProxy).map(c => c.name)).toEqual(['tessera']);
      const { cookie } = await app.login();
      expect((await app.http().get('/api/me').set('Host', 'other.example.com').set('Cookie', cookie)).status).toBe(200);
    });

    it('two servers on one host with their own cookie.name do not see each other\'s cookie', async () => {
      const a = await ctx.app({ cookie: { name: 'app_a' } });
      const b = await ctx.app({ cookie: { name: 'app_b' } });
      const la = await a.login();
      expectError(await b.http().get('/api/me').set('Cookie', la.cookie), 'TOKEN_MISSING');
    });

    it('works alongside the framework\'s own cookie and body plugins', async () => {
      const app = await ctx.app({}, { extras: true });
      const { status, cookie } = await app.login();
      expect(status).toBe(200);
      const me = await app.http().get('/api/me').set('Cookie', cookie);
      expect(me.status).toBe(200);
      const bad = await app.http().post('/auth/login').set('Content-Type', 'application/json').send('{"username":');
      expect(bad.status).toBe(400);
    });
  });
}
