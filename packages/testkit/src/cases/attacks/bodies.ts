/** Request bodies and usernames: malformed, oversized and deeply nested JSON, prototype pollution, Unicode look-alikes and their throttling. */
import { expect } from '@jest/globals';
import type { User } from '@tessera/core';
import type { SuiteContext } from '../../adapter-suite.js';
import { verifyCredentials } from '../../fixtures.js';
import { type Attack, PAIR, LOGIN, expectAlice, expectRefusal, genuine, jarOf, me, nodeRequest } from './harness.js';

/** An app whose verifyCredentials records each username it is given. */
async function watched(ctx: SuiteContext, options = {}, setup = {}) {
  const seen: string[] = [];
  const app = await ctx.app(
    {
      ...options,
      verifyCredentials: async (input: { username: string; password: string }): Promise<User | null> => {
        seen.push(input.username);
        return verifyCredentials(input);
      },
    },
    setup,
  );
  return { app, seen };
}

function expectUnpolluted(): void {
  const probe = {} as Record<string, unknown>;
  for (const k of ['role', 'admin', 'isAdmin', 'username', 'password', 'polluted']) expect(probe[k]).toBeUndefined();
}

const loginRaw = (app: Awaited<ReturnType<typeof watched>>['app'], body: string, type = 'application/json') => app.http().post('/auth/login').set('Content-Type', type).send(body);

export const BODY_ATTACKS: Attack[] = [
  {
    id: 'A95',
    title: 'malformed JSON login bodies (cut, trailing garbage, single quotes, a lone BOM) get 400 BAD_REQUEST and no cookie',
    async run(ctx) {
      const { app, seen } = await watched(ctx);
      for (const body of ['{"username":"alice","password":"wonder', `${JSON.stringify(LOGIN)}}}`, "{'username':'alice','password':'wonderland'}", '\ufeff', '{"username":"alice","password":"wonderland",}']) {
        expectRefusal(await loginRaw(app, body), 'BAD_REQUEST', 'none', ['wonderland']);
      }
      expect(seen).toEqual([]);
    },
  },
  {
    id: 'A96',
    title: 'oversized JSON login bodies (64 KB, 1 MB) get 400 BAD_REQUEST, never a 5xx',
    async run(ctx) {
      const { app, seen } = await watched(ctx);
      for (const size of [64 * 1024, 1024 * 1024]) {
        const body = JSON.stringify({ ...LOGIN, pad: 'x'.repeat(size) });
        const res = await nodeRequest(app, 'POST', '/auth/login', { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }, body);
        expect(res.error).toBeUndefined();
        expectRefusal(res, 'BAD_REQUEST', 'none', ['wonderland']);
      }
      expect(seen).toEqual([]);
      expect((await app.login()).status).toBe(200);
    },
  },
  {
    id: 'A97',
    title: 'deeply nested JSON (arrays, objects, under username) gets 400 BAD_REQUEST, never a stack overflow',
    async run(ctx) {
      const { app, seen } = await watched(ctx);
      const depth = 2000; // within the 16 KB body limit, so it is the nesting that is judged
      for (const body of ['['.repeat(depth) + ']'.repeat(depth), '{"a":'.repeat(depth) + '1' + '}'.repeat(depth), `{"username":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)},"password":"x"}`]) {
        expectRefusal(await loginRaw(app, body), 'BAD_REQUEST', 'none');
      }
      expect(seen).toEqual([]);
    },
  },
  {
    id: 'A98',
    title: '`__proto__` in a good login body grants nothing and pollutes nothing (raw bodies and the frameworks\' parsers)',
    async run(ctx) {
      for (const setup of [{}, { extras: true }] as { extras?: boolean }[]) {
        const { app } = await watched(ctx, {}, setup);
        const res = await loginRaw(app, '{"username":"alice","password":"wonderland","__proto__":{"role":"admin","admin":true,"polluted":1}}');
        if (setup.extras && ctx.framework === 'koa') {
          // @koa/bodyparser (co-body, bourne) refuses a __proto__ key itself, before Tessera runs: a 400, no session.
          expect(res.status).toBe(400);
          expect(res.headers['set-cookie']).toBeUndefined();
          expectUnpolluted();
          continue;
        }
        expect(res.status).toBe(200);
        expect(res.body.user).toEqual({ id: 'alice', name: 'Alice' });
        const { cookie } = jarOf(res);
        expectRefusal(await app.http().get('/auth/admin/users/bob/sessions').set('Cookie', cookie), 'FORBIDDEN', 'none');
        expectUnpolluted();
      }
    },
  },
  {
    id: 'A99',
    title: '`constructor.prototype` in a good login body grants nothing and pollutes nothing',
    async run(ctx) {
      for (const setup of [{}, { extras: true }] as { extras?: boolean }[]) {
        const { app } = await watched(ctx, {}, setup);
        const res = await loginRaw(app, '{"username":"alice","password":"wonderland","constructor":{"prototype":{"role":"admin","polluted":1}}}');
        expect(res.status).toBe(200);
        expectRefusal(await app.http().get('/auth/admin/users/bob/sessions').set('Cookie', jarOf(res).cookie), 'FORBIDDEN', 'none');
        expectUnpolluted();
      }
    },
  },
  {
    id: 'A100',
    title: 'credentials only under `__proto__` are not credentials: 400 BAD_REQUEST, verifyCredentials never runs',
    async run(ctx) {
      const { app, seen } = await watched(ctx);
      expectRefusal(await loginRaw(app, '{"__proto__":{"username":"alice","password":"wonderland"}}'), 'BAD_REQUEST', 'none', ['wonderland']);
      expectRefusal(await loginRaw(app, '{"username":"alice","__proto__":{"password":"wonderland"}}'), 'BAD_REQUEST', 'none', ['wonderland']);
      expect(seen).toEqual([]);
      expectUnpolluted();
    },
  },
  {
    id: 'A101',
    title: 'usernames naming Object members (__proto__, constructor, toString, hasOwnProperty) are plain failed logins',
    async run(ctx) {
      const { app, seen } = await watched(ctx);
      const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', 'valueOf'];
      for (const username of names) expectRefusal(await app.http().post('/auth/login').send({ username, password: 'wonderland' }), 'LOGIN_FAILED', 'none', ['wonderland']);
      expect(seen).toEqual(names);
      expect((await app.login()).status).toBe(200);
    },
  },
  {
    id: 'A102',
    title: 'pair mode with body tokens: a refresh token under `__proto__` in the refresh body is no token (TOKEN_MISSING)',
    async run(ctx) {
      const app = await ctx.app({ ...PAIR, tokenInLoginBody: true });
      const { body } = await genuine(app);
      ctx.clock.advance(61);
      const res = await app.http().post('/auth/refresh').set('Content-Type', 'application/json').send(`{"__proto__":{"refreshToken":${JSON.stringify(body.refreshToken)}}}`);
      expectRefusal(res, 'TOKEN_MISSING', 'none', [body.refreshToken]);
      expect(app.events.filter(e => e.type === 'refreshed')).toEqual([]);
      expectUnpolluted();
    },
  },
  {
    id: 'A103',
    title: 'Unicode look-alikes of a username (fullwidth, case, zero-width, combining, Cyrillic) reach verifyCredentials verbatim and fail',
    async run(ctx) {
      const { app, seen } = await watched(ctx);
      const names = ['ａｌｉｃｅ', 'Alice', 'ALICE', 'ali\u200bce', 'alice\u0301', '\u0430lice', 'alice\u0000', 'ali\u202ece'];
      for (const username of names) expectRefusal(await app.http().post('/auth/login').send({ username, password: 'wonderland' }), 'LOGIN_FAILED', 'none', ['wonderland']);
      expect(seen).toEqual(names);
    },
  },
  {
    id: 'A104',
    title: 'the login throttle counts case and Unicode variants of a name as one: a lockout is not sidestepped with ＡＬＩＣＥ',
    async run(ctx) {
      const { app, seen } = await watched(ctx, { loginThrottle: '3/15m' });
      for (const username of ['alice', 'Alice', 'ａｌｉｃｅ']) expectRefusal(await app.http().post('/auth/login').send({ username, password: 'nope' }), 'LOGIN_FAILED', 'none');
      for (const username of ['ＡＬＩＣＥ', 'alice', 'aLiCe']) {
        const res = await app.http().post('/auth/login').send({ username, password: 'wonderland' });
        expectRefusal(res, 'TOO_MANY_ATTEMPTS', 'none', ['wonderland']);
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
      expect(seen).toEqual(['alice', 'Alice', 'ａｌｉｃｅ']);
      // another user behind the same address is not locked out
      expect((await app.login('bob')).status).toBe(200);
    },
  },
  {
    id: 'A105',
    title: 'lone surrogates, NUL and control characters in credentials are plain failed logins, never a 5xx',
    async run(ctx) {
      const { app } = await watched(ctx);
      for (const body of ['{"username":"\\ud800","password":"x"}', '{"username":"alice","password":"\\udfff\\ud800"}', '{"username":"\\u0000","password":"\\u0000"}', '{"username":"a\\u0007\\u001b[31m","password":"x"}']) {
        expectRefusal(await loginRaw(app, body), 'LOGIN_FAILED', 'none');
      }
      await expectAlice(await me(app, (await genuine(app)).cookie));
    },
  },
];
