/**
 * Live-switch tests on real stores: a store URL per kind (unique per test: a directory, a Redis key
 * prefix, a PostgreSQL table, a DynamoDB table on dynalite), two servers on the source that follow
 * the switch, and client traffic that counts every failure.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { createTessera, type HttpRequest, type Tessera, type TesseraOptions, type TokenStore } from '@tessera/core';
import { needsSetup, openStore } from '@tessera/config';
import { postgresAvailable, redisAvailable } from '../../packages/testkit/src/services.js';

export type Kind = 'memory' | 'file' | 'redis' | 'postgres' | 'dynamodb';

const RUN = randomBytes(4).toString('hex');
let n = 0;

export interface Services {
  skip: string | false;
  url(kind: Kind): string;
  close(): Promise<void>;
}

/** Checks Redis and PostgreSQL and starts dynalite; `skip` names what is missing. */
export async function services(): Promise<Services> {
  const missing = [await redisAvailable(), await postgresAvailable()].filter(Boolean);
  process.env.AWS_ACCESS_KEY_ID ??= 'AKIDTEST';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test-secret-key';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const { default: dynalite } = await import('dynalite');
  const dyn = dynalite({ createTableMs: 0, deleteTableMs: 0 });
  await new Promise<void>(res => dyn.listen(0, '127.0.0.1', () => res()));
  const endpoint = `http://127.0.0.1:${(dyn.address() as AddressInfo).port}`;
  return {
    skip: missing.length > 0 ? missing.join('; ') : false,
    url(kind) {
      const id = `${RUN}_${++n}`;
      switch (kind) {
        case 'memory':
          return 'memory:';
        case 'file':
          return `file:${mkdtempSync(join(tmpdir(), 'tessera-switch-'))}`;
        case 'redis':
          return `redis://127.0.0.1:6379?prefix=tessera-switch:${id}:`;
        case 'postgres':
          return `postgres://postgres@127.0.0.1:5432/test?table=tt_switch_${id}`;
        case 'dynamodb':
          return `dynamodb://tt_switch_${id}?region=us-east-1&endpoint=${encodeURIComponent(endpoint)}`;
      }
    },
    close: () => new Promise<void>(res => dyn.close(() => res())),
  };
}

/** Opens a store from its URL, creating its table where one is needed. */
export async function open(url: string): Promise<TokenStore> {
  const store = await openStore(url);
  if (needsSetup(store)) await store.setup();
  return store;
}

const silent = { info() {}, warn() {}, error() {} };
export const USERS: Record<string, { id: string; name: string }> = { alice: { id: 'alice', name: 'Alice' }, bob: { id: 'bob', name: 'Bob' } };

/** A server (one `createTessera`) on `store`, following switches by opening announced URLs with `@tessera/config`. */
export function server(store: TokenStore, extra: Partial<TesseraOptions> = {}): Tessera {
  return createTessera({
    store,
    secret: 'switch-test-secret-0123456789-0123456789-abcdef',
    mode: 'pair',
    accessTtl: 2,
    // These tests check what is kept and lost, not latency: CI runs them beside Chromium and other
    // store suites, where a store call was seen to take over the default 2 s.
    storeTimeout: 10,
    logger: silent,
    verifyCredentials: ({ username }) => USERS[username] ?? null,
    openStore: url => open(url),
    ...extra,
  } as TesseraOptions);
}

function request(method: string, path: string, cookie: string, body?: unknown): HttpRequest {
  return { method, path, header: name => (name === 'cookie' ? cookie : undefined), ip: '127.0.0.1', secure: false, body: async () => body };
}

/** A browser's cookies, reduced to names and values. */
export class Client {
  private readonly cookies = new Map<string, string>();
  loggedOut = false;
  constructor(readonly user: string) {}
  get header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  absorb(headers: ReadonlyArray<readonly [string, string]> | readonly string[]): void {
    for (const h of headers) {
      const v = typeof h === 'string' ? h : h[0] === 'set-cookie' ? h[1] : null;
      if (v === null) continue;
      const pair = v.split(';')[0]!;
      const name = pair.slice(0, pair.indexOf('='));
      if (/;\s*Max-Age=0(;|$)/i.test(v)) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(pair.indexOf('=') + 1));
    }
  }
  async login(t: Tessera): Promise<number> {
    const r = await t.route('login', request('POST', '/auth/login', '', { username: this.user, password: 'x' }));
    this.absorb(r.headers);
    return r.status;
  }
  /** What an app's client does: the request, and after TOKEN_EXPIRED a refresh and one retry. Returns 'ok' or the failure. */
  async use(t: Tessera): Promise<string> {
    let r = await t.authenticate(request('GET', '/api/me', this.header));
    if (r.ok) this.absorb(r.cookies); // a request after expiry may be refreshed on the spot
    if (!r.ok && r.error.code !== 'TOKEN_EXPIRED') return `${r.error.code} (${r.error.reason})`;
    if (!r.ok && r.error.code === 'TOKEN_EXPIRED') {
      const refreshed = await t.route('refresh', request('POST', '/auth/refresh', this.header));
      if (refreshed.status !== 200) return `${(refreshed.body as { error?: { code?: string } } | null)?.error?.code ?? refreshed.status} (refresh)`;
      this.absorb(refreshed.headers);
      r = await t.authenticate(request('GET', '/api/me', this.header));
      if (r.ok) this.absorb(r.cookies);
    }
    return r.ok ? 'ok' : `${r.error.code} (${r.error.reason}, after refresh)`;
  }
  /** Logs out, keeping the cookies (as a thief would) to check the logout stays effective. */
  async logout(t: Tessera): Promise<number> {
    const r = await t.route('logout', request('POST', '/auth/logout', this.header));
    this.loggedOut = true;
    return r.status;
  }
}

/**
 * Runs `during` while clients use both servers: requests (refreshing after expiry), new logins
 * and logouts. Returns every client and the failures seen (none expected).
 */
export async function withTraffic(servers: Tessera[], clients: Client[], during: () => Promise<void>): Promise<{ failures: string[]; clients: Client[] }> {
  const failures: string[] = [];
  let stop = false;
  // Each lane owns its clients: a browser does not log out in the middle of its own request.
  const LANES = 4;
  const owned = [...Array(LANES)].map((_, lane) => clients.filter((_, i) => i % LANES === lane));
  const loop = async (lane: number) => {
    const mine = owned[lane]!;
    for (let i = 0; !stop; i++) {
      const srv = servers[(i + lane) % servers.length]!;
      const c = mine[i % mine.length]!;
      const got = await c.use(srv);
      if (c.loggedOut ? !got.startsWith('SESSION_ENDED') : got !== 'ok') failures.push(`use on server ${(i + lane) % servers.length}: ${got}${c.loggedOut ? ' after logout' : ''}`);
      if (i % 9 === 0) {
        const fresh = new Client(i % 2 ? 'alice' : 'bob');
        const st = await fresh.login(srv);
        if (st !== 200) failures.push(`login ${st}`);
        mine.push(fresh);
        clients.push(fresh);
      }
      if (i % 13 === 0 && !c.loggedOut) {
        const st = await c.logout(servers[(i + lane + 1) % servers.length]!);
        if (st !== 204) failures.push(`logout ${st}`);
      }
      await new Promise(res => setTimeout(res, 2));
    }
  };
  const lanes = [0, 1, 2, 3].map(loop);
  try {
    await during();
  } finally {
    stop = true;
    await Promise.all(lanes);
  }
  return { failures, clients };
}

/** Every client that should live does (200 on every server, refreshing as needed); every logout stayed. */
export async function expectSessions(servers: Tessera[], clients: Client[]): Promise<void> {
  const wrong: string[] = [];
  for (const c of clients) {
    for (const [i, s] of servers.entries()) {
      const got = await c.use(s);
      const want = c.loggedOut ? 'SESSION_ENDED' : 'ok';
      if (!got.startsWith(want)) wrong.push(`${c.user} on server ${i}: ${got}, want ${want}`);
    }
  }
  expect(wrong).toEqual([]);
}

/** Empties a store of records (revoke all, then purge): nothing may depend on them any more. */
export async function empty(store: TokenStore): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  await store.revoke({ all: true }, now);
  await store.purgeExpired(now + 1);
}
