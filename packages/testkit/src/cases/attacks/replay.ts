/** Replay of stolen or spent tokens: after logout, refresh tokens after rotation (past the grace window, beyond maxReuse), forged refresh floods, tokens used from another address. */
import { expect } from '@jest/globals';
import { type Attack, ACCESS, PAIR, REFRESH, expectAlice, expectRefusal, genuine, header, jarOf, lastReason, macJws, me, withToken } from './harness.js';

export const REPLAY_ATTACKS: Attack[] = [
  {
    id: 'A111',
    title: 'logout replay: the logged-out token is SESSION_ENDED by cookie and by Bearer; a second logout with it changes nothing',
    async run(ctx) {
      const app = await ctx.app();
      const login = await genuine(app);
      expect((await app.http().post('/auth/logout').set('Cookie', login.cookie)).status).toBe(204);
      expectRefusal(await me(app, login.cookie), 'SESSION_ENDED', 'access', [login.token]);
      expectRefusal(await app.http().get('/api/me').set('Authorization', `Bearer ${login.token}`), 'SESSION_ENDED', 'access', [login.token]);
      const again = await app.http().post('/auth/logout').set('Cookie', login.cookie);
      expect(again.status).toBe(204);
      expectRefusal(await withToken(app, login.token), 'SESSION_ENDED', 'access', [login.token]);
    },
  },
  {
    id: 'A112',
    title: 'pair: a rotated-out refresh token replayed after the grace window is REFRESH_REUSED and revokes the whole family',
    async run(ctx) {
      const app = await ctx.app(PAIR);
      const login = await genuine(app);
      ctx.clock.advance(61);
      const first = await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${login.refresh}`);
      expect(first.status).toBe(200);
      const successor = jarOf(first);
      ctx.clock.advance(11); // graceSeconds defaults to 10
      const replay = await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${login.refresh}`);
      expectRefusal(replay, 'REFRESH_REUSED', 'all', [login.refresh!]);
      expect(app.events.filter(e => e.type === 'reuse-detected')).toHaveLength(1);
      // the thief's and the victim's current tokens are all dead
      expectRefusal(await me(app, `${ACCESS}=${successor.jar[ACCESS]}`), 'SESSION_ENDED', 'all');
      expectRefusal(await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${successor.jar[REFRESH]}`), 'SESSION_ENDED', 'all');
    },
  },
  {
    id: 'A113',
    title: 'pair: replays inside the grace window get the current head at most `maxReuse` times, then REFRESH_REUSED',
    async run(ctx) {
      const app = await ctx.app({ ...PAIR, refreshReuse: { maxReuse: 2, graceSeconds: 10 } });
      const login = await genuine(app);
      ctx.clock.advance(61);
      const r0 = `${REFRESH}=${login.refresh}`;
      const head = jarOf(await app.http().post('/auth/refresh').set('Cookie', r0)).jar[REFRESH];
      for (let i = 0; i < 2; i++) {
        const res = await app.http().post('/auth/refresh').set('Cookie', r0);
        expect(res.status).toBe(200);
        expect(jarOf(res).jar[REFRESH]).toBe(head); // the same head, not a new generation
      }
      expectRefusal(await app.http().post('/auth/refresh').set('Cookie', r0), 'REFRESH_REUSED', 'all', [login.refresh!]);
      expectRefusal(await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${head}`), 'SESSION_ENDED', 'all');
    },
  },
  {
    id: 'A114',
    title: 'pair: after logout the refresh token and the unexpired access token are SESSION_ENDED at once',
    async run(ctx) {
      const app = await ctx.app(PAIR);
      const login = await genuine(app);
      expect((await app.http().post('/auth/logout').set('Cookie', login.cookie)).status).toBe(204);
      expectRefusal(await withToken(app, login.token), 'SESSION_ENDED', 'all', [login.token]);
      expectRefusal(await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${login.refresh}`), 'SESSION_ENDED', 'all', [login.refresh!]);
    },
  },
  {
    id: 'A115',
    title: 'pair: a flood of forged refresh tokens from one address is throttled (429 + Retry-After); genuine refreshes never are',
    async run(ctx) {
      const app = await ctx.app({ ...PAIR, refreshThrottle: '3/15m' });
      const login = await genuine(app);
      const forged = (i: number) => macJws(header('refresh'), { ...login.payload, jti: `forged-${i}` }, 'not-the-secret-but-long-enough-0123456789');
      for (let i = 0; i < 3; i++) {
        expectRefusal(await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${forged(i)}`), 'TOKEN_INVALID', 'all');
        expect(lastReason(app)).toBe('refresh-signature');
      }
      const limited = await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${forged(3)}`);
      expectRefusal(limited, 'TOO_MANY_ATTEMPTS', 'none');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      ctx.clock.advance(61);
      expect((await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${login.refresh}`)).status).toBe(200);
    },
  },
  {
    id: 'A116',
    title: 'a bound session (bindClientIp) replayed from another address is BINDING_MISMATCH; the owner keeps it',
    async run(ctx) {
      const app = await ctx.app({ bindClientIp: 'exact' }, { trustProxy: true });
      const res = await app.http().post('/auth/login').set('X-Forwarded-For', '203.0.113.5').send({ username: 'alice', password: 'wonderland' });
      expect(res.status).toBe(200);
      const { cookie, jar } = jarOf(res);
      expectRefusal(await me(app, cookie).set('X-Forwarded-For', '198.51.100.7'), 'BINDING_MISMATCH', 'access', [jar[ACCESS]!]);
      await expectAlice(await me(app, cookie).set('X-Forwarded-For', '203.0.113.5'));
    },
  },
  {
    id: 'A117',
    title: 'X-Forwarded-For from an untrusted peer moves nothing: a spoofed header neither binds elsewhere nor unbinds',
    async run(ctx) {
      const app = await ctx.app({ bindClientIp: 'exact' });
      const res = await app.http().post('/auth/login').set('X-Forwarded-For', '203.0.113.5').send({ username: 'alice', password: 'wonderland' });
      const { cookie } = jarOf(res);
      const sid = (await app.core.listSessions('alice')).sessions[0]!;
      expect(sid.ip).toBe('127.0.0.1');
      await expectAlice(await me(app, cookie).set('X-Forwarded-For', '198.51.100.7'));
    },
  },
];
