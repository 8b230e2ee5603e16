/**
 * The browser cases, defined once and instantiated per framework and store by the suites
 * (browser.test.ts: the file store, every case; stores.test.ts: memory and Redis). See the header
 * of browser.test.ts for the matrix and why it is shaped so.
 *
 * Timing: every case of a framework starts in its beforeAll and runs in the background, each in a
 * browser context of its own (its own cookie jar, Web Locks and BroadcastChannels) against a
 * server of its own; the cases only collect what happened (helpers.ts), and each test waits for
 * its case's result and asserts. The many-tab cases start first, alone with the idle sliding tab;
 * the short cases start once all tabs are open (opening ten tabs is the heaviest part) and run
 * while the tabs wait out their lifetimes. One Chromium per suite file, plus the two each restart
 * case starts on its profile. BROWSER_TIMELINE=1 prints each many-tab case's network sequence.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'puppeteer-core';
import { startServer, stop } from '../support/example-server.js';
import {
  Background,
  ENDED_IN_LOG,
  closeBrowser,
  crossSitePosts,
  findChromium,
  isCi,
  launchBrowser,
  loginLogout,
  onDemandRetry,
  restartWithProfile,
  runSliding,
  runTabs,
  secs,
  storeUrl,
  unexpectedRefusals,
  within,
  type CrossSiteRun,
  type Framework,
  type LoginRun,
  type RestartRun,
  type RetryRun,
  type SlidingRun,
  type Step,
  type StoreKind,
  type TabsRun,
} from './helpers.js';

export type Case = 'httponly' | 'tabs' | 'retry' | 'cross-site' | 'restart' | 'sliding';

/** One store's column of the matrix: which cases, and the lifetimes its long cases use. */
export interface StoreProfile {
  store: StoreKind;
  cases: readonly Case[];
  /** Pair mode, many tabs: access-token lifetime (s), how long the tabs stay open (ms). */
  tabs: { accessTtl: number; keepOpenMs: number; count: number };
  /**
   * Sliding mode, one idle tab: token lifetime (s), reissue window (TESSERA_REFRESH_BEFORE), how long
   * it stays open (ms). The client's timer refreshes when 20 % of the lifetime is left, whatever the
   * window: that is the slack a late timer or a slow request has before the session ends.
   */
  sliding: { ttl: number; refreshBefore: string; keepOpenMs: number };
}

/**
 * The on-demand retry server: short access tokens and no clock tolerance, so they expire on time.
 * Not shorter: with whole-second expiries a token lives between TTL - 1 and TTL seconds, and the
 * retried call must reach the server before the fresh token expires too (seen with 2 s on a busy machine).
 */
const RETRY_ACCESS_TTL = 4;
/** Pause between an active tab's API calls (ms). */
const API_PAUSE = 250;
/** Logout in one tab shows in the others within this (ms). */
const LOGOUT_SHOWN_WITHIN = 2000;

/**
 * Bounds for "about one refresh per access lifetime across all tabs", over L = elapsed / lifetime:
 * - rotations (new refresh tokens, counted from the Set-Cookie headers): the client refreshes when
 *   20 % of the lifetime is left, and the lifetime it sees is up to a second short (whole-second
 *   expiries), so one rotation every 0.7-0.8 lifetimes: about 1.3 L. At most 1.5 L + 2.
 * - POST /auth/refresh requests: those, plus a second tab now and then whose request the server
 *   answers with the unchanged session (no rotation, no cookies). Seen: a tab that takes the Web
 *   Lock before the first tab's `refreshed` message reached it (Chromium delivers the lock and the
 *   BroadcastChannel message independently), and tabs whose known expiry lags the jar's access
 *   cookie because a GET /auth/session inside the server's (whole-second, rounded up) refresh window
 *   rotated transparently (the refresh cookie's path is /auth) without a `refreshed` message.
 *   At most 2 L + 3. Ten tabs refreshing on their own would send at least 10 L.
 */
export const tabsBounds = (L: number) => ({ rotations: Math.ceil(1.5 * L) + 2, requests: Math.ceil(2 * L) + 3 });

type Running = Awaited<ReturnType<typeof startServer>>;

/**
 * The suite file's top level: one Chromium for all its frameworks. Without Chromium: fails under CI,
 * elsewhere skips with a loud message.
 */
export function defineBrowserSuite(
  title: string,
  matrix: readonly (readonly [Framework, readonly StoreProfile[]])[],
  hooks: { redisPrefix?: string; afterAll?: () => Promise<void> } = {},
): void {
  const chromium = findChromium();
  if (chromium === null) {
    const why = 'Chromium not found (`command -v chromium` failed and /usr/bin/chromium is missing); install it with: apt-get install -y chromium';
    if (isCi()) {
      describe(title, () => {
        it('has Chromium (required under CI)', () => {
          throw new Error(`The browser tests need Chromium under CI, but: ${why}`);
        });
      });
    } else {
      console.warn(`\n${'!'.repeat(78)}\n!! SKIPPING the browser tests (${title}): ${why}\n!! These tests did not run. Under CI (CI set) they fail instead.\n${'!'.repeat(78)}\n`);
      describe.skip(title, () => {
        it('needs Chromium', () => undefined);
      });
    }
    return;
  }
  const executablePath = chromium;
  describe(title, () => {
    let browser: Browser | undefined;
    beforeAll(async () => {
      browser = await launchBrowser(executablePath);
    }, 60_000);
    afterAll(async () => {
      if (browser) await closeBrowser(browser);
      await hooks.afterAll?.();
    }, 60_000);
    const env = {
      executablePath,
      redisPrefix: hooks.redisPrefix ?? 'tessera-browser-unused:',
      browser: () => {
        if (!browser) throw new Error('Chromium did not start (see beforeAll)');
        return browser;
      },
    };
    for (const [fw, profiles] of matrix) defineFrameworkSuite(fw, profiles, env);
  });
}

/**
 * One describe per framework: every store profile's servers, then every case started in the
 * background; one test per case waits for its result and asserts. `browser()` is the suite file's
 * shared Chromium.
 */
export function defineFrameworkSuite(fw: Framework, profiles: readonly StoreProfile[], env: { executablePath: string; browser: () => Browser; redisPrefix: string }): void {
  describe(`browser: examples/${fw} on ${profiles.map(p => p.store).join(', ')}`, () => {
    const tmp = mkdtempSync(join(tmpdir(), `tessera-browser-${fw}-`));
    const children: ChildProcess[] = [];
    const attackers: Server[] = [];
    const servers = new Map<string, Running>();
    const runs = new Map<string, Background<unknown>>();

    const server = (store: StoreKind, role: string): Running => {
      const s = servers.get(`${store}-${role}`);
      if (!s) throw new Error(`no ${role} server for the ${store} store (did beforeAll fail?)`);
      return s;
    };
    async function start(store: StoreKind, role: string, vars: Record<string, string>): Promise<void> {
      const name = `${store}-${role}`;
      // This suite checks what the browser and the client do, not store latency: on a CI machine
      // saturated by Chromium and the jest workers, a file-store write was once seen to take over the
      // default 2 s (a 503 in an otherwise clean run), so the servers here allow 10 s.
      const s = await startServer(fw, {
        TESSERA_STORE: storeUrl(store, { tmp, redisPrefix: `${env.redisPrefix}${fw}:` }, name),
        TESSERA_STORE_TIMEOUT: '10',
        ...vars,
      });
      children.push(s.child);
      servers.set(name, s);
    }
    /** Starts a case in the background (its test collects the result). */
    function run<T>(store: StoreKind, key: string, fn: () => Promise<T>): void {
      runs.set(`${store}:${key}`, new Background(fn()));
    }
    /** The result of a case started in beforeAll. */
    async function result<T>(store: StoreKind, key: string): Promise<T> {
      const b = runs.get(`${store}:${key}`);
      if (!b) throw new Error(`the ${key} case on the ${store} store never started (did beforeAll fail?)`);
      return (await b.outcome()) as T;
    }
    const context = () => env.browser().createBrowserContext();

    /** Another site (127.0.0.1, its own port) whose page, once loaded, posts a form to the victim's /api/sensitive (at /sensitive) or /auth/logout (any other path). */
    async function attacker(victimPort: number): Promise<string> {
      const victimOrigin = `http://localhost:${victimPort}`;
      const srv = createServer((req, res) => {
        const target = req.url === '/sensitive' ? '/api/sensitive' : '/auth/logout';
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(
          `<!doctype html><html><body><form method="POST" action="${victimOrigin}${target}"><input name="x" value="1"></form>` +
            `<script>document.forms[0].submit()</script></body></html>`,
        );
      });
      attackers.push(srv);
      await new Promise<void>((res, rej) => {
        srv.once('error', rej);
        srv.listen(0, '127.0.0.1', () => res());
      });
      return `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    }

    beforeAll(async () => {
      const starts: Promise<void>[] = [];
      for (const p of profiles) {
        const has = (c: Case) => p.cases.includes(c);
        if (has('httponly') || has('cross-site') || has('restart')) starts.push(start(p.store, 'default', {}));
        if (has('restart')) starts.push(start(p.store, 'session-cookie', { TESSERA_COOKIE_PERSISTENCE: 'session' }));
        if (has('tabs')) starts.push(start(p.store, 'pair', { TESSERA_MODE: 'pair', TESSERA_ACCESS_TTL: String(p.tabs.accessTtl) }));
        if (has('retry')) starts.push(start(p.store, 'retry', { TESSERA_MODE: 'pair', TESSERA_ACCESS_TTL: String(RETRY_ACCESS_TTL), TESSERA_CLOCK_TOLERANCE: '0' }));
        if (has('sliding')) starts.push(start(p.store, 'sliding', { TESSERA_MODE: 'sliding', TESSERA_TTL: String(p.sliding.ttl), TESSERA_REFRESH_BEFORE: p.sliding.refreshBefore }));
      }
      await Promise.all(starts);
      // The long cases first; the short ones once every tabs case has all its tabs open and is only
      // waiting out its lifetimes (ten tabs opening at once are the heaviest part of the suite).
      const observing: Promise<unknown>[] = [];
      for (const p of profiles) {
        const has = (c: Case) => p.cases.includes(c);
        if (has('tabs')) {
          const { count, keepOpenMs } = p.tabs;
          const active = Array.from({ length: count }, (_, i) => i).filter(i => i % 2 === 1);
          const url = server(p.store, 'pair').url;
          let onObserving = () => {};
          const ready = new Promise<void>(res => (onObserving = res));
          run(p.store, 'tabs', async () => runTabs(await context(), url, { tabs: count, active, keepOpenMs, apiPauseMs: API_PAUSE, onObserving }));
          observing.push(Promise.race([ready, runs.get(`${p.store}:tabs`)!.done(120_000)]));
        }
        if (has('sliding')) {
          const url = server(p.store, 'sliding').url;
          run(p.store, 'sliding', async () => runSliding(await context(), url, p.sliding.keepOpenMs));
        }
      }
      await Promise.all(observing);
      for (const p of profiles) {
        const has = (c: Case) => p.cases.includes(c);
        if (has('retry')) {
          const url = server(p.store, 'retry').url;
          run(p.store, 'retry', async () => onDemandRetry(await context(), url));
        }
        if (has('httponly')) {
          const url = server(p.store, 'default').url;
          run(p.store, 'httponly', async () => loginLogout(await context(), url));
        }
        if (has('cross-site')) {
          const url = server(p.store, 'default').url;
          run(p.store, 'cross-site', async () => crossSitePosts(await context(), url, await attacker(Number(new URL(url).port))));
        }
        if (has('restart')) {
          // One after the other: each starts Chromium twice.
          const persistent = restartWithProfile(env.executablePath, mkdtempSync(join(tmp, 'profile-')), server(p.store, 'default').url);
          const session = persistent.catch(() => undefined).then(() => restartWithProfile(env.executablePath, mkdtempSync(join(tmp, 'profile-')), server(p.store, 'session-cookie').url));
          run(p.store, 'restart-persistent', () => persistent);
          run(p.store, 'restart-session', () => session);
        }
      }
    }, 180_000);

    afterAll(async () => {
      await Promise.all([...runs.values()].map(b => b.done(150_000)));
      await Promise.allSettled(attackers.map(s => within(new Promise<void>(res => s.close(() => res())), 5000, 'http close').catch(() => s.closeAllConnections())));
      await Promise.allSettled(children.map(c => stop(c)));
      rmSync(tmp, { recursive: true, force: true });
    }, 180_000);

    for (const p of profiles) {
      const has = (c: Case) => p.cases.includes(c);
      const tag = `[${p.store}]`;
      const log = (text: string) => console.log(`[browser ${fw} ${p.store}] ${text}`);
      /** Every case's test: its result can take as long as the longest case. */
      const TIMEOUT = Math.max(p.tabs.keepOpenMs, p.sliding.keepOpenMs) + 150_000;

      if (has('httponly')) {
        it(`${tag} logs in through the form, shows the session with an HttpOnly cookie, logs out`, async () => {
          const r = await result<LoginRun>(p.store, 'httponly');
          expect(r.documentCookie).not.toMatch(/(^|;\s*)tessera=/);
          expect(r.cookie).toEqual({ httpOnly: true, sameSite: 'Lax' });
          expect(r.after).toEqual({ status: 'Not logged in.', who: false, login: true, session: 401 });
        }, TIMEOUT);
      }

      if (has('retry')) {
        it(`${tag} on-demand retry without the timer: 401 TOKEN_EXPIRED, one POST /auth/refresh, the retried call answers 200`, async () => {
          const r = await result<RetryRun>(p.store, 'retry');
          const fmt = (s: Step) => `${s.method} ${s.path} ${s.status}${s.code ? ` ${s.code}` : ''}${s.rotated ? ' (rotated)' : ''}`;
          log(`on-demand retry, access TTL ${RETRY_ACCESS_TTL} s: one call: ${r.single.map(fmt).join(' -> ')}; three at once: ${r.parallel.map(fmt).join(' -> ')}`);
          expect(r.single.map(fmt)).toEqual(['GET /api/me 401 TOKEN_EXPIRED', 'POST /auth/refresh 200 (rotated)', 'GET /api/me 200']);
          expect(r.singleResult).toEqual([{ status: 200, body: { user: expect.objectContaining({ id: 'alice' }) } }]);
          // Three calls at once: three 401s, ONE refresh between them, three retries answering 200.
          expect(r.parallel.map(fmt).sort()).toEqual(
            ['GET /api/me 401 TOKEN_EXPIRED', 'GET /api/me 401 TOKEN_EXPIRED', 'GET /api/me 401 TOKEN_EXPIRED', 'POST /auth/refresh 200 (rotated)', 'GET /api/me 200', 'GET /api/me 200', 'GET /api/me 200'].sort(),
          );
          const refreshAt = r.parallel.findIndex(s => s.path === '/auth/refresh');
          expect(r.parallel.slice(0, refreshAt).every(s => s.status === 401)).toBe(true);
          expect(r.parallel.slice(refreshAt + 1).filter(s => s.status === 200)).toHaveLength(3);
          expect(r.parallelResults.map(x => [x.status, x.body?.user?.id])).toEqual([
            [200, 'alice'],
            [200, 'alice'],
            [200, 'alice'],
          ]);
        }, TIMEOUT);
      }

      if (has('cross-site')) {
        it(`${tag} refuses cross-site form posts: the session survives a forged logout and /api/sensitive is not served`, async () => {
          const r = await result<CrossSiteRun>(p.store, 'cross-site');
          log(`cross-site form posts: ${JSON.stringify(r.results)}`);
          expect(r.victimCookie).toBe(true);
          expect(r.results['/auth/logout']).toEqual({ status: 403, code: 'CSRF_FAILED' });
          // SameSite=Lax keeps the cookie off a cross-site POST, so the API sees no token at all (or the CSRF check refuses it).
          expect([JSON.stringify({ status: 401, code: 'TOKEN_MISSING' }), JSON.stringify({ status: 403, code: 'CSRF_FAILED' })]).toContain(JSON.stringify(r.results['/api/sensitive']));
          // The session is alive: the same-origin page still reads it, may call the sensitive route, and shows the session after a reload.
          expect(r.after).toEqual({ session: 200, sensitive: 200, who: true });
        }, TIMEOUT);
      }

      if (has('restart')) {
        for (const [label, key, survives] of [
          ['the default persistent cookie survives', 'persistent', true],
          ['a session cookie (TESSERA_COOKIE_PERSISTENCE=session) does not survive', 'session', false],
        ] as const) {
          it(`${tag} ${label} a browser restart with the same profile`, async () => {
            const r = await result<RestartRun>(p.store, `restart-${key}`);
            log(`after restart (${key}): GET /auth/session ${r.status}, cookies [${r.names.join(', ')}]`);
            expect(r.before).not.toBeNull();
            expect(r.before!.session).toBe(!survives);
            if (survives) {
              expect(r.before!.expires).toBeGreaterThan(Date.now() / 1000);
              expect(r.status).toBe(200);
              expect([r.who, r.title]).toEqual([true, 'Logged in as Alice Liddell']);
            } else {
              expect(r.status).toBe(401);
              expect(r.names).not.toContain('tessera');
              expect([r.login, r.who]).toEqual([true, false]);
            }
          }, TIMEOUT);
        }
      }

      if (has('tabs')) {
        const { count, accessTtl, keepOpenMs } = p.tabs;
        it(`${tag} pair mode, ${count} tabs (idle and active), access TTL ${accessTtl} s over ${Math.round(keepOpenMs / 1000)} s: about one refresh per lifetime across all tabs, no logout; a logout shows in every other tab within 2 s`, async () => {
          const run = await result<TabsRun>(p.store, 'tabs');
          const L = run.elapsed / accessTtl;
          const bounds = tabsBounds(L);
          const perTab = Array.from({ length: run.tabs }, (_, i) => run.requests.filter(r => r.tab === i).length);
          const refused = unexpectedRefusals(run);
          log(
            `pair mode, ${count} tabs (active: ${run.active.join(',')}), access TTL ${accessTtl} s, all open for ${run.elapsed.toFixed(1)} s = ${L.toFixed(1)} lifetimes: ` +
              `${run.requests.length} POST /auth/refresh (bound ${bounds.requests}), ${run.rotations} rotations (bound ${bounds.rotations}), ${run.unchanged} answered unchanged; ` +
              `per tab ${perTab.join('/')}; sent at s:tab ${run.requests.map(r => `${secs(r.at, run.startAt)}:${r.tab}`).join(' ')}; rotated by ${run.rotatedBy.join(', ')}; ` +
              `API calls per active tab ${run.apiFinal.map(a => a.calls).join('/')}; TOKEN_EXPIRED retried: ${run.rec.answers.filter(a => a.code === 'TOKEN_EXPIRED' && a.at < run.logoutAt).length}; ` +
              `refusals: ${refused.length}; logout shown after ${run.logoutShownAfter.slice(1).join('/')} ms; phases (s): ${run.phases}`,
          );
          if (process.env.BROWSER_TIMELINE) log(`the network sequence of the period (BROWSER_TIMELINE set):\n${run.rec.timeline(run.startAt, run.startAt - 2000, run.endAt, a => a.path.startsWith('/auth/'))}`);
          if (refused.length > 0) {
            // The evidence: the auth traffic (and every refusal) from 8 s before the first refusal.
            const first = refused[0]!.sentAt;
            log(
              `REFUSALS, network sequence (s after the start of the period; the last 6 characters of the refresh tokens):\n${run.rec.timeline(run.startAt, first - 8_000, first + 2_000, a => a.path.startsWith('/auth/') || a.status >= 400)}`,
            );
          }
          // No logout anywhere: no refusal (but TOKEN_EXPIRED retried), no 'session ended' / 'logged out', every tab still shows the session.
          expect(refused.map(a => `tab ${a.tab} ${a.method} ${a.path} ${a.status} ${a.code}`)).toEqual([]);
          expect(run.views.filter(v => ENDED_IN_LOG.test(v.log)).map(v => v.log)).toEqual([]);
          expect(run.views.map(v => [v.who, v.login, v.title])).toEqual(run.views.map(() => [true, false, 'Logged in as Alice Liddell']));
          // The active tabs were active, and every one of their calls answered 200 (the client refreshed ahead, or retried after TOKEN_EXPIRED).
          for (const a of run.apiFinal) {
            expect(a.calls).toBeGreaterThanOrEqual(Math.floor(L));
            expect({ statuses: Object.keys(a.statuses), bad: a.bad, errors: a.errors }).toEqual({ statuses: ['200'], bad: [], errors: [] });
          }
          // About one refresh per lifetime, across all tabs. At least: the session lived on, so a rotation
          // came at least every lifetime + the server's 5 s clock tolerance, and the clients refreshed.
          expect(run.rotations).toBeGreaterThanOrEqual(Math.floor(run.elapsed / (accessTtl + 5)));
          expect(run.rotations).toBeLessThanOrEqual(bounds.rotations);
          expect(run.requests.length).toBeGreaterThanOrEqual(1);
          expect(run.requests.length).toBeLessThanOrEqual(bounds.requests);
          // Logout in tab 0 showed in every other tab within 2 s (BroadcastChannel), and the session is gone.
          for (const ms of run.logoutShownAfter.slice(1)) {
            expect(ms).toBeGreaterThanOrEqual(0);
            expect(ms).toBeLessThanOrEqual(LOGOUT_SHOWN_WITHIN);
          }
          expect(run.statusAfterLogout).toBe(401);
        }, TIMEOUT);
      }

      if (has('sliding')) {
        const { ttl, refreshBefore, keepOpenMs } = p.sliding;
        it(`${tag} sliding mode (TTL ${ttl} s, window ${refreshBefore} s): an idle tab stays logged in over ${Math.round(keepOpenMs / 1000)} s on the client's timer alone`, async () => {
          const run = await result<SlidingRun>(p.store, 'sliding');
          const L = run.elapsed / ttl;
          const refused = run.rec.answers.filter(a => a.at >= run.loggedInAt && a.sentAt <= run.endAt && a.status >= 400);
          log(
            `sliding mode, one idle tab, TTL ${ttl} s, window ${refreshBefore} s, ${run.elapsed.toFixed(1)} s = ${L.toFixed(1)} lifetimes: ` +
              `${run.requests.length} POST /auth/refresh (at s ${run.requests.map(r => secs(r.at, run.loggedInAt)).join(' ')}), ${run.reissues} reissued tokens; ` +
              `session expiry ${run.loginSession.expiresAt} -> ${run.endSession.expiresAt}; refusals: ${refused.length}`,
          );
          if (refused.length > 0) log(`REFUSALS, network sequence (s after login):\n${run.rec.timeline(run.loggedInAt)}`);
          expect(refused.map(a => `${a.method} ${a.path} ${a.status} ${a.code}`)).toEqual([]);
          expect(ENDED_IN_LOG.test(run.view.log)).toBe(false);
          expect([run.view.who, run.view.login, run.cookie]).toEqual([true, false, true]);
          // The same session, carried well past its first token's lifetime.
          expect(run.endSession.status).toBe(200);
          expect(run.endSession.createdAt).toBe(run.loginSession.createdAt);
          expect(run.endSession.expiresAt!).toBeGreaterThanOrEqual(run.loginSession.expiresAt + (Math.floor(L) - 1) * ttl);
          // By the timer: about one POST /auth/refresh per lifetime, each a reissue.
          expect(run.requests.length).toBeGreaterThanOrEqual(Math.floor(L) - 1);
          expect(run.reissues).toBeGreaterThanOrEqual(Math.floor(L) - 1);
          expect(run.requests.length).toBeLessThanOrEqual(Math.ceil(1.5 * L) + 2);
          expect(run.reissues).toBeLessThanOrEqual(Math.ceil(1.5 * L) + 2);
        }, TIMEOUT);
      }
    }
  });
}
