/**
 * The live switch from outside, as an operator runs it: the three example servers (Express, Koa,
 * Fastify, separate processes) on Redis in pair mode serve continuous traffic (requests,
 * refreshes, logins, logouts) while `tessera migrate` (the CLI, another process) moves them to
 * PostgreSQL. Then Redis is emptied: every session that should live still answers 200 on every
 * server, every logout made during the switch stays effective, no request failed, and no server
 * was restarted. A second run kills the migrating process midway and resumes it.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { migrationStatus } from '@tessera/core/migrate';
import { RedisStore } from '@tessera/store-redis';
import { ROOT, startServer, stop } from '../support/example-server.js';
import { captureOutput } from '../support/log-capture.js';
import { postgresAvailable, redisAvailable } from '../../packages/testkit/src/services.js';

const CI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';
const skip = [await redisAvailable(), await postgresAvailable()].filter(Boolean).join('; ') || false;
if (skip) console.warn(`\n*** live-switch example tests SKIPPED: ${skip}\n`);
const run = skip && !CI ? it.skip : it;
const BIN = join(ROOT, 'packages/cli/dist/bin.js');
const FRAMEWORKS = ['express', 'koa', 'fastify'];
const sleep = (ms: number) => new Promise(res => setTimeout(res, ms));

interface Server {
  url: string;
  child: ChildProcess;
}
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) await stop(c);
});

async function servers(env: Record<string, string>): Promise<Server[]> {
  const out: Server[] = [];
  for (const fw of FRAMEWORKS) {
    const s = await startServer(fw, env);
    children.push(s.child);
    out.push(s);
  }
  return out;
}

/** A browser's cookie jar against several servers of one site. */
class Client {
  private cookies = new Map<string, string>();
  loggedOut = false;
  constructor(readonly user: 'alice' | 'bob') {}
  private absorb(res: Response): void {
    if (this.loggedOut) return; // a thief's copy: the cookies stay as they were at logout
    for (const v of res.headers.getSetCookie()) {
      const pair = v.split(';')[0]!;
      const name = pair.slice(0, pair.indexOf('='));
      if (/max-age=0/i.test(v)) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(name.length + 1));
    }
  }
  private send(base: string, method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch(base + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  }
  async login(base: string): Promise<number> {
    const res = await this.send(base, 'POST', '/auth/login', { username: this.user, password: this.user === 'alice' ? 'wonderland' : 'builder' });
    this.absorb(res);
    return res.status;
  }
  /** GET /api/me; after 401 TOKEN_EXPIRED, POST /auth/refresh and one retry. 'ok' or what failed. */
  async use(base: string): Promise<string> {
    let res = await this.send(base, 'GET', '/api/me');
    this.absorb(res); // a request after expiry may be refreshed on the spot (the refresh cookie was sent)
    if (res.status === 401) {
      const { error } = (await res.json()) as { error: { code: string } };
      if (error.code !== 'TOKEN_EXPIRED') return error.code;
      const r = await this.send(base, 'POST', '/auth/refresh');
      if (r.status !== 200) return `${((await r.json()) as { error: { code: string } }).error.code} (refresh)`;
      await r.arrayBuffer();
      this.absorb(r);
      res = await this.send(base, 'GET', '/api/me');
      this.absorb(res);
    }
    const text = await res.text();
    return res.status === 200 ? 'ok' : `${res.status} ${text.slice(0, 80)}`;
  }
  /** Logs out, keeping the cookies (as a thief would) to check the logout stays effective. */
  async logout(base: string): Promise<number> {
    const res = await this.send(base, 'POST', '/auth/logout');
    await res.arrayBuffer();
    this.loggedOut = true;
    return res.status;
  }
}

/** Clients on every server until `until` settles: each lane owns its clients. */
async function traffic<T>(srv: Server[], clients: Client[], until: Promise<T>): Promise<{ failures: string[]; requests: number; value: T }> {
  const failures: string[] = [];
  let requests = 0;
  let stop = false;
  const lanes = [0, 1, 2].map(async lane => {
    const mine = clients.filter((_, i) => i % 3 === lane);
    for (let i = 0; !stop; i++) {
      const base = srv[(i + lane) % srv.length]!.url;
      const c = mine[i % mine.length]!;
      const got = await c.use(base);
      requests++;
      if (c.loggedOut ? !got.startsWith('SESSION_ENDED') : got !== 'ok') failures.push(`${base}: ${got}${c.loggedOut ? ' after logout' : ''}`);
      if (i % 10 === 0) {
        const fresh = new Client(i % 20 ? 'alice' : 'bob');
        const st = await fresh.login(base);
        if (st !== 200) failures.push(`login ${st}`);
        mine.push(fresh);
        clients.push(fresh);
      }
      if (i % 15 === 7 && !c.loggedOut) {
        const st = await c.logout(srv[(i + lane + 1) % srv.length]!.url);
        if (st !== 204) failures.push(`logout ${st}`);
      }
    }
  });
  try {
    const value = await until;
    return { failures, requests, value };
  } finally {
    stop = true;
    await Promise.all(lanes);
  }
}

function cli(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; out: string; err: string }> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  captureOutput('cli-migrate', child);
  let out = '';
  let err = '';
  child.stdout!.on('data', d => (out += String(d)));
  child.stderr!.on('data', d => (err += String(d)));
  const done = new Promise<{ code: number | null; out: string; err: string }>(res => child.once('exit', code => res({ code, out, err })));
  return { child, done };
}

async function dropRedisPrefix(prefix: string): Promise<number> {
  const r = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
  await r.connect();
  let n = 0;
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) n += await r.del(...keys);
  } while (cursor !== '0');
  await r.quit();
  return n;
}

async function dropTable(table: string): Promise<void> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', max: 1 });
  await pool.query(`DROP TABLE IF EXISTS "${table}", "${table}_meta"`).catch(() => {});
  await pool.end();
}

function urls() {
  const id = randomBytes(4).toString('hex');
  const prefix = `tessera-switch-e2e:${id}:`;
  const table = `tt_switch_e2e_${id}`;
  return { prefix, table, from: `redis://127.0.0.1:6379?prefix=${prefix}`, to: `postgres://postgres@127.0.0.1:5432/test?table=${table}` };
}

const ENV = { TESSERA_SECRET: 'e2e-switch-secret-0123456789-0123456789-abcdef', TESSERA_MODE: 'pair', TESSERA_ACCESS_TTL: '3' };

describe('tessera migrate: three example servers switch from Redis to PostgreSQL live', () => {
  run('no request fails, nothing is lost, logouts stay, no server restarts', async () => {
    if (skip) throw new Error(`services missing under CI: ${skip}`);
    const u = urls();
    try {
      const srv = await servers({ ...ENV, TESSERA_STORE: u.from });
      const pids = srv.map(s => s.child.pid);
      const clients = [...Array(30)].map((_, i) => new Client(i % 2 ? 'alice' : 'bob'));
      for (const [i, c] of clients.entries()) expect(await c.login(srv[i % 3]!.url)).toBe(200);

      const migrating = (async () => {
        await sleep(500);
        return cli(['migrate', '--from', u.from, '--to', u.to, '--json', '--batch', '20']).done;
      })();
      const { failures, requests, value } = await traffic(srv, clients, migrating);
      expect(value.err).toBe('');
      expect(value.code).toBe(0);
      const summary = JSON.parse(value.out) as { copied: number; skipped: number; seconds: number; resumed: boolean };
      expect(summary.copied + summary.skipped).toBeGreaterThanOrEqual(30);
      expect(summary.resumed).toBe(false);
      expect(failures).toEqual([]);
      expect(requests).toBeGreaterThan(50);

      expect(await dropRedisPrefix(u.prefix)).toBeGreaterThan(0);
      const wrong: string[] = [];
      for (const c of clients) for (const s of srv) {
        const got = await c.use(s.url);
        if (!got.startsWith(c.loggedOut ? 'SESSION_ENDED' : 'ok')) wrong.push(`${c.user}${c.loggedOut ? ' (logged out)' : ''} on ${s.url}: ${got}`);
      }
      expect(wrong).toEqual([]);
      expect(clients.filter(c => c.loggedOut).length).toBeGreaterThan(0);
      // New logins land in PostgreSQL, and the same processes serve them.
      const late = new Client('bob');
      expect(await late.login(srv[0]!.url)).toBe(200);
      for (const s of srv) expect(await late.use(s.url)).toBe('ok');
      expect(srv.map(s => s.child.pid)).toEqual(pids);
      expect(srv.every(s => s.child.exitCode === null)).toBe(true);
    } finally {
      for (const c of children.splice(0)) await stop(c);
      await dropRedisPrefix(u.prefix).catch(() => 0);
      await dropTable(u.table);
    }
  }, 120_000);

  run('the migrating process killed midway: the same command resumes it, and servers never fail meanwhile', async () => {
    if (skip) throw new Error(`services missing under CI: ${skip}`);
    const u = urls();
    const source = new RedisStore({ url: 'redis://127.0.0.1:6379', prefix: u.prefix });
    try {
      // 8,000 other sessions, so the copy takes long enough to be killed in the middle.
      const now = Math.floor(Date.now() / 1000);
      const filler = [...Array(8_000)].map((_, i) => ({ id: `filler${i}`, kind: 'session' as const, subject: `u${i % 100}`, family: `filler${i}`, createdAt: now, lastSeenAt: now, expiresAt: now + 3600, revokedAt: null, user: { id: `u${i % 100}` } }));
      for (let i = 0; i < filler.length; i += 2000) await source.importRecords(filler.slice(i, i + 2000));
      const srv = await servers({ ...ENV, TESSERA_STORE: u.from });
      const clients = [...Array(12)].map((_, i) => new Client(i % 2 ? 'alice' : 'bob'));
      for (const [i, c] of clients.entries()) expect(await c.login(srv[i % 3]!.url)).toBe(200);

      const both = (async () => {
        const first = cli(['migrate', '--from', u.from, '--to', u.to, '--json', '--batch', '50']);
        // Kill it once it has copied some (its checkpoint is in the source), long before the end.
        for (let i = 0; i < 400; i++) {
          const st = await migrationStatus(source);
          if (st?.phase === 'copy' && st.copied > 0) break;
          await sleep(50);
        }
        first.child.kill('SIGKILL');
        const killed = await first.done;
        const status = await migrationStatus(source);
        await sleep(1000);
        const again = await cli(['migrate', '--from', u.from, '--to', u.to, '--json']).done;
        return { killed, status, again };
      })();
      const { failures, value } = await traffic(srv, clients, both);
      expect(value.killed.code).toBeNull(); // killed by the signal
      expect(value.status).toMatchObject({ phase: 'copy' });
      expect(value.status!.copied).toBeLessThan(8_000);
      expect(value.again.err).toBe('');
      expect(value.again.code).toBe(0);
      const summary = JSON.parse(value.again.out) as { copied: number; skipped: number; resumed: boolean };
      expect(summary.resumed).toBe(true);
      expect(summary.copied + summary.skipped).toBeLessThan(8_000 + clients.length * 3);
      expect(failures).toEqual([]);

      await dropRedisPrefix(u.prefix);
      for (const c of clients) for (const s of srv) expect(await c.use(s.url)).toMatch(c.loggedOut ? /^SESSION_ENDED/ : /^ok$/);
    } finally {
      await source.close();
      for (const c of children.splice(0)) await stop(c);
      await dropRedisPrefix(u.prefix).catch(() => 0);
      await dropTable(u.table);
    }
  }, 180_000);
});
