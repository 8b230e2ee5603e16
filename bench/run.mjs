#!/usr/bin/env node
/**
 * `pnpm bench` - throughput of GET /api/me (an authenticated request) for Tessera on Express,
 * Koa and Fastify against the bare frameworks and the usual session libraries.
 * See bench/README.md for the method and how to read the output.
 *
 *   node bench/run.mjs                       every scenario, then the bulk-write bench
 *   node bench/run.mjs --only express        scenarios whose name contains "express" (comma-separate several)
 *   node bench/run.mjs --bulk                only the bulk-write bench (bench/bulk.mjs)
 *   node bench/run.mjs --no-bulk             skip the bulk-write bench
 *   node bench/run.mjs --heap                only the heap-per-session measurement (bench/heap.mjs)
 *   node bench/run.mjs --no-heap             skip it
 *   node bench/run.mjs --migrate             only the live store switch bench (bench/migrate.mjs)
 *   node bench/run.mjs --invalidation        only the cross-server revocation bench (bench/invalidation.mjs)
 *   node bench/run.mjs --scale               only the sessions-at-scale bench (bench/scale.mjs: 1,000,000 sessions in Redis and PostgreSQL)
 *   node bench/run.mjs --cpu-prof[=DIR]      write a V8 CPU profile of every server process to DIR
 *   node bench/run.mjs --list                list the scenarios
 *
 * Env: BENCH_DURATION (s, default 8), BENCH_WARMUP (s, 2), BENCH_CONNECTIONS (50), BENCH_PIPELINING (1),
 *      BENCH_ROUNDS (1; several: median per scenario), BENCH_NOISE_RETRIES (2),
 *      BENCH_FIXED_RATE (req/s of the fixed-load pass, 1000; 0 = no such pass), BENCH_FIXED_DURATION (s, 5),
 *      BENCH_PAIRS (side-by-side pairs per CPU target, 8; 0 = none), BENCH_PAIR_SEGMENT (s of load per side, 2),
 *      BENCH_PAIRS_PER_PROCESS (pairs before both servers are started afresh, 2),
 *      BENCH_HEAP_SESSIONS (1000000), BENCH_HEAP_USERS (1000),
 *      BENCH_BULK_COUNT (100000), BENCH_NO_PIN=1 (don't use taskset).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync, readdirSync } from 'node:fs';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CREDENTIALS, FRAMEWORKS, SCENARIOS, USER } from './scenarios.mjs';
import { HEAP_TARGET_BYTES } from './heap.mjs';
import { envNumber } from './util.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');

// ---------------------------------------------------------------------------------------------
// Arguments and settings

const args = process.argv.slice(2);
const flag = f => args.includes(f);
function optionValue(name) {
  const i = args.findIndex(a => a === name || a.startsWith(name + '='));
  if (i < 0) return undefined;
  if (args[i].includes('=')) return args[i].slice(name.length + 1);
  const next = args[i + 1];
  return next && !next.startsWith('--') ? next : '';
}

if (flag('--help') || flag('-h')) {
  console.log(readHeader());
  process.exit(0);
}
if (flag('--migrate')) {
  const { runMigrate } = await import('./migrate.mjs');
  process.exit((await runMigrate()) ? 0 : 1);
}
if (flag('--invalidation')) {
  const { runInvalidation } = await import('./invalidation.mjs');
  process.exit((await runInvalidation()) ? 0 : 1);
}
if (flag('--scale')) {
  const { runScale } = await import('./scale.mjs');
  process.exit((await runScale()) ? 0 : 1);
}
if (flag('--list')) {
  for (const s of SCENARIOS) console.log(`${s.name.padEnd(32)} ${s.framework.padEnd(8)} ${s.kind}${s.store ? ` (${s.store})` : ''}`);
  process.exit(0);
}


const SETTINGS = {
  duration: envNumber('BENCH_DURATION', 8, { min: 1, integer: true }),
  warmup: envNumber('BENCH_WARMUP', 2, { min: 0, integer: true }),
  connections: envNumber('BENCH_CONNECTIONS', 50, { min: 1, integer: true }),
  pipelining: envNumber('BENCH_PIPELINING', 1, { min: 1, integer: true }),
  noiseRetries: envNumber('BENCH_NOISE_RETRIES', 2, { min: 0, integer: true }),
  rounds: envNumber('BENCH_ROUNDS', 1, { min: 1, integer: true }),
  fixedRate: envNumber('BENCH_FIXED_RATE', 1000, { min: 0, integer: true }),
  fixedDuration: envNumber('BENCH_FIXED_DURATION', 5, { min: 1, integer: true }),
  pairs: envNumber('BENCH_PAIRS', 8, { min: 0, integer: true }),
  pairSegment: envNumber('BENCH_PAIR_SEGMENT', 2, { min: 1, integer: true }),
  pairsPerProcess: envNumber('BENCH_PAIRS_PER_PROCESS', 2, { min: 1, integer: true }),
};
/** Server CPU (share of a core) at or above which the server, not the load generator, set the pace: only then do req/s ratios count. */
const SERVER_BOUND_PCT = 90;
/** A fixed-load run that served less than this share of the offered rate did not keep up (its p99 is then not comparable). */
const KEPT_UP = 0.95;
/** Share of the server's core taken by other processes above which a run counts as disturbed. */
const NOISE_PCT = 10;

const only = optionValue('--only');
// No flag: everything. --bulk / --heap alone: only that side bench; with --only, the scenarios and that side bench.
const sideOnly = only === undefined && (flag('--bulk') || flag('--heap'));
const runScenarios = !sideOnly;
const runBulkAfter = !flag('--no-bulk') && (flag('--bulk') || (only === undefined && !flag('--heap')));
const runHeap = !flag('--no-heap') && (flag('--heap') || (only === undefined && !flag('--bulk')));
const cpuProf = optionValue('--cpu-prof');
const profDir = cpuProf === undefined ? undefined : resolve(cpuProf || join(HERE, 'profiles'));

function readHeader() {
  return [
    'usage: node bench/run.mjs [--only NAME[,NAME...]] [--bulk | --no-bulk] [--heap | --no-heap] [--cpu-prof[=DIR]] [--list]',
    'env:   BENCH_DURATION=8 BENCH_WARMUP=2 BENCH_CONNECTIONS=50 BENCH_PIPELINING=1 BENCH_ROUNDS=1 BENCH_NOISE_RETRIES=2',
    '       BENCH_FIXED_RATE=1000 BENCH_FIXED_DURATION=5 BENCH_HEAP_SESSIONS=1000000 BENCH_HEAP_USERS=1000',
    '       BENCH_BULK_COUNT=100000 BENCH_NO_PIN=1',
  ].join('\n');
}

function selectScenarios() {
  if (only === undefined) return SCENARIOS;
  const terms = only.split(',').map(t => t.trim().toLowerCase()).filter(Boolean);
  if (terms.length === 0) {
    console.error('--only needs a name, e.g. --only express or --only koa-session,bare-koa');
    process.exit(2);
  }
  const picked = SCENARIOS.filter(s => terms.some(t => s.name.includes(t) || s.framework === t));
  if (picked.length === 0) {
    console.error(`--only ${only}: no scenario matches (see --list)`);
    process.exit(2);
  }
  // The ratio columns need the bare server of each framework picked, and a file store its memory store.
  const withBase = new Set(picked.map(s => s.name));
  for (const s of picked) {
    withBase.add(`bare-${s.framework}`);
    if (s.kind === 'tessera' && s.store === 'file') withBase.add(`tessera-${s.framework}-memory`);
  }
  return SCENARIOS.filter(s => withBase.has(s.name));
}

// ---------------------------------------------------------------------------------------------
// CPU pinning: server on core 1, load generator on core 0 (when there are two cores and taskset works).

const PIN = (() => {
  if (process.env.BENCH_NO_PIN) return { ok: false, why: 'BENCH_NO_PIN set' };
  if (cpus().length < 2) return { ok: false, why: `only ${cpus().length} core` };
  const r = spawnSync('taskset', ['-c', '1', process.execPath, '-e', '0'], { stdio: 'ignore', timeout: 10_000 });
  if (r.error) return { ok: false, why: `taskset unavailable (${r.error.code ?? r.error.message})` };
  if (r.status !== 0) return { ok: false, why: `taskset -c 1 failed (exit ${r.status})` };
  return { ok: true };
})();

function spawnPinned(core, argv, options) {
  if (PIN.ok) return spawn('taskset', ['-c', String(core), ...argv], options);
  return spawn(argv[0], argv.slice(1), options);
}

const SERVER_CORE = 1;
const LOAD_CORE = 0;

// ---------------------------------------------------------------------------------------------
// Build check: the bench runs the compiled packages.

function checkBuilt() {
  const pkgs = ['core', 'express', 'koa', 'fastify', 'store-file'];
  const missing = pkgs.filter(p => !existsSync(join(ROOT, 'packages', p, 'dist', 'index.js')));
  if (missing.length) {
    console.error(`not built: ${missing.map(p => `@tessera/${p}`).join(', ')}. Run \`npx tsc -b\` at the repository root first.`);
    process.exit(1);
  }
  const stale = [];
  for (const p of pkgs) {
    // The newest output, not index.js: tsc leaves a file it would write unchanged as it was.
    const built = newestMtime(join(ROOT, 'packages', p, 'dist'));
    const newest = newestMtime(join(ROOT, 'packages', p, 'src'));
    if (newest > built + 1000) stale.push(`@tessera/${p}`);
  }
  if (stale.length) console.log(`warning: ${stale.join(', ')} changed since the last build; run \`npx tsc -b\` to bench the current sources.\n`);
}

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = ms => new Promise(r => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

class Invalid extends Error {}
class Crash extends Error {}

/** Tail of a child's output, for error reports. */
function tailBuffer(limit = 4000) {
  let text = '';
  return {
    push(chunk) {
      text = (text + chunk).slice(-limit);
    },
    get text() {
      return text.trim();
    },
  };
}

async function request(url, init = {}) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  const body = await res.text();
  return { res, body };
}

function cookieHeader(res) {
  const set = typeof res.headers.getSetCookie === 'function' ? res.headers.getSetCookie() : [res.headers.get('set-cookie')].filter(Boolean);
  return set
    .map(c => c.split(';')[0].trim())
    .filter(c => c.includes('=') && !/=$/.test(c))
    .join('; ');
}

// ---------------------------------------------------------------------------------------------
// One scenario

class ServerProcess {
  constructor(scenario, tmpDir) {
    this.scenario = scenario;
    this.output = tailBuffer();
    this.exited = false;
    this.expectExit = false;
    this.waiters = new Set();
    this.nextId = 1;
    const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${scenario.name}.${Date.now()}.cpuprofile`] : [];
    this.proc = spawnPinned(SERVER_CORE, [process.execPath, ...nodeArgs, join(HERE, 'server.mjs'), scenario.name, '0'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, BENCH_TMPDIR: tmpDir, NODE_ENV: 'production' },
    });
    this.proc.stdout.on('data', d => this.output.push(d));
    this.proc.stderr.on('data', d => this.output.push(d));
    this.proc.on('message', msg => {
      for (const w of [...this.waiters]) w(msg);
    });
    this.exitPromise = new Promise(resolve => {
      this.proc.on('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        for (const w of [...this.waiters]) w({ type: '__exit', code, signal });
        resolve();
      });
    });
  }

  /** Resolves with the first message matching `pred`; rejects if the process exits first. */
  waitFor(pred, ms, what) {
    return withTimeout(
      new Promise((resolve, reject) => {
        if (this.exited) return reject(new Crash(`server exited (code ${this.exitCode}, signal ${this.exitSignal}) before ${what}`));
        const w = msg => {
          if (msg?.type === '__exit') {
            this.waiters.delete(w);
            reject(new Crash(`server exited (code ${msg.code}, signal ${msg.signal}) before ${what}`));
          } else if (pred(msg)) {
            this.waiters.delete(w);
            resolve(msg);
          }
        };
        this.waiters.add(w);
      }),
      ms,
      what,
    );
  }

  async stats() {
    const id = this.nextId++;
    this.proc.send({ type: 'stats', id });
    return this.waitFor(m => m?.type === 'stats' && m.id === id, 5000, 'stats reply');
  }

  async stop() {
    this.expectExit = true;
    if (this.exited) return;
    try {
      if (this.proc.connected) this.proc.send({ type: 'shutdown' });
      else this.proc.kill('SIGTERM');
    } catch {}
    const done = await Promise.race([this.exitPromise.then(() => true), sleep(12_000).then(() => false)]);
    if (!done) {
      this.proc.kill('SIGKILL');
      await this.exitPromise;
    }
  }
}

function runLoad(config) {
  const out = tailBuffer(20_000);
  const err = tailBuffer();
  const child = spawnPinned(LOAD_CORE, [process.execPath, join(HERE, 'load.mjs'), JSON.stringify(config)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', d => out.push(d));
  child.stderr.on('data', d => err.push(d));
  const limit = (config.duration + 30) * 1000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Crash(`load generator did not finish within ${limit / 1000} s`));
    }, limit);
    child.on('exit', code => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Crash(`load generator exited ${code}: ${err.text}`));
      const line = out.text.split('\n').filter(Boolean).pop();
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Crash(`load generator printed no result: ${out.text} ${err.text}`));
      }
    });
  });
}

const BARE_COOKIE = `sid=${'x'.repeat(330)}`;

async function setupSession(base, scenario) {
  if (!scenario.login) {
    const { res, body } = await request(`${base}/api/me`);
    if (res.status !== 200) throw new Invalid(`GET /api/me answered ${res.status}, expected 200`);
    // The bare server gets a Cookie header of a session cookie's size too, so the ratio measures
    // the auth layer, not the parsing of a longer request.
    return { cookie: BARE_COOKIE, body };
  }
  const anon = await request(`${base}/api/me`);
  if (anon.res.status !== 401) throw new Invalid(`GET /api/me without a session answered ${anon.res.status}, expected 401 (route not protected)`);

  const login = await request(`${base}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(CREDENTIALS),
  });
  if (login.res.status < 200 || login.res.status > 299) {
    throw new Invalid(`POST /auth/login answered ${login.res.status}: ${login.body.slice(0, 200)}`);
  }
  const cookie = cookieHeader(login.res);
  if (!cookie) throw new Invalid('POST /auth/login set no cookie');

  const me = await request(`${base}/api/me`, { headers: { cookie } });
  if (me.res.status !== 200) throw new Invalid(`GET /api/me with the login cookie answered ${me.res.status}: ${me.body.slice(0, 200)}`);
  let user;
  try {
    user = JSON.parse(me.body).user;
  } catch {}
  if (user?.id !== USER.id) throw new Invalid(`GET /api/me answered ${me.body.slice(0, 200)}, expected the user ${USER.id}`);
  return { cookie, body: me.body };
}

/** What makes a load run not count: any non-2xx answer, connection error or timeout, or nothing served. */
function loadProblems(r) {
  const problems = [];
  if (r.non2xx > 0) problems.push(`${r.non2xx} non-2xx responses ${JSON.stringify(r.codes)}`);
  if (r.errors > 0) problems.push(`${r.errors} connection errors`);
  if (r.timeouts > 0) problems.push(`${r.timeouts} timeouts`);
  if (r.requestsTotal === 0) problems.push('no request completed');
  return problems;
}

/** One scenario, run again (bounded) while another process took part of the server's core; keeps the quietest run. */
async function measure(s, tmpDir) {
  let r = await runScenario(s, tmpDir);
  // Not for Redis scenarios, where redis-server itself shows up as "other".
  let last = r;
  for (let i = 0; i < SETTINGS.noiseRetries && !s.redis && last.status === 'ok' && last.otherPct > NOISE_PCT; i++) {
    process.stdout.write(`(other ${fmt(last.otherPct, 0)}%, again) `);
    const again = (last = await runScenario(s, tmpDir));
    if (again.status !== 'ok') return again;
    if (again.otherPct < r.otherPct) r = again;
  }
  return r;
}

/** Rounds of one scenario -> one result: any failed round wins; else the median of each measure over the rounds. */
function combine(list) {
  const bad = list.find(r => r.status === 'CRASHED') ?? list.find(r => r.status !== 'ok');
  if (bad) return bad;
  const sorted = [...list].sort((a, b) => a.rps - b.rps);
  const med = key => median(list.map(r => r[key]));
  return {
    ...sorted[(sorted.length - 1) >> 1],
    rounds: list.length,
    rps: med('rps'),
    p99: med('p99'),
    cpuUsPerReq: med('cpuUsPerReq'),
    cpuPct: med('cpuPct'),
    lgCpuPct: med('lgCpuPct'),
    otherPct: med('otherPct'),
    fixedP99: med('fixedP99'),
    keptUp: list.every(r => r.keptUp !== false),
    rpsSpread: spread(list.map(r => r.rps)),
    cpuSpread: spread(list.map(r => r.cpuUsPerReq)),
  };
}

/** Median of the defined numbers, or undefined. */
function median(values) {
  const v = values.filter(x => typeof x === 'number' && !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** (max - min) / median, or undefined with fewer than two values. */
function spread(values) {
  const v = values.filter(x => typeof x === 'number' && !Number.isNaN(x));
  if (v.length < 2) return undefined;
  return (Math.max(...v) - Math.min(...v)) / median(v);
}

/** Waits for the server to listen and logs in: the load to send, or why the scenario is skipped. */
async function connect(server, scenario) {
  const first = await server.waitFor(m => ['ready', 'skip', 'error'].includes(m?.type), 30_000, 'listening');
  if (first.type === 'skip') return { skip: first.reason };
  if (first.type === 'error') throw new Crash(`failed to start: ${first.reason}`);
  const base = `http://127.0.0.1:${first.port}`;
  const { cookie } = await setupSession(base, scenario);
  return { load: { url: `${base}/api/me`, cookie, connections: SETTINGS.connections, pipelining: SETTINGS.pipelining } };
}

/** `duration` seconds of load on `server`: the load generator's result and the server's CPU over it. */
async function underLoad(server, load, duration) {
  const before = await server.stats();
  const r = await runLoad({ ...load, duration });
  const after = await server.stats();
  if (server.exited) throw new Crash('server exited during the run');
  const cpuMs = (after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system) / 1000;
  return {
    r,
    after,
    cpuUsPerReq: r.requestsTotal > 0 ? (cpuMs * 1000) / r.requestsTotal : undefined,
    cpuPct: (cpuMs / (r.duration * 1000)) * 100,
  };
}

/**
 * The CPU targets' pairs measured side by side: both servers up at once (on the same core), then
 * `SETTINGS.pairs` times a `pairSegment`-second load on each, the order alternating (ABBA...), so a
 * machine drifting over minutes (this one moves 10-25% between runs) hits both alike. One ratio
 * per pair of segments, base's CPU per request / name's; the median decides the target.
 *
 * Every `pairsPerProcess` pairs both servers are started afresh (and warmed up again): one process
 * can be 10-20% faster or slower than another of the same scenario for its whole life (what the
 * JIT made of it), which alternating loads on the same two processes can't average away. Seen
 * here: the Koa file store at 1.22 (1.18-1.30) of the memory store over 10 pairs of one pair of
 * processes, 0.89 in the rounds.
 */
async function pairedRatio(name, base, tmpDir) {
  const a = SCENARIOS.find(x => x.name === name);
  const b = SCENARIOS.find(x => x.name === base);
  const cpu = [];
  const rps = [];
  const diff = [];
  try {
    for (let pair = 0; pair < SETTINGS.pairs; ) {
      const servers = [];
      try {
        // One after the other: a server's "ready" message is only seen by a waiter already listening.
        const started = [];
        for (const sc of [a, b]) {
          const server = new ServerProcess(sc, tmpDir);
          servers.push(server);
          started.push(await connect(server, sc));
        }
        const skipped = started.find(x => x.skip !== undefined);
        if (skipped) return { status: 'SKIPPED', reason: skipped.skip };
        for (let i = 0; i < 2; i++) if (SETTINGS.warmup > 0) await runLoad({ ...started[i].load, duration: SETTINGS.warmup });
        for (let k = 0; k < SETTINGS.pairsPerProcess && pair < SETTINGS.pairs; k++, pair++) {
          const got = [];
          for (const i of pair % 2 ? [1, 0] : [0, 1]) {
            const m = await underLoad(servers[i], started[i].load, SETTINGS.pairSegment);
            const problems = loadProblems(m.r);
            if (problems.length) return { status: 'INVALID', reason: `${i ? base : name}: ${problems.join(', ')}` };
            got[i] = m;
          }
          if (got[0].cpuUsPerReq > 0 && got[1].cpuUsPerReq > 0) {
            cpu.push(got[1].cpuUsPerReq / got[0].cpuUsPerReq);
            diff.push(got[0].cpuUsPerReq - got[1].cpuUsPerReq);
          }
          if (got[0].cpuPct >= SERVER_BOUND_PCT && got[1].cpuPct >= SERVER_BOUND_PCT) rps.push(got[0].r.requestsMean / got[1].r.requestsMean);
        }
      } finally {
        await Promise.all(servers.map(x => x.stop()));
      }
    }
    // A ratio from fewer than MIN_PAIRS pairs is left to the rounds (req/s counts only pairs where both were CPU-bound).
    const enough = v => (v.length >= MIN_PAIRS ? summarize(v) : undefined);
    return { status: 'ok', cpu: enough(cpu), rps: enough(rps), diff: enough(diff) };
  } catch (err) {
    return { status: 'CRASHED', reason: err.message };
  }
}

const MIN_PAIRS = 3;
const summarize = v => (v.length ? { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length } : undefined);

/** [name, base] of every target judged on CPU per request, where both ran ok in the rounds. */
function cpuTargetPairs(byName) {
  const pairs = [];
  for (const fw of FRAMEWORKS) pairs.push([`tessera-${fw}-memory`, `bare-${fw}`]);
  pairs.push(['tessera-fastify-memory', 'fastify-secure-session'], ['tessera-express-redis', 'bare-express']);
  for (const fw of FRAMEWORKS) pairs.push([`tessera-${fw}-file`, `tessera-${fw}-memory`]);
  return pairs.filter(pair => pair.every(n => byName.get(n)?.status === 'ok'));
}

/** The targets' pairs, then the gap analysis's (the shape against bare, Tessera against the shape) where the noop scenarios ran. */
function sideBySidePairs(byName) {
  const gaps = FRAMEWORKS.flatMap(fw => [[`noop-${fw}`, `bare-${fw}`], [`tessera-${fw}-memory`, `noop-${fw}`]]);
  return [...cpuTargetPairs(byName), ...gaps.filter(pair => pair.every(n => byName.get(n)?.status === 'ok'))];
}

async function runScenario(scenario, tmpDir) {
  const result = { ...scenario, status: 'ok', reason: '' };
  const server = new ServerProcess(scenario, tmpDir);
  try {
    const started = await connect(server, scenario);
    if (started.skip !== undefined) {
      result.status = 'SKIPPED';
      result.reason = started.skip;
      return result;
    }
    const { load } = started;

    if (SETTINGS.warmup > 0) await runLoad({ ...load, duration: SETTINGS.warmup });
    const { r, after, cpuUsPerReq, cpuPct } = await underLoad(server, load, SETTINGS.duration);
    // The headline, whatever limited the run: the server's own CPU per request served.
    result.cpuUsPerReq = cpuUsPerReq;
    Object.assign(result, {
      rps: r.requestsMean,
      total: r.requestsTotal,
      p50: r.latencyP50,
      p99: r.latencyP99,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
      codes: r.codes,
      rssMB: after.rss / (1024 * 1024),
      cpuPct,
    });
    const srvBusy = r.coreBusyPct?.[SERVER_CORE];
    const lgBusy = r.coreBusyPct?.[LOAD_CORE];
    if (PIN.ok && srvBusy !== undefined && lgBusy !== undefined) {
      // Share of each bench core used while the load ran, less what the bench's own process on it
      // used: other processes on the machine competing with the measurement. The worse core counts.
      result.otherSrvPct = Math.max(0, srvBusy - result.cpuPct);
      result.otherLgPct = Math.max(0, lgBusy - (r.cpuPct ?? 0));
      result.otherPct = Math.max(result.otherSrvPct, result.otherLgPct);
    }
    result.lgCpuPct = r.cpuPct;
    const problems = loadProblems(r);
    if (problems.length) {
      result.status = 'INVALID';
      result.reason = `${problems.join(', ')} (measured ${Math.round(r.requestsMean)} req/s, not counted)`;
    } else if (SETTINGS.fixedRate > 0) {
      // The same server at a fixed offered load: latency when it is not saturated.
      const f = await runLoad({ ...load, duration: SETTINGS.fixedDuration, overallRate: SETTINGS.fixedRate });
      if (server.exited) throw new Crash('server exited during the fixed-load run');
      const fixedProblems = loadProblems(f);
      if (fixedProblems.length) {
        result.status = 'INVALID';
        result.reason = `at ${SETTINGS.fixedRate} req/s offered: ${fixedProblems.join(', ')}`;
      } else {
        Object.assign(result, { fixedP99: f.latencyP99, fixedRps: f.requestsMean, keptUp: f.requestsMean >= SETTINGS.fixedRate * KEPT_UP });
      }
    }
  } catch (err) {
    if (err instanceof Invalid) {
      result.status = 'INVALID';
      result.reason = err.message;
    } else {
      result.status = 'CRASHED';
      result.reason = `${err.message}${server.output.text ? `\n      server output: ${server.output.text.split('\n').slice(-8).join('\n      ')}` : ''}`;
    }
  } finally {
    await server.stop();
    if (result.status === 'ok' && server.exitCode !== 0 && server.exitCode !== null) {
      result.status = 'CRASHED';
      result.reason = `server exited ${server.exitCode} on shutdown: ${server.output.text.split('\n').slice(-5).join(' | ')}`;
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Report

const fmtInt = n => Math.round(n).toLocaleString('en-US');
const fmt = (n, d = 2) => (n === undefined || n === null || Number.isNaN(n) ? '-' : n.toFixed(d));

function table(rows, header) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => String(r[i]).length)));
  const right = header.map((_, i) => i > 0 && i < header.length - 1);
  const line = cells => cells.map((c, i) => (right[i] ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map(w => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * Ratios of scenario `name` to scenario `base`, one per round in which both were measured (a round
 * runs them minutes apart at most, so drift of the machine between rounds cancels out), then the
 * median over rounds. cpu: base CPU per request / name's (1.0 = costs nothing more, 0.5 = twice the
 * CPU). rps: name's req/s / base's, only from rounds where both servers were CPU-bound (>= 90% of
 * a core): otherwise the load generator or a store set the pace and the req/s ratio says nothing.
 */
/** The rounds in which both `name` and `base` measured ok, as [name's result, base's result]. */
function roundPairs(runs, name, base) {
  const a = runs.get(name) ?? [];
  const b = runs.get(base) ?? [];
  const pairs = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i]?.status === 'ok' && b[i]?.status === 'ok') pairs.push([a[i], b[i]]);
  return pairs;
}

function pairRatios(runs, name, base) {
  const cpu = [];
  const rps = [];
  let notBound = 0;
  for (const [x, y] of roundPairs(runs, name, base)) {
    if (x.cpuUsPerReq > 0 && y.cpuUsPerReq > 0) cpu.push(y.cpuUsPerReq / x.cpuUsPerReq);
    if (x.cpuPct >= SERVER_BOUND_PCT && y.cpuPct >= SERVER_BOUND_PCT) rps.push(x.rps / y.rps);
    else notBound++;
  }
  return { cpu: summarize(cpu), rps: summarize(rps), notBound };
}

/**
 * The ratio a target line is judged on (`which`: 'cpu' or 'rps'): the side-by-side one when there
 * is one (`beside`: the rounds' figure, for after the bar), else the rounds'; undefined when neither.
 */
function judged(runs, paired, name, base, which) {
  const rounds = pairRatios(runs, name, base)[which];
  const side = paired.get(`${name}|${base}`)?.[which];
  if (side) return { median: side.median, text: fmtRatio(side, 'pairs'), beside: rounds ? `; over the rounds: ${fmtRatio(rounds)}` : '' };
  return rounds && { median: rounds.median, text: fmtRatio(rounds), beside: '' };
}

const fmtRatio = (r, unit = 'rounds') => (r.n > 1 ? `${fmt(r.median)} (${fmt(r.min)}-${fmt(r.max)}, ${r.n} ${unit})` : fmt(r.median));

function report(results, runs, heap, paired = new Map()) {
  const byName = new Map(results.map(r => [r.name, r]));
  const ok = name => (byName.get(name)?.status === 'ok' ? byName.get(name) : undefined);
  const multi = SETTINGS.rounds > 1;
  const rate = SETTINGS.fixedRate;

  const rows = results.map(r => {
    const base = `bare-${r.framework}`;
    const ratios = r.name === base ? undefined : pairRatios(runs, r.name, base);
    const spreads = multi ? [r.status === 'ok' ? pct(r.rpsSpread) : '-', r.status === 'ok' ? pct(r.cpuSpread) : '-'] : [];
    const fixed = rate > 0 ? [r.status === 'ok' && r.fixedP99 !== undefined ? `${fmt(r.fixedP99, 1)}${r.keptUp ? '' : '!'}` : '-'] : [];
    if (r.status !== 'ok') return [r.name, r.status, '-', '-', '-', '-', ...fixed, r.rssMB ? fmt(r.rssMB, 1) : '-', '-', '-', '-', ...spreads, r.status];
    return [
      r.name,
      fmtInt(r.rps),
      fmt(r.p99, 0),
      fmt(r.cpuUsPerReq, 0),
      r.name === base ? '1.00' : ratios?.cpu ? fmt(ratios.cpu.median) : '-',
      r.name === base ? '1.00' : ratios?.rps ? fmt(ratios.rps.median) : ok(base) ? `(${fmt(r.rps / ok(base).rps)})` : '-',
      ...fixed,
      fmt(r.rssMB, 1),
      `${fmt(r.cpuPct, 0)}%`,
      r.lgCpuPct === undefined ? '-' : `${fmt(r.lgCpuPct, 0)}%`,
      r.otherPct === undefined ? '-' : `${fmt(r.otherPct, 0)}%${r.redis ? '*' : ''}`,
      ...spreads,
      'ok',
    ];
  });
  console.log('');
  console.log(
    table(rows, [
      'scenario',
      'req/s',
      'p99 ms',
      'us/req',
      'cpu vs bare',
      'req/s vs bare',
      ...(rate > 0 ? [`p99 ms @${fmtInt(rate)}/s`] : []),
      'RSS MB',
      'srv CPU',
      'lg CPU',
      'other',
      ...(multi ? ['spread', 'us spread'] : []),
      'status',
    ]),
  );
  console.log(
    `  us/req: the server's CPU (user + system) per request served. cpu vs bare: bare's us/req / this one's (1.00 = free). ` +
      `req/s vs bare: only where both servers were CPU-bound (>= ${SERVER_BOUND_PCT}%); in brackets when not (the load generator set the pace).` +
      (multi ? ' Medians over the rounds (ratios: median of the per-round ratios); spread = (max - min) / median.' : ''),
  );

  const notes = results.filter(r => r.status !== 'ok');
  if (notes.length) {
    console.log('');
    for (const r of notes) console.log(`  ${r.status} ${r.name}: ${r.reason}`);
  }
  if (results.some(r => r.status === 'ok' && r.redis && r.otherPct !== undefined)) {
    console.log('');
    console.log(`  * "other" includes redis-server itself (not pinned, it shares the cores with the bench; such runs are not repeated).`);
  }
  const noisy = results.filter(r => r.status === 'ok' && !r.redis && r.otherPct > NOISE_PCT);
  if (noisy.length) {
    console.log('');
    console.log(
      `  WARNING: other processes took more than ${NOISE_PCT}% of a bench core during ${noisy.map(r => r.name).join(', ')} ` +
        `("other" column${SETTINGS.noiseRetries ? `, even after ${SETTINGS.noiseRetries} retries` : ''}): those numbers and ratios are unreliable; rerun on a quiet machine.`,
    );
  }
  const lowCpu = results.filter(r => r.status === 'ok' && r.cpuPct < SERVER_BOUND_PCT);
  if (lowCpu.length) {
    console.log('');
    console.log(
      `  note: server CPU below ${SERVER_BOUND_PCT}% for ${lowCpu.map(r => r.name).join(', ')}: the server was not the bottleneck there ` +
        '(the load generator, a store, or the machine was): their req/s are lower bounds and their req/s ratios are left out; us/req still holds.',
    );
  }
  const slow = results.filter(r => r.status === 'ok' && r.keptUp === false);
  if (slow.length) {
    console.log('');
    console.log(`  ! did not keep up with ${fmtInt(rate)} req/s offered (served < ${KEPT_UP * 100}% of it): ${slow.map(r => r.name).join(', ')}; their fixed-load p99 is not comparable.`);
  }

  printPaired(paired);
  printTargets(byName, runs, heap, paired);
  printShape(byName, runs, paired);
}

/**
 * Where each framework's gap between bare and Tessera (memory store) goes: the middleware shape
 * Tessera mounts, each piece doing nothing (noop-<framework>), and Tessera's own work on top.
 * Medians over the rounds of the per-round differences in server CPU per request.
 */
function printShape(byName, runs, paired) {
  const lines = [];
  const okName = name => byName.get(name)?.status === 'ok';
  const diffs = (name, base) => {
    const d = roundPairs(runs, name, base)
      .filter(([x, y]) => x.cpuUsPerReq > 0 && y.cpuUsPerReq > 0)
      .map(([x, y]) => x.cpuUsPerReq - y.cpuUsPerReq);
    return d.length ? median(d) : undefined;
  };
  for (const fw of FRAMEWORKS) {
    const [bare, noop, tessera] = [`bare-${fw}`, `noop-${fw}`, `tessera-${fw}-memory`];
    if (![bare, noop, tessera].every(okName)) continue;
    // Side by side when both of its pairs were measured so (the rounds' figures drift with the machine).
    const [shapePair, workPair] = [paired.get(`${noop}|${bare}`), paired.get(`${tessera}|${noop}`)];
    const both = shapePair?.diff && workPair?.diff && workPair.cpu;
    const shape = both ? shapePair.diff.median : diffs(noop, bare);
    const work = both ? workPair.diff.median : diffs(tessera, noop);
    const own = both ? workPair.cpu : pairRatios(runs, tessera, noop).cpu;
    if (shape === undefined || work === undefined || !own) continue;
    lines.push(
      `  ${fw.padEnd(8)} bare ${fmt(byName.get(bare).cpuUsPerReq, 1)} us/req; the shape (${noop}) adds ${fmt(shape, 2)} us, Tessera's work ${fmt(work, 2)} us; ${tessera} / ${noop}, CPU/request: ${fmtRatio(own, both ? 'pairs' : 'rounds')}`,
    );
  }
  if (lines.length) {
    console.log('');
    console.log(
      "where the gap to bare goes (the framework running Tessera's middleware shape with nothing in it, then Tessera's own work; medians of the side-by-side differences on lines counting pairs, else of the per-round ones):",
    );
    console.log(lines.join('\n'));
  }
}

const pct = x => (x === undefined ? '-' : `${fmt(x * 100, 0)}%`);

function printPaired(paired) {
  if (paired.size === 0) return;
  console.log('');
  console.log(
    `side by side (both servers up, ${SETTINGS.pairs} x ${SETTINGS.pairSegment} s of load on each, alternating, fresh processes every ${SETTINGS.pairsPerProcess} pairs; CPU/request ratio base / scenario, median (min-max); the CPU targets below use these):`,
  );
  const rows = [...paired.values()].map(({ name, base, ...p }) => {
    if (p.status !== 'ok') return [`${name} / ${base}`, p.status, p.reason ?? ''];
    return [`${name} / ${base}`, p.cpu ? fmtRatio(p.cpu, 'pairs') : '-', p.rps ? `req/s ${fmtRatio(p.rps, 'pairs')}` : 'req/s: fewer than 3 pairs both CPU-bound'];
  });
  console.log(table(rows, ['pair', 'CPU/request', '']).replace(/^/gm, '  '));
}

/** The targets of issue 13 (and the earlier ones still kept), each PASS, FAIL or n/a (a scenario it needs was not measured). */
function printTargets(byName, runs, heap, paired = new Map()) {
  const lines = [];
  const counts = { PASS: 0, FAIL: 0, 'n/a': 0 };
  const verdict = (v, text) => {
    counts[v]++;
    lines.push(`  ${v.padEnd(4)}  ${text}`);
  };
  const why = name => {
    const r = byName.get(name);
    return r ? `${name} ${r.status}` : `${name} not run`;
  };
  const okName = name => byName.get(name)?.status === 'ok';
  const TITLE = { express: 'Express', koa: 'Koa', fastify: 'Fastify' };

  /** Two lines, CPU per request and req/s, for "name is at least `min` of base" (`above`: more than `min`). */
  const atLeast = (label, name, base, min, above = false) => {
    if (!byName.has(name) && !byName.has(base)) return;
    const missing = [name, base].filter(n => !okName(n)).map(why);
    if (missing.length) {
      verdict('n/a', `${label}: ${missing.join(', ')}`);
      return;
    }
    const meets = x => (above ? x > min : x >= min);
    const op = above ? '>' : '>=';
    const cpu = judged(runs, paired, name, base, 'cpu');
    if (cpu) verdict(meets(cpu.median) ? 'PASS' : 'FAIL', `${label}, CPU/request: ${cpu.text} ${op} ${fmt(min)}${cpu.beside}`);
    else verdict('n/a', `${label}, CPU/request: no round measured both`);
    const rps = judged(runs, paired, name, base, 'rps');
    if (rps) verdict(meets(rps.median) ? 'PASS' : 'FAIL', `${label}, req/s: ${rps.text} ${op} ${fmt(min)}${rps.beside}`);
    else verdict('n/a', `${label}, req/s: not both CPU-bound (>= ${SERVER_BOUND_PCT}%) in any round`);
  };

  for (const fw of FRAMEWORKS) atLeast(`${TITLE[fw].padEnd(7)} memory store vs bare (tessera-${fw}-memory / bare-${fw})`, `tessera-${fw}-memory`, `bare-${fw}`, 0.95);
  atLeast('Fastify memory store ahead of @fastify/secure-session (tessera-fastify-memory / fastify-secure-session)', 'tessera-fastify-memory', 'fastify-secure-session', 1, true);
  atLeast('Express + Redis vs bare (tessera-express-redis / bare-express)', 'tessera-express-redis', 'bare-express', 0.85);
  for (const fw of FRAMEWORKS) atLeast(`${TITLE[fw].padEnd(7)} file store vs memory store (tessera-${fw}-file / tessera-${fw}-memory)`, `tessera-${fw}-file`, `tessera-${fw}-memory`, 0.8);
  if (heap) {
    const h = heap['tessera-memory'];
    const label = `Memory store heap per session at ${fmtInt(h?.sessions ?? 0)} sessions`;
    if (h?.status !== 'ok') verdict('n/a', `${label}: ${h?.status ?? 'not run'} ${h?.reason ?? ''}`.trim());
    else {
      const es = heap['express-session-memory'];
      const cmp = es?.status === 'ok' ? ` (express-session's MemoryStore: ${Math.round(es.perSession)} B)` : '';
      const full = h.sessions >= 1_000_000 ? '' : ' (fewer sessions than the target names: BENCH_HEAP_SESSIONS)';
      verdict(h.perSession <= HEAP_TARGET_BYTES ? 'PASS' : 'FAIL', `${label}: ${Math.round(h.perSession)} B <= ${HEAP_TARGET_BYTES} B${cmp}${full}`);
    }
  }

  // Earlier targets, still watched.
  for (const fw of FRAMEWORKS) {
    const t = `tessera-${fw}-memory`;
    const peers = SCENARIOS.filter(s => s.framework === fw && s.kind === 'peer' && s.store !== 'redis').map(s => s.name);
    const ran = peers.filter(p => byName.has(p));
    if (!byName.has(t) && ran.length === 0) continue;
    const label = `${TITLE[fw].padEnd(7)} ${t} uses less CPU per request than every peer`;
    const measured = ran.filter(okName);
    const unmeasured = peers.filter(p => !okName(p)).map(why);
    const tail = unmeasured.length ? ` (not compared: ${unmeasured.join(', ')})` : '';
    if (!okName(t) || measured.length === 0) {
      verdict('n/a', `${label}: ${okName(t) ? 'no peer measured' : why(t)}${tail}`);
      continue;
    }
    const ratios = measured.map(p => [p, pairRatios(runs, t, p).cpu]);
    const cmp = ratios.map(([p, r]) => `${p} ${r ? fmt(r.median) : '-'}x`).join(', ');
    verdict(ratios.every(([, r]) => r && r.median > 1) ? 'PASS' : 'FAIL', `${label}: ${cmp}${tail}`);
  }
  {
    const t = 'tessera-express-redis';
    const p = 'express-session-connect-redis';
    if (byName.has(t) || byName.has(p)) {
      const label = `Redis   ${t} / ${p} req/s >= 1.50x`;
      const missing = [t, p].filter(n => !okName(n)).map(why);
      if (missing.length) verdict('n/a', `${label}: ${missing.join(', ')}`);
      else {
        const r = pairRatios(runs, t, p);
        if (r.rps) verdict(r.rps.median >= 1.5 ? 'PASS' : 'FAIL', `${label}: ${fmtRatio(r.rps)}x`);
        else verdict('n/a', `${label}: not both CPU-bound (>= ${SERVER_BOUND_PCT}%) in any round`);
      }
    }
  }
  if (lines.length) {
    console.log('');
    console.log(`targets (informational): ${counts.PASS} PASS, ${counts.FAIL} FAIL, ${counts['n/a']} n/a (a req/s line is n/a when the load generator, not the server, set the pace: the CPU/request line decides)`);
    console.log(lines.join('\n'));
  }
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  checkBuilt();
  let crashed = false;

  if (runScenarios) {
    const scenarios = selectScenarios();
    const cpu = cpus()[0]?.model?.trim() ?? 'unknown CPU';
    console.log(
      `tessera bench: ${scenarios.length} scenarios, GET /api/me, ${SETTINGS.connections} connections, pipelining ${SETTINGS.pipelining}, ` +
        `${SETTINGS.warmup} s warm-up + ${SETTINGS.duration} s measured each` +
        (SETTINGS.fixedRate > 0 ? ` + ${SETTINGS.fixedDuration} s at a fixed ${fmtInt(SETTINGS.fixedRate)} req/s` : '') +
        ` (up to ${SETTINGS.noiseRetries} reruns when disturbed)` +
        (SETTINGS.rounds > 1 ? `, ${SETTINGS.rounds} rounds (medians shown)` : ''),
    );
    console.log(
      `node ${process.version}, ${cpus().length} x ${cpu}; ` +
        (PIN.ok ? `server pinned to core ${SERVER_CORE}, load generator to core ${LOAD_CORE}` : `not pinned: ${PIN.why}`) +
        `; load average ${loadavg().map(l => l.toFixed(2)).join(' ')}`,
    );
    if (profDir) {
      await mkdir(profDir, { recursive: true });
      console.log(`CPU profiles of the servers go to ${profDir}`);
    }
    console.log('');

    const tmpDir = (activeTmpDir = await mkdtemp(join(tmpdir(), 'tessera-bench-')));
    const runs = new Map(scenarios.map(s => [s.name, []]));
    const paired = new Map();
    let combined;
    try {
      for (let round = 1; round <= SETTINGS.rounds; round++) {
        if (SETTINGS.rounds > 1) console.log(`round ${round}/${SETTINGS.rounds}`);
        for (const s of scenarios) {
          const earlier = runs.get(s.name);
          if (earlier.some(r => r.status === 'SKIPPED' || r.status === 'CRASHED')) continue; // no point repeating
          process.stdout.write(`  ${s.name.padEnd(32)} `);
          const started = Date.now();
          const r = await measure(s, tmpDir);
          earlier.push(r);
          const secs = ((Date.now() - started) / 1000).toFixed(1);
          if (r.status === 'ok') {
            const fixed = r.fixedP99 === undefined ? '' : `  p99 ${fmt(r.fixedP99, 1)} ms at ${fmtInt(SETTINGS.fixedRate)}/s${r.keptUp ? '' : ' (not kept up)'}`;
            console.log(`${fmtInt(r.rps).padStart(8)} req/s  p99 ${fmt(r.p99, 0)} ms  ${fmt(r.cpuUsPerReq, 0).padStart(4)} us/req  srv CPU ${fmt(r.cpuPct, 0)}%${fixed}  (${secs} s)`);
          }
          else console.log(`${r.status}: ${r.reason.split('\n')[0]}`);
          if (r.status === 'CRASHED') crashed = true;
        }
      }
      combined = new Map(scenarios.map(s => [s.name, combine(runs.get(s.name))]));
      if (SETTINGS.pairs > 0) {
        for (const [name, base] of sideBySidePairs(combined)) {
          process.stdout.write(`  side by side: ${`${name} / ${base}`.padEnd(52)} `);
          const p = await pairedRatio(name, base, tmpDir);
          paired.set(`${name}|${base}`, { name, base, ...p });
          if (p.status === 'CRASHED') crashed = true;
          console.log(p.status === 'ok' ? (p.cpu ? fmtRatio(p.cpu, 'pairs') : '-') : `${p.status}: ${p.reason.split('\n')[0]}`);
        }
      }
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
      activeTmpDir = undefined;
    }
    const heap = runHeap ? await heapBench() : undefined;
    report([...combined.values()], runs, heap, paired);
  } else if (runHeap) {
    printTargets(new Map(), new Map(), await heapBench());
  }

  if (runBulkAfter) {
    if (runScenarios || runHeap) console.log('');
    const { runBulk } = await import('./bulk.mjs');
    const ok = await runBulk();
    if (!ok) crashed = true;
  } else if (only !== undefined && !flag('--no-bulk')) {
    console.log('\n(bulk-write bench not run with --only; add --bulk to run it too)');
  }
  if (only !== undefined && !runHeap && !flag('--no-heap')) console.log('(heap-per-session measurement not run with --only; add --heap to run it too)');
  return crashed ? 1 : 0;
}

/** The heap-per-session measurement (bench/heap.mjs): its own child processes, after the load runs so it disturbs none. */
async function heapBench() {
  console.log('');
  console.log(`load average ${loadavg().map(l => l.toFixed(2)).join(' ')}`);
  const { runHeap: measureHeap } = await import('./heap.mjs');
  return measureHeap();
}

let activeTmpDir;
let exiting = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (exiting) process.exit(130);
    exiting = true;
    console.error(`\n${sig}: stopping (servers exit when the runner goes away)`);
    if (activeTmpDir) rmSync(activeTmpDir, { recursive: true, force: true });
    process.exit(130);
  });
}

main().then(
  code => process.exit(code),
  err => {
    console.error(err?.stack ?? err);
    process.exit(1);
  },
);
