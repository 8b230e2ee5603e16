/** Cookie tossing and look-alike cookies: duplicates planted from a sibling domain or another path, `__Host-` collisions, repeated Cookie headers, odd separators. */
import { expect } from '@jest/globals';
import type { TestApp } from '../../adapter-suite.js';
import { clearedCookie } from '../helpers.js';
import { type Attack, ACCESS, PAIR, REFRESH, expectAlice, expectRefusal, genuine, lastReason, me, nodeRequest } from './harness.js';

const HOST = '__Host-session';
const HOST_CLEARED = [clearedCookie(HOST, '/', '; Secure')];

async function hostApp(ctx: Parameters<Attack['run']>[0]) {
  const app = await ctx.app({ cookie: { name: HOST, secure: true } });
  const login = await app.login();
  expect(login.status).toBe(200);
  return { app, victim: login.jar[HOST]! };
}

async function refusedDuplicate(app: TestApp, cookie: string, clears: string[] | 'access' = 'access'): Promise<void> {
  expectRefusal(await me(app, cookie), 'TOKEN_INVALID', clears);
  expect(lastReason(app)).toBe('duplicate-cookie');
}

export const COOKIE_ATTACKS: Attack[] = [
  {
    id: 'A64',
    title: 'cookie tossing: the attacker\'s own session cookie sent beside the victim\'s is refused, never chosen; neither session ends',
    async run(ctx) {
      const app = await ctx.app();
      const victim = await genuine(app);
      const attacker = await genuine(app, 'bob');
      // A cookie set for a parent domain with a longer Path is sent first by browsers.
      await refusedDuplicate(app, `${ACCESS}=${attacker.token}; ${ACCESS}=${victim.token}`);
      await refusedDuplicate(app, `${ACCESS}=${victim.token}; ${ACCESS}=${attacker.token}`);
      await expectAlice(await me(app, victim.cookie));
      expect((await me(app, attacker.cookie)).body).toEqual({ user: { id: 'bob', name: 'Bob' } });
    },
  },
  {
    id: 'A65',
    title: '`__Host-` cookie: look-alike names tossed beside it (__host-, __Host-Session, the bare name) are not the session cookie',
    async run(ctx) {
      const { app, victim } = await hostApp(ctx);
      // bob's genuine token (same store and secret) under a name the attacker can set from a sibling domain
      const other = await ctx.app({ store: app.store, cookie: { name: 'session' } });
      const planted = (await other.login('bob')).jar.session!;
      for (const name of ['__host-session', '__Host-Session', '__HOST-session', 'session', '__Secure-session']) {
        await expectAlice(await me(app, `${name}=${planted}; ${HOST}=${victim}`));
      }
    },
  },
  {
    id: 'A66',
    title: '`__Host-` cookie: a look-alike alone authenticates nobody (TOKEN_MISSING)',
    async run(ctx) {
      const { app, victim } = await hostApp(ctx);
      for (const name of ['__host-session', '__Host-Session', 'session', ' __Host-session2']) {
        expectRefusal(await me(app, `${name}=${victim}`), 'TOKEN_MISSING', 'none', [victim]);
      }
    },
  },
  {
    id: 'A67',
    title: '`__Host-` collision: two cookies of the exact `__Host-` name are refused',
    async run(ctx) {
      const { app, victim } = await hostApp(ctx);
      await refusedDuplicate(app, `${HOST}=${victim}; ${HOST}=${victim}`, HOST_CLEARED);
    },
  },
  {
    id: 'A68',
    title: 'pair mode: a second refresh cookie (tossed with a longer path) is refused at /auth/refresh and consumes nothing',
    async run(ctx) {
      const app = await ctx.app(PAIR);
      const victim = await genuine(app);
      const attacker = await genuine(app, 'bob');
      ctx.clock.advance(61);
      const res = await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${attacker.refresh}; ${REFRESH}=${victim.refresh}`);
      expectRefusal(res, 'TOKEN_INVALID', 'all', [victim.refresh!, attacker.refresh!]);
      expect(lastReason(app)).toBe('duplicate-refresh-cookie');
      expect((await app.http().post('/auth/refresh').set('Cookie', `${REFRESH}=${victim.refresh}`)).status).toBe(200);
      expect(app.events.filter(e => e.type === 'reuse-detected')).toEqual([]);
    },
  },
  {
    id: 'A69',
    title: 'two Cookie header lines each carrying the session cookie are refused as a duplicate',
    async run(ctx) {
      const app = await ctx.app();
      const victim = await genuine(app);
      const attacker = await genuine(app, 'bob');
      const res = await nodeRequest(app, 'GET', '/api/me', { cookie: [`${ACCESS}=${attacker.token}`, `${ACCESS}=${victim.token}`] });
      expectRefusal(res, 'TOKEN_INVALID', 'access', [victim.token, attacker.token]);
      expect(lastReason(app)).toBe('duplicate-cookie');
    },
  },
  {
    id: 'A70',
    title: 'name spelling: whitespace around the name is the same cookie (a duplicate); another case is another cookie',
    async run(ctx) {
      const app = await ctx.app();
      const victim = await genuine(app);
      const attacker = await genuine(app, 'bob');
      await refusedDuplicate(app, `${ACCESS} =${attacker.token}; ${victim.cookie}`);
      await refusedDuplicate(app, `\t${ACCESS}=${attacker.token};${victim.cookie}`);
      expectRefusal(await me(app, `TESSERA=${attacker.token}`), 'TOKEN_MISSING', 'none', [attacker.token]);
      await expectAlice(await me(app, `Tessera=${attacker.token}; ${victim.cookie}`));
    },
  },
  {
    id: 'A71',
    title: 'comma-joined cookie pairs (RFC 2965 style) are one malformed value, never split into a second cookie',
    async run(ctx) {
      const app = await ctx.app();
      const victim = await genuine(app);
      const attacker = await genuine(app, 'bob');
      const res = await me(app, `${ACCESS}=${victim.token},${ACCESS}=${attacker.token}`);
      expectRefusal(res, 'TOKEN_INVALID', 'access', [victim.token, attacker.token]);
      expect(lastReason(app)).toBe('malformed');
    },
  },
  {
    id: 'A72',
    title: 'cookies named __proto__, constructor or hasOwnProperty beside the session change nothing',
    async run(ctx) {
      const app = await ctx.app();
      const victim = await genuine(app);
      await expectAlice(await me(app, `__proto__=${victim.token}; constructor=x; hasOwnProperty=1; toString=2; ${victim.cookie}`));
      const extras = await ctx.app({}, { extras: true });
      const v2 = await genuine(extras);
      await expectAlice(await me(extras, `__proto__=x; constructor=x; ${v2.cookie}`));
      expect(({} as Record<string, unknown>).x).toBeUndefined();
    },
  },
];
