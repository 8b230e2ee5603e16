/**
 * The adapter conformance suite: every behaviour case runs against each framework
 * (on 127.0.0.1, through a real socket) and against the memory and file stores.
 */
import { afterEach, describe } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { MemoryStore, createTessera, type Session, type Tessera, type TesseraEvent, type TesseraOptions, type TokenStore } from '@tessera/core';
import { FileStore } from '@tessera/store-file';
import { fakeClock, type FakeClock } from './clock.js';
import { setCookies, type SetCookie } from './cookies.js';
import { failingStore, type FailingStore } from './failing-store.js';
import { ALL_CASES } from './cases/index.js';
import { SECRET, verifyCredentials, USERS } from './fixtures.js';
export { SECRET, SECRET_KID, USERS, verifyCredentials } from './fixtures.js';

/** What a framework test file provides: build an app with these options and listen on 127.0.0.1. */
export interface MountSetup {
  /** Trust X-Forwarded-* (Express 'trust proxy', Koa app.proxy, Fastify trustProxy). */
  trustProxy?: boolean;
  /** Also install the framework's usual cookie/body plugins (cookie-parser + express.json, @fastify/cookie, @koa/bodyparser). */
  extras?: boolean;
}

/**
 * The app every framework mounts: the tessera middleware, the auth routes under /auth, the admin
 * routes under /auth/admin (with `isAdmin`), and
 * - GET /api/me (guarded, `{ user }`), POST /api/data (guarded, `{ ok: true }`),
 *   GET /public (`{ user: session user or null }`);
 * - POST /auth/basic: HTTP Basic login through the framework's `issue`. `basicLogin(header)` (fixtures)
 *   names the user; none: 401 `BASIC_LOGIN_FAILED` (`{ error: { code: 'LOGIN_FAILED', message:
 *   'Invalid credentials.' } }`), written by the app. Else `issue(...)` then 200 `{ user }`; a rejected
 *   issue goes to the framework's error handling (Express error middleware, Koa try/catch, Fastify
 *   setErrorHandler), which answers `err.status ?? 500` with `{ error: { code: err.code, message: err.message } }`.
 *   `issue` gets `basicIssueOptions(X-Upstream-Token header)` (fixtures) as its options;
 * - GET /api/credentials (guarded): `{ digest: credentialsDigest(session) }` (fixtures);
 * - POST /api/sensitive, guarded by `requireFresh()`: `{ ok: true }`;
 * - GET /page, guarded by `requireSession({ onReject })` whose onReject redirects 302 to
 *   `/login?reason=<rejection.error.code>`: `{ user }`.
 */
export type Mount = (auth: Tessera, setup: MountSetup) => Promise<{ url: string; close(): Promise<void> }>;

/** Admin routes are mounted at /auth/admin with this policy. */
export const isAdmin = (s: Session): boolean => (s.user as { role?: string }).role === 'admin';

export interface TestApp {
  url: string;
  port: number;
  /** The default cookie name (fixed: `tessera`). */
  cookieName: string;
  store: FailingStore;
  /** The framework-neutral instance (admin API). */
  core: Tessera;
  events: TesseraEvent[];
  http(): ReturnType<typeof request>;
  /** Logs in and returns the cookies set, as a Cookie header and by name. */
  login(username?: string, password?: string): Promise<{ status: number; body: any; cookies: SetCookie[]; cookie: string; jar: Record<string, string> }>;
}

export type StoreKind = 'memory' | 'file';

export interface SuiteContext {
  framework: string;
  storeKind: StoreKind;
  clock: FakeClock;
  /** A fresh backing store of this run's kind. */
  newStore(): TokenStore;
  /** Mounts an app with the suite defaults merged with `options` (a fresh store unless one is given). */
  app(options?: Partial<TesseraOptions>, setup?: MountSetup): Promise<TestApp>;
}

export function cookieHeader(cookies: SetCookie[], jar: Record<string, string> = {}): { cookie: string; jar: Record<string, string> } {
  const next = { ...jar };
  for (const c of cookies) {
    if (c.value === '' || c.attrs['max-age'] === '0') delete next[c.name];
    else next[c.name] = c.value;
  }
  return { cookie: Object.entries(next).map(([k, v]) => `${k}=${v}`).join('; '), jar: next };
}

export function defineAdapterSuite(framework: string, mount: Mount, options: { stores?: StoreKind[] } = {}): void {
  for (const storeKind of options.stores ?? (['memory', 'file'] as StoreKind[])) {
    describe(`${framework} / ${storeKind} store`, () => {
      const opened: { close(): Promise<void> }[] = [];
      const dirs: string[] = [];
      const clock = fakeClock();
      afterEach(async () => {
        await Promise.all(opened.splice(0).map(o => o.close()));
        // A write a request started may still land after close (its reply was already sent): retry instead of failing on ENOTEMPTY.
        for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
        clock.set(1_800_000_000);
      });
      const newStore = (): TokenStore => {
        if (storeKind === 'memory') return new MemoryStore();
        const dir = mkdtempSync(join(tmpdir(), 'tessera-suite-'));
        dirs.push(dir);
        return new FileStore({ dir });
      };
      const ctx: SuiteContext = {
        framework,
        storeKind,
        clock,
        newStore,
        async app(overrides = {}, setup = {}) {
          const events: TesseraEvent[] = [];
          const given = overrides.store;
          const store = given && 'mode' in given ? (given as FailingStore) : failingStore(given ?? newStore());
          const opts: TesseraOptions = {
            secret: SECRET,
            verifyCredentials,
            clock,
            logger: false,
            ...overrides,
            store,
            onEvent: e => {
              events.push(e);
              overrides.onEvent?.(e);
            },
          };
          if ('secret' in overrides && overrides.secret === undefined) delete opts.secret;
          const core = createTessera(opts);
          const server = await mount(core, setup);
          opened.push(server);
          const port = Number(new URL(server.url).port);
          const app: TestApp = {
            url: server.url,
            port,
            cookieName: 'tessera',
            store,
            core,
            events,
            http: () => request(server.url),
            async login(username = 'alice', password = USERS[username]?.password ?? 'x') {
              const res = await request(server.url).post('/auth/login').send({ username, password });
              const cookies = setCookies(res.headers);
              const { cookie, jar } = cookieHeader(cookies);
              return { status: res.status, body: res.body, cookies, cookie, jar };
            },
          };
          return app;
        },
      };
      for (const define of ALL_CASES) define(ctx);
    });
  }
}

/** Listens on 127.0.0.1 on a free port; for Mount implementations built on a plain http.Server. */
export async function listen(server: import('node:http').Server): Promise<{ url: string; close(): Promise<void> }> {
  if (!server.listening) await new Promise<void>(r => server.once('listening', () => r()));
  const { port } = server.address() as import('node:net').AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>(r => server.close(() => r())) };
}
