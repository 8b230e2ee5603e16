#!/usr/bin/env node
/**
 * Soak of the three examples: minutes of mixed session traffic, then is each server's RSS flat?
 *
 *   node bench/soak.mjs                               10 minutes, the first one warm-up
 *   SOAK_SECONDS=120 SOAK_WARMUP=30 node bench/soak.mjs   a quick check
 *
 * The Express, Koa and Fastify examples (built code: `pnpm build` first) start at once as child
 * processes on 127.0.0.1, each on its own file store in a temp directory, in pair mode with short
 * lifetimes (access 5 s, refresh 60 s) so refreshes and rotations happen all the time. Per
 * example, SOAK_CLIENTS virtual clients (each its own cookie jar) share one keep-alive agent and at
 * most SOAK_RATE requests/s: logins (alice, bob, and wrong passwords), GET /api/me, GET
 * /auth/session, POST /auth/refresh after the access token expires, logout, job tokens (create,
 * use as Bearer, revoke, use again), garbage cookies, and now and then a client idle past the
 * refresh lifetime. Every answer is checked against what that step expects.
 *
 * Every 5 s the children's RSS is read from /proc/<pid>/status (VmRSS; Linux). After the warm-up,
 * growth = (mean RSS of the last minute - mean of the first minute) / mean of the first minute.
 * Exit 1 when an example answered a 5xx, crashed, answered something its step did not expect, had
 * a connection error or timeout, or grew more than SOAK_MAX_GROWTH. Also shown, not judged: the
 * live JS heap after a full GC at the end of the warm-up and at the end (the leak signal RSS blurs).
 *
 * Two things that grow without leaking are settled before the warm-up ends, so that what grows
 * after it is a leak: V8's young generation is fixed at its 64-bit default (16 MiB semi-spaces)
 * instead of growing once under load at an unpredictable moment, and the verified-token caches
 * are SOAK_CACHE_SIZE (200) instead of 10,000, so they are full within the warm-up.
 *
 * Expired records pile up on disk, not in memory: a separate FileStore in this process purges
 * each directory every SOAK_PURGE seconds (the store's own timer is hourly), the way a production
 * purge keeps the directory bounded; SOAK_PURGE=0 turns that off.
 *
 * Env: SOAK_SECONDS (600, warm-up included), SOAK_WARMUP (60), SOAK_CLIENTS (20 per example),
 *      SOAK_RATE (100 requests/s per example), SOAK_PURGE (60 s; 0 = off), SOAK_MAX_GROWTH (10 %),
 *      SOAK_CACHE_SIZE (200, TESSERA_VERIFIED_CACHE_SIZE), SOAK_ONLY (comma-separated subset of
 *      express,koa,fastify).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envNumber, freePort } from './util.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');


const SETTINGS = {
  seconds: envNumber('SOAK_SECONDS', 600, { min: 20, integer: true }),
  warmup: envNumber('SOAK_WARMUP', 60, { min: 0, integer: true }),
  clients: envNumber('SOAK_CLIENTS', 20, { min: 1, integer: true }),
  rate: envNumber('SOAK_RATE', 100, { min: 1 }),
  purge: envNumber('SOAK_PURGE', 60, { min: 0 }),
  maxGrowth: envNumber('SOAK_MAX_GROWTH', 10, { min: 0 }),
  cacheSize: envNumber('SOAK_CACHE_SIZE', 200, { min: 0, integer: true }),
};
if (SETTINGS.warmup > SETTINGS.seconds - 20) {
  console.error(`SOAK_WARMUP=${SETTINGS.warmup} leaves less than 20 s of SOAK_SECONDS=${SETTINGS.seconds} to measure`);
  process.exit(2);
}
const FRAMEWORKS = ['express', 'koa', 'fastify'];
const picked = process.env.SOAK_ONLY ? process.env.SOAK_ONLY.split(',').map(s => s.trim()).filter(Boolean) : FRAMEWORKS;
if (picked.length === 0 || picked.some(f => !FRAMEWORKS.includes(f))) {
  console.error(`SOAK_ONLY=${process.env.SOAK_ONLY}: expected a comma-separated subset of ${FRAMEWORKS.join(',')}`);
  process.exit(2);
}

const SAMPLE_MS = 5000;
const REQUEST_TIMEOUT_MS = 10_000;
const ACCESS_TTL = 5;
const REFRESH_TTL = 60;
/** Past the refresh lifetime plus the 5 s clock tolerance: the refresh token has expired. */
const IDLE_MS = (REFRESH_TTL + 8) * 1000;
const USERS = [
  { username: 'alice', password: 'wonderland' },
  { username: 'bob', password: 'builder' },
];

const sleep = ms => new Promise(r => setTimeout(r, ms));
const pick = list => list[Math.floor(Math.random() * list.length)];
const fmtInt = n => Math.round(n).toLocaleString('en-US');
const mib = kb => (kb / 1024).toFixed(1);

// ---------------------------------------------------------------------------------------------
// Children and temp dirs, cleaned up on every way out

const children = new Set();
const tempDirs = new Set();
let cleaned = false;

function cleanupSync() {
  if (cleaned) return;
  cleaned = true;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping the examples and removing their stores`);
    cleanupSync();
    process.exit(130);
  });
}

/** Stops a child: SIGTERM (the examples close their store), SIGKILL after 5 s. */
function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise(res => {
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      res();
    });
    child.kill('SIGTERM');
  });
}


function checkBuilt() {
  const missing = ['core', 'express', 'koa', 'fastify', 'store-file', 'config', 'client'].filter(p => !existsSync(join(ROOT, 'packages', p, 'dist', 'index.js')));
  if (missing.length) {
    console.error(`not built: ${missing.map(p => `@tessera/${p}`).join(', ')}. Run \`pnpm build\` at the repository root first.`);
    process.exit(1);
  }
}

/** The example's environment: the caller's without any TESSERA_*, then exactly the soak's. */
function exampleEnv(port, dir) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TESSERA_')));
  return {
    ...env,
    NODE_OPTIONS: '',
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    TESSERA_STORE: `file:${dir}`,
    TESSERA_SECRET: randomBytes(32).toString('base64url'),
    TESSERA_MODE: 'pair',
    TESSERA_ACCESS_TTL: `${ACCESS_TTL}s`,
    TESSERA_REFRESH_TTL: `${REFRESH_TTL}s`,
    // The deliberate wrong passwords must not lock alice and bob out of the traffic.
    TESSERA_LOGIN_THROTTLE: 'off',
    // The verified-token caches (one per token type) keep every token until as many newer ones
    // push it out: at the default 10,000 they fill for about 45 minutes at this traffic (about
    // 1 KB a token). Small enough to be full within the warm-up, they are bounded in the run.
    TESSERA_VERIFIED_CACHE_SIZE: String(SETTINGS.cacheSize),
  };
}

// Preloaded into each example: it exits when this runner goes away, even by SIGKILL (its IPC
// channel closes), and answers 'heap' with the live JS heap after a full GC.
const PRELOAD =
  'data:text/javascript,' +
  encodeURIComponent(
    "process.on('disconnect', () => process.exit(0));" +
      "process.on('message', m => { if (m === 'heap') { globalThis.gc?.(); process.send({ heap: process.memoryUsage().heapUsed }); } });",
  );
// V8 grows the young generation (two semi-spaces) once under load, by about 16 MiB of RSS, at a
// moment of its choosing (seen from 20 s to 4 minutes in): fixed at V8's 64-bit default maximum
// from the start, that step is not taken for a leak.
const NODE_FLAGS = ['--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16', '--import', PRELOAD];

async function startExample(framework) {
  const dir = await mkdtemp(join(tmpdir(), `tessera-soak-${framework}-`));
  tempDirs.add(dir);
  const port = await freePort();
  const child = spawn(process.execPath, [...NODE_FLAGS, join(ROOT, 'examples', framework, 'server.js')], {
    cwd: join(ROOT, 'examples', framework),
    env: exampleEnv(port, dir),
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.add(child);
  const ex = { framework, dir, port, child, out: '', crashed: null, stopping: false };
  const onData = d => {
    ex.out = (ex.out + d).slice(-20_000);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`${framework} did not start within 30 s: ${ex.out.trim().slice(-500)}`)), 30_000);
    const poll = setInterval(() => {
      if (/demo on/.test(ex.out)) {
        clearTimeout(t);
        clearInterval(poll);
        res();
      }
    }, 50);
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      clearInterval(poll);
      rej(new Error(`${framework} exited (code ${code}, signal ${signal}) while starting: ${ex.out.trim().slice(-500)}`));
    });
  });
  child.on('exit', (code, signal) => {
    if (!ex.stopping) ex.crashed = `exited with code ${code}, signal ${signal} at ${elapsed().toFixed(0)} s`;
  });
  return ex;
}

// ---------------------------------------------------------------------------------------------
// HTTP: one keep-alive agent and one rate limit per example

/** At most `rate` request starts per second, evenly spaced. */
function limiter(rate) {
  let next = 0;
  return async () => {
    const now = performance.now();
    const at = Math.max(now, next);
    next = at + 1000 / rate;
    if (at > now) await sleep(at - now);
  };
}

/** A cookie jar honouring Path, Max-Age and Expires, enough for the examples' cookies. */
class Jar {
  constructor() {
    this.cookies = new Map();
  }
  clear() {
    this.cookies.clear();
  }
  has(name) {
    return this.cookies.has(name);
  }
  header(path) {
    const now = Date.now();
    const parts = [];
    for (const [name, c] of this.cookies) {
      if (c.expires !== undefined && c.expires <= now) {
        this.cookies.delete(name);
        continue;
      }
      if (path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : c.path + '/')) parts.push(`${name}=${c.value}`);
    }
    return parts.join('; ');
  }
  take(setCookies) {
    for (const line of setCookies ?? []) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = '/';
      let expires;
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        const key = k.trim().toLowerCase();
        if (key === 'path') path = v.trim() || '/';
        else if (key === 'max-age') expires = Date.now() + Number(v) * 1000;
        else if (key === 'expires' && expires === undefined) expires = Date.parse(v.trim());
      }
      if (value === '' || (expires !== undefined && expires <= Date.now())) this.cookies.delete(name);
      else this.cookies.set(name, { value, path, expires });
    }
  }
}

/** Counts, per example, of everything the traffic saw. */
function newStats() {
  return { requests: 0, measured: 0, rotations: 0, statuses: new Map(), fiveXX: 0, errors: 0, unexpected: 0, samples: [], steps: new Map() };
}

class Target {
  constructor(ex) {
    this.ex = ex;
    this.agent = new Agent({ keepAlive: true, maxSockets: SETTINGS.clients + 4 });
    this.wait = limiter(SETTINGS.rate);
    this.stats = newStats();
  }

  /**
   * One request. `jar` sends and takes cookies (null: none); `cookie` and `bearer` replace them.
   * Resolves { status, code } (code: the error code of a JSON error body), or null on a network
   * error or timeout (counted, never thrown).
   */
  async send(step, method, path, { jar = null, cookie, bearer, body } = {}) {
    await this.wait();
    if (stopping) return null; // the run is over: nothing new starts
    const headers = { accept: 'application/json' };
    const c = cookie ?? jar?.header(path);
    if (c) headers.cookie = c;
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    let payload;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const s = this.stats;
    const measuring = warm;
    s.requests++;
    if (measuring) s.measured++;
    try {
      const res = await new Promise((resolveRes, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: this.ex.port, method, path, headers, agent: this.agent }, r => {
          const chunks = [];
          r.on('data', d => chunks.push(d));
          r.on('end', () => resolveRes({ status: r.statusCode, headers: r.headers, text: Buffer.concat(chunks).toString('utf8') }));
          r.on('error', reject);
        });
        req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`timed out after ${REQUEST_TIMEOUT_MS} ms`)));
        req.on('error', reject);
        req.end(payload);
      });
      s.statuses.set(res.status, (s.statuses.get(res.status) ?? 0) + 1);
      if (res.status >= 500) {
        s.fiveXX++;
        this.note(`${step}: ${method} ${path} answered ${res.status}`);
      }
      if (jar) jar.take(res.headers['set-cookie']);
      // A new refresh cookie outside a login is a rotation: POST /auth/refresh, or a transparent
      // refresh on a route under /auth (where the refresh cookie travels) after the access expired.
      if (!step.startsWith('login') && (res.headers['set-cookie'] ?? []).some(c => /^tessera-refresh=[^;]/.test(c))) s.rotations++;
      let json;
      try {
        json = res.text ? JSON.parse(res.text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, code: json?.error?.code, json };
    } catch (err) {
      if (!stopping) {
        s.errors++;
        this.note(`${step}: ${method} ${path}: ${err.code ?? err.message}`);
      }
      return null;
    }
  }

  /** Checks an answer against what the step expects; counts the step either way. */
  expect(step, r, ...allowed) {
    const st = this.stats.steps.get(step) ?? { ok: 0, bad: 0 };
    this.stats.steps.set(step, st);
    if (r === null) return false; // already counted as an error
    const ok = allowed.some(a => (typeof a === 'number' ? r.status === a : r.status === a[0] && r.code === a[1]));
    if (ok) st.ok++;
    else {
      st.bad++;
      if (!stopping) {
        this.stats.unexpected++;
        this.note(`${step}: got ${r.status}${r.code ? ` ${r.code}` : ''}, expected ${allowed.map(a => (typeof a === 'number' ? a : a.join(' '))).join(' or ')}`);
      }
    }
    return ok;
  }

  /** Keeps the first few problems for the report (method, path, status, code: never a token). */
  note(text) {
    if (this.stats.samples.length < 8) this.stats.samples.push(`${elapsed().toFixed(0)} s ${text}`);
  }
}

// ---------------------------------------------------------------------------------------------
// A virtual client: one browser (cookie jar) of one user, doing what a user and an app would

class Client {
  constructor(target, n) {
    this.t = target;
    this.n = n;
    this.jar = new Jar();
    this.loggedIn = false;
    this.jobs = 0;
  }

  async run() {
    while (!stopping && performance.now() < until) {
      if (!this.loggedIn) await this.login();
      else await this.act();
      await nap(20 + Math.random() * 180); // think time
    }
  }

  async login() {
    const user = pick(USERS);
    // One login in eight is first tried with a wrong password or an unknown user.
    if (Math.random() < 0.125) {
      const wrong = Math.random() < 0.5 ? { username: user.username, password: 'not-' + user.password } : { username: 'mallory', password: 'guess' };
      const r = await this.t.send('login (wrong password)', 'POST', '/auth/login', { jar: this.jar, body: wrong });
      this.t.expect('login (wrong password)', r, [401, 'LOGIN_FAILED']);
    }
    const r = await this.t.send('login', 'POST', '/auth/login', { jar: this.jar, body: user });
    if (this.t.expect('login', r, 200) && this.jar.has('tessera') && this.jar.has('tessera-refresh')) this.loggedIn = true;
  }

  /**
   * A request with the session; on 401 TOKEN_EXPIRED (the access token's 5 s are over) it
   * refreshes and retries once, as @tessera/client does. Null when the session has ended.
   */
  async authed(step, method, path, body) {
    if (!this.jar.has('tessera')) {
      // The browser let the cookies expire (Max-Age: the refresh lifetime): signed out.
      this.loggedIn = false;
      return null;
    }
    const r = await this.t.send(step, method, path, { jar: this.jar, body });
    if (r?.status !== 401 || r.code !== 'TOKEN_EXPIRED') return r;
    if (!(await this.refresh())) return null;
    return this.t.send(step, method, path, { jar: this.jar, body });
  }

  async refresh() {
    const r = await this.t.send('refresh', 'POST', '/auth/refresh', { jar: this.jar });
    // SESSION_ENDED: the refresh token expired (an idle client) or the session was ended elsewhere.
    if (this.t.expect('refresh', r, 200, [401, 'SESSION_ENDED']) && r.status === 200) return true;
    this.loggedIn = false;
    return false;
  }

  async act() {
    const x = Math.random();
    // At about 4 steps a second per client: a session lasts about a minute (logout, login over
    // it), about 5% of the time is spent waiting for an expiry, and about one client in fifteen
    // is away past the refresh lifetime at any time. Most refreshes come from the 5 s access
    // lifetime running out under ordinary requests.
    if (x < 0.15) return this.session();
    if (x < 0.21) return this.job();
    if (x < 0.28) return this.garbage();
    if (x < 0.283) return this.logout();
    if (x < 0.285) return this.relogin();
    if (x < 0.288) {
      // Wait for the access token to expire (5 s + the 5 s clock tolerance), so the next request refreshes.
      await nap((ACCESS_TTL + 6) * 1000 * Math.random());
      return this.me();
    }
    if (x < 0.2883) return this.idle();
    return this.me();
  }

  async me() {
    const r = await this.authed('GET /api/me', 'GET', '/api/me');
    if (r) this.t.expect('GET /api/me', r, 200);
  }

  async session() {
    const r = await this.authed('GET /auth/session', 'GET', '/auth/session');
    if (r) this.t.expect('GET /auth/session', r, 200);
  }

  /** A job token: created, used as Bearer, revoked, refused; one in four is left to expire (ttl 30 s). */
  async job() {
    const jobId = `soak-${this.n}-${this.jobs++ % 50}`;
    const keep = Math.random() < 0.25;
    const r = await this.authed('POST /auth/jobs', 'POST', '/auth/jobs', { jobId, ttl: keep ? 30 : 120 });
    if (!r || !this.t.expect('POST /auth/jobs', r, 201)) return;
    const token = r.json?.token;
    for (let i = 0; i < 2; i++) {
      const use = await this.t.send('job token', 'GET', '/api/me', { bearer: token });
      this.t.expect('job token', use, 200);
    }
    if (keep) return;
    const del = await this.authed('DELETE /auth/jobs/:id', 'DELETE', `/auth/jobs/${jobId}`);
    if (!del || !this.t.expect('DELETE /auth/jobs/:id', del, 204)) return;
    const after = await this.t.send('revoked job token', 'GET', '/api/me', { bearer: token });
    // TOKEN_INVALID once a purge has deleted the revoked record (an unknown token).
    this.t.expect('revoked job token', after, [401, 'SESSION_ENDED'], [401, 'TOKEN_INVALID']);
  }

  /** Garbage credentials from a stranger (no jar): refused, never a 5xx. */
  async garbage() {
    const junk = randomBytes(8 + Math.floor(Math.random() * 120)).toString('base64url');
    const kind = Math.floor(Math.random() * 6);
    let r;
    switch (kind) {
      case 0:
        r = await this.t.send('garbage cookie', 'GET', '/api/me', { cookie: `tessera=${junk}` });
        return this.t.expect('garbage cookie', r, [401, 'TOKEN_INVALID']);
      case 1:
        r = await this.t.send('garbage cookie', 'GET', '/auth/session', { cookie: `tessera=eyJ${junk}.eyJ${junk}.${junk}` });
        return this.t.expect('garbage cookie', r, [401, 'TOKEN_INVALID']);
      case 2:
        r = await this.t.send('garbage cookie', 'GET', '/api/me', { cookie: `tessera=${'A'.repeat(5000)}` });
        return this.t.expect('garbage cookie', r, [401, 'TOKEN_INVALID']);
      case 3:
        r = await this.t.send('garbage cookie', 'GET', '/api/me', { cookie: `tessera=a.b.c; tessera=${junk}` });
        return this.t.expect('garbage cookie', r, [401, 'TOKEN_INVALID']);
      case 4:
        // Unknown refresh tokens from one address are throttled (100 per 15 minutes by default).
        r = await this.t.send('garbage refresh', 'POST', '/auth/refresh', { cookie: `tessera-refresh=${junk}` });
        return this.t.expect('garbage refresh', r, [401, 'TOKEN_INVALID'], [429, 'TOO_MANY_ATTEMPTS']);
      default:
        r = await this.t.send('garbage bearer', 'GET', '/api/me', { bearer: `tsj_${junk}.${junk}` });
        return this.t.expect('garbage bearer', r, [401, 'TOKEN_INVALID']);
    }
  }

  async logout() {
    const r = await this.t.send('logout', 'POST', '/auth/logout', { jar: this.jar });
    this.loggedIn = false;
    if (!this.t.expect('logout', r, 204)) return;
    if (this.jar.has('tessera') || this.jar.has('tessera-refresh')) {
      this.t.stats.unexpected++;
      this.t.note('logout: cookies not cleared');
    }
    const after = await this.t.send('GET /api/me after logout', 'GET', '/api/me', { jar: this.jar });
    this.t.expect('GET /api/me after logout', after, [401, 'TOKEN_MISSING']);
  }

  /** Logging in while presenting a live session ends that session. */
  async relogin() {
    this.loggedIn = false;
    await this.login();
  }

  /**
   * Away past the refresh lifetime. A browser then has no cookies left (their Max-Age is the
   * refresh lifetime); a client that kept its refresh token anyway is refused: SESSION_ENDED.
   */
  async idle() {
    const stale = this.jar.header('/auth/refresh');
    await nap(IDLE_MS);
    if (stopping) return;
    this.loggedIn = false;
    const r = await this.t.send('expired refresh token', 'POST', '/auth/refresh', { cookie: stale });
    this.t.expect('expired refresh token', r, [401, 'SESSION_ENDED']);
  }
}

// ---------------------------------------------------------------------------------------------
// RSS, the store directories, the purge

function rssKb(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The example's live JS heap after a full GC, in kB; null when it does not answer within 5 s. */
function heapKb(ex) {
  if (ex.crashed || !ex.child.connected) return Promise.resolve(null);
  return new Promise(res => {
    const t = setTimeout(() => done(null), 5000);
    const onMessage = m => {
      if (typeof m?.heap === 'number') done(m.heap / 1024);
    };
    function done(v) {
      clearTimeout(t);
      ex.child.off('message', onMessage);
      res(v);
    }
    ex.child.on('message', onMessage);
    ex.child.send('heap');
  });
}

function countFiles(dir) {
  try {
    return readdirSync(dir).length;
  } catch {
    return 0;
  }
}

async function openPurgers(examples) {
  if (SETTINGS.purge === 0) return [];
  const { FileStore } = await import(join(ROOT, 'packages/store-file/dist/index.js'));
  // purgeInterval: false stops a store version with its own timer from purging on its own as well.
  return examples.map(ex => ({ ex, store: new FileStore({ dir: ex.dir, purgeInterval: false }), purged: 0, failed: 0 }));
}

// ---------------------------------------------------------------------------------------------
// Main

let t0 = 0;
let until = Infinity;
let warm = false;
let stopping = false;
const elapsed = () => (performance.now() - t0) / 1000;
/** Sleeps, but never past the end of the run. */
const nap = ms => sleep(Math.max(0, Math.min(ms, until - performance.now())));

function mean(xs) {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function summarise(ex, target, samples) {
  const after = samples.filter(s => s.t >= SETTINGS.warmup);
  const end = SETTINGS.seconds;
  // A minute each, or half the measured time each when that is shorter, so the two never overlap.
  const span = Math.min(60, (end - SETTINGS.warmup) / 2);
  const first = after.filter(s => s.t <= SETTINGS.warmup + span).map(s => s.kb);
  const last = after.filter(s => s.t > end - span).map(s => s.kb);
  const atWarm = samples.filter(s => s.t <= SETTINGS.warmup).at(-1)?.kb ?? samples[0]?.kb;
  const kbs = after.map(s => s.kb);
  const growth = first.length && last.length ? (mean(last) - mean(first)) / mean(first) : NaN;
  const s = target.stats;
  return {
    framework: ex.framework,
    requests: s.requests,
    rotations: s.rotations,
    rps: s.measured / (end - SETTINGS.warmup),
    statuses: [...s.statuses].sort((a, b) => a[0] - b[0]),
    fiveXX: s.fiveXX,
    errors: s.errors,
    unexpected: s.unexpected,
    crashed: ex.crashed,
    atWarm,
    min: kbs.length ? Math.min(...kbs) : NaN,
    max: kbs.length ? Math.max(...kbs) : NaN,
    last: kbs.at(-1),
    growth,
    span,
    samples: s.samples,
    steps: s.steps,
    internal: (ex.out.match(/internal error[^\n]*/g) ?? []).slice(0, 3),
  };
}

function printTable(rows) {
  const head = ['example', 'requests', 'req/s', '5xx', 'unexpected', 'errors', 'RSS warm', 'min', 'max', 'last', 'growth', 'heap', 'verdict'];
  const lines = rows.map(r => [
    r.framework,
    fmtInt(r.requests),
    r.rps.toFixed(1),
    String(r.fiveXX),
    String(r.unexpected),
    String(r.errors),
    mib(r.atWarm),
    mib(r.min),
    mib(r.max),
    mib(r.last),
    Number.isNaN(r.growth) ? 'n/a' : `${r.growth >= 0 ? '+' : ''}${(r.growth * 100).toFixed(1)}%`,
    `${r.heapWarm ? mib(r.heapWarm) : '-'} -> ${r.heapEnd ? mib(r.heapEnd) : '-'}`,
    r.verdict,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map(l => l[i].length)));
  const fmtLine = l => l.map((c, i) => (i === 0 || i === l.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(fmtLine(head));
  for (const l of lines) console.log(fmtLine(l));
  console.log('(MiB. RSS: at the end of the warm-up; min, max and last of the samples after it. heap: the live JS heap after a full GC, at the end of the warm-up and at the end)');
}

async function main() {
  checkBuilt();
  if (!existsSync('/proc/self/status')) {
    console.error('the soak reads RSS from /proc/<pid>/status: Linux only');
    return 1;
  }
  console.log(
    `tessera soak: ${picked.join(', ')} at once, ${SETTINGS.seconds} s (${SETTINGS.warmup} s warm-up), ${SETTINGS.clients} clients and at most ${SETTINGS.rate} req/s per example, ` +
      `pair mode (access ${ACCESS_TTL} s, refresh ${REFRESH_TTL} s), file store, purge ${SETTINGS.purge ? `every ${SETTINGS.purge} s` : 'off'}`,
  );
  console.log(`node ${process.version}, ${cpus().length} x ${cpus()[0]?.model?.trim() ?? 'CPU'}, load average ${loadavg().map(l => l.toFixed(2)).join(' ')}`);

  const examples = await Promise.all(picked.map(startExample));
  const targets = examples.map(ex => new Target(ex));
  const purgers = await openPurgers(examples);
  const samples = new Map(examples.map(ex => [ex.framework, []]));
  t0 = performance.now();
  until = t0 + SETTINGS.seconds * 1000;

  const sample = () => {
    const t = elapsed();
    for (const ex of examples) {
      const kb = ex.crashed ? null : rssKb(ex.child.pid);
      if (kb !== null) samples.get(ex.framework).push({ t, kb });
    }
  };
  sample();
  const sampler = setInterval(() => {
    sample();
    const t = elapsed();
    if (Math.round(t) % 60 < SAMPLE_MS / 1000) {
      const parts = examples.map(ex => {
        const kb = samples.get(ex.framework).at(-1)?.kb;
        return `${ex.framework} ${kb ? mib(kb) : '-'} MiB, ${countFiles(join(ex.dir, 'records'))} records`;
      });
      console.log(`  ${t.toFixed(0).padStart(4)} s  ${parts.join('; ')}${t < SETTINGS.warmup ? ' (warm-up)' : ''}`);
    }
  }, SAMPLE_MS);
  const heapAtWarm = new Map();
  const warmTimer = setTimeout(async () => {
    warm = true;
    for (const ex of examples) heapAtWarm.set(ex.framework, await heapKb(ex));
  }, SETTINGS.warmup * 1000);

  let purging = Promise.resolve();
  const purgeTimer = purgers.length
    ? setInterval(() => {
        purging = Promise.all(
          purgers.map(p =>
            p.store.purgeExpired(Math.floor(Date.now() / 1000)).then(
              n => (p.purged += typeof n === 'number' ? n : 0),
              () => p.failed++,
            ),
          ),
        );
      }, SETTINGS.purge * 1000)
    : undefined;

  // Bounded: whatever happens, the run ends this long after it started.
  const hardStop = setTimeout(() => {
    console.error('soak did not finish in time; stopping');
    cleanupSync();
    process.exit(1);
  }, (SETTINGS.seconds + 120) * 1000);
  hardStop.unref();

  const crashWatch = setInterval(() => {
    if (examples.some(ex => ex.crashed)) stopping = true;
  }, 500);

  const endTimer = setTimeout(() => (stopping = true), until - performance.now());
  await Promise.all(targets.flatMap(t => Array.from({ length: SETTINGS.clients }, (_, i) => new Client(t, i).run())));
  stopping = true;
  clearTimeout(endTimer);
  clearTimeout(warmTimer);
  clearInterval(crashWatch);
  sample();
  clearInterval(sampler);
  clearInterval(purgeTimer);
  await purging;

  const records = examples.map(ex => countFiles(join(ex.dir, 'records')));
  const heapAtEnd = new Map();
  for (const ex of examples) heapAtEnd.set(ex.framework, await heapKb(ex));
  for (const p of purgers) await p.store.close?.();
  for (const ex of examples) ex.stopping = !ex.crashed;
  for (const t of targets) t.agent.destroy();
  await Promise.all(examples.map(ex => stopChild(ex.child)));

  const rows = examples.map((ex, i) => ({ ...summarise(ex, targets[i], samples.get(ex.framework)), heapWarm: heapAtWarm.get(ex.framework), heapEnd: heapAtEnd.get(ex.framework) }));
  let failed = false;
  for (const r of rows) {
    const why = [];
    if (r.crashed) why.push('crashed');
    if (r.fiveXX) why.push('5xx');
    if (r.unexpected) why.push('unexpected answers');
    if (r.errors) why.push('connection errors');
    if (!(r.growth * 100 <= SETTINGS.maxGrowth)) why.push(`RSS grew more than ${SETTINGS.maxGrowth}%`);
    r.verdict = why.length ? `FAIL (${why.join(', ')})` : 'ok';
    if (why.length) failed = true;
  }

  console.log('');
  printTable(rows);
  console.log(`growth = (mean RSS of the last ${rows[0].span} s - mean of the first ${rows[0].span} s after the warm-up) / the first; limit ${SETTINGS.maxGrowth}%`);
  console.log('');
  rows.forEach((r, i) => {
    console.log(`${r.framework}: statuses ${r.statuses.map(([k, v]) => `${k}: ${fmtInt(v)}`).join(', ')}; refresh-token rotations ${fmtInt(r.rotations)}`);
    const steps = [...r.steps].map(([k, v]) => `${k} ${fmtInt(v.ok)}${v.bad ? ` (+${v.bad} unexpected)` : ''}`);
    console.log(`  steps: ${steps.join(', ')}`);
    const p = purgers[i];
    console.log(`  records on disk at the end: ${fmtInt(records[i])}${p ? `; purged during the run: ${fmtInt(p.purged)}${p.failed ? ` (${p.failed} purges failed)` : ''}` : ''}`);
    if (r.crashed) console.log(`  CRASHED: ${r.crashed}\n    ${examples[i].out.trim().split('\n').slice(-5).join('\n    ')}`);
    for (const s of r.samples) console.log(`  ! ${s}`);
    for (const line of r.internal) console.log(`  ! server log: ${line}`);
  });
  console.log('');
  console.log(failed ? 'soak: FAIL' : 'soak: ok');
  return failed ? 1 : 0;
}

main().then(
  code => {
    cleanupSync();
    process.exit(code);
  },
  err => {
    console.error(err?.stack ?? err);
    cleanupSync();
    process.exit(1);
  },
);
