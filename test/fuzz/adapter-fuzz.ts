/**
 * The adapter fuzzer: one framework's mount, attacked over real HTTP on 127.0.0.1 with FUZZ_RUNS
 * inputs (Cookie headers, mutated genuine tokens, request bodies, raw header bytes). Every answer
 * must be a contract reply, and a mutated token may authenticate only if it decodes to the
 * genuine token's bytes. Two apps per framework: the defaults (sliding tokens, throttles on) and
 * pair mode with tokens in the body and throttles off (so the deeper paths stay reachable).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTessera, MemoryStore, type TesseraOptions } from '@tessera/core';
import { fakeClock } from '../../packages/testkit/src/clock.js';
import { SECRET, USERS, verifyCredentials } from '../../packages/testkit/src/fixtures.js';
import { applyMutations, bodyInput, cookieInput, mutantInput, rawInput, type Body, type BodyInput, type CookieInput, type MutantInput, type Piece, type RawInput } from './arbitraries.js';
import { RUNS, TEST_TIMEOUT_MS, split } from './config.js';
import { contractViolation, isParserRefusal, redactTokens, sameBytes, unquoteCookieValue } from './contract.js';
import { encode, oneShot, PipelinePool, type RawRequest, type Reply } from './http-client.js';
import type { FuzzMount, Mounted } from './mounts.js';
import { fuzz } from './run.js';

/** Inputs in flight at once, over this many pipelined connections per app. */
const LANES = 64;
const SOCKETS = 8;

/** FUZZ_RUNS per adapter, split between the properties (mostly cheap parsing paths). */
const COUNTS = split(RUNS, { cookies: 35, mutants: 35, bodies: 25, raw: 5 });

interface Session {
  user: string;
  /** The session (sliding) or access (pair) token. */
  token: string;
  refresh?: string;
}

interface App {
  pair: boolean;
  server: Mounted;
  pool: PipelinePool;
  /** Tokens only the mutation property uses: never logged out or refreshed, so the genuine one keeps authenticating. */
  stable: Session[];
  /** Sessions the cookie and body properties may present, log out and refresh. */
  scratch: Session[];
  /** Pair mode: sessions whose refresh tokens the body property sends (mutated or not) to /auth/refresh. */
  refreshers: Session[];
}

const OPTIONS: Record<'sliding' | 'pair', Partial<TesseraOptions>> = {
  sliding: {},
  pair: { mode: 'pair', tokenInLoginBody: true, loginThrottle: false, refreshThrottle: false },
};

function fail(what: string, r: Reply): never {
  throw new Error(`${what}: status ${r.status}${r.error ? ` (${r.error})` : ''}, body ${JSON.stringify(redactTokens(r.body).slice(0, 160))}`);
}

function expectContract(r: Reply): void {
  const v = contractViolation(r);
  if (v !== null) fail(v, r);
}

function cookiesOf(r: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (r.headers['set-cookie'] ?? '').split('\n')) {
    const pair = line.split(';')[0]!;
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(eq + 1) !== '') out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');

async function login(app: App, user: string): Promise<Session> {
  const r = await app.pool.request({ method: 'POST', path: '/auth/login', headers: [['Content-Type', 'application/json']], body: json({ username: user, password: USERS[user]!.password }) });
  if (r.status !== 200) fail(`set-up login for ${user}`, r);
  const c = cookiesOf(r);
  return { user, token: c['tessera']!, ...(app.pair ? { refresh: c['tessera-refresh']! } : {}) };
}

function render(pieces: readonly Piece[], tokens: readonly Session[]): { text: string; genuine: boolean } {
  let genuine = false;
  const text = pieces
    .map(p => {
      if (typeof p === 'string') return p;
      genuine = true;
      return tokens[p.genuine % tokens.length]!.token;
    })
    .join('');
  return { text, genuine };
}

function routeOf(route: string): { method: string; path: string } {
  const [m, p] = route.split(' ');
  return { method: m!, path: p! };
}

/** The body property's bytes for `b`; `tokens` lend genuine (refresh) tokens to `{ refresh }` bodies. */
function bodyBytes(b: Body, tokens: readonly string[]): { bytes: Buffer; sentRefresh?: string } {
  if ('text' in b) return { bytes: Buffer.from(b.text, 'utf8') };
  if ('bytes' in b) return { bytes: Buffer.from(b.bytes) };
  if ('login' in b) return { bytes: json(b.login) };
  if ('refresh' in b) {
    const t = applyMutations(tokens[b.refresh.token % tokens.length]!, b.refresh.mutations, tokens);
    return { bytes: json({ refreshToken: t }), sentRefresh: t };
  }
  if ('big' in b) {
    const pad = 'x'.repeat(b.big);
    return { bytes: Buffer.from(b.json ? JSON.stringify({ username: 'alice', password: 'wonderland', pad }) : pad, 'utf8') };
  }
  return { bytes: json(b.json) };
}

export function defineAdapterFuzz(framework: string, mount: FuzzMount): void {
  describe(`fuzz: ${framework} over HTTP (${RUNS} inputs)`, () => {
    const apps: Record<'sliding' | 'pair', App> = {} as Record<'sliding' | 'pair', App>;
    const appOf = (pair: boolean): App => (pair ? apps.pair : apps.sliding);

    beforeAll(async () => {
      for (const kind of ['sliding', 'pair'] as const) {
        const core = createTessera({ secret: SECRET, verifyCredentials, clock: fakeClock(), logger: false, store: new MemoryStore(), ...OPTIONS[kind] });
        const server = await mount(core);
        const app: App = { pair: kind === 'pair', server, pool: new PipelinePool(server.port, SOCKETS), stable: [], scratch: [], refreshers: [] };
        apps[kind] = app;
        for (const u of ['alice', 'bob', 'alice']) app.stable.push(await login(app, u));
        for (const u of ['alice', 'bob', 'root', 'alice']) app.scratch.push(await login(app, u));
        if (app.pair) for (const u of ['alice', 'bob', 'alice']) app.refreshers.push(await login(app, u));
      }
    }, 60_000);

    afterAll(async () => {
      for (const app of Object.values(apps)) {
        app.pool.close();
        await app.server.close();
      }
    });

    it(
      `arbitrary Cookie and Authorization headers get contract replies (${COUNTS.cookies} inputs)`,
      async () => {
        await fuzz<CookieInput>({
          name: `${framework} cookie headers`,
          arbitrary: cookieInput,
          runs: COUNTS.cookies,
          lanes: LANES,
          async check(input) {
            const app = appOf(input.pair);
            const cookie = render(input.cookie, app.scratch);
            const authz = input.authorization ? render(input.authorization, app.scratch) : null;
            const headers: [string, string][] = [['Cookie', cookie.text]];
            if (authz) headers.push(['Authorization', authz.text]);
            if (input.origin !== null) headers.push(['Origin', input.origin]);
            const r = await app.pool.request({ ...routeOf(input.route), headers });
            expectContract(r);
            if (input.route === 'GET /public' && r.status !== 200) fail('GET /public refused', r);
            if (input.route === 'GET /api/me' && r.status === 200 && !cookie.genuine && !authz?.genuine) fail('authenticated without any genuine token', r);
            return String(r.status);
          },
        });
      },
      TEST_TIMEOUT_MS,
    );

    it(
      `mutated genuine tokens never authenticate unless they decode to the genuine bytes (${COUNTS.mutants} inputs)`,
      async () => {
        let accepted = 0;
        let sameSpelling = 0;
        await fuzz<MutantInput>({
          name: `${framework} token mutants`,
          arbitrary: mutantInput,
          runs: COUNTS.mutants,
          lanes: LANES,
          async check(input) {
            const app = appOf(input.pair);
            const tokens = app.stable.map(s => s.token);
            const original = tokens[input.token % tokens.length]!;
            const mutant = applyMutations(original, input.mutations, tokens);
            const headers: [string, string][] =
              input.via === 'bearer'
                ? [['Authorization', `Bearer ${mutant}`]]
                : [['Cookie', [input.before, `tessera=${mutant}`, input.after].filter(s => s !== '').join('; ')]];
            const r = await app.pool.request({ method: 'GET', path: '/api/me', headers });
            expectContract(r);
            const presented = input.via === 'cookie' ? unquoteCookieValue(mutant) : mutant;
            if (r.status === 200) {
              accepted++;
              const match = app.stable.find(s => sameBytes(presented, s.token));
              if (match === undefined) fail('a mutated token authenticated', r);
              const user = (JSON.parse(r.body) as { user?: { id?: string } }).user?.id;
              if (user !== match.user) fail(`a token of ${match.user} authenticated as ${user}`, r);
            } else if (presented === original) {
              fail('the unchanged genuine token was refused', r);
            }
            if (presented === original) sameSpelling++;
            return r.status === 200 && presented !== original ? '200 (another spelling of the same bytes)' : String(r.status);
          },
        });
        // The property is not vacuous: unchanged tokens were among the inputs and were accepted.
        expect(sameSpelling).toBeGreaterThan(0);
        expect(accepted).toBeGreaterThanOrEqual(sameSpelling);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      `bodies of any shape, size and content type to login, refresh and logout get contract replies (${COUNTS.bodies} inputs)`,
      async () => {
        await fuzz<BodyInput>({
          name: `${framework} bodies`,
          arbitrary: bodyInput,
          runs: COUNTS.bodies,
          lanes: LANES,
          async check(input) {
            const app = appOf(input.pair);
            const refreshTokens = app.pair ? app.refreshers.map(s => s.refresh!) : app.scratch.map(s => s.token);
            const { bytes, sentRefresh } = bodyBytes(input.body, refreshTokens);
            const headers: [string, string][] = [];
            if (input.contentType !== null) headers.push(['Content-Type', input.contentType]);
            let genuineCookie = false;
            if (input.cookie !== null) {
              const c = typeof input.cookie === 'string' ? input.cookie : app.scratch[input.cookie.genuine % app.scratch.length]!.token;
              genuineCookie = typeof input.cookie !== 'string';
              headers.push(['Cookie', `tessera=${c}`]);
            }
            const req: RawRequest = { ...routeOf(input.route), headers, body: bytes };
            if (input.chunks !== null) req.chunks = input.chunks;
            const r = await app.pool.request(req);
            expectContract(r);
            if (r.status !== 200) return String(r.status);
            if (input.route === 'POST /auth/login') {
              // A login succeeds only for a fixture user's exact credentials, sent as JSON.
              type Sent = { username?: unknown; password?: unknown } | null;
              let sent: Sent;
              try {
                sent = JSON.parse(bytes.toString('utf8')) as Sent;
              } catch {
                fail('a login with a body that is not JSON succeeded', r);
              }
              const name = sent?.username;
              const u = typeof name === 'string' && Object.hasOwn(USERS, name) ? USERS[name] : undefined;
              if (u === undefined || u.password !== sent?.password) fail('a login without valid credentials succeeded', r);
              if (!/json/i.test(input.contentType ?? '')) fail('a login succeeded without a JSON content type', r);
            }
            if (input.route === 'POST /auth/refresh') {
              // Sliding mode refreshes the cookie's session; pair mode (refresh cookie absent here) the body's refresh token.
              const genuine = app.pair ? sentRefresh !== undefined && refreshTokens.some(t => sameBytes(sentRefresh, t)) : genuineCookie;
              if (!genuine) fail('a refresh succeeded without a genuine token', r);
            }
            return String(r.status);
          },
        });
      },
      TEST_TIMEOUT_MS,
    );

    it(
      `Cookie headers of any bytes, control characters included, never get a 5xx (${COUNTS.raw} inputs, one connection each)`,
      async () => {
        await fuzz<RawInput>({
          name: `${framework} raw cookie bytes`,
          arbitrary: rawInput,
          runs: COUNTS.raw,
          lanes: 16,
          async check(input) {
            const app = appOf(input.pair);
            const head = Buffer.from(`GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: ${input.cookie}\r\n\r\n`, 'latin1');
            const { replies, closed } = await oneShot(app.server.port, head, 3000);
            for (const r of replies) {
              if (isParserRefusal(r)) continue;
              expectContract(r);
              if (r.status === 200) fail('authenticated by raw bytes', r);
            }
            if (replies.length === 0) return closed ? 'closed without a reply' : 'no reply within 3 s';
            return replies.map(r => (isParserRefusal(r) ? 'parser 400' : String(r.status))).join('+');
          },
        });
      },
      TEST_TIMEOUT_MS,
    );

    it('the server still serves afterwards: genuine tokens authenticate, a new login works', async () => {
      for (const app of Object.values(apps)) {
        for (const s of app.stable) {
          const r = await app.pool.request({ method: 'GET', path: '/api/me', headers: [['Cookie', `tessera=${s.token}`]] });
          expect({ status: r.status, user: r.status === 200 ? (JSON.parse(r.body) as { user: { id: string } }).user.id : null }).toEqual({ status: 200, user: s.user });
        }
      }
      const fresh = await login(apps.pair, 'bob');
      const r = await apps.pair.pool.request({ method: 'GET', path: '/api/me', headers: [['Authorization', `Bearer ${fresh.token}`]] });
      expect(r.status).toBe(200);
      // A request on a fresh connection, outside the pipelines.
      const direct = await oneShot(apps.sliding.server.port, encode({ method: 'GET', path: '/public', headers: [['Connection', 'close']] }), 5000);
      expect(direct.replies.map(x => x.status)).toEqual([200]);
    });
  });
}
