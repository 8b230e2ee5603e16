import { describe, expect, it } from '@jest/globals';
import { cookieHeader, type SuiteContext, type TestApp } from '../adapter-suite.js';
import { basic, basicLoginRequest, cookiesOf, decodeJwt, expectError, expires } from './helpers.js';
import { sessionIdOf } from '@tessera/core';

const PAIR = { mode: 'pair', accessTtl: 60, refreshTtl: 3600 } as const;

async function liveRecords(app: TestApp, subject: string) {
  const { records } = await app.store.list({ subject, limit: 100 });
  return records;
}

export default function programmaticSessions(ctx: SuiteContext): void {
  describe('programmatic sessions (issue)', () => {
    it('HTTP Basic through issue(): the login route\'s cookie, a record with ip and user, an issued event', async () => {
      const app = await ctx.app();
      const now = ctx.clock.now();
      const res = await basicLoginRequest(app, basic('alice', 'wonderland'));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ user: { id: 'alice', name: 'Alice' } });
      const cookies = cookiesOf(res);
      expect(cookies).toHaveLength(1);
      const c = cookies[0]!;
      expect(c.name).toBe('tessera');
      expect(c.raw).toBe(`tessera=${c.value}; Path=/; Max-Age=604800; Expires=${expires(now, 604800)}; HttpOnly; SameSite=Lax`);
      // byte for byte what the login route sets, but for the token
      const viaRoute = await app.login();
      expect(viaRoute.cookies.map(x => x.raw.replace(x.value, '<token>'))).toEqual([c.raw.replace(c.value, '<token>')]);
      const { header, payload } = decodeJwt(c.value);
      expect(header).toEqual(decodeJwt(viaRoute.cookies[0]!.value).header);
      expect(payload).toMatchObject({ sub: 'alice', iat: now, exp: now + 604800 });
      const sid = sessionIdOf(payload.sid as string);
      expect(await app.store.get(sid)).toMatchObject({
        id: sid,
        kind: 'session',
        subject: 'alice',
        family: sid,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + 604800,
        revokedAt: null,
        ip: '127.0.0.1',
        user: { id: 'alice', name: 'Alice' },
      });
      expect(app.events.filter(e => e.type === 'issued' && e.sessionId === sid)).toEqual([
        { type: 'issued', at: now, kind: 'session', sessionId: sid, subject: 'alice', tenant: null },
      ]);
      const me = await app.http().get('/api/me').set('Cookie', `tessera=${c.value}`);
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ user: { id: 'alice', name: 'Alice' } });
      const session = await app.http().get('/auth/session').set('Cookie', `tessera=${c.value}`);
      expect(session.body).toMatchObject({ id: sid, kind: 'session', mode: 'sliding', createdAt: now, expiresAt: now + 604800 });
    });

    it('bad or missing credentials: 401 LOGIN_FAILED from the app, no cookie, nothing stored', async () => {
      const app = await ctx.app();
      for (const auth of [
        undefined,
        basic('alice', 'nope'),
        basic('mallory', 'wonderland'),
        basic('alice', ''),
        'Basic !!!',
        `Basic ${Buffer.from('alice').toString('base64')}`,
        `Bearer ${Buffer.from('alice:wonderland').toString('base64')}`,
      ]) {
        const res = await basicLoginRequest(app, auth);
        expectError(res, 'LOGIN_FAILED');
        expect(res.headers['set-cookie']).toBeUndefined();
      }
      expect(await liveRecords(app, 'alice')).toEqual([]);
      expect(app.events.filter(e => e.type === 'issued')).toEqual([]);
    });

    it('pair mode: both cookies, as the login route sets them, and they work', async () => {
      const app = await ctx.app(PAIR);
      const now = ctx.clock.now();
      const res = await basicLoginRequest(app, basic('bob', 'builder'));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ user: { id: 'bob', name: 'Bob' } });
      const [access, refresh, ...rest] = cookiesOf(res);
      expect(rest).toEqual([]);
      expect(access!.raw).toBe(`tessera=${access!.value}; Path=/; Max-Age=3600; Expires=${expires(now, 3600)}; HttpOnly; SameSite=Lax`);
      expect(refresh!.raw).toBe(`tessera-refresh=${refresh!.value}; Path=/auth; Max-Age=3600; Expires=${expires(now, 3600)}; HttpOnly; SameSite=Lax`);
      expect(decodeJwt(access!.value)).toMatchObject({ header: { typ: 'tessera-access+jwt' }, payload: { sub: 'bob', exp: now + 60 } });
      expect(decodeJwt(refresh!.value)).toMatchObject({ header: { typ: 'tessera-refresh+jwt' }, payload: { sub: 'bob', exp: now + 3600 } });
      const viaRoute = await app.login('bob');
      expect(viaRoute.cookies.map(x => x.raw.replace(x.value, '<token>'))).toEqual([access!, refresh!].map(x => x.raw.replace(x.value, '<token>')));
      const sid = sessionIdOf(decodeJwt(access!.value).payload.sid as string);
      expect(await app.store.get(sid)).toMatchObject({ kind: 'session', subject: 'bob', ip: '127.0.0.1', expiresAt: now + 3600 });
      expect(app.events.filter(e => e.type === 'issued' && e.sessionId === sid).map(e => (e as { kind: string }).kind)).toEqual(['access', 'refresh']);
      const { cookie, jar } = cookieHeader([access!, refresh!]);
      expect((await app.http().get('/api/me').set('Cookie', cookie)).body).toEqual({ user: { id: 'bob', name: 'Bob' } });
      ctx.clock.advance(61);
      const refreshed = await app.http().post('/auth/refresh').set('Cookie', cookie);
      expect(refreshed.status).toBe(200);
      const next = cookieHeader(cookiesOf(refreshed), jar);
      expect((await app.http().get('/api/me').set('Cookie', next.cookie)).status).toBe(200);
    });

    it('a store failing on put: 503 STORE_UNAVAILABLE through the framework\'s error handling, no cookie, nothing kept', async () => {
      for (const options of [{}, PAIR]) {
        const app = await ctx.app(options);
        app.store.mode = 'fail';
        const res = await basicLoginRequest(app, basic('alice', 'wonderland'));
        expectError(res, 'STORE_UNAVAILABLE');
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(app.store.refused).toBe(1);
        expect(app.events.filter(e => e.type === 'store-error').map(e => (e as { operation: string }).operation)).toEqual(['put']);
        expect(app.events.filter(e => e.type === 'issued')).toEqual([]);
        app.store.mode = 'ok';
        expect(await liveRecords(app, 'alice')).toEqual([]);
        // and the store back: it works again
        expect((await basicLoginRequest(app, basic('alice', 'wonderland'))).status).toBe(200);
      }
    });
  });
}
