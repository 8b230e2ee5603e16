/** Abuse controls: failed logins throttled per user and per address, unknown refresh tokens per address (429 TOO_MANY_ATTEMPTS). */
import { describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { ERRORS, type TesseraOptions, type User } from '@tessera/core';
import type { SuiteContext, TestApp } from '../adapter-suite.js';
import { failingStore } from '../failing-store.js';
import { StoreError } from '@tessera/core/store';
import { SECRET_KID, verifyCredentials } from '../fixtures.js';
import { decodeJwt, expectError } from './helpers.js';
import { sessionIdOf } from '@tessera/core';

const PAIR = { mode: 'pair', accessTtl: 60, refreshTtl: 3600 } as const;
const TOO_MANY = { error: { code: 'TOO_MANY_ATTEMPTS', message: ERRORS.TOO_MANY_ATTEMPTS.message } };

/** verifyCredentials that counts its calls: a throttled login must never reach the password check. */
function countingVerify(): { calls: string[]; verify: NonNullable<TesseraOptions['verifyCredentials']> } {
  const calls: string[] = [];
  return {
    calls,
    verify: async (input: { username: string; password: string }): Promise<User | null> => {
      calls.push(input.username);
      return verifyCredentials(input);
    },
  };
}

function attempt(app: TestApp, username: string, password: string, from?: string) {
  let r = app.http().post('/auth/login');
  if (from !== undefined) r = r.set('X-Forwarded-For', from);
  return r.send({ username, password });
}

/** The contract's 429: fixed body, `Retry-After` in seconds, no cookie. */
function expectThrottled(res: { status: number; body: unknown; headers: Record<string, unknown> }, retryAfter: number): void {
  expect({ status: res.status, body: res.body, retryAfter: res.headers['retry-after'] }).toEqual({ status: 429, body: TOO_MANY, retryAfter: String(retryAfter) });
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
  expect(res.headers['set-cookie']).toBeUndefined();
}

const throttledEvents = (app: TestApp) => app.events.filter(e => e.type === 'throttled');

export default function throttle(ctx: SuiteContext): void {
  describe('abuse controls: failed logins (loginThrottle, default 10 per user per 15 minutes)', () => {
    it('10 wrong passwords, then 429 with Retry-After even for the right one, without a password check; bob still logs in; alice after the window', async () => {
      const { calls, verify } = countingVerify();
      const app = await ctx.app({ verifyCredentials: verify });
      for (let i = 0; i < 10; i++) expectError(await attempt(app, 'alice', `nope-${i}`), 'LOGIN_FAILED');
      expect(calls).toHaveLength(10);
      expectThrottled(await attempt(app, 'alice', 'wonderland'), 900);
      // Hammering a throttled user is refused without a password check and never counts against the address.
      for (let i = 0; i < 30; i++) expectThrottled(await attempt(app, 'alice', `again-${i}`), 900);
      expect(calls).toHaveLength(10);
      expect((await app.login('bob')).status).toBe(200);
      ctx.clock.advance(600);
      expectThrottled(await attempt(app, 'alice', 'wonderland'), 300);
      ctx.clock.advance(300); // the window has ended
      const back = await app.login('alice');
      expect(back.status).toBe(200);
      expect((await app.http().get('/api/me').set('Cookie', back.cookie)).body).toEqual({ user: { id: 'alice', name: 'Alice' } });
      const events = throttledEvents(app);
      expect(events[0]).toMatchObject({ type: 'throttled', what: 'login', by: 'user', retryAfter: 900 });
      expect(events).toHaveLength(32);
      // Never the username (or a password typed into it), never a password.
      expect(JSON.stringify(events)).not.toMatch(/alice|nope|wonderland/);
      expect(app.events.filter(e => e.type === 'rejected' && e.code === 'TOO_MANY_ATTEMPTS')).toHaveLength(32);
    });

    it('answers an unknown user exactly as a known one (no hint that the user exists)', async () => {
      const app = await ctx.app();
      for (const name of ['alice', 'mallory']) {
        for (let i = 0; i < 10; i++) expectError(await attempt(app, name, 'nope'), 'LOGIN_FAILED');
      }
      const known = await attempt(app, 'alice', 'nope');
      const unknown = await attempt(app, 'mallory', 'nope');
      expectThrottled(known, 900);
      expectThrottled(unknown, 900);
      expect(unknown.body).toEqual(known.body);
    });

    it('successful logins never count (and case variants of a username count as one)', async () => {
      const app = await ctx.app();
      for (let i = 0; i < 9; i++) {
        expectError(await attempt(app, i % 2 ? 'Alice' : 'alice', 'nope'), 'LOGIN_FAILED');
        expect((await app.login('alice')).status).toBe(200);
      }
      expectError(await attempt(app, 'ALICE', 'nope'), 'LOGIN_FAILED'); // the 10th failure: still answered
      expectThrottled(await attempt(app, 'alice', 'wonderland'), 900);
    });

    it('a burst of concurrent wrong passwords cannot outrun the counter: exactly 10 are checked', async () => {
      const { calls, verify } = countingVerify();
      const app = await ctx.app({ verifyCredentials: verify });
      const replies = await Promise.all(Array.from({ length: 25 }, (_, i) => attempt(app, 'alice', `burst-${i}`)));
      expect(replies.filter(r => r.status === 401)).toHaveLength(10);
      expect(replies.filter(r => r.status === 429)).toHaveLength(15);
      expect(calls).toHaveLength(10);
      expectThrottled(await attempt(app, 'alice', 'wonderland'), 900);
    });

    it('per address: 10 times the per-user limit over all usernames, then every login from it waits; other addresses do not', async () => {
      const { calls, verify } = countingVerify();
      const app = await ctx.app({ verifyCredentials: verify, loginThrottle: '2/1m', trustProxy: ['127.0.0.1'] }, { trustProxy: false });
      const A = '203.0.113.10';
      const B = '198.51.100.20';
      // Credential stuffing from A: 2 failures each for 10 users is the address's 20.
      for (let u = 0; u < 10; u++) for (let i = 0; i < 2; i++) expectError(await attempt(app, `user${u}`, 'nope', A), 'LOGIN_FAILED');
      expectThrottled(await attempt(app, 'user10', 'nope', A), 60);
      expectThrottled(await attempt(app, 'bob', 'builder', A), 60);
      expect(calls).toHaveLength(20);
      expect(throttledEvents(app).map(e => (e as { by: string }).by)).toEqual(['address', 'address']);
      expect(throttledEvents(app)[0]).toMatchObject({ what: 'login', ip: A, retryAfter: 60 });
      // The refusals did not count against bob himself, and another address is untouched.
      expect((await attempt(app, 'bob', 'builder', B)).status).toBe(200);
      expectError(await attempt(app, 'bob', 'nope', B), 'LOGIN_FAILED');
      expectError(await attempt(app, 'bob', 'nope', B), 'LOGIN_FAILED');
      ctx.clock.advance(60);
      expect((await attempt(app, 'bob', 'builder', A)).status).toBe(200);
    });

    it('a user locked out behind a shared address never locks out the others there', async () => {
      const app = await ctx.app({ loginThrottle: '2/1m' });
      // Far more attempts on alice than the address allows: only her first 2 are checked and counted.
      for (let i = 0; i < 40; i++) await attempt(app, 'alice', 'nope');
      expectThrottled(await attempt(app, 'alice', 'wonderland'), 60);
      expect((await app.login('bob')).status).toBe(200);
      expect((await app.login('root')).status).toBe(200);
    });

    it('a verifyCredentials that throws (the user database down) counts no attempt; wrong passwords still do', async () => {
      let down = true;
      const app = await ctx.app({
        verifyCredentials: async input => {
          if (down) throw new Error('user database unreachable');
          return verifyCredentials(input);
        },
      });
      // An outage, and alice's client retrying through it: more tries than the limit, none a verdict.
      for (let i = 0; i < 15; i++) expect((await attempt(app, 'alice', 'wonderland')).status).toBe(500);
      down = false;
      expect((await app.login('alice')).status).toBe(200);
      for (let i = 0; i < 10; i++) expectError(await attempt(app, 'alice', `nope-${i}`), 'LOGIN_FAILED');
      expectThrottled(await attempt(app, 'alice', 'wonderland'), 900);
    });

    it('a store failing between the user\'s and the address\'s counter (503) counts no attempt', async () => {
      const store = failingStore(ctx.newStore());
      const hit = store.hit!.bind(store);
      let addressDown = true;
      store.hit = (key, ...rest) => (addressDown && key.startsWith('login-address:') ? Promise.reject(new StoreError('injected store failure')) : hit(key, ...rest));
      const app = await ctx.app({ store });
      for (let i = 0; i < 15; i++) expectError(await attempt(app, 'alice', 'wonderland'), 'STORE_UNAVAILABLE');
      addressDown = false;
      expect((await app.login('alice')).status).toBe(200);
    });

    it('loginThrottle: false never throttles', async () => {
      const { calls, verify } = countingVerify();
      const app = await ctx.app({ verifyCredentials: verify, loginThrottle: false });
      for (let i = 0; i < 30; i++) expectError(await attempt(app, 'alice', 'nope'), 'LOGIN_FAILED');
      expect(calls).toHaveLength(30);
      expect((await app.login('alice')).status).toBe(200);
      expect(throttledEvents(app)).toEqual([]);
    });

    it('a store without hit(): counted in process, and said once at start-up', async () => {
      const lines: [string, string | undefined][] = [];
      const at = (level: string) => (_: object, msg?: string) => void lines.push([level, msg]);
      const store = failingStore(ctx.newStore());
      delete (store as { hit?: unknown }).hit;
      const app = await ctx.app({ store, logger: { info: at('info'), warn: at('warn'), error: at('error') } });
      const warnings = lines.filter(([level]) => level === 'warn');
      expect(warnings).toEqual([['warn', expect.stringMatching(/no attempt counters \(no hit\(\)\).*this process only/)]]);
      for (let i = 0; i < 10; i++) expectError(await attempt(app, 'alice', 'nope'), 'LOGIN_FAILED');
      expectThrottled(await attempt(app, 'alice', 'wonderland'), 900);
      expect(lines.filter(([level]) => level === 'warn')).toHaveLength(1);
    });
  });

  describe('abuse controls: unknown refresh tokens (refreshThrottle, per address)', () => {
    /** A refresh token signed with another key under the suite's kid: it fails verification. */
    const forged = (sub: string) =>
      new SignJWT({ sub, sid: 'nope', jti: 'nope' })
        .setProtectedHeader({ alg: 'HS256', typ: 'tessera-refresh+jwt', kid: SECRET_KID })
        .setIssuedAt(ctx.clock.now())
        .setExpirationTime(ctx.clock.now() + 600)
        .setIssuer('tessera')
        .setAudience('tessera')
        .sign(new TextEncoder().encode('another-secret-0123456789-abcdefghijklmnopqrs'));

    it('garbage, forged and record-less refresh tokens count; beyond the limit 429; honest refreshes never count nor wait', async () => {
      const app = await ctx.app({ ...PAIR, refreshThrottle: '3/1m', trustProxy: ['127.0.0.1'] }, { trustProxy: false });
      const refresh = (cookie: string, from?: string) => {
        let r = app.http().post('/auth/refresh').set('Cookie', cookie);
        if (from !== undefined) r = r.set('X-Forwarded-For', from);
        return r;
      };
      const name = `${app.cookieName}-refresh`;
      const honest = await app.login('alice');
      // A genuine token whose login is gone from the store names no record.
      const gone = await app.login('bob');
      await app.core.revokeSession(sessionIdOf(decodeJwt(gone.jar[app.cookieName]!).payload.sid as string));
      await app.store.purgeExpired(ctx.clock.now());
      expectError(await refresh(`${name}=garbage`), 'TOKEN_INVALID');
      expectError(await refresh(`${name}=${await forged('alice')}`), 'TOKEN_INVALID');
      expectError(await refresh(`${name}=${gone.jar[name]}`), 'SESSION_ENDED');
      expectThrottled(await refresh(`${name}=garbage`), 60);
      expectThrottled(await refresh(`${name}=${await forged('bob')}`), 60);
      expect(throttledEvents(app)[0]).toMatchObject({ what: 'refresh', by: 'address', ip: '127.0.0.1', retryAfter: 60 });
      // The throttled address still refreshes honestly, as often as it likes.
      let jar = honest.jar;
      for (let i = 0; i < 5; i++) {
        const r = await refresh(`${name}=${jar[name]}`);
        expect(r.status).toBe(200);
        jar = { ...jar, [name]: newRefreshToken(r.headers['set-cookie'], name) };
      }
      // Another address is not throttled; nor is this one once the window ends.
      expectError(await refresh(`${name}=garbage`, '203.0.113.77'), 'TOKEN_INVALID');
      ctx.clock.advance(60);
      expectError(await refresh(`${name}=garbage`), 'TOKEN_INVALID');
    });

    it('genuine tokens refused for what honest clients meet (revoked, expired) never count', async () => {
      const app = await ctx.app({ ...PAIR, refreshThrottle: '2/1m' });
      const name = `${app.cookieName}-refresh`;
      const a = await app.login('alice');
      const b = await app.login('bob');
      await app.core.revokeSession(sessionIdOf(decodeJwt(a.jar[app.cookieName]!).payload.sid as string));
      for (let i = 0; i < 5; i++) expectError(await app.http().post('/auth/refresh').set('Cookie', `${name}=${a.jar[name]}`), 'SESSION_ENDED');
      ctx.clock.advance(3600 + 10); // b's refresh token has expired
      for (let i = 0; i < 5; i++) expectError(await app.http().post('/auth/refresh').set('Cookie', `${name}=${b.jar[name]}`), 'SESSION_ENDED');
      expect(throttledEvents(app)).toEqual([]);
      expectError(await app.http().post('/auth/refresh').set('Cookie', `${name}=garbage`), 'TOKEN_INVALID');
    });

    it('refreshThrottle: false never throttles', async () => {
      const app = await ctx.app({ ...PAIR, refreshThrottle: false });
      const name = `${app.cookieName}-refresh`;
      for (let i = 0; i < 120; i++) expectError(await app.http().post('/auth/refresh').set('Cookie', `${name}=garbage`), 'TOKEN_INVALID');
      expect(throttledEvents(app)).toEqual([]);
    });
  });
}

/** The new refresh token from a refresh reply's Set-Cookie headers. */
function newRefreshToken(setCookie: unknown, name: string): string {
  const list = ([] as string[]).concat(setCookie as string | string[]);
  const raw = list.find(c => c.startsWith(`${name}=`));
  if (raw === undefined) throw new Error(`no ${name} cookie in the refresh reply`);
  return raw.slice(name.length + 1, raw.indexOf(';'));
}
