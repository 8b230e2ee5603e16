import { describe, expect, it } from '@jest/globals';
import type { HttpReply, Rejection } from '@tessera/core';
import type { SuiteContext } from '../adapter-suite.js';
import { clearedCookie, cookiesOf, decodeJwt, expectError } from './helpers.js';
import { sessionIdOf } from '@tessera/core';

const PAIR = { mode: 'pair', accessTtl: 60, refreshTtl: 3600 } as const;

/** A global onReject answering every refusal with the app's own body, recording what it saw. */
function custom() {
  const seen: { code: string; status: number; path: string; contract: unknown }[] = [];
  const onReject = (r: Rejection): HttpReply => {
    seen.push({ code: r.error.code, status: r.reply.status, path: r.request.path, contract: r.reply.body });
    return { status: r.error.status, headers: [['content-type', 'application/json; charset=utf-8'], ['x-refusal', r.error.code]], body: { message: 'custom' } };
  };
  return { seen, onReject };
}

function expectCustom(res: { status: number; body: unknown; headers: Record<string, unknown> }, status: number, code: string): void {
  expect({ status: res.status, body: res.body, refusal: res.headers['x-refusal'] }).toEqual({ status, body: { message: 'custom' }, refusal: code });
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
}

export default function rejection(ctx: SuiteContext): void {
  describe('onReject: reshaping refusals', () => {
    it('a global onReject reshapes a guard\'s refusal, a route\'s (login failure) and an admin route\'s', async () => {
      const { seen, onReject } = custom();
      const app = await ctx.app({ onReject });
      const me = await app.http().get('/api/me');
      expectCustom(me, 401, 'TOKEN_MISSING');
      expect(me.headers['set-cookie']).toBeUndefined();
      const login = await app.http().post('/auth/login').send({ username: 'alice', password: 'nope' });
      expectCustom(login, 401, 'LOGIN_FAILED');
      expect(login.headers['set-cookie']).toBeUndefined();
      const { cookie } = await app.login();
      expectCustom(await app.http().get('/auth/admin/users/bob/sessions').set('Cookie', cookie), 403, 'FORBIDDEN');
      expectCustom(await app.http().get('/auth/session'), 401, 'TOKEN_MISSING');
      ctx.clock.advance(601);
      expectCustom(await app.http().post('/api/sensitive').set('Cookie', cookie), 401, 'REAUTH_REQUIRED');
      const sent = [
        { code: 'TOKEN_MISSING', status: 401, path: '/api/me', contract: { error: { code: 'TOKEN_MISSING', message: 'Authentication required.' } } },
        { code: 'LOGIN_FAILED', status: 401, path: '/auth/login', contract: { error: { code: 'LOGIN_FAILED', message: 'Invalid credentials.' } } },
        { code: 'FORBIDDEN', status: 403, path: '/auth/admin/users/bob/sessions', contract: { error: { code: 'FORBIDDEN', message: 'Not allowed.' } } },
        { code: 'TOKEN_MISSING', status: 401, path: '/auth/session', contract: { error: { code: 'TOKEN_MISSING', message: 'Authentication required.' } } },
        { code: 'REAUTH_REQUIRED', status: 401, path: '/api/sensitive', contract: { error: { code: 'REAUTH_REQUIRED', message: 'Log in again to continue.' } } },
      ];
      // each refusal sent was shown to onReject with its contract reply (which other calls it gets: see the next case)
      expect(seen.filter(s => sent.some(x => x.code === s.code && x.path === s.path))).toEqual(sent);
    });

    it('returning undefined keeps the contract reply', async () => {
      const codes: string[] = [];
      const app = await ctx.app({ onReject: r => void codes.push(r.error.code) });
      expectError(await app.http().get('/api/me'), 'TOKEN_MISSING');
      expectError(await app.http().post('/auth/login').send({ username: 'alice', password: 'nope' }), 'LOGIN_FAILED');
      expectError(await app.http().get('/api/me').set('Cookie', 'tessera=garbage'), 'TOKEN_INVALID');
      expect(codes).toEqual(expect.arrayContaining(['TOKEN_MISSING', 'LOGIN_FAILED', 'TOKEN_INVALID']));
    });

    it('onReject is asked about the refusals that are sent, once each, and nothing else', async () => {
      const calls: string[] = [];
      const app = await ctx.app({ onReject: r => void calls.push(`${r.error.code} ${r.request.method} ${r.request.path}`) });
      // requests that need no session: no refusal is sent, so none to reshape
      expect((await app.http().get('/public')).status).toBe(200);
      expect((await app.http().get('/public').set('Cookie', 'tessera=garbage')).status).toBe(200);
      const { cookie } = await app.login();
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
      // refused requests: one call each, for the refusal sent
      expectError(await app.http().get('/api/me'), 'TOKEN_MISSING');
      expectError(await app.http().post('/auth/login').send({ username: 'alice', password: 'nope' }), 'LOGIN_FAILED');
      expect(calls).toEqual(['TOKEN_MISSING GET /api/me', 'LOGIN_FAILED POST /auth/login']);
    });

    it('a reshaped SESSION_ENDED (and REFRESH_REUSED in pair mode) still clears the cookies', async () => {
      const { onReject } = custom();
      const app = await ctx.app({ onReject });
      const { cookie, cookies } = await app.login();
      await app.store.revoke({ id: sessionIdOf(decodeJwt(cookies[0]!.value).payload.sid as string) }, ctx.clock.now());
      const ended = await app.http().get('/api/me').set('Cookie', cookie);
      expectCustom(ended, 401, 'SESSION_ENDED');
      expect(cookiesOf(ended).map(c => c.raw)).toEqual([clearedCookie('tessera')]);

      const pair = await ctx.app({ ...PAIR, refreshReuse: false, onReject });
      const login = await pair.login();
      // the refresh cookie alone: beside a still-fresh access token a refresh does not rotate
      const refreshOnly = `tessera-refresh=${login.jar['tessera-refresh']}`;
      expect((await pair.http().post('/auth/refresh').set('Cookie', refreshOnly)).status).toBe(200);
      const reused = await pair.http().post('/auth/refresh').set('Cookie', refreshOnly);
      expectCustom(reused, 401, 'REFRESH_REUSED');
      expect(cookiesOf(reused).map(c => c.raw)).toEqual([clearedCookie('tessera'), clearedCookie('tessera-refresh', '/auth')]);
    });

    it('a guard\'s own onReject: GET /page redirects 302 to /login?reason=<code>, clearing an ended session\'s cookie', async () => {
      const app = await ctx.app();
      const anon = await app.http().get('/page').redirects(0);
      expect(anon.status).toBe(302);
      expect(anon.headers.location).toBe('/login?reason=TOKEN_MISSING');
      expect(anon.headers['set-cookie']).toBeUndefined();
      const { cookie, cookies } = await app.login();
      const page = await app.http().get('/page').set('Cookie', cookie).redirects(0);
      expect({ status: page.status, body: page.body }).toEqual({ status: 200, body: { user: { id: 'alice', name: 'Alice' } } });
      await app.store.revoke({ id: sessionIdOf(decodeJwt(cookies[0]!.value).payload.sid as string) }, ctx.clock.now());
      const ended = await app.http().get('/page').set('Cookie', cookie).redirects(0);
      expect(ended.status).toBe(302);
      expect(ended.headers.location).toBe('/login?reason=SESSION_ENDED');
      expect(cookiesOf(ended).map(c => c.raw)).toEqual([clearedCookie('tessera')]);
      // the other guards keep the contract reply
      expectError(await app.http().get('/api/me'), 'TOKEN_MISSING');
    });

    it('a guard\'s own onReject wins over the global one; the cookies are cleared once', async () => {
      const { seen, onReject } = custom();
      const app = await ctx.app({ onReject });
      const anon = await app.http().get('/page').redirects(0);
      expect(anon.status).toBe(302);
      expect(anon.headers.location).toBe('/login?reason=TOKEN_MISSING');
      const { cookie, cookies } = await app.login();
      await app.store.revoke({ id: sessionIdOf(decodeJwt(cookies[0]!.value).payload.sid as string) }, ctx.clock.now());
      const ended = await app.http().get('/page').set('Cookie', cookie).redirects(0);
      expect(ended.status).toBe(302);
      expect(ended.headers.location).toBe('/login?reason=SESSION_ENDED');
      expect(cookiesOf(ended).map(c => c.raw)).toEqual([clearedCookie('tessera')]);
      // the guard's own answer replaces the global one, which is not asked at all
      expect(seen.filter(s => s.path === '/page').map(s => s.code)).toEqual([]);
    });
  });
}
