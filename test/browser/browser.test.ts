/**
 * The demo page (examples/<fw>, GET /, built on @tessera/client) in a real Chromium, for each
 * framework, on the FILE store: every case. stores.test.ts runs the store-dependent cases on the
 * memory and Redis stores. The cases themselves are in suite.ts, the page drivers in helpers.ts.
 *
 * Cases:
 * - httponly: login through the form; the session cookie is HttpOnly (invisible to document.cookie), SameSite=Lax; logout.
 * - tabs: pair mode, ten tabs sharing one session, five idle (only the demo's timer) and five active
 *   (client.fetch('/api/me') every 250 ms), kept open over several short access lifetimes: no tab
 *   logs out (no 401 but TOKEN_EXPIRED retried by the client, every API call answers 200), and the
 *   POST /auth/refresh requests and rotations, counted from the network, stay near one per lifetime
 *   across all tabs; then a logout in one tab shows in every other tab within 2 s.
 * - retry: the on-demand path without the timer (a client never started, that does not know the
 *   expiry): 401 TOKEN_EXPIRED, one POST /auth/refresh, the retried GET answers 200; three calls at
 *   once share one refresh.
 * - cross-site: a form on another site posting to /auth/logout and /api/sensitive is refused.
 * - restart: a persistent cookie survives a browser restart with the same profile, a session cookie does not.
 * - sliding: sliding mode with a short TTL and reissue window; one idle tab stays logged in over
 *   several lifetimes through the client's timer alone (refreshes and reissues counted).
 *
 * The matrix (frameworks x stores x cases), and why:
 *
 *   store   | httponly | cross-site | restart | tabs (+logout)   | retry | sliding
 *   file    |    x     |     x      |    x    | x TTL 6 s, 24 s  |   x   | x TTL 8 s, 32 s
 *   memory  |    -     |     -      |    -    | x TTL 4 s, 12 s  |   x   | x TTL 16 s, 40 s
 *   redis   |    -     |     -      |    -    | x TTL 4 s, 12 s  |   x   | x TTL 16 s, 40 s
 *   (every row for express, koa and fastify: the adapters differ in how they read and write
 *   cookies, bodies and errors, so every case runs on all three)
 *
 * - The store is where refresh concurrency is decided (the atomic rotate, the reuse grace, the
 *   unchanged answer to a second tab), where a logout revokes, and where a sliding reissue extends
 *   the record: the many-tab + logout, retry and sliding cases run on every store. The memory and
 *   Redis rows use shorter pair-mode lifetimes (more rotations per second of wall time) and a
 *   longer sliding one: there both stores' twenty tabs open while the idle tab's first timer
 *   refresh is due, and the timer's slack is 20 % of the lifetime (see stores.test.ts).
 * - HttpOnly, SameSite and the cross-site refusal are decided by the cookie writer and the CSRF
 *   check, before any store is read; the browser restart checks Max-Age vs no expiry on the cookie
 *   (the server side is one session read) and costs two Chromium launches. The store cannot change
 *   their outcome, so they run once per framework, on the file store (the examples' default); the
 *   store suites (test/stores) cover the records themselves on every store.
 *
 * Time: every case of a framework starts in its beforeAll and runs in the background, each in its
 * own browser context and on its own server (the many-tab cases first, the short ones once all tabs
 * are open), and the tests wait for their results; one Chromium per suite file; both stores' cases
 * of a framework at once in stores.test.ts. Measured on the 2-core machine while other jobs kept
 * its load average at 8-14: 130-170 s for this file, 125-170 s for stores.test.ts, 4.3-5.7 min
 * together (about 200 s of CPU time in all).
 *
 * Needs Chromium (`chromium` on PATH, else /usr/bin/chromium). Under CI a missing Chromium fails
 * the suite; elsewhere it is skipped with a loud message. Runs against the built examples
 * (`pnpm build` first), like test/examples.
 */
import { FRAMEWORKS } from './helpers.js';
import { defineBrowserSuite, type StoreProfile } from './suite.js';

const FILE_PROFILE: StoreProfile = {
  store: 'file',
  cases: ['httponly', 'retry', 'cross-site', 'restart', 'tabs', 'sliding'],
  tabs: { count: 10, accessTtl: 6, keepOpenMs: 24_000 },
  sliding: { ttl: 8, refreshBefore: '4', keepOpenMs: 32_000 },
};

defineBrowserSuite('browser (file store)', FRAMEWORKS.map(fw => [fw, [FILE_PROFILE]] as const));
