/** Cross-site request forgery: forged posts to refresh, logout, login and admin routes (form content types, `Origin: null`, look-alike origins, Referer), login CSRF, state changes by GET. */
import { expect } from '@jest/globals';
import type { User } from '@tessera/core';
import type { SuiteContext, TestApp } from '../../adapter-suite.js';
import { verifyCredentials } from '../../fixtures.js';
import { type Attack, PAIR, REFRESH, LOGIN, expectAlice, expectRefusal, genuine, me } from './harness.js';
import { sessionIdOf } from '@tessera/core';

const FORM = 'application/x-www-form-urlencoded';
const CREDENTIALS_FORM = 'username=bob&password=builder';

/** An app whose verifyCredentials records each call. */
async function watched(ctx: SuiteContext, options = {}) {
  const calls: string[] = [];
  const app = await ctx.app({
    ...options,
    verifyCredentials: async (input: { username: string; password: string }): Promise<User | null> => {
      calls.push(input.username);
      return verifyCredentials(input);
    },
  });
  return { app, calls };
}

const host = (app: TestApp) => new URL(app.url).host;

export const CROSS_SITE_ATTACKS: Attack[] = [
  {
    id: 'A76',
    title: 'a cross-origin form POST to /auth/refresh is refused (403 CSRF_FAILED), sets no cookie and rotates nothing',
    async run(ctx) {
      const app = await ctx.app(PAIR);
      const login = await genuine(app);
      ctx.clock.advance(61);
      const res = await app.http().post('/auth/refresh').set('Cookie', login.cookie).set('Origin', 'https://evil.example').set('Content-Type', FORM).send('a=1');
      expectRefusal(res, 'CSRF_FAILED', 'none', [login.refresh!]);
      expect(app.events.filter(e => e.type === 'refreshed')).toEqual([]);
      expect((await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${login.refresh}`)).status).toBe(200);
      expect(app.events.filter(e => e.type === 'reuse-detected')).toEqual([]);
    },
  },
  {
    id: 'A77',
    title: 'a cross-site text/plain POST to /auth/logout (Sec-Fetch-Site: cross-site, no Origin) is refused; the session lives',
    async run(ctx) {
      const app = await ctx.app();
      const login = await genuine(app);
      const res = await app.http().post('/auth/logout').set('Cookie', login.cookie).set('Sec-Fetch-Site', 'cross-site').set('Content-Type', 'text/plain').send('x');
      expectRefusal(res, 'CSRF_FAILED', 'none');
      await expectAlice(await me(app, login.cookie));
    },
  },
  {
    id: 'A78',
    title: 'a cross-origin form POST to /auth/login is refused before verifyCredentials runs',
    async run(ctx) {
      const { app, calls } = await watched(ctx);
      const res = await app.http().post('/auth/login').set('Origin', 'https://evil.example').set('Content-Type', FORM).send(CREDENTIALS_FORM);
      expectRefusal(res, 'CSRF_FAILED', 'none');
      const json = await app.http().post('/auth/login').set('Sec-Fetch-Site', 'cross-site').send({ username: 'bob', password: 'builder' });
      expectRefusal(json, 'CSRF_FAILED', 'none');
      expect(calls).toEqual([]);
    },
  },
  {
    id: 'A79',
    title: '`Origin: null` (sandboxed frame, data: URL) is cross-origin for /api/data, /auth/logout and /auth/login',
    async run(ctx) {
      const app = await ctx.app();
      const login = await genuine(app);
      expectRefusal(await app.http().post('/api/data').set('Cookie', login.cookie).set('Origin', 'null'), 'CSRF_FAILED', 'none');
      expectRefusal(await app.http().post('/auth/logout').set('Cookie', login.cookie).set('Origin', 'null'), 'CSRF_FAILED', 'none');
      expectRefusal(await app.http().post('/auth/login').set('Origin', 'null').send(LOGIN), 'CSRF_FAILED', 'none');
      await expectAlice(await me(app, login.cookie));
    },
  },
  {
    id: 'A80',
    title: 'Referer is not what decides: Origin does (an evil Referer beside a same-origin Origin passes, the reverse is refused)',
    async run(ctx) {
      const app = await ctx.app();
      const login = await genuine(app);
      const post = () => app.http().post('/api/data').set('Cookie', login.cookie);
      expect((await post().set('Origin', `http://${host(app)}`).set('Referer', 'https://evil.example/page')).status).toBe(200);
      expectRefusal(await post().set('Origin', 'https://evil.example').set('Referer', `http://${host(app)}/page`), 'CSRF_FAILED', 'none');
      // Browsers send Origin on every cross-origin POST; a request with neither Origin nor Sec-Fetch-Site is not a browser's.
      expect((await post().set('Referer', 'https://evil.example/page')).status).toBe(200);
    },
  },
  {
    id: 'A81',
    title: '`Sec-Fetch-Site: same-site` (a sibling subdomain) is refused; same-origin and none pass',
    async run(ctx) {
      const app = await ctx.app();
      const login = await genuine(app);
      const post = (site: string) => app.http().post('/api/data').set('Cookie', login.cookie).set('Sec-Fetch-Site', site);
      expectRefusal(await post('same-site'), 'CSRF_FAILED', 'none');
      expectRefusal(await post('cross-site'), 'CSRF_FAILED', 'none');
      expectRefusal(await post('SAME-ORIGIN'), 'CSRF_FAILED', 'none');
      expect((await post('same-origin')).status).toBe(200);
      expect((await post('none')).status).toBe(200);
    },
  },
  {
    id: 'A82',
    title: 'look-alike Origins (other port or host, suffix, userinfo, a path, no scheme) are refused',
    async run(ctx) {
      const app = await ctx.app();
      const login = await genuine(app);
      const h = host(app);
      const [hostname, port] = h.split(':');
      for (const origin of [`http://${hostname}:1`, `http://${h}.evil.example`, `http://evil.example.${h}`, `http://${h}@evil.example`, `http://evil.example#@${h}`, `http://${h}/`, `http://${h}/x`, h, `http://localhost:${port}`, `http://127.0.0.2:${port}`]) {
        const res = await app.http().post('/api/data').set('Cookie', login.cookie).set('Origin', origin);
        expect({ origin, status: res.status }).toEqual({ origin, status: 403 });
        expectRefusal(res, 'CSRF_FAILED', 'none');
      }
      expect((await app.http().post('/api/data').set('Cookie', login.cookie).set('Origin', `HTTP://${h.toUpperCase()}`)).status).toBe(200);
    },
  },
  {
    id: 'A83',
    title: 'trusted origins match exactly: look-alikes of a trusted origin are refused',
    async run(ctx) {
      const app = await ctx.app({ csrf: { trustedOrigins: ['https://app.example'] } });
      const login = await genuine(app);
      const post = (origin: string) => app.http().post('/api/data').set('Cookie', login.cookie).set('Origin', origin).set('Sec-Fetch-Site', 'cross-site');
      for (const origin of ['https://app.example.evil.com', 'https://evil.com/https://app.example', 'https://app.example:8443', 'http://app.example', 'https://xapp.example', 'https://app.example/']) {
        expectRefusal(await post(origin), 'CSRF_FAILED', 'none');
      }
      expect((await post('https://app.example')).status).toBe(200);
      expect((await post('HTTPS://APP.EXAMPLE')).status).toBe(200);
    },
  },
  {
    id: 'A84',
    title: 'login CSRF: form, text/plain and multipart login bodies are refused (400) even without Origin, before verifyCredentials',
    async run(ctx) {
      const { app, calls } = await watched(ctx);
      for (const [type, body] of [
        [FORM, CREDENTIALS_FORM],
        ['text/plain', CREDENTIALS_FORM],
        ['multipart/form-data; boundary=X', '--X\r\nContent-Disposition: form-data; name="username"\r\n\r\nbob\r\n--X\r\nContent-Disposition: form-data; name="password"\r\n\r\nbuilder\r\n--X--\r\n'],
      ]) {
        const res = await app.http().post('/auth/login').set('Content-Type', type!).send(body!);
        expectRefusal(res, 'BAD_REQUEST', 'none', ['builder']);
      }
      expect(calls).toEqual([]);
    },
  },
  {
    id: 'A85',
    title: 'login CSRF: JSON credentials sent as text/plain (no preflight) are refused; as application/json cross-site too',
    async run(ctx) {
      const { app, calls } = await watched(ctx);
      const json = JSON.stringify({ username: 'bob', password: 'builder' });
      expectRefusal(await app.http().post('/auth/login').set('Content-Type', 'text/plain').send(json), 'BAD_REQUEST', 'none', ['builder']);
      expectRefusal(await app.http().post('/auth/login').set('Content-Type', 'text/plain;charset=UTF-8').set('Origin', 'https://evil.example').send(json), 'CSRF_FAILED', 'none');
      expectRefusal(await app.http().post('/auth/login').set('Content-Type', 'application/json').set('Sec-Fetch-Site', 'cross-site').send(json), 'CSRF_FAILED', 'none');
      expect(calls).toEqual([]);
    },
  },
  {
    id: 'A86',
    title: 'cross-origin admin actions (DELETE a session, revoke-all, create an API token) are refused; the session lives',
    async run(ctx) {
      const app = await ctx.app();
      const root = await genuine(app, 'root');
      const alice = await genuine(app);
      const evil = 'https://evil.example';
      const sid = sessionIdOf(alice.payload.sid as string);
      expectRefusal(await app.http().delete(`/auth/admin/sessions/${sid}`).set('Cookie', root.cookie).set('Origin', evil), 'CSRF_FAILED', 'none');
      expectRefusal(await app.http().post('/auth/admin/revoke-all').set('Cookie', root.cookie).set('Origin', evil), 'CSRF_FAILED', 'none');
      expectRefusal(await app.http().post('/auth/admin/api-tokens').set('Cookie', root.cookie).set('Sec-Fetch-Site', 'cross-site').send({ label: 'x' }), 'CSRF_FAILED', 'none');
      await expectAlice(await me(app, alice.cookie));
      expect((await app.core.listApiTokens('root')).tokens).toEqual([]);
      expect((await me(app, root.cookie)).status).toBe(200);
    },
  },
  {
    id: 'A87',
    title: 'no state change by GET: GET /auth/logout, /auth/refresh and /auth/login?username=&password= are 404 and change nothing',
    async run(ctx) {
      const { app, calls } = await watched(ctx);
      const login = await genuine(app);
      for (const path of ['/auth/logout', '/auth/refresh', '/auth/login?username=bob&password=builder']) {
        const res = await app.http().get(path).set('Cookie', login.cookie);
        expect({ path, status: res.status }).toEqual({ path, status: 404 });
        expect(res.headers['set-cookie']).toBeUndefined();
      }
      await expectAlice(await me(app, login.cookie));
      expect(calls).toEqual(['alice']);
    },
  },
];
