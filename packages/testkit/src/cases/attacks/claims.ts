/** Claims abuse: tokens MAC'd with the real secret (as if the key had leaked), each differing from a genuine one in one claim, refused or trusted only as far as the store agrees. */
import { expect } from '@jest/globals';
import { USERS } from '../../fixtures.js';
import { cookiesOf, decodeJwt } from '../helpers.js';
import { type Attack, PAIR, REFRESH, expectAlice, expectRefusal, genuine, header, lastReason, macJws, resign, withToken } from './harness.js';
import type { SuiteContext, TestApp } from '../../adapter-suite.js';
import { sessionIdOf } from '@tessera/core';

async function refused(app: TestApp, token: string, reason: string | RegExp, code: 'TOKEN_INVALID' | 'SESSION_ENDED' = 'TOKEN_INVALID'): Promise<void> {
  expectRefusal(await withToken(app, token), code, 'access', [token]);
  if (typeof reason === 'string') expect(lastReason(app)).toBe(reason);
  else expect(lastReason(app)).toMatch(reason);
}

/** A genuine sliding session and a re-signer for one-claim edits of it. */
async function base(ctx: SuiteContext, options = {}) {
  const app = await ctx.app(options);
  const g = await genuine(app);
  return { app, ...g, edit: (e: (p: Record<string, unknown>) => Record<string, unknown>) => resign(header(), g.payload, e) };
}

const without = (name: string) => (p: Record<string, unknown>) => {
  const { [name]: _gone, ...rest } = p;
  return rest;
};

export const CLAIM_ATTACKS: Attack[] = [
  ...([['A47', 'sub'], ['A48', 'sid'], ['A49', 'jti'], ['A50', 'exp'], ['A51', 'iat']] as const).map(
    ([id, claim]): Attack => ({
      id,
      title: `a token without \`${claim}\` is refused`,
      async run(ctx) {
        const { app, edit } = await base(ctx);
        await refused(app, edit(without(claim)), `claim:${claim}`);
      },
    }),
  ),
  {
    id: 'A52',
    title: 'claims of the wrong type (numeric sub, object sid, array jti, string iat/exp, empty sid, numeric tnt) are refused',
    async run(ctx) {
      const { app, edit } = await base(ctx);
      const edits: Record<string, unknown>[] = [{ sub: 123 }, { sid: {} }, { jti: ['x'] }, { iat: String(ctx.clock.now()) }, { exp: String(ctx.clock.now() + 100) }, { sid: '' }, { jti: '' }, { tnt: 5 }, { sub: null }];
      for (const e of edits) await refused(app, edit(p => ({ ...p, ...e })), /^claim:|^claims$|^malformed$/);
    },
  },
  {
    id: 'A53',
    title: 'absurd times (exp 1e308, negative iat, iat at the epoch) are refused',
    async run(ctx) {
      const { app, edit } = await base(ctx);
      const now = ctx.clock.now();
      await refused(app, edit(p => ({ ...p, exp: 1e308 })), 'lifetime');
      await refused(app, edit(p => ({ ...p, iat: -1e308 })), /^lifetime$|^claim:iat$/);
      await refused(app, edit(p => ({ ...p, iat: 0, exp: now + 60 })), 'lifetime');
    },
  },
  {
    id: 'A54',
    title: 'an `iat` in the future (a year ahead, a short lifetime) is refused',
    async run(ctx) {
      const { app, edit } = await base(ctx);
      const later = ctx.clock.now() + 365 * 86_400;
      await refused(app, edit(p => ({ ...p, iat: later, exp: later + 60 })), 'iat-future');
    },
  },
  {
    id: 'A55',
    title: 'an `nbf` in the future, or not a number, is refused',
    async run(ctx) {
      const { app, edit } = await base(ctx);
      await refused(app, edit(p => ({ ...p, nbf: ctx.clock.now() + 3600 })), 'claim:nbf');
      await refused(app, edit(p => ({ ...p, nbf: 'now' })), /^claim:nbf$|^malformed$/);
    },
  },
  {
    id: 'A56',
    title: 'sliding: `exp - iat` longer than `ttl` (+ clockTolerance) is refused, expired or not',
    async run(ctx) {
      const { app, edit } = await base(ctx, { ttl: 3600 });
      const now = ctx.clock.now();
      await expectAlice(await withToken(app, edit(p => ({ ...p, iat: now, exp: now + 3605 }))));
      await refused(app, edit(p => ({ ...p, iat: now, exp: now + 3606 })), 'lifetime');
      await refused(app, edit(p => ({ ...p, iat: now - 90 * 86_400, exp: now - 10 })), 'lifetime');
    },
  },
  {
    id: 'A57',
    title: 'pair: an access token longer than `accessTtl` and a refresh token longer than `refreshTtl` are refused',
    async run(ctx) {
      const app = await ctx.app(PAIR);
      const g = await genuine(app);
      const now = ctx.clock.now();
      const longAccess = macJws(header('access'), { ...g.payload, iat: now, exp: now + 3600 });
      await refused(app, longAccess, 'lifetime');
      const { payload: rp } = decodeJwt(g.refresh!);
      const longRefresh = macJws(header('refresh'), { ...rp, iat: now, exp: now + 30 * 86_400 });
      expectRefusal(await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${longRefresh}`), 'TOKEN_INVALID', 'all', [longRefresh]);
      expect(lastReason(app)).toBe('refresh-lifetime');
    },
  },
  {
    id: 'A58',
    title: 'a wrong, missing or array `iss` is refused',
    async run(ctx) {
      const { app, edit } = await base(ctx);
      await refused(app, edit(p => ({ ...p, iss: 'https://evil.example' })), 'claim:iss');
      await refused(app, edit(without('iss')), 'claim:iss');
      await refused(app, edit(p => ({ ...p, iss: ['tessera'] })), 'claim:iss');
    },
  },
  {
    id: 'A59',
    title: 'a wrong, missing or foreign-only `aud` is refused',
    async run(ctx) {
      const { app, edit } = await base(ctx);
      await refused(app, edit(p => ({ ...p, aud: 'another-app' })), 'claim:aud');
      await refused(app, edit(without('aud')), 'claim:aud');
      await refused(app, edit(p => ({ ...p, aud: ['another-app', 'third-app'] })), 'claim:aud');
    },
  },
  {
    id: 'A60',
    title: 'a subject swapped against the session id (alice\'s sid with sub bob, bob\'s sid with sub alice) is refused',
    async run(ctx) {
      const app = await ctx.app();
      const alice = await genuine(app);
      const bob = await genuine(app, 'bob');
      await refused(app, resign(header(), alice.payload, p => ({ ...p, sub: 'bob' })), 'record-mismatch');
      await refused(app, resign(header(), bob.payload, p => ({ ...p, sub: 'alice' })), 'record-mismatch');
    },
  },
  {
    id: 'A61',
    title: 'a `sid` naming a stored record (an API token\'s, the session\'s own public id), an unknown one, or an oversized id is refused',
    async run(ctx) {
      const { app, edit } = await base(ctx);
      const { info } = await app.core.createApiToken({ user: USERS.alice!.user });
      // Records are keyed by a hash of the `sid` claim: no stored id names a record when presented as one.
      await refused(app, edit(p => ({ ...p, sid: info.id })), 'unknown-session', 'SESSION_ENDED');
      await refused(app, edit(p => ({ ...p, sid: sessionIdOf(p.sid as string) })), 'unknown-session', 'SESSION_ENDED');
      await refused(app, edit(p => ({ ...p, sid: 'no-such-session' })), 'unknown-session', 'SESSION_ENDED');
      await refused(app, edit(p => ({ ...p, sid: 's'.repeat(300) })), 'claims');
      await refused(app, edit(p => ({ ...p, jti: 'j'.repeat(300) })), 'claims');
    },
  },
  {
    id: 'A62',
    title: 'a `tnt` claim on a server without tenants, and another tenant\'s token, are refused',
    async run(ctx) {
      const { app, edit } = await base(ctx);
      await refused(app, edit(p => ({ ...p, tnt: 'acme' })), 'tenant');
      const tenants = await ctx.app({ tenant: req => req.header('x-tenant') ?? null });
      const login = await tenants.http().post('/auth/login').set('X-Tenant', 'acme').send({ username: 'alice', password: 'wonderland' });
      expect(login.status).toBe(200);
      const token = cookiesOf(login)[0]!.value;
      const res = await withToken(tenants, token).set('X-Tenant', 'globex');
      expectRefusal(res, 'TOKEN_INVALID', 'access', [token]);
      expect(lastReason(tenants)).toBe('tenant');
    },
  },
  {
    id: 'A63',
    title: 'extra claims (role, user, scopes) in a properly signed token grant nothing: the user comes from the store',
    async run(ctx) {
      const { app, edit } = await base(ctx);
      const t = edit(p => ({ ...p, role: 'admin', user: { id: 'root', role: 'admin' }, scopes: ['admin'], name: 'Root' }));
      await expectAlice(await withToken(app, t));
      const admin = await app.http().get('/auth/admin/users/bob/sessions').set('Cookie', `tessera=${t}`);
      expectRefusal(admin, 'FORBIDDEN', 'none', [t]);
    },
  },
];
