import { describe, expect, it } from '@jest/globals';
import type { Logger, TokenStore } from '@tessera/core';
import { cookieHeader, type SuiteContext } from '../adapter-suite.js';
import type { FailingStore } from '../failing-store.js';
import { SECRET } from '../fixtures.js';
import { basic, basicLoginRequest, cookiesOf } from './helpers.js';

interface Line {
  level: 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** A pino-compatible logger that keeps every line. */
function recorder(): { lines: Line[]; logger: Logger } {
  const lines: Line[] = [];
  const at = (level: Line['level']) => (obj: object, msg?: string) => void lines.push({ level, obj: { ...obj } as Record<string, unknown>, msg });
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
}

/**
 * The suite wraps a store in a FailingStore (a plain object) unless it has a `mode`; a store given
 * one is mounted as is, so the log names the real store, as in an app.
 */
function asIs(store: TokenStore): FailingStore {
  return Object.assign(store, { mode: 'ok' }) as unknown as FailingStore;
}

const STORE_LINE = 'sessions are kept in the store';
const FAILED = 'store call failed; requests answer 503 STORE_UNAVAILABLE';

export default function logging(ctx: SuiteContext): void {
  const described = (store: TokenStore): string => (ctx.storeKind === 'memory' ? 'MemoryStore' : `FileStore at ${(store as unknown as { dir: string }).dir}`);

  describe('logger', () => {
    it('logs the store in use once, when the app is mounted, and nothing per request', async () => {
      const { lines, logger } = recorder();
      const store = asIs(ctx.newStore());
      const app = await ctx.app({ store, logger });
      expect(lines).toEqual([{ level: 'info', obj: { store: described(store) }, msg: STORE_LINE }]);
      const { cookie } = await app.login();
      await app.http().get('/api/me').set('Cookie', cookie);
      await app.http().get('/api/me');
      await app.http().post('/auth/login').send({ username: 'alice', password: 'nope' });
      expect(lines).toHaveLength(1);
    });

    it('a generated secret: the log says where it went, never what it is; a later instance says it used the kept one', async () => {
      const store = asIs(ctx.newStore());
      const first = recorder();
      const app = await ctx.app({ store, secret: undefined, logger: first.logger });
      const login = await app.login();
      expect(login.status).toBe(200);
      expect(first.lines).toEqual([
        { level: 'info', obj: { store: described(store) }, msg: STORE_LINE },
        { level: 'info', obj: { store: described(store) }, msg: 'no secret configured: generated a signing secret and kept it in the store' },
      ]);
      const secret = await store.initSecret!('a-candidate-that-loses-to-the-kept-secret-0123456789');
      expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const later = recorder();
      const restarted = await ctx.app({ store, secret: undefined, logger: later.logger });
      expect((await restarted.http().get('/api/me').set('Cookie', login.cookie)).status).toBe(200);
      expect(later.lines).toEqual([
        { level: 'info', obj: { store: described(store) }, msg: STORE_LINE },
        { level: 'info', obj: { store: described(store) }, msg: 'no secret configured: using the signing secret kept in the store' },
      ]);
      const dump = JSON.stringify([first.lines, later.lines]);
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(secret.slice(0, 16));
    });

    it('a secret generated into a store that is not local (a network store) is a warning that says why, never the secret', async () => {
      const store = asIs(ctx.newStore());
      expect(store.local).toBe(true); // the memory and file stores
      // The same store, as a network store presents itself: without `local`.
      const shared = new Proxy(store, {
        get(target, key) {
          if (key === 'local') return false;
          const v = Reflect.get(target, key, target) as unknown;
          return typeof v === 'function' && key !== 'constructor' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const { lines, logger } = recorder();
      const app = await ctx.app({ store: shared, secret: undefined, logger });
      expect((await app.login()).status).toBe(200);
      const warning = lines.find(l => l.level === 'warn');
      expect(warning?.msg).toBe(
        'no secret configured: generated a signing secret and kept it in the store; whoever can write to this store can add a session for any user: on a shared store, set `secret` (TESSERA_SECRET) or `keys`',
      );
      const secret = await store.initSecret!('a-candidate-that-loses-to-the-kept-secret-0123456789');
      expect(JSON.stringify(lines)).not.toContain(secret.slice(0, 16));
    });

    it('a failing store: one error line per operation per 10 s of the instance\'s clock, then the count left out', async () => {
      const { lines, logger } = recorder();
      const app = await ctx.app({ logger });
      const { cookie } = await app.login();
      const errors = () => lines.filter(l => l.level === 'error');
      app.store.mode = 'fail';
      for (let i = 0; i < 3; i++) expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(503);
      expect((await app.http().post('/auth/login').send({ username: 'alice', password: 'wonderland' })).status).toBe(503);
      // A login's first store call is its attempt counter (loginThrottle, on by default).
      expect(errors()).toEqual([
        { level: 'error', obj: { operation: 'get', message: 'injected store failure' }, msg: FAILED },
        { level: 'error', obj: { operation: 'hit', message: 'injected store failure' }, msg: FAILED },
      ]);
      ctx.clock.advance(9);
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(503);
      expect(errors()).toHaveLength(2);
      ctx.clock.advance(1);
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(503);
      expect((await app.http().post('/auth/login').send({ username: 'alice', password: 'wonderland' })).status).toBe(503);
      expect(errors().slice(2)).toEqual([
        { level: 'error', obj: { operation: 'get', message: 'injected store failure', suppressed: 3 }, msg: FAILED },
        { level: 'error', obj: { operation: 'hit', message: 'injected store failure' }, msg: FAILED },
      ]);
      ctx.clock.advance(10);
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(503);
      expect(errors().slice(4)).toEqual([{ level: 'error', obj: { operation: 'get', message: 'injected store failure' }, msg: FAILED }]);
      app.store.mode = 'ok';
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
      expect(errors()).toHaveLength(5);
    });

    it('no line ever holds a token, a cookie value or the secret', async () => {
      const { lines, logger } = recorder();
      const values: string[] = [];
      const keep = (res: { headers: Record<string, unknown> }) => {
        for (const c of cookiesOf(res)) if (c.value) values.push(c.value);
        return res;
      };
      // sliding: login, reissue, refresh, bad tokens, logout, HTTP Basic, a failing store
      const app = await ctx.app({ logger, ttl: 1000, tokenInLoginBody: true });
      const login = await app.login();
      values.push(...Object.values(login.jar));
      ctx.clock.advance(900);
      const me = keep(await app.http().get('/api/me').set('Cookie', login.cookie));
      const jar = cookieHeader(cookiesOf(me), login.jar);
      keep(await app.http().post('/auth/refresh').set('Cookie', jar.cookie));
      keep(await basicLoginRequest(app, basic('bob', 'builder')));
      await app.http().get('/api/me').set('Cookie', `tessera=${login.jar.tessera!.slice(0, -3)}xyz`);
      const { token } = await app.core.createApiToken({ user: { id: 'alice' } });
      values.push(token);
      await app.http().get('/api/me').set('Authorization', `Bearer ${token}`);
      app.store.mode = 'fail';
      await app.http().get('/api/me').set('Cookie', jar.cookie);
      await app.http().get('/api/me').set('Authorization', `Bearer ${token}`);
      await app.http().post('/auth/refresh').set('Cookie', jar.cookie);
      await basicLoginRequest(app, basic('alice', 'wonderland'), jar.cookie);
      app.store.mode = 'ok';
      keep(await app.http().post('/auth/logout').set('Cookie', jar.cookie));
      // pair: rotation, reuse, a failing rotate
      const pair = await ctx.app({ logger, mode: 'pair', accessTtl: 60, refreshTtl: 3600, refreshReuse: false });
      const p = await pair.login();
      values.push(...Object.values(p.jar));
      keep(await pair.http().post('/auth/refresh').set('Cookie', p.cookie));
      await pair.http().post('/auth/refresh').set('Cookie', p.cookie);
      const p2 = await pair.login();
      values.push(...Object.values(p2.jar));
      pair.store.mode = 'fail';
      await pair.http().post('/auth/refresh').set('Cookie', p2.cookie);
      pair.store.mode = 'ok';
      expect(lines.some(l => l.level === 'error')).toBe(true);
      const dump = JSON.stringify(lines);
      expect(values.length).toBeGreaterThan(8);
      for (const v of values) {
        expect(dump).not.toContain(v);
        const parts = v.split('.');
        for (const part of parts.slice(1)) expect(dump).not.toContain(part);
      }
      expect(dump).not.toContain(SECRET);
    });
  });
}
