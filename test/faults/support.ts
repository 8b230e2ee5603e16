/**
 * Store-fault rigs: an engine on a real store reached through the fault proxy (or a dynalite that
 * can be stopped), clients whose every outcome is judged against the store-fault contract while
 * traffic runs, and the figures each scenario measures for the summary table.
 */
import { randomBytes } from 'node:crypto';
import { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import pg from 'pg';
import { createClient } from 'redis';
import { createTessera, type HttpReply, type HttpRequest, type Tessera, type TokenRecord, type TokenStore } from '@tessera/core';
import { RedisStore } from '@tessera/store-redis';
import { PostgresStore } from '@tessera/store-postgres';
import { DynamoDbStore } from '@tessera/store-dynamodb';
import { createFaultProxy, type FaultProxy } from '../../packages/testkit/src/fault-proxy.js';

export const STORE_TIMEOUT_S = 0.5;
export const STORE_TIMEOUT_MS = STORE_TIMEOUT_S * 1000;
const ACCESS_TTL = 60;
const REDIS_PORT = 6379;
const PG_PORT = 5432;
const PG_URL = (port: number) => `postgres://postgres@127.0.0.1:${port}/test`;
const RUN = randomBytes(4).toString('hex');
let serial = 0;

export type Kind = 'redis' | 'postgres' | 'dynamodb';

// ---------------------------------------------------------------- figures

export interface Figure {
  store: Kind;
  fault: string;
  /** ms from the fault to the first 503 (null: none expected or seen). */
  to503: number | null;
  /** ms of the slowest 503 among requests made since the fault (a request never waits much past storeTimeout). */
  slowest503: number | null;
  /** ms from the store's return to the first 200. */
  recovery: number | null;
  requests: number;
  refused503: number;
  lostSessions: number;
  resurrected: number;
  falseReuse: number;
  http500: number;
  heapGrowthMb?: number;
  rssGrowthMb?: number;
  note?: string;
}

export const FIGURES: Figure[] = [];

const ms = (v: number | null | undefined) => (v == null ? '-' : `${Math.round(v)}`);

export function figuresTable(): string {
  const head = ['store', 'fault', 'to 503 ms', 'slowest 503 ms', 'recovery ms', 'requests', '503s', 'lost sessions', 'resurrected revocations', 'false REFRESH_REUSED', '500s', 'heap / RSS growth (MB)'];
  const rows = FIGURES.map(f => [
    f.store,
    f.fault,
    ms(f.to503),
    ms(f.slowest503),
    ms(f.recovery),
    String(f.requests),
    String(f.refused503),
    String(f.lostSessions),
    String(f.resurrected),
    String(f.falseReuse),
    String(f.http500),
    f.heapGrowthMb === undefined ? '-' : `${f.heapGrowthMb.toFixed(1)} / ${f.rssGrowthMb!.toFixed(1)}`,
  ]);
  return [head, head.map(() => '---'), ...rows].map(r => `| ${r.join(' | ')} |`).join('\n');
}

// ---------------------------------------------------------------- memory

let gcFn: (() => void) | undefined;
/** A full collection, so heap figures compare live objects, not garbage not yet collected. */
export function collect(): void {
  if (gcFn === undefined) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

export function memory(): { heap: number; rss: number } {
  collect();
  const m = process.memoryUsage();
  return { heap: m.heapUsed / 2 ** 20, rss: m.rss / 2 ** 20 };
}

// ---------------------------------------------------------------- clients

/** One request's result: the HTTP status the adapter would send (a throw is what becomes a 500). */
export interface Outcome {
  what: 'use' | 'login' | 'logout';
  status: number;
  code: string | null;
  retryAfter: string | null;
  started: number;
  ended: number;
  /** What the client believed before the request (see Client.state). */
  state: ClientState;
}

/**
 * `live`: its session must work (or be refused with 503). `ended`: its logout was answered 204,
 * so it must never be accepted again. `unknown`: its logout got a 503; it retries until 204.
 * `wiped`: the store lost its records (restarted empty): it must end cleanly, never be accepted.
 */
export type ClientState = 'none' | 'live' | 'ended' | 'unknown' | 'wiped';

const USERS: Record<string, { id: string; name: string }> = { alice: { id: 'alice', name: 'Alice' }, bob: { id: 'bob', name: 'Bob' } };

function request(method: string, path: string, cookie: string, body?: unknown): HttpRequest {
  return { method, path, header: name => (name === 'cookie' ? cookie : undefined), ip: '127.0.0.1', secure: false, body: async () => body };
}

function header(reply: HttpReply, name: string): string | null {
  return reply.headers.find(([k]) => k.toLowerCase() === name)?.[1] ?? null;
}

function codeOf(reply: HttpReply): string | null {
  return (reply.body as { error?: { code?: string } } | null)?.error?.code ?? null;
}

export class Client {
  readonly cookies = new Map<string, string>();
  state: ClientState = 'none';
  constructor(readonly user: string) {}

  get header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  absorb(setCookies: readonly string[]): void {
    for (const v of setCookies) {
      const pair = v.split(';')[0]!;
      const name = pair.slice(0, pair.indexOf('='));
      if (/;\s*Max-Age=0(;|$)/i.test(v)) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(pair.indexOf('=') + 1));
    }
  }

  /** The claims of a cookie's token (unverified: the test only reads its own record ids). */
  claims(cookie: string): { sid: string; jti: string } | null {
    const v = this.cookies.get(cookie);
    if (v === undefined) return null;
    try {
      return JSON.parse(Buffer.from(v.split('.')[1]!, 'base64url').toString('utf8'));
    } catch {
      return null;
    }
  }

  private async reply(what: Outcome['what'], run: () => Promise<HttpReply>): Promise<Outcome> {
    const state = this.state;
    const started = performance.now();
    let r: HttpReply;
    try {
      r = await run();
    } catch (err) {
      // What an adapter turns into a 500.
      return { what, status: 500, code: `THROWN ${(err as Error)?.message ?? String(err)}`.slice(0, 120), retryAfter: null, started, ended: performance.now(), state };
    }
    // Cookies only from a success: a refused client keeps presenting what it has (as a thief would).
    if (r.status < 300) this.absorb(r.headers.filter(([k]) => k === 'set-cookie').map(([, v]) => v));
    return { what, status: r.status, code: codeOf(r), retryAfter: header(r, 'retry-after'), started, ended: performance.now(), state };
  }

  async login(t: Tessera): Promise<Outcome> {
    const o = await this.reply('login', () => t.route('login', request('POST', '/auth/login', '', { username: this.user, password: 'x' })));
    if (o.status === 200) this.state = 'live';
    return o;
  }

  /** A guarded request: the engine refreshes an expired access token on the spot (pair mode). */
  async use(t: Tessera): Promise<Outcome> {
    return this.reply('use', async () => {
      const r = await t.authenticate(request('GET', '/api/me', this.header));
      if (r.ok) return { status: 200, headers: r.cookies.map((c): [string, string] => ['set-cookie', c]), body: null };
      return r.reply;
    });
  }

  async logout(t: Tessera): Promise<Outcome> {
    const before = new Map(this.cookies);
    const o = await this.reply('logout', () => t.route('logout', request('POST', '/auth/logout', this.header)));
    // The cookies are kept, as a thief would: the logout must stay effective.
    if (o.status === 204) this.state = 'ended';
    else if (o.status === 503) this.state = this.state === 'ended' ? 'ended' : 'unknown';
    this.cookies.clear();
    for (const [k, v] of before) this.cookies.set(k, v);
    return o;
  }
}

/** Why an outcome breaks the contract, or null. */
export function judge(o: Outcome): string | null {
  if (o.status === 500) return `500 on ${o.what}: ${o.code}`;
  if (o.status === 503) {
    if (o.code !== 'STORE_UNAVAILABLE' || o.retryAfter === null) return `503 on ${o.what} without STORE_UNAVAILABLE + Retry-After (${o.code}, ${o.retryAfter})`;
    return null;
  }
  if (o.what === 'login') return o.status === 200 ? null : `login ${o.status} ${o.code}`;
  if (o.what === 'logout') return o.status === 204 ? null : `logout ${o.status} ${o.code}`;
  switch (o.state) {
    case 'live':
      if (o.status === 200) return null;
      if (o.code === 'REFRESH_REUSED') return 'false REFRESH_REUSED';
      if (o.code === 'SESSION_ENDED') return 'lost session';
      return `live session refused: ${o.status} ${o.code}`;
    case 'ended':
      if (o.status === 200) return 'resurrected revocation';
      return o.code === 'SESSION_ENDED' ? null : `logged-out session: ${o.status} ${o.code}`;
    case 'wiped':
      if (o.status === 200) return 'accepted a session the store no longer has';
      return o.code === 'SESSION_ENDED' ? null : `wiped session: ${o.status} ${o.code}`;
    default:
      return null;
  }
}

// ---------------------------------------------------------------- traffic

export interface Traffic {
  readonly log: Outcome[];
  readonly violations: string[];
  stop(): Promise<void>;
}

/**
 * Clients using the engine in `lanes` loops (each lane owns its clients, as a browser does not
 * race itself), with logins and logouts mixed in. Bounded in requests and time.
 */
export function traffic(t: Tessera, clients: Client[], o: { lanes?: number; pauseMs?: number; maxRequests?: number; maxMs?: number; churn?: boolean } = {}): Traffic {
  const lanes = o.lanes ?? 4;
  const pauseMs = o.pauseMs ?? 2;
  const maxRequests = o.maxRequests ?? 50_000;
  const until = performance.now() + (o.maxMs ?? 20_000);
  const log: Outcome[] = [];
  const violations: string[] = [];
  let stop = false;
  let made = 0;
  const owned = [...Array(lanes)].map((_, lane) => clients.filter((_, i) => i % lanes === lane));
  const record = (out: Outcome) => {
    log.push(out);
    const v = judge(out);
    if (v !== null) violations.push(v);
  };
  const loop = async (lane: number) => {
    const mine = owned[lane]!;
    for (let i = 0; !stop && made < maxRequests && performance.now() < until; i++) {
      made++;
      const c = mine[i % mine.length]!;
      // A client whose logout got no answer asks again, as it should.
      record(c.state === 'unknown' ? await c.logout(t) : await c.use(t));
      if (o.churn !== false && i % 17 === 5) {
        const fresh = new Client(i % 2 ? 'alice' : 'bob');
        const out = await fresh.login(t);
        record(out);
        if (out.status === 200) {
          mine.push(fresh);
          clients.push(fresh);
        }
      }
      if (o.churn !== false && i % 23 === 11 && c.state === 'live') record(await c.logout(t));
      await new Promise(res => setTimeout(res, pauseMs));
    }
  };
  const running = Promise.all(owned.map((_, lane) => loop(lane)));
  return {
    log,
    violations,
    stop: async () => {
      stop = true;
      await running;
    },
  };
}

export async function sleep(ms: number): Promise<void> {
  await new Promise(res => setTimeout(res, ms));
}

/** Waits (bounded) until `pred` holds, polling every 5 ms; returns whether it did. */
export async function until(pred: () => boolean, maxMs: number): Promise<boolean> {
  const end = performance.now() + maxMs;
  while (!pred()) {
    if (performance.now() > end) return false;
    await sleep(5);
  }
  return true;
}

export function first(log: Outcome[], status: number, after: number): Outcome | undefined {
  let best: Outcome | undefined;
  for (const o of log) if (o.status === status && o.started >= after && (best === undefined || o.ended < best.ended)) best = o;
  return best;
}

/** Figures of one scenario from its traffic log; `faultAt` / `backAt` are performance.now() marks. */
export function figure(kind: Kind, fault: string, log: Outcome[], violations: string[], faultAt: number, backAt: number | null, extra: Partial<Figure> = {}): Figure {
  const during = log.filter(o => o.started >= faultAt - 1_000);
  // Requests in flight when the fault began count: they meet it too.
  const f503 = log.filter(o => o.status === 503 && o.ended >= faultAt);
  const firstRefusal = f503.reduce<number | null>((m, o) => (m === null || o.ended < m ? o.ended : m), null);
  const back = backAt === null ? undefined : first(log, 200, backAt);
  const count = (what: string) => violations.filter(v => v === what).length;
  const fig: Figure = {
    store: kind,
    fault,
    to503: firstRefusal === null ? null : Math.max(0, firstRefusal - faultAt),
    // Of requests made since the fault: one in flight across the GC pause of a heap figure would time the pause.
    slowest503: f503.some(o => o.started >= faultAt) ? Math.max(...f503.filter(o => o.started >= faultAt).map(o => o.ended - o.started)) : null,
    recovery: back === undefined || backAt === null ? null : back.ended - backAt,
    requests: during.length,
    refused503: f503.length,
    lostSessions: count('lost session'),
    resurrected: count('resurrected revocation') + count('accepted a session the store no longer has'),
    falseReuse: count('false REFRESH_REUSED'),
    http500: violations.filter(v => v.startsWith('500')).length,
    ...extra,
  };
  FIGURES.push(fig);
  return fig;
}

// ---------------------------------------------------------------- rigs

const silent = { info() {}, warn() {}, error() {} };

export interface Rig {
  kind: Kind;
  engine: Tessera;
  /** The proxy between engine and store (null for the dynalite stop/restart rig). */
  proxy: FaultProxy | null;
  /** The same records, reached directly (not through the proxy): to check what the store committed. */
  direct: TokenStore;
  /** Token time: shifted forward to expire every access token at once (the next requests all refresh). */
  expireAccessTokens(): void;
  /** Removes every record of this rig, as a store restarted without its data. */
  wipe(): Promise<void>;
  /** A record as the store holds it (direct). */
  record(id: string): Promise<TokenRecord | null>;
  close(): Promise<void>;
}

function engineOn(store: TokenStore): { engine: Tessera; shift: () => void } {
  let offset = 0;
  const engine = createTessera({
    store,
    secret: 'fault-test-secret-0123456789-0123456789-abcdef',
    mode: 'pair',
    accessTtl: ACCESS_TTL,
    clockTolerance: 0,
    storeTimeout: STORE_TIMEOUT_S,
    // Every login still reserves an attempt and hands it back (store calls the faults meet), but
    // two usernames logging in all through a fault must not reach the lockout: a login refused
    // with 503 after the store applied its reservation (a lost ack, a garbage reply) leaves that
    // attempt counted, and ten of them lock a user out for the window.
    loginThrottle: '1000/15m',
    logger: silent,
    clock: () => Math.floor(Date.now() / 1000) + offset,
    verifyCredentials: ({ username }: { username: string }) => USERS[username] ?? null,
  } as Parameters<typeof createTessera>[0]);
  return { engine, shift: () => void (offset += ACCESS_TTL + 1) };
}

/** Redis through the proxy; the rig's own key prefix is its whole data set. */
export async function redisRig(): Promise<Rig> {
  const proxy = await createFaultProxy({ target: { port: REDIS_PORT } });
  const prefix = `tessera-faults:${RUN}:${++serial}:`;
  const store = new RedisStore({ url: `redis://127.0.0.1:${proxy.port}/0`, prefix, connectTimeoutMs: 500 });
  const direct = new RedisStore({ url: `redis://127.0.0.1:${REDIS_PORT}/0`, prefix });
  const { engine, shift } = engineOn(store);
  const admin = createClient({ url: `redis://127.0.0.1:${REDIS_PORT}/0` });
  admin.on('error', () => {});
  await admin.connect();
  const wipe = async () => {
    // Only this rig's keys: other tests share this Redis.
    for await (const keys of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (keys.length > 0) await admin.del(keys);
  };
  return {
    kind: 'redis',
    engine,
    proxy,
    direct,
    expireAccessTokens: shift,
    wipe,
    record: id => direct.get(id),
    close: async () => {
      await engine.close().catch(() => {});
      await wipe().catch(() => {});
      await direct.close();
      await admin.close();
      await proxy.close();
    },
  };
}

/** PostgreSQL through the proxy; a table of its own. */
export async function postgresRig(): Promise<Rig> {
  const proxy = await createFaultProxy({ target: { port: PG_PORT } });
  const table = `tt_faults_${RUN}_${++serial}`;
  const direct = new PostgresStore({ url: PG_URL(PG_PORT), table, maxConnections: 2 });
  await direct.setup();
  // The driver's own timeout no longer than the engine's: a connection stuck on a garbled reply frees its pool slot soon.
  const store = new PostgresStore({ url: PG_URL(proxy.port), table, queryTimeoutMs: STORE_TIMEOUT_MS, connectionTimeoutMs: STORE_TIMEOUT_MS });
  const { engine, shift } = engineOn(store);
  return {
    kind: 'postgres',
    engine,
    proxy,
    direct,
    expireAccessTokens: shift,
    wipe: async () => {
      await direct.pool.query(`DELETE FROM "${table}"`);
    },
    record: id => direct.get(id),
    close: async () => {
      await engine.close().catch(() => {});
      await direct.pool.query(`DROP TABLE IF EXISTS "${table}", "${table}_meta", "${table}_counters"`).catch(() => {});
      await direct.close();
      await proxy.close();
    },
  };
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
type Dynalite = Server;
async function startDynalite(port = 0): Promise<Dynalite> {
  const { default: dynalite } = await import('dynalite');
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}
/** dynalite's own close() also closes its database, and the requests still inside it then throw: the process dies, it does not shut down. */
async function haltDynalite(server: Dynalite): Promise<void> {
  const closed = new Promise<void>(resolve => Server.prototype.close.call(server, () => resolve()));
  server.closeAllConnections();
  await closed;
}
async function stopDynalite(server: Dynalite): Promise<void> {
  const closed = new Promise<void>(resolve => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

function dynamoStore(endpoint: string, table: string, maxAttempts = 2): DynamoDbStore {
  return new DynamoDbStore({
    table,
    endpoint,
    region: 'us-east-1',
    accessKeyId: 'AKIDTEST',
    secretAccessKey: 'test-secret-key',
    maxAttempts,
    connectTimeoutMs: STORE_TIMEOUT_MS,
    requestTimeoutMs: 2 * STORE_TIMEOUT_MS,
  });
}

/**
 * DynamoDB on dynalite. `proxied`: through the fault proxy (a network fault; dynalite keeps its
 * data). Otherwise direct, and `stop()` / `restart()` stop dynalite and start an empty one on the
 * same port (its data lives in memory).
 */
export async function dynamoRig(proxied: boolean, maxAttempts = 2): Promise<Rig & { stop(): Promise<void>; restart(): Promise<void>; setup(): Promise<void> }> {
  let server: Dynalite | null = await startDynalite();
  const port = (server.address() as AddressInfo).port;
  const proxy = proxied ? await createFaultProxy({ target: { port } }) : null;
  const table = `tt_faults_${RUN}_${++serial}`;
  const direct = dynamoStore(`http://127.0.0.1:${port}`, table);
  await direct.setup();
  const store = dynamoStore(`http://127.0.0.1:${proxied ? proxy!.port : port}`, table, maxAttempts);
  const { engine, shift } = engineOn(store);
  return {
    kind: 'dynamodb',
    engine,
    proxy,
    direct,
    expireAccessTokens: shift,
    wipe: async () => {
      throw new Error('dynalite: restart it instead');
    },
    record: id => direct.get(id),
    stop: async () => {
      if (server) await haltDynalite(server);
      server = null;
    },
    restart: async () => {
      if (server) await haltDynalite(server);
      server = await startDynalite(port);
    },
    setup: () => direct.setup(),
    close: async () => {
      await engine.close().catch(() => {});
      await direct.close();
      await proxy?.close();
      if (server) await stopDynalite(server);
    },
  };
}

/** `n` clients logged in (alternating users); throws unless every login succeeded. */
export async function loggedIn(t: Tessera, n: number): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < n; i++) {
    const c = new Client(i % 2 ? 'alice' : 'bob');
    const o = await c.login(t);
    if (o.status !== 200) throw new Error(`login before the fault: ${o.status} ${o.code}`);
    clients.push(c);
  }
  return clients;
}

/**
 * After the store is back: every client whose logout is unanswered retries it (bounded), then
 * every client gets its final word. Returns the violations (live clients not 200, ended ones accepted).
 */
export async function settle(t: Tessera, clients: Client[], maxMs = 5_000): Promise<string[]> {
  const end = performance.now() + maxMs;
  const wrong: string[] = [];
  // Clients are independent: checked side by side, so a store that never recovers fails in maxMs, not per client.
  await Promise.all(
    clients.map(async c => {
      while (c.state === 'unknown' && performance.now() < end) {
        const o = await c.logout(t);
        if (o.status !== 204) await sleep(20);
      }
      let o = await c.use(t);
      // A request in flight as the store came back may still see a 503: ask again, bounded.
      while (o.status === 503 && performance.now() < end) {
        await sleep(20);
        o = await c.use(t);
      }
      const v = judge(o) ?? (o.status === 503 ? `still 503 after the store returned (${c.state})` : null);
      if (v !== null) wrong.push(v);
    }),
  );
  return wrong;
}
