/**
 * The demo page (examples/<fw>, GET /, built on @tessera/client) in a real Chromium, for each
 * framework: login through the form, pair mode with several tabs sharing one refresh per access
 * lifetime, logout across tabs, cross-site form posts refused, and persistent vs session cookies
 * across a browser restart with the same profile.
 *
 * Needs Chromium (`chromium` on PATH, else /usr/bin/chromium). Under CI a missing Chromium fails
 * the suite; elsewhere it is skipped with a loud message. Runs against the built examples
 * (`pnpm build` first), like test/examples.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type HTTPResponse, type Page } from 'puppeteer-core';
import { startServer, stop } from '../support/example-server.js';

const FRAMEWORKS = ['express', 'koa', 'fastify'] as const;
/** Pair mode: access tokens this short (seconds), tabs kept open this long (about 3 lifetimes). */
const ACCESS_TTL = 6;
const KEEP_OPEN_MS = 20_000;
const TABS = 5;
/** Upper bound for any single wait on the page (generous: CI machines are slow). */
const WAIT = 15_000;
/**
 * Poll interval for page-side waits. Not puppeteer's default ('raf'): a tab that is not in front
 * renders no frames, so requestAnimationFrame-based polling never fires there.
 */
const POLL = 100;

function isCi(): boolean {
  const ci = process.env.CI;
  return !!ci && ci !== 'false' && ci !== '0';
}

/** `chromium` on PATH, else /usr/bin/chromium, else null. */
function findChromium(): string | null {
  try {
    const found = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8', timeout: 5000 }).trim();
    if (found && existsSync(found)) return found;
  } catch {
    // not on PATH
  }
  return existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : null;
}

/** Resolves with p, or rejects after ms (the timer never keeps the process alive). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: no result within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise<void>(res => setTimeout(res, ms));

// The page's globals, for the functions puppeteer runs in the page (this file is compiled without the DOM lib).
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const location: any;
declare function getComputedStyle(el: any): { display: string };
/* eslint-enable @typescript-eslint/no-explicit-any */

const CHROMIUM = findChromium();

if (CHROMIUM === null) {
  const why = 'Chromium not found (`command -v chromium` failed and /usr/bin/chromium is missing); install it with: apt-get install -y chromium';
  if (isCi()) {
    describe('browser tests', () => {
      it('has Chromium (required under CI)', () => {
        throw new Error(`The browser tests need Chromium under CI, but: ${why}`);
      });
    });
  } else {
    console.warn(`\n${'!'.repeat(78)}\n!! SKIPPING the browser tests (test/browser): ${why}\n!! These tests did not run. Under CI (CI set) they fail instead.\n${'!'.repeat(78)}\n`);
    describe.skip('browser tests', () => {
      it('needs Chromium', () => undefined);
    });
  }
} else {
  const executablePath = CHROMIUM;
  for (const fw of FRAMEWORKS) defineFrameworkSuite(fw, executablePath);
}

type Running = Awaited<ReturnType<typeof startServer>>;

function defineFrameworkSuite(fw: (typeof FRAMEWORKS)[number], executablePath: string): void {
  describe(`browser: examples/${fw}`, () => {
    const tmp = mkdtempSync(join(tmpdir(), `tessera-browser-${fw}-`));
    const children: ChildProcess[] = [];
    const browsers: Browser[] = [];
    const httpServers: Server[] = [];
    let browser: Browser;
    let base: Running;

    async function launch(userDataDir?: string): Promise<Browser> {
      const b = await puppeteer.launch({
        executablePath,
        headless: true,
        args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--disable-session-crashed-bubble', '--no-first-run'],
        ...(userDataDir ? { userDataDir } : {}),
        timeout: 30_000,
        protocolTimeout: 60_000,
      });
      browsers.push(b);
      return b;
    }

    /** Closes cleanly (the profile is flushed to disk), or kills the process if that hangs. */
    async function closeBrowser(b: Browser): Promise<void> {
      const i = browsers.indexOf(b);
      if (i >= 0) browsers.splice(i, 1);
      try {
        await within(b.close(), 15_000, 'browser.close()');
      } catch {
        b.process()?.kill('SIGKILL');
      }
    }

    async function start(name: string, env: Record<string, string>): Promise<Running> {
      const s = await startServer(fw, { TESSERA_STORE: `file:${join(tmp, name)}`, ...env });
      children.push(s.child);
      return s;
    }

    beforeAll(async () => {
      base = await start('default', {});
      browser = await launch();
    }, 60_000);

    afterAll(async () => {
      await Promise.allSettled(browsers.slice().map(closeBrowser));
      await Promise.allSettled(httpServers.map(s => within(new Promise<void>(res => s.close(() => res())), 5000, 'http close').catch(() => s.closeAllConnections())));
      await Promise.allSettled(children.map(c => stop(c)));
      rmSync(tmp, { recursive: true, force: true });
    }, 60_000);

    it('logs in through the form, shows the session with an HttpOnly cookie, logs out', async () => {
      const ctx = await browser.createBrowserContext();
      try {
        const page = await ctx.newPage();
        await login(page, base.url);
        await waitForText(page, 'accessLeft', /^\d+ (s|min \d+ s|h \d+ min)$/);
        await waitForText(page, 'sessionLeft', /^\d+ (s|min \d+ s|h \d+ min)$/);
        await page.waitForFunction(() => Array.from(document.querySelectorAll('#sessions tr') as ArrayLike<{ textContent: string }>).some(tr => tr.textContent.includes('this one')), { timeout: WAIT, polling: POLL });
        expect(await page.evaluate(() => document.cookie)).not.toMatch(/(^|;\s*)tessera=/);
        const cookie = (await ctx.cookies()).find(c => c.name === 'tessera');
        expect(cookie).toBeDefined();
        expect(cookie!.httpOnly).toBe(true);
        expect(cookie!.sameSite).toBe('Lax');

        await clickOn(page, '#logout');
        await waitForText(page, 'status', 'Not logged in.');
        expect(await isVisible(page, '#who')).toBe(false);
        expect(await isVisible(page, '#login')).toBe(true);
        expect(await sessionStatus(page)).toBe(401);
      } finally {
        await within(ctx.close(), 15_000, 'context.close()').catch(() => undefined);
      }
    }, 60_000);

    it(`pair mode, ${TABS} tabs: about one refresh per access lifetime across all tabs, no logout; a logout shows in the other tabs`, async () => {
      const pair = await start('pair', { TESSERA_MODE: 'pair', TESSERA_ACCESS_TTL: String(ACCESS_TTL) });
      const ctx = await browser.createBrowserContext();
      try {
        const refreshes: { tab: number; at: number }[] = [];
        const unauthorized: { tab: number; path: string; code: string }[] = [];
        /** Access-token expiries handed out by refresh answers: one per actual rotation. */
        const expiries = new Set<number>();
        const pages: Page[] = [];
        const watch = (page: Page, tab: number) => {
          page.on('request', req => {
            if (req.method() === 'POST' && new URL(req.url()).pathname === '/auth/refresh') refreshes.push({ tab, at: Date.now() });
          });
          page.on('response', (res: HTTPResponse) => {
            const path = new URL(res.url()).pathname;
            if (res.status() === 200 && path === '/auth/refresh') {
              res
                .json()
                .then((body: { expiresAt?: number }) => typeof body?.expiresAt === 'number' && expiries.add(body.expiresAt))
                .catch(() => undefined);
            }
            if (res.status() !== 401) return;
            res
              .json()
              .then((body: { error?: { code?: string } }) => unauthorized.push({ tab, path, code: body?.error?.code ?? '?' }))
              .catch(() => unauthorized.push({ tab, path, code: '(body unavailable)' }));
          });
        };
        for (let i = 0; i < TABS; i++) {
          const page = await ctx.newPage();
          watch(page, i);
          pages.push(page);
        }
        await login(pages[0]!, pair.url);
        const loggedInAt = Date.now();
        for (const page of pages.slice(1)) {
          await page.goto(pair.url, { waitUntil: 'load', timeout: WAIT });
          await waitVisible(page, '#who');
        }
        await sleep(KEEP_OPEN_MS); // the scenario itself: tabs kept open across ~3 access lifetimes

        const elapsed = (Date.now() - loggedInAt) / 1000;
        const lifetimes = Math.ceil(elapsed / ACCESS_TTL);
        const perTab = pages.map((_, i) => refreshes.filter(r => r.tab === i).length);
        const ended = unauthorized.filter(u => u.code === 'SESSION_ENDED' || u.code === 'REFRESH_REUSED');
        const logs = await Promise.all(pages.map(p => p.$eval('#log', el => el.textContent ?? '')));
        console.log(
          `[browser ${fw}] pair mode, ${TABS} tabs, access TTL ${ACCESS_TTL} s, ${elapsed.toFixed(1)} s (${lifetimes} lifetimes): ` +
            `${refreshes.length} POST /auth/refresh (per tab ${perTab.join('/')}; at s after login, by tab: ${refreshes.map(r => `${((r.at - loggedInAt) / 1000).toFixed(1)}:${r.tab}`).join(' ')}), ${expiries.size} distinct new expiries, 401s: ${JSON.stringify(unauthorized)}`,
        );
        expect(ended).toEqual([]);
        expect(logs.filter((l: string) => /session ended|logged out/.test(l))).toEqual([]);
        for (const page of pages) {
          expect(await isVisible(page, '#who')).toBe(true);
          expect(await page.$eval('#whoTitle', el => el.textContent)).toBe('Logged in as Alice Liddell');
        }
        // About one refresh per access lifetime across all tabs, not one per tab: the expiries handed
        // out (rotations, plus the unchanged one below) stay within lifetimes + 3. The requests come
        // in twos and sometimes threes per lifetime, observed 7 to 11 over 4 lifetimes: the client
        // refreshes when 20 % of the lifetime is left (millisecond clock), the server's window check
        // (whole seconds) still finds the access token fresh and answers with the unchanged expiry,
        // and then the client (sometimes two tabs of it) refreshes again at expiry. Hence the looser
        // bound on requests, still well under one per tab (TABS x lifetimes = 20).
        expect(refreshes.length).toBeGreaterThanOrEqual(2);
        expect(expiries.size).toBeGreaterThanOrEqual(2);
        expect(expiries.size).toBeLessThanOrEqual(lifetimes + 3);
        expect(refreshes.length).toBeLessThanOrEqual(3 * lifetimes + 3);
        expect(await sessionStatus(pages[TABS - 1]!)).toBe(200);

        // Logout in one tab shows in another within 2 s (BroadcastChannel).
        const t0 = Date.now();
        await clickOn(pages[0]!, '#logout');
        await waitForText(pages[1]!, 'status', 'Not logged in.', 2000);
        const took = Date.now() - t0;
        await Promise.all(pages.slice(2).map(p => waitForText(p, 'status', 'Not logged in.', WAIT)));
        console.log(`[browser ${fw}] logout in tab 0 shown in tab 1 after ${took} ms`);
        expect(await sessionStatus(pages[1]!)).toBe(401);
      } finally {
        await within(ctx.close(), 15_000, 'context.close()').catch(() => undefined);
        await stop(pair.child);
      }
    }, 120_000);

    it('refuses cross-site form posts: the session survives a forged logout and /api/sensitive is not served', async () => {
      const port = Number(new URL(base.url).port);
      const victimOrigin = `http://localhost:${port}`;
      const attacker = createServer((req, res) => {
        const target = req.url === '/sensitive' ? '/api/sensitive' : '/auth/logout';
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(
          `<!doctype html><html><body><form method="POST" action="${victimOrigin}${target}"><input name="x" value="1"></form>` +
            `<script>document.forms[0].submit()</script></body></html>`,
        );
      });
      httpServers.push(attacker);
      await new Promise<void>((res, rej) => {
        attacker.once('error', rej);
        attacker.listen(0, '127.0.0.1', () => res());
      });
      const attackerOrigin = `http://127.0.0.1:${(attacker.address() as { port: number }).port}`;

      const ctx = await browser.createBrowserContext();
      try {
        const victim = await ctx.newPage();
        await login(victim, victimOrigin); // cookies are per host: localhost here, the attacker is 127.0.0.1
        expect((await ctx.cookies()).some(c => c.name === 'tessera' && c.domain === 'localhost')).toBe(true);

        const results: Record<string, { status: number; code: string }> = {};
        for (const [path, target] of [['/logout', '/auth/logout'], ['/sensitive', '/api/sensitive']] as const) {
          const page = await ctx.newPage();
          const posted = page.waitForResponse(r => r.request().method() === 'POST' && r.url() === `${victimOrigin}${target}`, { timeout: WAIT });
          await page.goto(`${attackerOrigin}${path}`, { timeout: WAIT });
          const res = await posted;
          await page.waitForFunction(() => document.readyState === 'complete' && location.pathname !== '/logout' && location.pathname !== '/sensitive', { timeout: WAIT, polling: POLL });
          const text = await page.evaluate(() => document.body?.innerText ?? '');
          let code = '?';
          try {
            code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '(none)';
          } catch {
            code = `(not JSON: ${text.slice(0, 80)})`;
          }
          results[target] = { status: res.status(), code };
          await page.close();
        }
        console.log(`[browser ${fw}] cross-site form posts: ${JSON.stringify(results)}`);
        expect(results['/auth/logout']).toEqual({ status: 403, code: 'CSRF_FAILED' });
        // SameSite=Lax keeps the cookie off a cross-site POST, so the API sees no token at all (or the CSRF check refuses it).
        expect([JSON.stringify({ status: 401, code: 'TOKEN_MISSING' }), JSON.stringify({ status: 403, code: 'CSRF_FAILED' })]).toContain(
          JSON.stringify(results['/api/sensitive']),
        );

        // The session is alive: the same-origin page still reads it and may call the sensitive route.
        expect(await sessionStatus(victim)).toBe(200);
        expect(await victim.evaluate(() => fetch('/api/sensitive', { method: 'POST' }).then(r => r.status))).toBe(200);
        await victim.reload({ waitUntil: 'load', timeout: WAIT });
        await waitVisible(victim, '#who');
      } finally {
        await within(ctx.close(), 15_000, 'context.close()').catch(() => undefined);
      }
    }, 60_000);

    for (const [label, persistence, survives] of [
      ['the default persistent cookie survives', undefined, true],
      ['a session cookie (TESSERA_COOKIE_PERSISTENCE=session) does not survive', 'session', false],
    ] as const) {
      it(`${label} a browser restart with the same profile`, async () => {
        const server = persistence ? await start(`persistence-${persistence}`, { TESSERA_COOKIE_PERSISTENCE: persistence }) : base;
        const profile = mkdtempSync(join(tmp, 'profile-'));
        try {
          const first = await launch(profile);
          const page = await first.newPage();
          await login(page, server.url);
          const cookie = (await first.defaultBrowserContext().cookies()).find(c => c.name === 'tessera');
          expect(cookie).toBeDefined();
          expect(cookie!.session).toBe(!survives);
          if (survives) expect(cookie!.expires).toBeGreaterThan(Date.now() / 1000);
          await closeBrowser(first);

          const second = await launch(profile);
          const again = await second.newPage();
          await again.goto(server.url, { waitUntil: 'load', timeout: WAIT });
          const status = await sessionStatus(again);
          const names = (await second.defaultBrowserContext().cookies()).map(c => c.name);
          console.log(`[browser ${fw}] after restart (${persistence ?? 'persistent'}): GET /auth/session ${status}, cookies [${names.join(', ')}]`);
          if (survives) {
            expect(status).toBe(200);
            await waitVisible(again, '#who');
            await waitForText(again, 'whoTitle', 'Logged in as Alice Liddell');
          } else {
            expect(status).toBe(401);
            expect(names).not.toContain('tessera');
            expect(await isVisible(again, '#login')).toBe(true);
            expect(await isVisible(again, '#who')).toBe(false);
          }
          await closeBrowser(second);
        } finally {
          if (server !== base) await stop(server.child);
        }
      }, 90_000);
    }
  });
}

/** Opens the page and logs in as alice through the form; resolves once the page shows the session. */
async function login(page: Page, url: string): Promise<void> {
  // Module scripts run before 'load': the form's submit handler is in place.
  await page.goto(url, { waitUntil: 'load', timeout: WAIT });
  await waitVisible(page, '#login');
  // DOM-level input and click: they work the same in a background tab (puppeteer's page.click
  // waits for the element to intersect the viewport, which a tab that is not in front never renders).
  await page.$eval('input[name=username]', el => ((el as unknown as { value: string }).value = 'alice'));
  await page.$eval('input[name=password]', el => ((el as unknown as { value: string }).value = 'wonderland'));
  await clickOn(page, '#login button[type=submit]');
  await waitForText(page, 'whoTitle', 'Logged in as Alice Liddell');
  await waitVisible(page, '#who');
}

/** Waits until the element's text equals (or matches) the expectation; fails after timeout ms. */
async function waitForText(page: Page, id: string, want: string | RegExp, timeout = WAIT): Promise<void> {
  const pattern = typeof want === 'string' ? { exact: want } : { source: want.source, flags: want.flags };
  try {
    await page.waitForFunction(
      (elId: string, p: { exact?: string; source?: string; flags?: string }) => {
        const text = document.getElementById(elId)?.textContent ?? '';
        return p.exact !== undefined ? text === p.exact : new RegExp(p.source!, p.flags).test(text);
      },
      { timeout, polling: POLL },
      id,
      pattern,
    );
  } catch (err) {
    const text = await page.$eval(`#${id}`, el => el.textContent).catch(() => '(unreadable)');
    const log = await page.$eval('#log', el => el.textContent).catch(() => '(unreadable)');
    throw new Error(`#${id} never showed ${String(want)} within ${timeout} ms (it shows ${JSON.stringify(text)}; page log: ${JSON.stringify(log)}): ${(err as Error).message}`);
  }
}

/** Waits until the element exists and is not hidden. */
async function waitVisible(page: Page, selector: string, timeout = WAIT): Promise<void> {
  await page.waitForFunction(
    (sel: string) => {
      const el = document.querySelector(sel);
      return el !== null && !el.hidden && getComputedStyle(el).display !== 'none';
    },
    { timeout, polling: POLL },
    selector,
  );
}

/** A DOM click on the element (see login()). */
async function clickOn(page: Page, selector: string): Promise<void> {
  await waitVisible(page, selector);
  await page.$eval(selector, el => (el as unknown as { click(): void }).click());
}

async function isVisible(page: Page, selector: string): Promise<boolean> {
  return page.$eval(selector, el => !(el as unknown as { hidden: boolean }).hidden && getComputedStyle(el).display !== 'none');
}

/** GET /auth/session from the page (same origin, its cookies): the status code. */
async function sessionStatus(page: Page): Promise<number> {
  return page.evaluate(() => fetch('/auth/session').then(r => r.status));
}

