import { describe, expect, it } from '@jest/globals';
import { cookieHeader, type SuiteContext, type TestApp } from '../adapter-suite.js';
import { cookiesOf, decodeJwt } from './helpers.js';
import { sessionIdOf } from '@tessera/core';

const BURSTS = 100;
const WIDTH = 10;

/** `cookie` is the refresh cookie alone: the tabs' access tokens expired (a fresh one would not rotate). */
async function burst(app: TestApp, cookie: string): Promise<{ statuses: number[]; successors: Set<string>; next: string }> {
  const results = await Promise.all(Array.from({ length: WIDTH }, () => app.http().post('/auth/refresh').set('Cookie', cookie)));
  const successors = new Set<string>();
  let next = cookie;
  for (const r of results) {
    const jar = cookieHeader(cookiesOf(r)).jar;
    const refresh = jar[`${app.cookieName}-refresh`];
    if (refresh) {
      successors.add(decodeJwt(refresh).payload.jti);
      next = `${app.cookieName}-refresh=${refresh}`;
    }
  }
  return { statuses: results.map(r => r.status), successors, next };
}

export default function pairConcurrency(ctx: SuiteContext): void {
  describe('pair mode: concurrent refreshes (ten tabs, one cookie jar)', () => {
    it(`${BURSTS} bursts of ${WIDTH} parallel refreshes: all succeed, the family never forks`, async () => {
      const app = await ctx.app({ mode: 'pair', accessTtl: 60, refreshTtl: 3600, refreshReuse: { maxReuse: WIDTH, graceSeconds: 10 } });
      const login = await app.login();
      let cookie = `${app.cookieName}-refresh=${login.jar[`${app.cookieName}-refresh`]}`;
      let forks = 0;
      let failures = 0;
      for (let i = 0; i < BURSTS; i++) {
        const r = await burst(app, cookie);
        failures += r.statuses.filter(s => s !== 200).length;
        if (r.successors.size !== 1) forks++;
        cookie = r.next;
        ctx.clock.advance(1);
      }
      expect({ forks, failures }).toEqual({ forks: 0, failures: 0 });
      expect(app.events.filter(e => e.type === 'reuse-detected')).toHaveLength(0);
      // exactly one live (not rotated-out) refresh token remains for the family
      const sid = sessionIdOf(decodeJwt(cookie.split('; ').find(c => c.startsWith(`${app.cookieName}-refresh=`))!.split('=')[1]!).payload.sid as string);
      const page = await app.store.list({ subject: 'alice', kind: 'refresh', limit: 10_000 });
      const heads = page.records.filter(r => r.family === sid && r.rotatedAt == null && r.revokedAt === null);
      expect(heads).toHaveLength(1);
    }, 120_000);

    it('with the atomic claim disabled, the same bursts fork the family (the race has teeth)', async () => {
      const app = await ctx.app({ mode: 'pair', accessTtl: 60, refreshTtl: 3600, refreshReuse: { maxReuse: WIDTH, graceSeconds: 10 } });
      const login = await app.login();
      let cookie = `${app.cookieName}-refresh=${login.jar[`${app.cookieName}-refresh`]}`;
      app.store.racyRotate = true;
      let forks = 0;
      for (let i = 0; i < 20 && forks === 0; i++) {
        const r = await burst(app, cookie);
        if (r.successors.size > 1) forks++;
        cookie = r.next;
      }
      expect(forks).toBeGreaterThan(0);
    }, 60_000);
  });
}
