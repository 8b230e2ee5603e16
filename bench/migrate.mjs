#!/usr/bin/env node
/**
 * Live-switch bench (`pnpm bench --migrate`, or `node bench/migrate.mjs`).
 *
 * 1. BENCH_MIGRATE_COUNT (default 1,000,000) sessions switched Redis -> PostgreSQL, then back
 *    PostgreSQL -> Redis, by `migrate()` (what `tessera migrate` runs) while the Express example,
 *    a separate process on the source store, serves GET /api/me to a load generator (autocannon,
 *    another process; BENCH_MIGRATE_RATE requests/s, default 2,000, 0 = flat out) for the whole switch. Reports the copy rate, the switch time (copy plus the
 *    three 1 s waits that let every server see each phase), the requests that failed, the sessions
 *    of the source missing from the target afterwards, and where the time went (phases, and how
 *    long an export and an import were in flight).
 * 2. Crowd's published case: 10,000 sessions memory -> PostgreSQL and PostgreSQL -> memory, in one
 *    process (`switchStore()`) with a request loop authenticating throughout, beside Crowd's
 *    figures (8.2 s database -> memory, 90 s memory -> database).
 *
 * Needs Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (database `test`), and a build
 * (`pnpm build`). Everything written is deleted afterwards (a unique key prefix and table).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deleteByPrefix, redisProblem } from './redis-util.mjs';
import { freePort } from './util.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const dist = p => join(ROOT, 'packages', p);
const { openStore, needsSetup } = await import(dist('config/dist/index.js'));
const { migrate } = await import(dist('core/dist/migrate/index.js'));
const { createTessera, MemoryStore } = await import(dist('core/dist/index.js'));

const COUNT = Number(process.env.BENCH_MIGRATE_COUNT ?? 1_000_000);
/**
 * Requests/s the load generator offers during a switch (default 2,000: a busy server, steady);
 * 0: as fast as the server answers, which on a 2-core machine mostly measures the server and the
 * load generator taking CPU from Redis, PostgreSQL and the copier.
 */
const RATE = Number(process.env.BENCH_MIGRATE_RATE ?? 2000);
if (!Number.isSafeInteger(RATE) || RATE < 0) throw new Error(`BENCH_MIGRATE_RATE: expected a whole number of requests/s, got ${process.env.BENCH_MIGRATE_RATE}`);
const CROWD = 10_000;
const SECRET = 'bench-migrate-secret-0123456789-0123456789-abcdef';
const REDIS = 'redis://127.0.0.1:6379';
const PG = 'postgres://postgres@127.0.0.1:5432/test';
const id = randomBytes(4).toString('hex');
const REDIS_URL = `${REDIS}?prefix=tessera-bench-migrate:${id}:`;
const PG_URL = `${PG}?table=tessera_bench_migrate_${id}`;
const PG_URL_2 = `${PG}?table=tessera_bench_crowd_${id}`;

const fmt = n => Math.round(n).toLocaleString('en-US');
const sleep = ms => new Promise(res => setTimeout(res, ms));

async function open(url) {
  const s = await openStore(url);
  if (needsSetup(s)) await s.setup();
  return s;
}

function sessions(n, from = 0) {
  const now = Math.floor(Date.now() / 1000);
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const k = from + i;
    out[i] = { id: `bench${k}`, kind: 'session', subject: `u${k % 10000}`, family: `bench${k}`, createdAt: now, lastSeenAt: now, expiresAt: now + 86400, revokedAt: null, user: { id: `u${k % 10000}` } };
  }
  return out;
}

async function fill(store, n) {
  const t0 = performance.now();
  for (let i = 0; i < n; i += 10_000) await store.importRecords(sessions(Math.min(10_000, n - i), i));
  return (performance.now() - t0) / 1000;
}


async function startExample(storeUrl) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'examples/express/server.js')], {
    cwd: join(ROOT, 'examples/express'),
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', TESSERA_STORE: storeUrl, TESSERA_SECRET: SECRET, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`example did not start: ${out}`)), 20_000);
    const on = d => {
      out += d;
      if (/demo on/.test(out)) {
        clearTimeout(t);
        res();
      }
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
  });
  return { url: `http://127.0.0.1:${port}`, child, log: () => out };
}

function load(url, cookie, duration) {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [join(HERE, 'load.mjs'), JSON.stringify({ url: `${url}/api/me`, cookie, duration, connections: 20, pipelining: 1, ...(RATE > 0 ? { overallRate: RATE } : {}) })], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', d => (out += d));
    child.once('exit', code => (code === 0 ? res(JSON.parse(out.trim().split('\n').at(-1))) : rej(new Error(`load generator exited with ${code}`))));
  });
}

/**
 * `store` with its bulk calls timed: `ms` sums each call's duration, `busy` is the time at least one
 * was in flight (the copy reads the next page while it writes earlier ones).
 */
function timed(store, times) {
  const BULK = new Set(['exportRecords', 'importRecords', 'countRecords']);
  const inFlight = {};
  return new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== 'function' || !BULK.has(key)) return typeof value === 'function' ? value.bind(target) : value;
      return async (...args) => {
        const t = (times[key] ??= { calls: 0, ms: 0, busy: 0, since: 0 });
        const t0 = performance.now();
        if ((inFlight[key] = (inFlight[key] ?? 0) + 1) === 1) t.since = t0;
        try {
          return await value.apply(target, args);
        } finally {
          const t1 = performance.now();
          t.calls++;
          t.ms += t1 - t0;
          if (--inFlight[key] === 0) t.busy += t1 - t.since;
        }
      };
    },
  });
}

/** One live switch under load: the example server on `fromUrl`, `migrate()` to `toUrl`. */
async function liveSwitch(server, cookie, fromUrl, toUrl, label) {
  const times = {};
  const source = await open(fromUrl);
  const target = await open(toUrl);
  // Every session of the source must be in the target afterwards (the load logs nobody in or out).
  const sourceRecords = await source.countRecords();
  const from = timed(source, times);
  const to = timed(target, times);
  let copyStart = 0;
  let copyEnd = 0;
  // Long enough to cover the whole switch (at 20,000 records/s, well under this 2-core machine's rate, plus the waits).
  const loadSeconds = Math.max(20, Math.ceil(COUNT / 20_000) + 15);
  const loading = load(server.url, cookie, loadSeconds);
  await sleep(2000);
  const t0 = performance.now();
  const res = await migrate({
    from,
    to,
    toUrl,
    batch: 5000,
    onProgress: p => {
      if (p.phase === 'copy' && copyStart === 0) copyStart = performance.now();
      if (p.phase === 'copy') copyEnd = performance.now();
    },
  });
  const switchSeconds = (performance.now() - t0) / 1000;
  const l = await loading;
  const lost = Math.max(0, sourceRecords - (await target.countRecords()));
  await Promise.all([source.close(), target.close()]);
  const copySeconds = (copyEnd - copyStart) / 1000;
  const failed = (l.non2xx ?? 0) + (l.errors ?? 0) + (l.timeouts ?? 0);
  const sec = (k, f = 'ms') => (times[k]?.[f] ?? 0) / 1000;
  // Before the copy: the first announcement and its wait (and, with a count that outlasts the wait, the count: progress reports start after it).
  const phases = { before: (copyStart - t0) / 1000, count: sec('countRecords'), exportBusy: sec('exportRecords', 'busy'), importBusy: sec('importRecords', 'busy'), after: switchSeconds - (copyEnd - t0) / 1000 };
  return { label, records: res.copied + res.skipped, lost, copySeconds, switchSeconds, rate: (res.copied + res.skipped) / copySeconds, requests: l.requestsTotal, failed, codes: l.codes, loadSeconds, phases };
}

/** Crowd's case, in one process: switchStore() with a request loop authenticating throughout. */
async function crowdCase(fromStore, toStore, label) {
  const t = createTessera({ store: fromStore, secret: SECRET, logger: false });
  const users = { alice: { id: 'alice' } };
  const req = (cookie, path = '/api/me', method = 'GET', body) => ({ method, path, header: n => (n === 'cookie' ? cookie : undefined), ip: '127.0.0.1', secure: false, body: async () => body });
  const login = await t.issue(req(''), users.alice);
  const cookie = login.cookies.map(c => c.split(';')[0]).join('; ');
  await fromStore.importRecords(sessions(CROWD));
  let stop = false;
  let requests = 0;
  let failed = 0;
  const loop = (async () => {
    while (!stop) {
      const r = await t.authenticate(req(cookie));
      requests++;
      if (!r.ok) failed++;
      await sleep(1); // about a thousand requests a second: a busy server, not a spin loop stealing the copy's CPU
    }
  })();
  const t0 = performance.now();
  const res = await t.switchStore(toStore, { batch: 5000 });
  const seconds = (performance.now() - t0) / 1000;
  stop = true;
  await loop;
  await t.close();
  return { label, records: res.copied + res.skipped, seconds, requests, failed };
}

export async function runMigrate() {
  const problem = await redisProblem(REDIS);
  if (problem) {
    console.log(`migrate bench skipped: ${problem}`);
    return true;
  }
  console.log(`Live store switch: ${fmt(COUNT)} sessions, Express example on the source under load (autocannon, 20 connections, GET /api/me, ${RATE > 0 ? `${fmt(RATE)} requests/s offered` : "as fast as the server answers"})`);
  let server;
  const rows = [];
  try {
    const source = await open(REDIS_URL);
    const fillSeconds = await fill(source, COUNT);
    await source.close();
    console.log(`  filled Redis with ${fmt(COUNT)} sessions in ${fillSeconds.toFixed(1)} s`);
    server = await startExample(REDIS_URL);
    const login = await fetch(`${server.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'wonderland' }) });
    const cookie = login.headers.getSetCookie().map(c => c.split(';')[0]).join('; ');
    rows.push(await liveSwitch(server, cookie, REDIS_URL, PG_URL, 'Redis -> PostgreSQL'));
    // Back again: the server now on PostgreSQL follows the next switch, announced there.
    await deleteByPrefix(REDIS, `tessera-bench-migrate:${id}:`);
    rows.push(await liveSwitch(server, cookie, PG_URL, REDIS_URL, 'PostgreSQL -> Redis'));

    console.log('');
    console.log('| switch | records | copy | records/s | switch time | requests during | failed | lost |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      console.log(`| ${r.label} | ${fmt(r.records)} | ${r.copySeconds.toFixed(1)} s | ${fmt(r.rate)} | ${r.switchSeconds.toFixed(1)} s | ${fmt(r.requests)} | ${r.failed} | ${r.lost} |`);
    }
    console.log('');
    console.log('| switch | before the copy (announce, wait) | count (during the wait) | copy | export in flight | import in flight | after the copy (flip, done) |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const { label, copySeconds, phases: p } of rows) {
      console.log(`| ${label} | ${p.before.toFixed(2)} s | ${p.count.toFixed(2)} s | ${copySeconds.toFixed(2)} s | ${p.exportBusy.toFixed(2)} s | ${p.importBusy.toFixed(2)} s | ${p.after.toFixed(2)} s |`);
    }
    for (const r of rows) {
      const pass = r.switchSeconds <= 20 && r.failed === 0 && r.lost === 0;
      console.log(`target ${r.label}: ${fmt(COUNT)} in <= 20 s with 0 failed requests and 0 lost sessions: ${pass ? 'PASS' : 'FAIL'} (${r.switchSeconds.toFixed(1)} s, ${r.failed} failed, ${r.lost} lost)`);
    }
  } finally {
    if (server) server.child.kill('SIGTERM');
    await deleteByPrefix(REDIS, `tessera-bench-migrate:${id}:`).catch(() => {});
    await dropTable(PG_URL);
  }

  console.log('');
  console.log(`Crowd's case: ${fmt(CROWD)} sessions, one process (switchStore), requests authenticating throughout`);
  const crowd = [];
  try {
    const pg1 = await open(PG_URL_2);
    crowd.push(await crowdCase(new MemoryStore(), pg1, 'memory -> PostgreSQL'));
    await pg1.close();
    const pg2 = await open(PG_URL_2);
    crowd.push(await crowdCase(pg2, new MemoryStore(), 'PostgreSQL -> memory'));
    await pg2.close();
  } finally {
    await dropTable(PG_URL_2);
  }
  console.log('| switch | records | Tessera | Crowd (published) | requests during | failed |');
  console.log('|---|---:|---:|---:|---:|---:|');
  const published = { 'memory -> PostgreSQL': '90 s', 'PostgreSQL -> memory': '8.2 s' };
  for (const r of crowd) console.log(`| ${r.label} | ${fmt(r.records)} | ${r.seconds.toFixed(2)} s | ${published[r.label]} | ${fmt(r.requests)} | ${r.failed} |`);
  for (const r of crowd) console.log(`target ${r.label}: ${fmt(CROWD)} in < 1 s: ${r.seconds < 1 && r.failed === 0 ? 'PASS' : 'FAIL'}`);
  return rows.every(r => r.failed === 0 && r.lost === 0) && crowd.every(r => r.failed === 0);
}

async function dropTable(url) {
  const table = new URL(url).searchParams.get('table');
  const { default: pg } = await import(join(ROOT, 'packages/store-postgres/node_modules/pg/lib/index.js')).catch(() => import('pg'));
  const pool = new pg.Pool({ connectionString: PG, max: 1 });
  await pool.query(`DROP TABLE IF EXISTS "${table}", "${table}_meta", "${table}_counters"`).catch(() => {});
  await pool.end();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ok = await runMigrate();
  process.exit(ok ? 0 : 1);
}
