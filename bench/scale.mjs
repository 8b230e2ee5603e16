#!/usr/bin/env node
/**
 * Sessions at scale (`pnpm bench --scale`, `node bench/run.mjs --scale`, or `node bench/scale.mjs`):
 * BENCH_SCALE_SESSIONS live sessions (default 1,000,000) in Redis and in PostgreSQL, of which
 * BENCH_SCALE_USER_SESSIONS (default 10,000) belong to one user; per store, the latency of an
 * authenticated request (GET /api/me) over HTTP with the record cache on and off, and the time to
 * revoke every session of that user.
 *
 * 1. Sessions, once for both stores: created by `tessera.issue(req, user)` (what the login route
 *    calls: real records, each with the `mac` keyed by its token's secret `sid`) against a
 *    MemoryStore, in BENCH_SCALE_WORKERS worker threads, then exported (`exportRecords`). The
 *    other users have about 10 sessions each. Kept: the cookies of BENCH_SCALE_SAMPLE random
 *    sessions of the other users, of all the big user's sessions and of one admin session.
 * 2. Seed, per store: the records written with `importRecords` (pages of 10,000, two calls in
 *    flight), then `countRecords` must give the total. Redis under a unique key prefix,
 *    PostgreSQL in a schema of its own.
 * 3. Authenticate: a Tessera Express server on that store in a child process (`--serve` below;
 *    127.0.0.1 only; record cache off, `recordCacheSize: 0`, then on, the default 10,000) and an
 *    open-loop load generator in another (`--load` below): GET /api/me at BENCH_SCALE_RATE req/s
 *    (default 1,000) evenly spaced, on at most BENCH_SCALE_CONNECTIONS keep-alive connections,
 *    each request with the next sampled session's cookie in turn. First a warm-up (not measured,
 *    see `measure`: a wait until the sampled sessions' lastSeenAt is a minute old, one pass over
 *    them that writes it, passes until one writes none), then BENCH_SCALE_DURATION s (default 10)
 *    measured: p50 / p99 latency (from when each request was due), the store reads per request
 *    (the server counts its store's `get` calls) and the server's CPU per request. Every response
 *    must be 200 (else INVALID).
 * 4. Revoke by user, on the cache-on server: 200 of the big user's sessions used first (200 each),
 *    then POST /auth/admin/users/<user>/revoke as the admin (the admin route, `adminRevoke`, the
 *    same call as `tessera.revokeUser`), timed from the request to the answer; it must report
 *    every session revoked. Then 200 used and 200 unused of the user's sessions must answer 401
 *    and 200 sampled sessions of other users 200.
 * 5. A table, then clean-up: the Redis keys under the prefix, the PostgreSQL schema (CASCADE).
 *
 * A store that does not answer is SKIPPED with the reason. Every step is bounded in time; a
 * failure ends that store (cleaned up) and the exit code is 1. Env: BENCH_SCALE_SESSIONS
 * (1000000), BENCH_SCALE_USER_SESSIONS (10000), BENCH_SCALE_SAMPLE (10000), BENCH_SCALE_RATE
 * (1000), BENCH_SCALE_DURATION (10), BENCH_SCALE_CONNECTIONS (20), BENCH_SCALE_WORKERS (2),
 * BENCH_SCALE_STORES (redis,postgres), BENCH_REDIS_URL, BENCH_POSTGRES_URL (loopback only).
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Agent, createServer, request as httpRequest } from 'node:http';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { deleteByPrefix, redisProblem } from './redis-util.mjs';
import { POSTGRES_URL, REDIS_URL, assertLoopback, redisPrefix } from './scenarios.mjs';
import { Skip, envNumber, firstLine, postgresPool, quantile, redact, withTimeout, storesFromEnv } from './util.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const SELF = fileURLToPath(import.meta.url);
const dist = p => join(ROOT, 'packages', p);

const BIG_USER = 'scale-big-user';
const ADMIN_USER = 'scale-admin';
const PAGE = 10_000;
/** Logins in flight at once per worker (token signing is asynchronous). */
const ISSUE_BATCH = 64;
/** Sessions of the big user used before the revocation, and of each kind checked after it. */
const CHECKS = 200;
const HTTP_TIMEOUT_MS = 5000;
const START_LIMIT_MS = 60_000;
const REVOKE_LIMIT_MS = 120_000;
const CLEANUP_LIMIT_MS = 300_000;
/** A fixed-load run that took longer than its planned time divided by this did not keep up. */
const KEPT_UP = 0.95;

const sleep = ms => new Promise(r => setTimeout(r, ms));
const fmtInt = n => (n === undefined || n === null || Number.isNaN(n) ? '-' : Math.round(n).toLocaleString('en-US'));
const fmt = (n, d = 2) => (n === undefined || n === null || Number.isNaN(n) ? '-' : n.toFixed(d));

/** The user of session `i`: the big user's first, the admin's last, the others about `perUser` each. */
function userOf(i, { big, total, users }) {
  if (i < big) return { id: BIG_USER, name: 'Big User' };
  if (i === total - 1) return { id: ADMIN_USER, name: 'Admin' };
  const k = (i - big) % users;
  return { id: `u${k}`, name: `User ${k}` };
}

/** `count` distinct random integers in [lo, hi). */
function sampleIndices(count, lo, hi) {
  const picked = new Set();
  while (picked.size < count) picked.add(randomInt(lo, hi));
  return [...picked].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// 1. Sessions, in worker threads

/** Worker: issues sessions lo..hi-1 into a MemoryStore, posts the records a page at a time, then the kept cookies. */
async function seedWorker({ lo, hi, layout, keep, secret }) {
  const { createTessera, MemoryStore } = await import(dist('core/dist/index.js'));
  const store = new MemoryStore({ capacity: hi - lo });
  const t = createTessera({ store, secret, logger: false, maxSessionsPerUser: false });
  const req = { method: 'POST', path: '/auth/login', header: () => undefined, ip: '127.0.0.1', secure: false, body: async () => undefined };
  const kept = new Set(keep);
  const cookies = { sample: [], big: [], admin: null };
  for (let i = lo; i < hi; ) {
    const batch = [];
    const from = i;
    for (const end = Math.min(hi, i + ISSUE_BATCH); i < end; i++) batch.push(t.issue(req, userOf(i, layout)));
    const results = await Promise.all(batch);
    for (let j = 0; j < results.length; j++) {
      const r = results[j];
      if (!r.ok) throw new Error(`issue failed: ${JSON.stringify(r.reply ?? r).slice(0, 200)}`);
      const k = from + j;
      const cookie = r.cookies[0].split(';')[0];
      if (k < layout.big) cookies.big.push(cookie);
      else if (k === layout.total - 1) cookies.admin = cookie;
      else if (kept.has(k)) cookies.sample.push([cookie, r.session.user.id]);
    }
  }
  let cursor = null;
  do {
    const page = await store.exportRecords(cursor, PAGE);
    parentPort.postMessage({ type: 'page', records: page.records });
    cursor = page.cursor;
  } while (cursor !== null);
  await t.close();
  parentPort.postMessage({ type: 'done', cookies });
}

/** Creates every session (BENCH_SCALE_WORKERS threads); resolves to { pages, sample, big, admin, seconds }. */
async function createSessions(cfg, secret) {
  const layout = { big: cfg.userSessions, total: cfg.sessions, users: Math.ceil((cfg.sessions - cfg.userSessions - 1) / 10) };
  const keep = sampleIndices(cfg.sample, cfg.userSessions, cfg.sessions - 1);
  const workers = Math.min(cfg.workers, Math.ceil(cfg.sessions / PAGE));
  const pages = [];
  const out = { sample: [], big: [], admin: null };
  const t0 = performance.now();
  const running = [];
  for (let w = 0; w < workers; w++) {
    const lo = Math.floor((cfg.sessions * w) / workers);
    const hi = Math.floor((cfg.sessions * (w + 1)) / workers);
    const worker = new Worker(SELF, { workerData: { lo, hi, layout, keep: keep.filter(k => k >= lo && k < hi), secret } });
    const done = new Promise((res, rej) => {
      worker.on('message', m => {
        if (m.type === 'page') pages.push(m.records);
        else if (m.type === 'done') {
          out.sample.push(...m.cookies.sample);
          out.big.push(...m.cookies.big);
          out.admin ??= m.cookies.admin;
          res();
        }
      });
      worker.once('error', rej);
      worker.once('exit', code => rej(new Error(`seed worker exited (${code}) before it was done`)));
    });
    running.push({ worker, done });
  }
  const limit = Math.max(120_000, cfg.sessions * 0.5); // 0.5 ms a session: 7 times this machine's rate on one thread
  try {
    await withTimeout(Promise.all(running.map(r => r.done)), limit, `creating ${fmtInt(cfg.sessions)} sessions`);
  } finally {
    await Promise.all(running.map(r => r.worker.terminate()));
  }
  const createdAt = performance.now();
  const seconds = (createdAt - t0) / 1000;
  const count = pages.reduce((n, p) => n + p.length, 0);
  if (count !== cfg.sessions) throw new Error(`created ${count} records, expected ${cfg.sessions}`);
  if (out.big.length !== cfg.userSessions || out.sample.length !== cfg.sample || !out.admin) throw new Error('the kept cookies are incomplete');
  for (let i = out.sample.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [out.sample[i], out.sample[j]] = [out.sample[j], out.sample[i]];
  }
  return { pages, ...out, seconds, workers, createdAt };
}

// ---------------------------------------------------------------------------------------------
// 2. Stores


/** Each: { label, url, cleanup() -> note }, or throws Skip when the service does not answer. */
const STORES = {
  async redis() {
    const problem = await redisProblem(REDIS_URL);
    if (problem) throw new Skip(problem.replaceAll(REDIS_URL, redact(REDIS_URL)));
    const prefix = redisPrefix('scale');
    const u = new URL(REDIS_URL);
    u.searchParams.set('prefix', prefix);
    return {
      label: 'Redis',
      url: u.toString(),
      cleanup: async () => `deleted ${fmtInt(await deleteByPrefix(REDIS_URL, prefix))} keys under ${prefix}`,
    };
  },

  async postgres(runId) {
    const pool = await postgresPool(POSTGRES_URL);
    const schema = `tessera_bench_scale_${runId}`;
    await pool.query(`CREATE SCHEMA "${schema}"`);
    const u = new URL(POSTGRES_URL);
    u.searchParams.set('table', `${schema}.sessions`);
    return {
      label: 'PostgreSQL',
      url: u.toString(),
      async cleanup() {
        try {
          await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          const left = (await pool.query('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [schema])).rows[0].n;
          return `dropped schema ${schema} with its tables and notify function (${left} left)`;
        } finally {
          await pool.end().catch(() => {});
        }
      },
    };
  },
};

async function openBulk(url) {
  const { openStore, needsSetup } = await import(dist('config/dist/index.js'));
  const store = await openStore(url);
  if (needsSetup(store)) await store.setup();
  return store;
}

/** importRecords of every page, two calls in flight; resolves to seconds. */
async function seed(url, pages, total) {
  const store = await openBulk(url);
  try {
    const t0 = performance.now();
    let next = 0;
    let written = 0;
    const lane = async () => {
      while (next < pages.length) {
        const n = await store.importRecords(pages[next++]); // not `written += await`: that reads `written` before the wait
        written += n;
      }
    };
    await withTimeout(Promise.all([lane(), lane()]), Math.max(120_000, total * 0.3), `importing ${fmtInt(total)} records`);
    const seconds = (performance.now() - t0) / 1000;
    const counted = await withTimeout(store.countRecords(), 120_000, 'countRecords');
    if (written !== total || counted !== total) throw new Error(`imported ${written} records and the store counts ${counted}, expected ${total}`);
    return seconds;
  } finally {
    await store.close().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Server and load generator, child processes

const children = new Set();
if (isMainThread) {
  process.once('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
}

/** The environment without the caller's TESSERA_* and NODE_OPTIONS. */
function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TESSERA_') && k !== 'NODE_OPTIONS'));
}

/** Child with an IPC channel; `request(msg, type, ms)` sends and waits for the first reply of that type. */
function ipcChild(args) {
  const child = spawn(process.execPath, [SELF, ...args], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  children.add(child);
  let out = '';
  const keep = d => (out = (out + d).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise(r => child.once('exit', (code, signal) => r({ code, signal })));
  exited.then(() => children.delete(child));
  return {
    child,
    output: () => out.trim(),
    alive: () => child.exitCode === null && child.signalCode === null,
    request(msg, type, ms, what) {
      return withTimeout(
        new Promise((res, rej) => {
          const on = m => {
            if (m?.type === 'error') return rej(new Error(m.reason));
            if (m?.type === type) {
              child.off('message', on);
              res(m);
            }
          };
          child.on('message', on);
          exited.then(({ code, signal }) => rej(new Error(`${what}: the process exited (${code ?? signal}): ${out.trim().split('\n').slice(-3).join(' | ')}`)));
          if (msg) child.send(msg);
        }),
        ms,
        what,
      );
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send({ type: 'shutdown' });
      const done = await Promise.race([exited.then(() => true), sleep(12_000).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Child: a Tessera Express server on the store URL, 127.0.0.1 only. */
async function serve() {
  const cfg = await new Promise(r => process.once('message', r));
  try {
    const { openStore } = await import(dist('config/dist/index.js'));
    const { tessera } = await import(dist('express/dist/index.js'));
    const { default: express } = await import('express');
    const store = await openStore(cfg.url);
    // Store reads, counted where the core makes them (the record cache sits in front of this).
    let reads = 0;
    const get = store.get.bind(store);
    store.get = id => (reads++, get(id));
    let touches = 0;
    const touch = store.touch.bind(store);
    store.touch = (...args) => (touches++, touch(...args));
    // What empties the record cache besides single-record notices: "all changed" (a flush of any
    // Redis database) and notices down (the watch connection lost or slow to answer its PING).
    const watch = { all: 0, down: 0 };
    if (typeof store.watch === 'function') {
      const w = store.watch.bind(store);
      store.watch = listener =>
        w({
          changed: ids => (ids === null && watch.all++, listener.changed(ids)),
          state: up => (up || watch.down++, listener.state(up)),
        });
    }
    const auth = tessera({ store, secret: cfg.secret, recordCacheSize: cfg.cacheSize, maxSessionsPerUser: false, logger: false });
    await auth.core.ready();
    const app = express();
    app.use(auth);
    app.use('/auth/admin', auth.adminRoutes({ isAdmin: s => s.user.id === ADMIN_USER }));
    app.get('/api/me', auth.requireSession(), (req, res) => res.json({ user: req.tessera.user }));
    const server = createServer(app);
    await new Promise((res, rej) => server.once('error', rej).listen(0, '127.0.0.1', res));
    let closing;
    const shutdown = () =>
      (closing ??= (async () => {
        setTimeout(() => process.exit(1), 10_000).unref();
        server.closeAllConnections?.();
        await new Promise(r => server.close(() => r()));
        await auth.core.close().catch(() => {});
        process.exit(0);
      })());
    process.on('message', m => {
      if (m?.type === 'stats') process.send({ type: 'stats', reads, touches, watch, cpu: process.cpuUsage() });
      else if (m?.type === 'shutdown') shutdown();
    });
    process.on('disconnect', shutdown);
    process.send({ type: 'ready', port: server.address().port });
  } catch (err) {
    process.send({ type: 'error', reason: `server start failed: ${firstLine(err)}` }, () => process.exit(1));
  }
}

/**
 * Child: an open-loop load at a fixed rate: request i is due at t0 + i / rate whatever the earlier
 * ones are doing (keep-alive connections, at most `connections`; a request finding them all busy
 * waits for one), each with the next cookie in turn. Its latency runs from when it was due to the
 * end of its answer, so a stall is counted for every request it delays (no coordinated omission).
 * (autocannon's `overallRate` is not used: it lets each connection send its share of a second back
 * to back at the start of the second, then idle, which measures latency under a burst.)
 */
async function loadChild() {
  process.on('disconnect', () => process.exit(1)); // the runner went away: don't linger
  const cfg = await new Promise(r => process.once('message', r));
  try {
    const url = new URL(assertLoopback(cfg.url));
    const agent = new Agent({ keepAlive: true, maxSockets: cfg.connections });
    const cookies = cfg.cookies;
    const total = cfg.amount ?? cfg.rate * cfg.duration;
    const interval = 1000 / cfg.rate;
    const latency = new Float64Array(total).fill(Number.NaN);
    const lag = new Float64Array(total);
    const codes = {};
    let errors = 0;
    let timeouts = 0;
    let done = 0;
    const t0 = performance.now() + 20;
    await new Promise(finish => {
      const settle = () => ++done === total && finish();
      const fire = i => {
        const due = t0 + i * interval;
        lag[i] = performance.now() - due;
        const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, agent, headers: { cookie: cookies[i % cookies.length] } }, res => {
          res.resume();
          res.once('end', () => {
            latency[i] = performance.now() - due;
            codes[res.statusCode] = (codes[res.statusCode] ?? 0) + 1;
            settle();
          });
          res.once('error', () => (errors++, settle()));
        });
        req.setTimeout(HTTP_TIMEOUT_MS, () => (timeouts++, req.destroy(new Error('timeout'))));
        req.once('error', () => (errors++, settle()));
        req.end();
      };
      let sent = 0;
      const tick = () => {
        const now = performance.now();
        while (sent < total && t0 + sent * interval <= now) fire(sent++);
        if (sent < total) setTimeout(tick, Math.max(0, t0 + sent * interval - performance.now()));
      };
      setTimeout(tick, 20);
    });
    const seconds = (performance.now() - t0) / 1000;
    agent.destroy();
    const ok = Array.from(latency).filter(x => !Number.isNaN(x)).sort((a, b) => a - b);
    const lags = Array.from(lag).sort((a, b) => a - b);
    process.send(
      { type: 'result', requests: total, answered: ok.length, seconds, p50: quantile(ok, 0.5), p99: quantile(ok, 0.99), max: ok.at(-1), lagP99: quantile(lags, 0.99), codes, errors, timeouts, cookiesUsed: Math.min(total, cookies.length) },
      () => process.exit(0),
    );
  } catch (err) {
    process.send({ type: 'error', reason: `load generator failed: ${firstLine(err)}` }, () => process.exit(1));
  }
}

async function startServer(url, secret, cacheSize) {
  const s = ipcChild(['--serve']);
  try {
    const { port } = await s.request({ url, secret, cacheSize }, 'ready', START_LIMIT_MS, 'server start');
    let statsId = 0;
    return { ...s, port, base: `http://127.0.0.1:${port}`, stats: () => s.request({ type: 'stats', id: ++statsId }, 'stats', 5000, 'server stats') };
  } catch (err) {
    await s.stop();
    throw err;
  }
}

async function runLoad(cfg) {
  const l = ipcChild(['--load']);
  const seconds = cfg.amount ? cfg.amount / cfg.rate : cfg.duration;
  try {
    return await l.request(cfg, 'result', (seconds + 30) * 1000, 'load run');
  } finally {
    await l.stop();
  }
}

async function get(server, cookie) {
  const res = await fetch(`${server.base}/api/me`, { headers: cookie ? { cookie } : {}, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body };
}

/** Counts the statuses of GET /api/me with each cookie (one after the other); `user` checks the 200s' user id. */
async function statuses(server, cookies, user) {
  const n = {};
  for (const c of cookies) {
    const cookie = Array.isArray(c) ? c[0] : c;
    const r = await get(server, cookie);
    n[r.status] = (n[r.status] ?? 0) + 1;
    const want = Array.isArray(c) ? c[1] : user;
    if (r.status === 200 && want && r.body?.user?.id !== want) throw new Error(`GET /api/me answered user ${r.body?.user?.id}, expected ${want}`);
  }
  return n;
}

const only = (counts, status) => Object.keys(counts).every(k => Number(k) === status);

/** Most warm-up passes over the sample before the measured run. */
const MAX_WARM_PASSES = 4;
/** `touchInterval` at its default (no idle timeout): a session's lastSeenAt is written at most once a minute. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Warm-up, then the measured run, with the server's store reads, lastSeenAt writes and CPU over
 * it. A request writes its session's lastSeenAt when the last write is a minute old or more
 * (`touchInterval`), and with the cache on that write drops the session from it. So that both
 * runs measure the same thing (cache on: every read from the cache; off: one store read a
 * request, no writes), the warm-up first waits until every sampled session's last write is more
 * than a minute old (`state.lastWrite`, the store's), makes one pass over the sample (each used
 * once: it writes them all), then passes until one writes none (which also fills the cache).
 */
async function measure(server, cfg, cookies, state) {
  const load = { url: `${server.base}/api/me`, cookies, rate: cfg.rate, connections: cfg.connections };
  const bad = r => r.errors + r.timeouts > 0 || !only(r.codes, 200);
  const wait = state.lastWrite + TOUCH_INTERVAL_MS + 1500 - performance.now();
  if (wait > 0) await sleep(wait);
  const warm = [];
  for (let pass = 1; pass <= MAX_WARM_PASSES; pass++) {
    const before = await server.stats();
    const w = await runLoad({ ...load, amount: cookies.length });
    const after = await server.stats();
    if (bad(w)) throw new Error(`INVALID: warm-up pass ${pass} got ${JSON.stringify(w.codes)}, ${w.errors} errors, ${w.timeouts} timeouts (every response must be 200)`);
    warm.push(after.touches - before.touches);
    if (warm.at(-1) > 0) state.lastWrite = performance.now();
    else break;
  }
  const s0 = await server.stats();
  const r = await runLoad({ ...load, duration: cfg.duration });
  const s1 = await server.stats();
  if (bad(r) || r.requests === 0) throw new Error(`INVALID: the measured run got ${JSON.stringify(r.codes)}, ${r.errors} errors, ${r.timeouts} timeouts (every response must be 200)`);
  if (s1.touches > s0.touches) state.lastWrite = performance.now();
  const cpuUs = s1.cpu.user + s1.cpu.system - (s0.cpu.user + s0.cpu.system);
  const cacheEmptied = { all: s1.watch.all - s0.watch.all, down: s1.watch.down - s0.watch.down };
  return {
    ...r,
    warm,
    waited: Math.max(0, wait) / 1000,
    keptUp: r.seconds <= cfg.duration / KEPT_UP,
    readsPerRequest: (s1.reads - s0.reads) / r.requests,
    touches: s1.touches - s0.touches,
    cpuUsPerRequest: cpuUs / r.requests,
    cacheEmptied,
  };
}

// ---------------------------------------------------------------------------------------------
// 4. One store

/** A store's connection details, or why it is skipped (does not answer) or failed (answered, but the setup failed). */
async function prepare(name, runId) {
  try {
    return { name, store: await STORES[name](runId) };
  } catch (err) {
    if (err instanceof Skip) return { name, skipped: err.message, notes: [] };
    return { name, error: `setting up: ${firstLine(err)}`, notes: [] };
  }
}

async function cleanup(store, result) {
  try {
    result.notes.push(`clean-up: ${await withTimeout(store.cleanup(), CLEANUP_LIMIT_MS, 'clean-up')}`);
  } catch (err) {
    result.error ??= `clean-up failed: ${firstLine(err)}`;
  }
}

async function benchStore(name, store, cfg, sessions, secret) {
  const result = { name, label: store.label, notes: [] };
  // When a sampled session's lastSeenAt was last written in this store: at its creation.
  const state = { lastWrite: sessions.createdAt };
  let server;
  try {
    process.stdout.write(`  ${store.label}: importing ${fmtInt(cfg.sessions)} records... `);
    result.importSeconds = await seed(store.url, sessions.pages, cfg.sessions);
    console.log(`${fmt(result.importSeconds, 1)} s (${fmtInt(cfg.sessions / result.importSeconds)} records/s)`);

    for (const [key, cacheSize, label] of [
      ['off', 0, 'cache off'],
      ['on', 10_000, 'cache on'],
    ]) {
      server = await startServer(store.url, secret, cacheSize);
      const anon = await get(server);
      if (anon.status !== 401) throw new Error(`INVALID: GET /api/me without a cookie answered ${anon.status}, expected 401`);
      // Sessions outside the load's sample (whose lastSeenAt writes the warm-up times) and the revocation's checks.
      const first = await statuses(server, sessions.big.slice(2 * CHECKS, 2 * CHECKS + 20), BIG_USER);
      if (!only(first, 200)) throw new Error(`INVALID: sessions answered ${JSON.stringify(first)} before any load, expected 200`);
      const wait = Math.max(0, state.lastWrite + TOUCH_INTERVAL_MS + 1500 - performance.now()) / 1000;
      process.stdout.write(`  ${store.label}, ${label}: ${wait > 0 ? `${fmt(wait, 0)} s wait (lastSeenAt a minute old), ` : ''}warm-up passes of ${fmtInt(sessions.sample.length)} requests, then ${cfg.duration} s at ${fmtInt(cfg.rate)} req/s... `);
      const m = await measure(server, cfg, sessions.sample.map(s => s[0]), state);
      result[key] = m;
      console.log(`p50 ${fmt(m.p50)} ms, p99 ${fmt(m.p99)} ms, ${fmt(m.readsPerRequest, 3)} store reads/request${m.keptUp ? '' : ' (did not keep up)'}`);
      if (key === 'on') {
        // Revoke by user on the server with the cache: some of the user's sessions are cached by then.
        const used = sessions.big.slice(0, CHECKS);
        const before = await statuses(server, used, BIG_USER);
        if (!only(before, 200)) throw new Error(`the big user's sessions answered ${JSON.stringify(before)} before the revocation, expected 200`);
        process.stdout.write(`  ${store.label}: revoking the ${fmtInt(cfg.userSessions)} sessions of one user (admin route)... `);
        const t0 = performance.now();
        const res = await fetch(`${server.base}/auth/admin/users/${BIG_USER}/revoke`, { method: 'POST', headers: { cookie: sessions.admin }, signal: AbortSignal.timeout(REVOKE_LIMIT_MS) });
        const body = await res.text();
        result.revokeMs = performance.now() - t0;
        if (res.status !== 200) throw new Error(`the revocation answered ${res.status}: ${body.slice(0, 200)}`);
        result.revoked = JSON.parse(body).revoked;
        console.log(`${fmt(result.revokeMs, 1)} ms, ${fmtInt(result.revoked)} revoked`);
        if (result.revoked !== cfg.userSessions) throw new Error(`the revocation reported ${result.revoked} sessions revoked, expected ${cfg.userSessions}`);
        const unused = sessions.big.slice(CHECKS, 2 * CHECKS);
        const after = { used: await statuses(server, used), unused: await statuses(server, unused), others: await statuses(server, sessions.sample.slice(0, CHECKS)) };
        result.checks = after;
        const ok = only(after.used, 401) && only(after.unused, 401) && only(after.others, 200);
        if (!ok) throw new Error(`after the revocation: the user's used sessions ${JSON.stringify(after.used)}, unused ${JSON.stringify(after.unused)} (expected 401); other users' ${JSON.stringify(after.others)} (expected 200)`);
      }
      if (!server.alive()) throw new Error(`the server died: ${server.output().split('\n').slice(-3).join(' | ')}`);
      await server.stop();
      server = undefined;
    }
  } catch (err) {
    result.error = `${firstLine(err)}${server ? `\n      server output: ${server.output().split('\n').slice(-3).join(' | ') || '(none)'}` : ''}`;
    console.log('');
  } finally {
    await server?.stop().catch(() => {});
    await cleanup(store, result);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------

const ALL_STORES = ['redis', 'postgres'];

function settings() {
  const cfg = {
    sessions: envNumber('BENCH_SCALE_SESSIONS', 1_000_000, { min: 100, integer: true }),
    userSessions: envNumber('BENCH_SCALE_USER_SESSIONS', 10_000, { min: 2 * CHECKS + 20, integer: true }),
    sample: envNumber('BENCH_SCALE_SAMPLE', 10_000, { min: CHECKS, integer: true }),
    rate: envNumber('BENCH_SCALE_RATE', 1000, { min: 1, integer: true }),
    duration: envNumber('BENCH_SCALE_DURATION', 10, { min: 1, integer: true }),
    connections: envNumber('BENCH_SCALE_CONNECTIONS', 20, { min: 1, integer: true }),
    workers: envNumber('BENCH_SCALE_WORKERS', 2, { min: 1, integer: true }),
  };
  const others = cfg.sessions - cfg.userSessions - 1;
  if (others < CHECKS) {
    console.error(`BENCH_SCALE_SESSIONS=${cfg.sessions} leaves ${others} sessions beside the big user's ${cfg.userSessions} and the admin's: at least ${CHECKS} are needed`);
    process.exit(2);
  }
  if (cfg.sample > others) {
    console.log(`note: BENCH_SCALE_SAMPLE ${cfg.sample} is more than the ${others} other sessions: sampling all of them`);
    cfg.sample = others;
  }
  return cfg;
}

export async function runScale() {
  const missing = ['core', 'config', 'express', 'store-redis', 'store-postgres'].filter(p => !existsSync(join(ROOT, 'packages', p, 'dist', 'index.js')));
  if (missing.length) {
    console.error(`not built: ${missing.map(p => `@tessera/${p}`).join(', ')}. Run \`npx tsc -b\` at the repository root first.`);
    return false;
  }
  for (const [name, url] of [['BENCH_REDIS_URL', REDIS_URL], ['BENCH_POSTGRES_URL', POSTGRES_URL]]) {
    try {
      assertLoopback(url);
    } catch (err) {
      console.error(`${name}: ${err.message}`);
      return false;
    }
  }
  const cfg = settings();
  const stores = storesFromEnv('BENCH_SCALE_STORES', ALL_STORES);
  if (stores === null) return false;
  const runId = `${process.pid}${randomBytes(3).toString('hex')}`;
  const secret = `bench-scale-secret-${randomBytes(16).toString('hex')}`;
  console.log(`Sessions at scale: ${fmtInt(cfg.sessions)} live sessions per store, ${fmtInt(cfg.userSessions)} of them one user's; GET /api/me at ${fmtInt(cfg.rate)} req/s for ${cfg.duration} s over ${cfg.connections} connections, rotating over ${fmtInt(cfg.sample)} sampled sessions; 127.0.0.1 only`);
  console.log(`load average at the start: ${loadavg().map(x => x.toFixed(2)).join(' ')}`);

  // Which stores answer, before the expensive part.
  const prepared = [];
  for (const name of stores) {
    const p = await prepare(name, runId);
    if (p.skipped) console.log(`  ${name}: SKIPPED: ${p.skipped}`);
    if (p.error) console.log(`  ${name}: FAILED: ${p.error}`);
    prepared.push(p);
  }
  if (prepared.every(p => !p.store)) {
    console.log('sessions-at-scale bench: no store to measure');
    return prepared.every(p => !p.error);
  }

  process.stdout.write(`  creating ${fmtInt(cfg.sessions)} sessions with tessera.issue() in ${Math.min(cfg.workers, Math.ceil(cfg.sessions / PAGE))} worker thread(s)... `);
  let sessions;
  try {
    sessions = await createSessions(cfg, secret);
  } catch (err) {
    console.log('');
    console.error(`FAILED: creating the sessions: ${firstLine(err)}`);
    for (const p of prepared.filter(p => p.store)) {
      const r = { notes: [] };
      await cleanup(p.store, r);
      console.log(`  ${p.name}: ${r.error ?? r.notes.join('; ')}`);
    }
    return false;
  }
  console.log(`${fmt(sessions.seconds, 1)} s (${fmtInt(cfg.sessions / sessions.seconds)} sessions/s)`);

  const results = [];
  for (const p of prepared) results.push(p.store ? await benchStore(p.name, p.store, cfg, sessions, secret) : p);
  const load1 = loadavg();

  console.log('');
  console.log(`Sessions at scale (created once for both stores by tessera.issue() in ${fmt(sessions.seconds, 1)} s; seed = that plus the store's import)`);
  console.log(`| store | sessions | import | seed | auth p50 / p99 ms, cache on | auth p50 / p99 ms, cache off | store reads/req on / off | µs server CPU/req on / off | revoke-by-user, ${fmtInt(cfg.userSessions)} sessions |`);
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const lat = m => (m ? `${fmt(m.p50)} / ${fmt(m.p99)}${m.keptUp ? '' : ' !'}` : '-');
  for (const r of results) {
    if (r.skipped) {
      console.log(`| ${r.name} | SKIPPED | | | | | | | |`);
      continue;
    }
    console.log(
      `| ${r.label ?? r.name} | ${fmtInt(cfg.sessions)} | ${r.importSeconds ? `${fmt(r.importSeconds, 1)} s` : '-'} | ${r.importSeconds ? `${fmt(sessions.seconds + r.importSeconds, 1)} s` : '-'} | ${lat(r.on)} | ${lat(r.off)} | ${fmt(r.on?.readsPerRequest, 3)} / ${fmt(r.off?.readsPerRequest, 3)} | ${fmtInt(r.on?.cpuUsPerRequest)} / ${fmtInt(r.off?.cpuUsPerRequest)} | ${r.revokeMs !== undefined ? `${fmt(r.revokeMs, 1)} ms` : '-'} |`,
    );
  }
  console.log('');
  let ok = true;
  for (const r of results) {
    if (r.skipped) {
      console.log(`${r.name}: SKIPPED: ${r.skipped}`);
      continue;
    }
    if (r.error) {
      ok = false;
      console.log(`${r.label ?? r.name}: FAILED: ${r.error}`);
    } else {
      for (const [k, m] of [['on', r.on], ['off', r.off]]) {
        console.log(`${r.label} cache ${k}: ${m.waited > 0 ? `waited ${fmt(m.waited, 0)} s, ` : ''}${m.warm.length} warm-up pass(es) (lastSeenAt writes: ${m.warm.join(', ')}), then ${fmtInt(m.requests)} requests in ${fmt(m.seconds)} s over ${fmtInt(m.cookiesUsed)} sessions, all 200, ${fmtInt(m.touches)} lastSeenAt writes; max ${fmt(m.max)} ms; the load generator sent its p99 request ${fmt(m.lagP99)} ms after it was due${k === 'on' ? `; the record cache was emptied ${m.cacheEmptied.all} time(s) by an "everything changed" notice (Redis: a FLUSHDB/FLUSHALL of any database), ${m.cacheEmptied.down} time(s) by notices going down` : ''}${m.keptUp ? '' : `; the run took over ${fmtInt(100 / KEPT_UP - 100)}% longer than planned: the server did not keep up with ${cfg.rate} req/s (!)`}`);
      }
      const c = r.checks;
      console.log(`${r.label} after the revocation: the user's ${CHECKS} used sessions ${JSON.stringify(c.used)}, ${CHECKS} unused ${JSON.stringify(c.unused)}, ${CHECKS} other users' ${JSON.stringify(c.others)}`);
    }
    for (const n of r.notes) console.log(`    ${n}`);
  }
  console.log(`load average at the end: ${load1.map(x => x.toFixed(2)).join(' ')}`);
  if (!ok) console.error('sessions-at-scale bench: FAILED (see above)');
  return ok;
}

if (!isMainThread) {
  await seedWorker(workerData); // a failure is the worker's 'error' event in createSessions
} else if (process.argv[1] && resolve(process.argv[1]) === SELF) {
  if (process.argv.includes('--serve')) await serve();
  else if (process.argv.includes('--load')) await loadChild();
  else process.exit((await runScale()) ? 0 : 1);
}
