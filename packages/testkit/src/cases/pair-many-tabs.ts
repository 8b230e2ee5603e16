import { describe, expect, it } from '@jest/globals';
import type { SuiteContext, TestApp } from '../adapter-suite.js';
import { cookiesOf, decodeJwt, expectError } from './helpers.js';
import { sessionIdOf } from '@tessera/core';

const PAIR = { mode: 'pair', accessTtl: 60, refreshTtl: 3600 } as const;

type Res = { status: number; body: any; headers: Record<string, unknown> };

/**
 * A browser's cookie jar, shared by every tab: each request takes the cookies (whose Path matches)
 * as they stand when it is sent; each response updates the jar as it arrives.
 */
class BrowserJar {
  private readonly cookies = new Map<string, { value: string; path: string }>();

  absorb(res: Res): void {
    for (const c of cookiesOf(res)) {
      if (c.value === '' || c.attrs['max-age'] === '0') this.cookies.delete(c.name);
      else this.cookies.set(c.name, { value: c.value, path: typeof c.attrs.path === 'string' ? c.attrs.path : '/' });
    }
  }

  header(path: string): string {
    const sent: string[] = [];
    for (const [name, { value, path: p }] of this.cookies) {
      if (p === '/' || path === p || path.startsWith(`${p}/`)) sent.push(`${name}=${value}`);
    }
    return sent.join('; ');
  }

  get(name: string): string | undefined {
    return this.cookies.get(name)?.value;
  }
}

async function send(app: TestApp, jar: BrowserJar, method: 'get' | 'post', path: string): Promise<Res> {
  const cookie = jar.header(path); // the jar at send time
  let r = app.http()[method](path);
  if (cookie !== '') r = r.set('Cookie', cookie);
  const res = await r;
  jar.absorb(res);
  return res;
}

const codeOf = (res: Res): string => (res.status === 200 ? 'ok' : String(res.body?.error?.code ?? res.status));
const delay = (ms: number) => new Promise<void>(r => setTimeout(r, ms));

/** The family's live (unrotated, unrevoked) refresh records. */
async function liveHeads(app: TestApp, sid: string) {
  const page = await app.store.list({ subject: 'alice', kind: 'refresh', limit: 10_000 });
  return page.records.filter(r => r.family === sid && r.rotatedAt == null && r.revokedAt === null);
}

export default function pairManyTabs(ctx: SuiteContext): void {
  describe('pair mode: many tabs, one browser cookie jar', () => {
    it('staggered presentations of generations N, N+1, N+2 within grace all get 200 and the same head', async () => {
      const app = await ctx.app(PAIR);
      const login = await app.login();
      const name = `${app.cookieName}-refresh`;
      // Each generation as a tab kept it: the access and refresh cookies issued together.
      const generations = [login.cookie];
      for (let i = 0; i < 3; i++) {
        ctx.clock.advance(1);
        const only = generations[i]!.split('; ').find(c => c.startsWith(`${name}=`))!;
        const res = await app.http().post('/auth/refresh').set('Cookie', only); // rotates: no access token beside it
        expect(res.status).toBe(200);
        generations.push(cookiesOf(res).map(c => `${c.name}=${c.value}`).join('; '));
      }
      const head = generations[3]!.split('; ').find(c => c.startsWith(`${name}=`))!.slice(name.length + 1);
      for (const cookie of generations.slice(0, 3)) {
        ctx.clock.advance(1);
        const res = await app.http().post('/auth/refresh').set('Cookie', cookie);
        expect(res.status).toBe(200);
        expect(cookiesOf(res).find(c => c.name === name)?.value).toBe(head);
      }
      const sid = sessionIdOf(decodeJwt(head).payload.sid as string);
      expect((await liveHeads(app, sid)).map(r => r.id)).toEqual([decodeJwt(head).payload.jti]);
      expect(app.events.filter(e => e.type === 'reuse-detected')).toHaveLength(0);
    });

    it('10 tabs x (401 TOKEN_EXPIRED -> POST /auth/refresh -> retry) at once: no REFRESH_REUSED, no SESSION_ENDED, one live head', async () => {
      const app = await ctx.app(PAIR);
      const jar = new BrowserJar();
      jar.absorb(await app.http().post('/auth/login').send({ username: 'alice', password: 'wonderland' }));
      const sid = sessionIdOf(decodeJwt(jar.get(app.cookieName)!).payload.sid as string);
      const codes: string[] = [];
      for (let round = 0; round < 5; round++) {
        ctx.clock.advance(120); // the access token expired
        const tab = async (i: number): Promise<void> => {
          const first = await send(app, jar, 'get', '/api/me'); // every tab at once: 401
          codes.push(codeOf(first));
          if (first.status !== 401) return;
          await delay(i * 2); // the refreshes leave one after another, overlapping the first replies
          codes.push(codeOf(await send(app, jar, 'post', '/auth/refresh')));
          codes.push(codeOf(await send(app, jar, 'get', '/api/me')));
        };
        await Promise.all(Array.from({ length: 10 }, (_, i) => tab(i)));
        expect(await liveHeads(app, sid)).toHaveLength(1);
      }
      expect(codes.filter(c => c === 'REFRESH_REUSED' || c === 'SESSION_ENDED')).toEqual([]);
      expect(codes.filter(c => c !== 'ok' && c !== 'TOKEN_EXPIRED')).toEqual([]);
      expect(app.events.filter(e => e.type === 'reuse-detected')).toHaveLength(0);
      expect((await send(app, jar, 'get', '/api/me')).status).toBe(200);
    }, 60_000);

    it('transparent refresh (refreshCookie.path "/"): 50 parallel requests after the access token expired all get 200', async () => {
      const app = await ctx.app({ ...PAIR, refreshCookie: { path: '/' } });
      const login = await app.login();
      ctx.clock.advance(120);
      const replies = await Promise.all(Array.from({ length: 50 }, () => app.http().get('/api/me').set('Cookie', login.cookie)));
      expect(replies.map(r => r.status)).toEqual(Array(50).fill(200));
      const name = `${app.cookieName}-refresh`;
      const heads = new Set(replies.map(r => cookiesOf(r).find(c => c.name === name)?.value));
      expect(heads.size).toBe(1); // every request was handed the one successor
      const sid = sessionIdOf(decodeJwt(login.jar[app.cookieName]!).payload.sid as string);
      expect(await liveHeads(app, sid)).toHaveLength(1);
      expect(app.events.filter(e => e.type === 'reuse-detected')).toHaveLength(0);
    });

    it('the sequence R0, R1, R0: 200 with the head within grace; REFRESH_REUSED (family revoked) after it', async () => {
      const app = await ctx.app(PAIR);
      const login = await app.login();
      const name = `${app.cookieName}-refresh`;
      const r0 = `${name}=${login.jar[name]}`;
      const first = await app.http().post('/auth/refresh').set('Cookie', r0);
      const r1 = `${name}=${cookiesOf(first).find(c => c.name === name)!.value}`;
      ctx.clock.advance(2);
      const second = await app.http().post('/auth/refresh').set('Cookie', r1);
      const head = cookiesOf(second).find(c => c.name === name)!.value;
      ctx.clock.advance(2);
      const third = await app.http().post('/auth/refresh').set('Cookie', r0);
      expect(third.status).toBe(200);
      expect(cookiesOf(third).find(c => c.name === name)!.value).toBe(head);

      ctx.clock.advance(7); // 11 s after R0's rotation: its grace (10 s) is over
      expectError(await app.http().post('/auth/refresh').set('Cookie', r0), 'REFRESH_REUSED');
      expectError(await app.http().post('/auth/refresh').set('Cookie', `${name}=${head}`), 'SESSION_ENDED');
      expect(app.events.filter(e => e.type === 'reuse-detected')).toHaveLength(1);
    });
  });
}
