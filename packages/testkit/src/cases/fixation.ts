import { describe, expect, it } from '@jest/globals';
import { cookieHeader, type SuiteContext, type TestApp } from '../adapter-suite.js';
import { basic, basicLoginRequest, clearedCookie, cookiesOf, decodeJwt, expectError } from './helpers.js';
import { sessionIdOf } from '@tessera/core';

const PAIR = { mode: 'pair', accessTtl: 60, refreshTtl: 3600 } as const;

const sidOf = (token: string): string => sessionIdOf(decodeJwt(token).payload.sid as string);

function revokedEvents(app: TestApp) {
  return app.events.filter(e => e.type === 'revoked');
}

export default function fixation(ctx: SuiteContext): void {
  describe('session fixation: a login ends the session the request presented', () => {
    it('the login route: the presented session ends (SESSION_ENDED), the new one works, a revoked event by login', async () => {
      const app = await ctx.app();
      const old = await app.login();
      const oldSid = sidOf(old.jar.tessera!);
      ctx.clock.advance(30);
      const now = ctx.clock.now();
      const res = await app.http().post('/auth/login').set('Cookie', old.cookie).send({ username: 'alice', password: 'wonderland' });
      expect(res.status).toBe(200);
      const fresh = cookieHeader(cookiesOf(res));
      const newSid = sidOf(fresh.jar.tessera!);
      expect(newSid).not.toBe(oldSid);
      const stale = await app.http().get('/api/me').set('Cookie', old.cookie);
      expectError(stale, 'SESSION_ENDED');
      expect(cookiesOf(stale).map(c => c.raw)).toEqual([clearedCookie('tessera')]);
      expect((await app.http().get('/api/me').set('Cookie', fresh.cookie)).status).toBe(200);
      expect(await app.store.get(oldSid)).toMatchObject({ revokedAt: now });
      expect(await app.store.get(newSid)).toMatchObject({ revokedAt: null });
      expect(revokedEvents(app)).toEqual([{ type: 'revoked', at: now, by: 'login', where: { family: oldSid }, count: 1 }]);
    });

    it('issue() (/auth/basic) does the same, whoever logs in: a planted session is not adopted', async () => {
      const app = await ctx.app();
      // the attacker's own session, planted in the victim's browser
      const planted = await app.login('bob');
      const plantedSid = sidOf(planted.jar.tessera!);
      const now = ctx.clock.now();
      const res = await basicLoginRequest(app, basic('alice', 'wonderland'), planted.cookie);
      expect(res.status).toBe(200);
      const mine = cookieHeader(cookiesOf(res));
      expect(sidOf(mine.jar.tessera!)).not.toBe(plantedSid);
      expectError(await app.http().get('/api/me').set('Cookie', planted.cookie), 'SESSION_ENDED');
      expect((await app.http().get('/api/me').set('Cookie', mine.cookie)).body).toEqual({ user: { id: 'alice', name: 'Alice' } });
      expect(revokedEvents(app)).toEqual([{ type: 'revoked', at: now, by: 'login', where: { family: plantedSid }, count: 1 }]);
    });

    it('a session presented as a bearer token ends too', async () => {
      const app = await ctx.app({ tokenInLoginBody: true });
      const old = await app.login();
      const token = old.body.token as string;
      const res = await app.http().post('/auth/login').set('Authorization', `Bearer ${token}`).send({ username: 'alice', password: 'wonderland' });
      expect(res.status).toBe(200);
      expectError(await app.http().get('/api/me').set('Authorization', `Bearer ${token}`), 'SESSION_ENDED');
      expect((await app.http().get('/api/me').set('Authorization', `Bearer ${res.body.token}`)).status).toBe(200);
      expect(revokedEvents(app)).toMatchObject([{ by: 'login', where: { family: sidOf(token) }, count: 1 }]);
    });

    it('pair mode: the old access and refresh tokens are both dead, through the route and through issue()', async () => {
      for (const relogin of ['route', 'basic'] as const) {
        const app = await ctx.app(PAIR);
        const old = await app.login();
        const oldSid = sidOf(old.jar.tessera!);
        const res =
          relogin === 'route'
            ? await app.http().post('/auth/login').set('Cookie', old.cookie).send({ username: 'alice', password: 'wonderland' })
            : await basicLoginRequest(app, basic('alice', 'wonderland'), old.cookie);
        expect(res.status).toBe(200);
        const fresh = cookieHeader(cookiesOf(res));
        expect(Object.keys(fresh.jar)).toEqual(['tessera', 'tessera-refresh']);
        expectError(await app.http().get('/api/me').set('Cookie', `tessera=${old.jar.tessera}`), 'SESSION_ENDED');
        expectError(await app.http().post('/auth/refresh').set('Cookie', `tessera-refresh=${old.jar['tessera-refresh']}`), 'SESSION_ENDED');
        expect(revokedEvents(app)).toMatchObject([{ by: 'login', where: { family: oldSid } }]);
        expect((await app.http().get('/api/me').set('Cookie', fresh.cookie)).status).toBe(200);
        expect((await app.http().post('/auth/refresh').set('Cookie', fresh.cookie)).status).toBe(200);
      }
    });

    it('pair mode: presenting only the refresh cookie (the access cookie expired and dropped) ends the session too', async () => {
      const app = await ctx.app(PAIR);
      const old = await app.login();
      const refreshOnly = `tessera-refresh=${old.jar['tessera-refresh']}`;
      ctx.clock.advance(120);
      const res = await app.http().post('/auth/login').set('Cookie', refreshOnly).send({ username: 'alice', password: 'wonderland' });
      expect(res.status).toBe(200);
      expectError(await app.http().post('/auth/refresh').set('Cookie', refreshOnly), 'SESSION_ENDED');
      expect(revokedEvents(app)).toMatchObject([{ by: 'login', where: { family: sidOf(old.jar.tessera!) } }]);
    });

    it('the login reply sets only the new session\'s cookies, also when the presented session was due for a reissue', async () => {
      const cases = {
        // sliding: the presented token is inside its refresh window (the last 20% of 1000 s)
        sliding: { options: { ttl: 1000 }, advance: 900, names: ['tessera'] },
        // pair: the access token has expired, the refresh cookie reaches /auth/*
        pair: { options: PAIR, advance: 120, names: ['tessera', 'tessera-refresh'] },
      };
      const expected: Record<string, unknown> = {};
      const received: Record<string, unknown> = {};
      for (const [mode, { options, advance, names }] of Object.entries(cases)) {
        for (const relogin of ['route', 'basic'] as const) {
          const app = await ctx.app(options);
          const old = await app.login();
          const oldSid = sidOf(old.jar.tessera!);
          ctx.clock.advance(advance);
          const res =
            relogin === 'route'
              ? await app.http().post('/auth/login').set('Cookie', old.cookie).send({ username: 'alice', password: 'wonderland' })
              : await basicLoginRequest(app, basic('alice', 'wonderland'), old.cookie);
          expect(res.status).toBe(200);
          const set = cookiesOf(res);
          const newSid = sidOf(set[set.length - 1]!.value);
          expect(newSid).not.toBe(oldSid);
          // One Set-Cookie per name (RFC 6265 4.1.1), each for the new login. The login route does not
          // even reissue the session it ends; on an app's own route (/auth/basic) the middleware can't
          // know a login follows, so it may reissue once, and the login's cookies replace that one.
          const refreshed = app.events.filter(e => e.type === 'refreshed').length;
          expected[`${mode} via ${relogin}`] = { setCookie: names.map(name => `${name} of the new login`), refreshed: relogin === 'route' ? 0 : 'at most one' };
          received[`${mode} via ${relogin}`] = {
            setCookie: set.map(c => `${c.name} of the ${sidOf(c.value) === newSid ? 'new' : sidOf(c.value) === oldSid ? 'ended' : 'unknown'} login`),
            refreshed: relogin === 'route' || refreshed > 1 ? refreshed : 'at most one',
          };
          expectError(await app.http().get('/api/me').set('Cookie', old.cookie), 'SESSION_ENDED');
          expect((await app.http().get('/api/me').set('Cookie', cookieHeader(set).cookie)).status).toBe(200);
          ctx.clock.set(1_800_000_000);
        }
      }
      expect(received).toEqual(expected);
    });

    it('a login presenting no session, or a token that is not genuine, revokes nothing', async () => {
      const app = await ctx.app();
      const laptop = await app.login();
      const phone = await app.login();
      const viaBasic = await basicLoginRequest(app, basic('alice', 'wonderland'));
      expect(viaBasic.status).toBe(200);
      const forged = `tessera=${laptop.jar.tessera!.slice(0, -4)}AAAA`;
      expect((await app.http().post('/auth/login').set('Cookie', forged).send({ username: 'alice', password: 'wonderland' })).status).toBe(200);
      expect((await basicLoginRequest(app, basic('alice', 'wonderland'), 'tessera=garbage')).status).toBe(200);
      for (const c of [laptop.cookie, phone.cookie, cookieHeader(cookiesOf(viaBasic)).cookie]) {
        expect((await app.http().get('/api/me').set('Cookie', c)).status).toBe(200);
      }
      expect(revokedEvents(app)).toEqual([]);
      expect((await app.core.listSessions('alice')).sessions).toHaveLength(5);
    });

    it('a failed login (wrong password) ends nothing', async () => {
      const app = await ctx.app();
      const old = await app.login();
      expectError(await app.http().post('/auth/login').set('Cookie', old.cookie).send({ username: 'alice', password: 'nope' }), 'LOGIN_FAILED');
      expectError(await basicLoginRequest(app, basic('alice', 'nope'), old.cookie), 'LOGIN_FAILED');
      expect((await app.http().get('/api/me').set('Cookie', old.cookie)).status).toBe(200);
      expect(revokedEvents(app)).toEqual([]);
    });
  });
}
