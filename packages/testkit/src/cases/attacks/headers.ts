/** Header abuse: CR/LF injection (username, user id, Cookie, Authorization), junk and repeated Authorization headers, tokens in the query string or under other schemes. */
import { expect } from '@jest/globals';
import type { User } from '@tessera/core';
import type { TestApp } from '../../adapter-suite.js';
import { verifyCredentials } from '../../fixtures.js';
import { type Attack, expectAlice, expectRefusal, genuine, lastReason, me, nodeRequest, rawExchange, rawHead } from './harness.js';

/** The reply carries no header the attacker named, and only the Set-Cookie values the server meant. */
function expectNoInjectedHeader(res: { headers: Record<string, unknown> }): void {
  const names = Object.keys(res.headers).map(n => n.toLowerCase());
  expect(names.filter(n => n.startsWith('x-injected') || n === 'pwned')).toEqual([]);
  for (const c of ([] as string[]).concat((res.headers['set-cookie'] as string[] | undefined) ?? [])) expect(c).not.toMatch(/pwned/i);
}

/** Sent on a raw connection: the HTTP parser refuses it with a 400 (or closes), never a 5xx, and reflects nothing. */
async function expectParserRefusal(app: TestApp, line: string): Promise<void> {
  const r = await rawExchange(app, rawHead(app, 'GET', '/api/me', [line]));
  expect(r.statuses.length).toBeLessThanOrEqual(1);
  for (const s of r.statuses) expect(s).toBe(400);
  expect(r.text).not.toMatch(/x-injected/i);
}

export const HEADER_ATTACKS: Attack[] = [
  {
    id: 'A88',
    title: 'CR/LF in the username reaches verifyCredentials verbatim and no reply header (LOGIN_FAILED, nothing injected)',
    async run(ctx) {
      const seen: string[] = [];
      const app = await ctx.app({
        verifyCredentials: async (input: { username: string; password: string }): Promise<User | null> => {
          seen.push(input.username);
          return verifyCredentials(input);
        },
      });
      const username = 'alice\r\nSet-Cookie: pwned=1\r\nX-Injected: 1';
      const res = await app.http().post('/auth/login').send({ username, password: 'wonderland' });
      expectRefusal(res, 'LOGIN_FAILED', 'none', ['wonderland']);
      expectNoInjectedHeader(res);
      expect(seen).toEqual([username]);
    },
  },
  {
    id: 'A89',
    title: 'a user id with CR/LF (from the app) never reaches a header: the token carries it, the cookie is base64url',
    async run(ctx) {
      const id = 'alice\r\nX-Injected: 1\r\nSet-Cookie: pwned=1';
      const app = await ctx.app({ verifyCredentials: async () => ({ id, name: 'Alice' }) as User });
      const res = await app.http().post('/auth/login').send({ username: 'alice', password: 'x' });
      expect(res.status).toBe(200);
      expectNoInjectedHeader(res);
      const login = await genuine(app);
      expect((await me(app, login.cookie)).body).toEqual({ user: { id, name: 'Alice' } });
    },
  },
  {
    id: 'A90',
    title: 'bare CR, bare LF or NUL inside the Cookie header: the HTTP parser answers 400, never a 5xx',
    async run(ctx) {
      const app = await ctx.app();
      const login = await genuine(app);
      for (const line of [`Cookie: ${login.cookie}\rX-Injected: 1`, `Cookie: ${login.cookie}\nX-Injected: 1`, `Cookie: tessera=a\u0000b`]) await expectParserRefusal(app, line);
      await expectAlice(await me(app, login.cookie));
    },
  },
  {
    id: 'A91',
    title: 'CR/LF or a folded continuation line in Authorization: the HTTP parser answers 400, never a 5xx',
    async run(ctx) {
      const app = await ctx.app();
      const login = await genuine(app);
      for (const line of [`Authorization: Bearer ${login.token}\rX-Injected: 1`, `Authorization: Bearer ${login.token}\nX-Injected: 1`, `Authorization: Bearer junk\r\n ${login.token}`]) {
        await expectParserRefusal(app, line);
      }
      await expectAlice(await me(app, login.cookie));
    },
  },
  {
    id: 'A92',
    title: 'junk Bearer values: no token is no credential (TOKEN_MISSING, or the cookie decides), a bad one TOKEN_INVALID even beside a good cookie',
    async run(ctx) {
      const app = await ctx.app();
      const login = await genuine(app);
      const bearer = (value: string, cookie?: string) => {
        const r = app.http().get('/api/me').set('Authorization', value);
        return cookie === undefined ? r : r.set('Cookie', cookie);
      };
      for (const v of ['Bearer', 'Bearer    ', 'Bearer a b', `Bearer ${login.token}, Bearer ${login.token}`]) {
        expectRefusal(await bearer(v), 'TOKEN_MISSING', 'none', [login.token]);
        // a header that carries no token is no credential: the cookie decides
        await expectAlice(await bearer(v, login.cookie));
      }
      expectRefusal(await bearer('Bearer junk'), 'TOKEN_INVALID', 'access');
      expect(lastReason(app)).toBe('malformed');
      expectRefusal(await bearer(`Bearer ${login.token}junk`), 'TOKEN_INVALID', 'access', [login.token]);
      expectRefusal(await bearer('Bearer junk', login.cookie), 'TOKEN_INVALID', 'access', [login.token]);
      await expectAlice(await bearer(`bearer ${login.token}`));
      await expectAlice(await bearer(`BEARER ${login.token}`));
    },
  },
  {
    id: 'A93',
    title: 'repeated Authorization headers: the first one is the credential (the rest are dropped), never a merge or a choice',
    async run(ctx) {
      const app = await ctx.app();
      const alice = await genuine(app);
      const bob = await genuine(app, 'bob');
      // Node's client sends an array value as that many header lines.
      const send = (values: string[]) => nodeRequest(app, 'GET', '/api/me', { ['authorization' as string]: values });
      expectRefusal(await send(['Bearer junk', `Bearer ${alice.token}`]), 'TOKEN_INVALID', 'access', [alice.token]);
      await expectAlice(await send([`Bearer ${alice.token}`, 'Bearer junk']));
      await expectAlice(await send([`Bearer ${alice.token}`, `Bearer ${bob.token}`]));
    },
  },
  {
    id: 'A94',
    title: 'a token in the query string or under another scheme (Token, JWT, Basic, "Bearer:") is not a credential',
    async run(ctx) {
      const app = await ctx.app();
      const { token } = await genuine(app);
      for (const q of ['access_token', 'token', 'tessera', 'jwt']) expectRefusal(await app.http().get(`/api/me?${q}=${token}`), 'TOKEN_MISSING', 'none', [token]);
      for (const v of [`Token ${token}`, `JWT ${token}`, `Basic ${Buffer.from(token).toString('base64')}`, `Bearer:${token}`, `Bearer\t${token}`]) {
        expectRefusal(await app.http().get('/api/me').set('Authorization', v), 'TOKEN_MISSING', 'none', [token]);
      }
    },
  },
];
