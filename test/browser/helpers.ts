/**
 * Shared by the browser suites (test/browser/*.test.ts): finding and launching Chromium, driving the
 * demo page (examples/shared/demo.mjs), recording what the tabs send and receive, and the
 * multi-tab / retry / sliding scenarios themselves. The scenarios only collect; the suites assert.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser, type BrowserContext, type HTTPResponse, type Page } from 'puppeteer-core';

/** Upper bound for any single wait on the page (generous: CI machines are slow). */
export const WAIT = 15_000;
/**
 * Poll interval for page-side waits. Not puppeteer's default ('raf'): a tab that is not in front
 * renders no frames, so requestAnimationFrame-based polling never fires there.
 */
export const POLL = 100;

export const FRAMEWORKS = ['express', 'koa', 'fastify'] as const;
export type Framework = (typeof FRAMEWORKS)[number];
export type StoreKind = 'file' | 'memory' | 'redis';

export function isCi(): boolean {
  const ci = process.env.CI;
  return !!ci && ci !== 'false' && ci !== '0';
}

/** `chromium` on PATH, else /usr/bin/chromium, else null. */
export function findChromium(): string | null {
  try {
    const found = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8', timeout: 5000 }).trim();
    if (found && existsSync(found)) return found;
  } catch {
    // not on PATH
  }
  return existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : null;
}

/** Resolves with p, or rejects after ms (the timer never keeps the process alive). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: no result within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>(res => setTimeout(res, ms));

/** A promise run in the background: never an unhandled rejection; `outcome()` rethrows its error where it is awaited. */
export class Background<T> {
  private readonly settled: Promise<{ ok: true; value: T } | { ok: false; error: unknown }>;
  constructor(p: Promise<T>) {
    this.settled = p.then(
      value => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
  }
  async outcome(): Promise<T> {
    const r = await this.settled;
    if (!r.ok) throw r.error;
    return r.value;
  }
  /** Waits for it to end, however it ends (teardown). */
  async done(ms: number): Promise<void> {
    await within(this.settled, ms, 'background scenario').catch(() => undefined);
  }
}

// The page's globals, for the functions puppeteer runs in the page (this file is compiled without the DOM lib).
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const location: any;
declare function getComputedStyle(el: any): { display: string };
/* eslint-enable @typescript-eslint/no-explicit-any */

export async function launchBrowser(executablePath: string, userDataDir?: string): Promise<Browser> {
  return puppeteer.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--disable-session-crashed-bubble', '--no-first-run'],
    ...(userDataDir ? { userDataDir } : {}),
    timeout: 30_000,
    protocolTimeout: 60_000,
  });
}

/** Closes cleanly (a profile is flushed to disk), or kills the process if that hangs. */
export async function closeBrowser(b: Browser): Promise<void> {
  try {
    await within(b.close(), 15_000, 'browser.close()');
  } catch {
    b.process()?.kill('SIGKILL');
  }
}

export async function closeContext(ctx: BrowserContext): Promise<void> {
  await within(ctx.close(), 15_000, 'context.close()').catch(() => undefined);
}

/** TESSERA_STORE for a server of this suite: a directory of its own, the memory store, or a Redis key prefix of its own. */
export function storeUrl(kind: StoreKind, where: { tmp: string; redisPrefix: string }, name: string): string {
  switch (kind) {
    case 'file':
      return `file:${join(where.tmp, name)}`;
    case 'memory':
      return 'memory:';
    case 'redis':
      return `redis://127.0.0.1:6379?prefix=${encodeURIComponent(`${where.redisPrefix}${name}:`)}`;
  }
}

// ------------------------------------------------------------------------------------------ the demo page

/** Opens the page and logs in as alice through the form; resolves once the page shows the session. */
export async function login(page: Page, url: string): Promise<void> {
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
export async function waitForText(page: Page, id: string, want: string | RegExp, timeout = WAIT): Promise<void> {
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
    throw new Error(`#${id} never showed ${String(want)} within ${timeout} ms (it shows ${JSON.stringify(text)}; page log: ${JSON.stringify(await pageLog(page))}): ${(err as Error).message}`);
  }
}

/** Waits until the element exists and is not hidden. */
export async function waitVisible(page: Page, selector: string, timeout = WAIT): Promise<void> {
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
export async function clickOn(page: Page, selector: string): Promise<void> {
  await waitVisible(page, selector);
  await page.$eval(selector, el => (el as unknown as { click(): void }).click());
}

export async function isVisible(page: Page, selector: string): Promise<boolean> {
  return page.$eval(selector, el => !(el as unknown as { hidden: boolean }).hidden && getComputedStyle(el).display !== 'none');
}

/** GET /auth/session from the page (same origin, its cookies): the status code. */
export async function sessionStatus(page: Page): Promise<number> {
  return page.evaluate(() => fetch('/auth/session').then(r => r.status));
}

/** The demo page's event log (newest first). */
export async function pageLog(page: Page): Promise<string> {
  return page.$eval('#log', el => (el as unknown as { innerText: string }).innerText ?? '').catch(() => '(unreadable)');
}

/** What the demo page logs when the session is gone. */
export const ENDED_IN_LOG = /session ended|logged out/;

// ------------------------------------------------------------------------------------------ recording

export interface Sent {
  tab: number;
  at: number;
}
export interface Answered {
  tab: number;
  /** When the request left and when its answer came (ms since the epoch). */
  sentAt: number;
  at: number;
  method: string;
  path: string;
  status: number;
  /** `error.code` of a JSON error body; filled in asynchronously (see `settle()`). */
  code?: string;
  /** Name=value of each non-empty cookie the answer sets. */
  cookies: string[];
  /** The refresh and access tokens the request carried (their last 6 characters), or ''. */
  sentRefresh: string;
  sentAccess: string;
}

/** The last 6 characters of a cookie's value in a Cookie or Set-Cookie list: enough to tell tokens apart in a report. */
function tokenIn(cookies: string[], name: string): string {
  const c = cookies.find(c => c.startsWith(`${name}=`));
  return c ? c.slice(-6) : '';
}

/**
 * Watches the tabs' network traffic (CDP, as the browser sees it): every POST /auth/refresh sent,
 * every answer from the app (status, error code, cookies sent and set).
 */
export class Recorder {
  readonly refreshes: Sent[] = [];
  readonly answers: Answered[] = [];
  private readonly pending: Promise<unknown>[] = [];
  private readonly sentAt = new WeakMap<object, number>();
  constructor(private readonly origin: string) {}

  watch(page: Page, tab: number): void {
    page.on('request', req => {
      if (this.pathOf(req.url()) === null) return;
      this.sentAt.set(req, Date.now());
      if (req.method() === 'POST' && this.pathOf(req.url()) === '/auth/refresh') this.refreshes.push({ tab, at: Date.now() });
    });
    page.on('response', (res: HTTPResponse) => {
      const path = this.pathOf(res.url());
      if (path === null || path === '/tessera-client.js') return;
      const at = Date.now();
      const cookies = (res.headers()['set-cookie'] ?? '')
        .split('\n')
        .map(c => c.split(';')[0]!.trim())
        .filter(c => /^[^=]+=./.test(c));
      // The Cookie header as sent (CDP's extra request info, merged into the headers by puppeteer).
      const sent = (res.request().headers()['cookie'] ?? '').split(';').map(c => c.trim());
      const a: Answered = {
        tab,
        sentAt: this.sentAt.get(res.request()) ?? at,
        at,
        method: res.request().method(),
        path,
        status: res.status(),
        cookies,
        sentRefresh: tokenIn(sent, 'tessera-refresh'),
        sentAccess: tokenIn(sent, 'tessera'),
      };
      this.answers.push(a);
      if (res.status() >= 400) {
        this.pending.push(
          res
            .json()
            .then((body: { error?: { code?: string } }) => (a.code = body?.error?.code ?? '(none)'))
            .catch(() => (a.code = '(body unavailable)')),
        );
      }
    });
  }

  /** Waits for the error bodies still being read. */
  async settle(): Promise<void> {
    await within(Promise.allSettled(this.pending.splice(0)), 10_000, 'reading error bodies').catch(() => undefined);
  }

  /** Distinct values the answers set for this cookie (a new generation each). */
  generations(cookie: string, from = 0, to = Infinity): string[] {
    return [...this.firstSetting(cookie, from, to).keys()];
  }

  /** Each distinct value of this cookie set in [from, to], with the answer that first set it. */
  firstSetting(cookie: string, from = 0, to = Infinity): Map<string, Answered> {
    const first = new Map<string, Answered>();
    for (const a of this.answers) {
      if (a.at < from || a.at > to) continue;
      for (const c of a.cookies) if (c.startsWith(`${cookie}=`) && !first.has(c)) first.set(c, a);
    }
    return first;
  }

  /**
   * The network sequence as text, one answer a line, for a failure report: seconds after t0 (sent
   * -> answered), tab, request, status and code, the refresh token sent -> the one set.
   */
  timeline(t0: number, from = 0, to = Infinity, filter: (a: Answered) => boolean = () => true): string {
    return this.answers
      .filter(a => a.at >= from && a.at <= to && filter(a))
      .map(a => {
        const set = tokenIn(a.cookies, 'tessera-refresh') || (tokenIn(a.cookies, 'tessera') ? `access ${tokenIn(a.cookies, 'tessera')}` : '');
        return `  ${secs(a.sentAt, t0)}->${secs(a.at, t0)} s  tab ${a.tab}  ${a.method} ${a.path}  ${a.status}${a.code ? ` ${a.code}` : ''}  refresh sent ${a.sentRefresh || '-'}${set ? ` set ${set}` : ''}`;
      })
      .join('\n');
  }

  private pathOf(url: string): string | null {
    return url.startsWith(this.origin) ? new URL(url).pathname : null;
  }
}

/** `s` after `t0`, one decimal. */
export const secs = (at: number, t0: number) => ((at - t0) / 1000).toFixed(1);

// ------------------------------------------------------------------------------------------ pair mode, many tabs

/** What an active tab's API loop saw (client.fetch('/api/me') over and over). */
export interface ApiLoop {
  calls: number;
  statuses: Record<string, number>;
  bad: { at: number; status: number; body: string }[];
  errors: string[];
}

/** What a tab of the demo page showed at a moment. */
export interface TabView {
  who: boolean;
  login: boolean;
  title: string;
  log: string;
}

async function viewOf(page: Page): Promise<TabView> {
  return page.evaluate(`(() => {
    const shown = id => { const el = document.getElementById(id); return !el.hidden && getComputedStyle(el).display !== 'none'; };
    return { who: shown('who'), login: shown('login'), title: document.getElementById('whoTitle').textContent, log: document.getElementById('log').innerText };
  })()`) as Promise<TabView>;
}

export interface TabsRun {
  tabs: number;
  active: number[];
  rec: Recorder;
  loggedInAt: number;
  /** When each tab had the session (the login; the others open the page after it): 401s before that are the login page's own. */
  readyAt: number[];
  /** The observed period (all tabs open, the loops running: the counts), and the logout click (the end of "no logout"). */
  startAt: number;
  endAt: number;
  logoutAt: number;
  elapsed: number;
  requests: Sent[];
  /** Distinct refresh tokens handed out in the period: one per rotation. */
  rotations: number;
  /** Where each rotation happened: `s after startAt:tab:METHOD path`. */
  rotatedBy: string[];
  /** POST /auth/refresh answered 200 without new cookies: another tab had just refreshed. */
  unchanged: number;
  /** The API loops at the end of the period, and once stopped (just before the logout). */
  api: ApiLoop[];
  apiFinal: ApiLoop[];
  /** Each tab at the end of the period. */
  views: TabView[];
  /** Milliseconds after the logout click in tab 0 until each other tab showed 'Not logged in.' (-1: never). */
  logoutShownAfter: number[];
  /** GET /auth/session from the last tab after the logout. */
  statusAfterLogout: number;
  /** How long each phase took (s): pages, login, other tabs open, loops started, kept open, loops stopped, logout shown. */
  phases: string;
}

/**
 * In the page (a string, so no transpiler touches it): a second client of the page's origin, made
 * with the module the page itself loads, calls GET /api/me through `client.fetch` every `pause` ms
 * until `window.__api.stop`. The demo's own client keeps its timer; this one is the page's API code.
 */
const API_LOOP = (pause: number) => `(async () => {
  const { createClient } = await import('/tessera-client.js');
  const api = createClient({ mode: 'cookie' });
  const st = (window.__api = { calls: 0, statuses: {}, bad: [], errors: [], stop: false, done: null });
  await api.session();
  st.done = (async () => {
    while (!st.stop) {
      try {
        const r = await api.fetch('/api/me');
        st.calls++;
        st.statuses[r.status] = (st.statuses[r.status] || 0) + 1;
        if (r.status !== 200) st.bad.push({ at: Date.now(), status: r.status, body: (await r.text()).slice(0, 200) });
      } catch (e) {
        st.errors.push(String(e));
      }
      await new Promise(r => setTimeout(r, ${pause}));
    }
    api.close();
  })();
})()`;

const API_STOP = `(async () => {
  const st = window.__api;
  st.stop = true;
  await st.done;
  return { calls: st.calls, statuses: st.statuses, bad: st.bad, errors: st.errors };
})()`;

const API_PEEK = `(() => { const st = window.__api; return { calls: st.calls, statuses: st.statuses, bad: st.bad, errors: st.errors }; })()`;

/**
 * `tabs` tabs of the demo page in one browser context (one cookie jar, one origin: they share the
 * session): tab 0 logs in through the form, the others open the page after it. Tabs in `active`
 * also run an API loop; the others are idle (only the demo's timer). Once all are open and the loops
 * run, kept so `keepOpenMs`: the period whose refreshes are counted. Then the loops stop, tab 0
 * logs out, and the time until each other tab shows it is measured. Closes the context.
 */
export async function runTabs(
  ctx: BrowserContext,
  url: string,
  o: { tabs: number; active: number[]; keepOpenMs: number; apiPauseMs: number; onObserving?: () => void },
): Promise<TabsRun> {
  const marks: [string, number][] = [['start', Date.now()]];
  const mark = (name: string) => marks.push([name, Date.now()]);
  try {
    const rec = new Recorder(url);
    const pages = await Promise.all(Array.from({ length: o.tabs }, () => ctx.newPage()));
    pages.forEach((page, i) => rec.watch(page, i));
    mark('pages');
    await login(pages[0]!, url);
    mark('login');
    const loggedInAt = Date.now();
    const readyAt = pages.map(() => loggedInAt);
    await Promise.all(
      pages.slice(1).map(async page => {
        await page.goto(url, { waitUntil: 'load', timeout: WAIT });
        await waitVisible(page, '#who');
      }),
    );
    mark('tabs');
    await Promise.all(o.active.map(i => pages[i]!.evaluate(API_LOOP(o.apiPauseMs))));
    mark('loops');
    // The scenario itself: all the tabs open (the active ones calling), kept so across several access lifetimes.
    const startAt = Date.now();
    o.onObserving?.();
    await sleep(o.keepOpenMs);
    const endAt = Date.now();
    mark('open');
    const api = await Promise.all(o.active.map(i => pages[i]!.evaluate(API_PEEK) as Promise<ApiLoop>));
    const views = await Promise.all(pages.map(viewOf));

    const apiFinal = await Promise.all(o.active.map(i => within(pages[i]!.evaluate(API_STOP) as Promise<ApiLoop>, WAIT, `stopping the API loop of tab ${i}`)));
    mark('stopped');
    const { clickedAt: logoutAt, shownAfter: logoutShownAfter } = await logoutAcrossTabs(pages);
    mark('logout');
    const statusAfterLogout = await sessionStatus(pages[o.tabs - 1]!);
    await rec.settle();
    return {
      tabs: o.tabs,
      active: o.active,
      rec,
      loggedInAt,
      readyAt,
      startAt,
      endAt,
      logoutAt,
      elapsed: (endAt - startAt) / 1000,
      requests: rec.refreshes.filter(r => r.at >= startAt && r.at <= endAt),
      rotations: rec.generations('tessera-refresh', startAt, endAt).length,
      rotatedBy: [...rec.firstSetting('tessera-refresh', startAt, endAt).values()].map(a => `${secs(a.at, startAt)}:${a.tab}:${a.method} ${a.path}`),
      unchanged: rec.answers.filter(a => a.at >= startAt && a.at <= endAt && a.path === '/auth/refresh' && a.status === 200 && a.cookies.length === 0).length,
      api,
      apiFinal,
      views,
      logoutShownAfter,
      statusAfterLogout,
      phases: marks
        .slice(1)
        .map(([name, at], i) => `${name} ${((at - marks[i]![1]) / 1000).toFixed(1)}`)
        .join(', '),
    };
  } finally {
    await closeContext(ctx);
  }
}

/**
 * 401s (and any other refusal) a tab saw after it started and before the logout click (a request
 * in flight then may be refused because of the logout), other than
 * TOKEN_EXPIRED on an API call (which the client handles: refresh, retry). Anything here means the
 * session ended, or nearly did, somewhere.
 */
export function unexpectedRefusals(run: TabsRun): Answered[] {
  return run.rec.answers.filter(
    a => a.status >= 400 && a.at >= run.readyAt[a.tab]! && a.at < run.logoutAt && !(a.status === 401 && a.code === 'TOKEN_EXPIRED' && a.path.startsWith('/api/')),
  );
}

/**
 * Logs out in tab 0 (the demo's button) and measures, in each other tab, when its status line
 * said 'Not logged in.' (a MutationObserver stamps it: no polling delay, no timer throttling).
 * When it clicked, and milliseconds after the click per tab (tab 0: 0); -1 for a tab that never showed it within WAIT.
 */
export async function logoutAcrossTabs(pages: Page[]): Promise<{ clickedAt: number; shownAfter: number[] }> {
  await Promise.all(
    pages.slice(1).map(page =>
      page.evaluate(`(() => {
        const el = document.getElementById('status');
        window.__outAt = null;
        const check = () => { if (window.__outAt === null && el.textContent === 'Not logged in.') window.__outAt = Date.now(); };
        new MutationObserver(check).observe(el, { childList: true, characterData: true, subtree: true });
        check();
      })()`),
    ),
  );
  const clickedAt = (await pages[0]!.evaluate(`(() => { const t = Date.now(); document.getElementById('logout').click(); return t; })()`)) as number;
  const stamps: (number | null)[] = pages.map(() => null);
  stamps[0] = clickedAt;
  const deadline = Date.now() + WAIT;
  while (stamps.some(s => s === null) && Date.now() < deadline) {
    await sleep(POLL);
    await Promise.all(pages.map(async (page, i) => (stamps[i] ??= (await page.evaluate('window.__outAt')) as number | null)));
  }
  return { clickedAt, shownAfter: stamps.map(s => (s === null ? -1 : s - clickedAt)) };
}

// ------------------------------------------------------------------------------------------ on-demand retry

export interface Step {
  method: string;
  path: string;
  status: number;
  code?: string;
  rotated: boolean;
}

/** A same-origin document without any client running: the client's own module, shown as text. */
const BARE = '/tessera-client.js';

/** In the page: a new client (never started: no timer, no known expiry) runs `calls` client.fetch('/api/me') at once. */
const FETCH_ME = (calls: number) => `(async () => {
  const { createClient } = await import('/tessera-client.js');
  const c = createClient({ mode: 'cookie' });
  const res = await Promise.all(Array.from({ length: ${calls} }, () => c.fetch('/api/me')));
  const out = [];
  for (const r of res) out.push({ status: r.status, body: await r.json().catch(() => null) });
  const expiresAt = c.expiresAt;
  c.close();
  return { results: out, expiresAt };
})()`;

export interface RetryRun {
  loginExpiresAt: number;
  /** The answers, in order, to a single client.fetch after the access token expired. */
  single: Step[];
  singleResult: { status: number; body: { user?: { id?: string } } | null }[];
  /** The same with three client.fetch at once. */
  parallel: Step[];
  parallelResults: { status: number; body: { user?: { id?: string } } | null }[];
}

/**
 * The on-demand path, without the timer: logs in with a client that is never started, lets the
 * access token expire (the server needs clockTolerance 0 for this to take `accessTtl` + 1 s), then
 * a fresh client (a reloaded page: no timer, no known expiry, so no refresh ahead of time) calls
 * client.fetch('/api/me'): once, then three at once after the next expiry.
 */
export async function onDemandRetry(ctx: BrowserContext, url: string): Promise<RetryRun> {
  try {
    return await retryIn(ctx, url);
  } finally {
    await closeContext(ctx);
  }
}

async function retryIn(ctx: BrowserContext, url: string): Promise<RetryRun> {
  const page = await ctx.newPage();
  // No HTTP cache: a retried GET /api/me is to reach the app, not come back as a 304 revalidation.
  await page.setCacheEnabled(false);
  const origin = new URL(url).origin;
  let steps: (Step & { pending?: Promise<unknown> })[] = [];
  let sent = 0;
  const watched = (url: string) => url.startsWith(origin) && /^\/(api|auth)\//.test(new URL(url).pathname);
  page.on('request', req => {
    if (watched(req.url())) sent++;
  });
  page.on('response', (res: HTTPResponse) => {
    if (!watched(res.url())) return;
    const path = new URL(res.url()).pathname;
    const setCookie = res.headers()['set-cookie'] ?? '';
    const s: Step & { pending?: Promise<unknown> } = { method: res.request().method(), path, status: res.status(), rotated: /(^|\n)tessera-refresh=[^;]/.test(setCookie) };
    if (res.status() >= 400) s.pending = res.json().then((b: { error?: { code?: string } }) => (s.code = b?.error?.code), () => (s.code = '(body unavailable)'));
    steps.push(s);
  });
  const settle = async () => {
    // The page has its answers; puppeteer's response events may still be on their way.
    for (const until = Date.now() + 5000; steps.length < sent && Date.now() < until; ) await sleep(20);
    sent -= steps.length;
    await within(Promise.allSettled(steps.map(s => s.pending)), 10_000, 'reading error bodies').catch(() => undefined);
    const out = steps.map(({ pending: _p, ...s }) => s);
    steps = [];
    return out;
  };
  const untilExpired = async (expiresAt: number) => sleep(Math.max(0, expiresAt * 1000 + 300 - Date.now()));

  await page.goto(`${url}${BARE}`, { waitUntil: 'load', timeout: WAIT });
  const loginExpiresAt = (await page.evaluate(`(async () => {
    const { createClient } = await import('/tessera-client.js');
    const c = createClient({ mode: 'cookie' });
    const info = await c.login('alice', 'wonderland');
    c.close();
    return info.expiresAt;
  })()`)) as number;
  await untilExpired(loginExpiresAt);

  await page.reload({ waitUntil: 'load', timeout: WAIT });
  await settle(); // the login, before the part under test
  const one = (await page.evaluate(FETCH_ME(1))) as { results: RetryRun['singleResult']; expiresAt: number | null };
  const single = await settle();
  await untilExpired(one.expiresAt ?? 0);

  await page.reload({ waitUntil: 'load', timeout: WAIT });
  const three = (await page.evaluate(FETCH_ME(3))) as { results: RetryRun['parallelResults']; expiresAt: number | null };
  const parallel = await settle();
  await page.close();
  return { loginExpiresAt, single, singleResult: one.results, parallel, parallelResults: three.results };
}

// ------------------------------------------------------------------------------------------ sliding mode, the timer alone

export interface SlidingRun {
  rec: Recorder;
  loggedInAt: number;
  endAt: number;
  elapsed: number;
  requests: Sent[];
  /** Distinct session tokens handed out after the login: one per reissue. */
  reissues: number;
  /** The login's expiry and the session's as GET /auth/session tells it at the end. */
  loginSession: { createdAt: number; expiresAt: number };
  endSession: { status: number; createdAt?: number; expiresAt?: number; id?: string };
  /** The tab at the end, and whether the session cookie was still in the jar. */
  view: TabView;
  cookie: boolean;
}

/** One tab of the demo page, logged in and then left alone: only the client's timer keeps it alive. Closes the context. */
export async function runSliding(ctx: BrowserContext, url: string, keepOpenMs: number): Promise<SlidingRun> {
  try {
    const rec = new Recorder(url);
    const page = await ctx.newPage();
    rec.watch(page, 0);
    await login(page, url);
    const loggedInAt = Date.now();
    const loginToken = rec.generations('tessera');
    const loginSession = (await page.evaluate(`fetch('/auth/session').then(r => r.json())`)) as SlidingRun['loginSession'];
    await sleep(Math.max(0, loggedInAt + keepOpenMs - Date.now()));
    const endAt = Date.now();
    const view = await viewOf(page);
    const cookie = (await ctx.cookies()).some(c => c.name === 'tessera');
    const endSession = (await page.evaluate(`fetch('/auth/session').then(async r => ({ status: r.status, ...(await r.json()) }))`)) as SlidingRun['endSession'];
    await rec.settle();
    return {
      rec,
      loggedInAt,
      endAt,
      elapsed: (endAt - loggedInAt) / 1000,
      requests: rec.refreshes.filter(r => r.at >= loggedInAt && r.at <= endAt),
      reissues: rec.generations('tessera', loggedInAt, endAt).filter(g => !loginToken.includes(g)).length,
      loginSession,
      endSession,
      view,
      cookie,
    };
  } finally {
    await closeContext(ctx);
  }
}

// ------------------------------------------------------------------------------------------ login, HttpOnly, logout

export interface LoginRun {
  /** What the page's script sees in document.cookie once logged in. */
  documentCookie: string;
  cookie: { httpOnly: boolean | undefined; sameSite: string | undefined } | null;
  /** After the logout button: the status line, #who and #login shown, GET /auth/session. */
  after: { status: string; who: boolean; login: boolean; session: number };
}

/** Logs in through the form (the countdowns and the sessions table show), reads what scripts and the jar see, logs out. Closes the context. */
export async function loginLogout(ctx: BrowserContext, url: string): Promise<LoginRun> {
  try {
    const page = await ctx.newPage();
    await login(page, url);
    await waitForText(page, 'accessLeft', /^\d+ (s|min \d+ s|h \d+ min)$/);
    await waitForText(page, 'sessionLeft', /^\d+ (s|min \d+ s|h \d+ min)$/);
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#sessions tr') as ArrayLike<{ textContent: string }>).some(tr => tr.textContent.includes('this one')), {
      timeout: WAIT,
      polling: POLL,
    });
    const documentCookie = (await page.evaluate('document.cookie')) as string;
    const c = (await ctx.cookies()).find(c => c.name === 'tessera');
    await clickOn(page, '#logout');
    await waitForText(page, 'status', 'Not logged in.');
    const after = { status: 'Not logged in.', who: await isVisible(page, '#who'), login: await isVisible(page, '#login'), session: await sessionStatus(page) };
    return { documentCookie, cookie: c ? { httpOnly: c.httpOnly, sameSite: c.sameSite } : null, after };
  } finally {
    await closeContext(ctx);
  }
}

// ------------------------------------------------------------------------------------------ cross-site form posts

export interface CrossSiteRun {
  /** The victim's session cookie is set for localhost (the attacker page is on 127.0.0.1). */
  victimCookie: boolean;
  /** Per target: the status of the forged POST and the error code the browser was shown. */
  results: Record<string, { status: number; code: string }>;
  /** After the attack: GET /auth/session and POST /api/sensitive from the victim's own page, and its page after a reload. */
  after: { session: number; sensitive: number; who: boolean };
}

/**
 * A page on another site (127.0.0.1:<attacker>) auto-submits a form to the victim's /auth/logout and
 * /api/sensitive (localhost:<port>) while the victim is logged in. Closes the context.
 */
export async function crossSitePosts(ctx: BrowserContext, url: string, attackerOrigin: string): Promise<CrossSiteRun> {
  try {
    const victimOrigin = `http://localhost:${new URL(url).port}`;
    const victim = await ctx.newPage();
    await login(victim, victimOrigin); // cookies are per host: localhost here, the attacker is 127.0.0.1
    const victimCookie = (await ctx.cookies()).some(c => c.name === 'tessera' && c.domain === 'localhost');
    const results: Record<string, { status: number; code: string }> = {};
    for (const [path, target] of [
      ['/logout', '/auth/logout'],
      ['/sensitive', '/api/sensitive'],
    ] as const) {
      const page = await ctx.newPage();
      const posted = page.waitForResponse(r => r.request().method() === 'POST' && r.url() === `${victimOrigin}${target}`, { timeout: WAIT });
      await page.goto(`${attackerOrigin}${path}`, { timeout: WAIT });
      const res = await posted;
      await page.waitForFunction(() => document.readyState === 'complete' && location.pathname !== '/logout' && location.pathname !== '/sensitive', { timeout: WAIT, polling: POLL });
      const text = (await page.evaluate('document.body ? document.body.innerText : ""')) as string;
      let code = '?';
      try {
        code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '(none)';
      } catch {
        code = `(not JSON: ${text.slice(0, 80)})`;
      }
      results[target] = { status: res.status(), code };
      await page.close();
    }
    const session = await sessionStatus(victim);
    const sensitive = (await victim.evaluate(`fetch('/api/sensitive', { method: 'POST' }).then(r => r.status)`)) as number;
    await victim.reload({ waitUntil: 'load', timeout: WAIT });
    let who = true;
    await waitVisible(victim, '#who').catch(() => (who = false));
    return { victimCookie, results, after: { session, sensitive, who } };
  } finally {
    await closeContext(ctx);
  }
}

// ------------------------------------------------------------------------------------------ browser restart

export interface RestartRun {
  /** The session cookie before the restart: a session cookie, and its expiry (epoch s; -1 for none). */
  before: { session: boolean; expires: number } | null;
  /** After the restart with the same profile: GET /auth/session, the cookies' names, what the page shows. */
  status: number;
  names: string[];
  who: boolean;
  login: boolean;
  title: string;
}

/** Logs in with a fresh profile, closes Chromium, starts it again on the same profile and opens the page. */
export async function restartWithProfile(executablePath: string, profile: string, url: string): Promise<RestartRun> {
  const first = await launchBrowser(executablePath, profile);
  let before: RestartRun['before'] = null;
  try {
    const page = await first.newPage();
    await login(page, url);
    const c = (await first.defaultBrowserContext().cookies()).find(c => c.name === 'tessera');
    before = c ? { session: c.session, expires: c.expires } : null;
  } finally {
    await closeBrowser(first);
  }
  const second = await launchBrowser(executablePath, profile);
  try {
    const again = await second.newPage();
    await again.goto(url, { waitUntil: 'load', timeout: WAIT });
    const status = await sessionStatus(again);
    // With a session the page shows it once its own GET /auth/session answers (the test then checks what it shows).
    if (status === 200) await waitForText(again, 'whoTitle', 'Logged in as Alice Liddell').catch(() => undefined);
    const names = (await second.defaultBrowserContext().cookies()).map(c => c.name);
    const view = await viewOf(again);
    return { before, status, names, who: view.who, login: view.login, title: view.title };
  } finally {
    await closeBrowser(second);
  }
}
