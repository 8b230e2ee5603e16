/** Token type confusion: a refresh token used as an access token and back, tokens of the other mode, forged `typ` values. */
import { expect } from '@jest/globals';
import { type Attack, ACCESS, PAIR, REFRESH, expectAlice, expectRefusal, genuine, header, jarOf, lastReason, macJws, me, withToken } from './harness.js';

export const TOKEN_TYPE_ATTACKS: Attack[] = [
  {
    id: 'A42',
    title: 'pair mode: the refresh token in the access cookie or as Bearer is refused',
    async run(ctx) {
      const app = await ctx.app(PAIR);
      const { refresh } = await genuine(app);
      expectRefusal(await withToken(app, refresh!), 'TOKEN_INVALID', 'access', [refresh!]);
      expect(lastReason(app)).toBe('claim:typ');
      expectRefusal(await app.http().get('/api/me').set('Authorization', `Bearer ${refresh}`), 'TOKEN_INVALID', 'access', [refresh!]);
      expect(lastReason(app)).toBe('claim:typ');
    },
  },
  {
    id: 'A43',
    title: 'pair mode: the access token in the refresh cookie is refused at /auth/refresh, and nothing is rotated',
    async run(ctx) {
      const app = await ctx.app(PAIR);
      const login = await genuine(app);
      ctx.clock.advance(61); // the access token has expired: a refresh would rotate
      const res = await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${login.token}`);
      expectRefusal(res, 'TOKEN_INVALID', 'all', [login.token]);
      expect(lastReason(app)).toBe('refresh-claim:typ');
      // The genuine refresh token was not consumed: it still rotates, with no reuse detected.
      const ok = await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${login.refresh}`);
      expect(ok.status).toBe(200);
      expect(app.events.filter(e => e.type === 'reuse-detected')).toEqual([]);
    },
  },
  {
    id: 'A44',
    title: 'a sliding session token at a pair-mode server, and a pair access token at a sliding server (same store and secret), are refused',
    async run(ctx) {
      const store = ctx.newStore();
      const sliding = await ctx.app({ store });
      const pair = await ctx.app({ store, ...PAIR });
      const s = await genuine(sliding);
      const p = await genuine(pair);
      expectRefusal(await withToken(pair, s.token), 'TOKEN_INVALID', 'access', [s.token]);
      expect(lastReason(pair)).toBe('claim:typ');
      expectRefusal(await withToken(sliding, p.token), 'TOKEN_INVALID', 'access', [p.token]);
      expect(lastReason(sliding)).toBe('claim:typ');
      // a session token where a refresh token goes
      expectRefusal(await pair.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${s.token}`), 'TOKEN_INVALID', 'all', [s.token]);
    },
  },
  {
    id: 'A45',
    title: 'forged `typ` values (missing, JWT, at+jwt, the refresh or access type, a suffix) signed with the real secret are refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      await expectAlice(await withToken(app, macJws(header(), payload)));
      const { typ: _t, ...noTyp } = header();
      for (const h of [noTyp, ...['JWT', 'at+jwt', 'tessera-refresh+jwt', 'application/tessera-access+jwt', 'tessera-session+jwt+x', 'tessera-session', 'session'].map(typ => header('session', { typ }))]) {
        const t = macJws(h, payload);
        expectRefusal(await withToken(app, t), 'TOKEN_INVALID', 'access', [t]);
        expect(lastReason(app)).toBe('claim:typ');
      }
    },
  },
  {
    id: 'A46',
    title: 'pair mode: a refresh token replayed through the access cookie never refreshes the session',
    async run(ctx) {
      const app = await ctx.app(PAIR);
      const login = await genuine(app);
      ctx.clock.advance(61);
      // the refresh token in both cookies: the access one is refused for its type, so no transparent refresh happens
      const res = await me(app, `${ACCESS}=${login.refresh}; ${REFRESH}=${login.refresh}`);
      expectRefusal(res, 'TOKEN_INVALID', 'access', [login.refresh!]);
      expect(jarOf(res).jar[REFRESH]).toBeUndefined();
      expect(app.events.filter(e => e.type === 'refreshed')).toEqual([]);
    },
  },
];
