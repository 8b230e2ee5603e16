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
 *   node bench/run.mjs --migrate             only the live store switch bench (bench/migrate.mjs)
 *   node bench/run.mjs --cpu-prof[=DIR]      write a V8 CPU profile of every server process to DIR
 *   node bench/run.mjs --list                list the scenarios
 *
 * Env: BENCH_DURATION (s, default 8), BENCH_WARMUP (s, 2), BENCH_CONNECTIONS (50), BENCH_PIPELINING (1),
 *      BENCH_ROUNDS (1; several: median per scenario), BENCH_NOISE_RETRIES (2),
 *      BENCH_BULK_COUNT (100000), BENCH_NO_PIN=1 (don't use taskset).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync, readdirSync } from 'node:fs';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CREDENTIALS, FRAMEWORKS, SCENARIOS, USER } from './scenarios.mjs';
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
};
/** Share of the server's core taken by other processes above which a run counts as disturbed. */
const NOISE_PCT = 10;

const only = optionValue('--only');
const bulkOnly = flag('--bulk') && only === undefined;
const runBulkAfter = !flag('--no-bulk') && (flag('--bulk') || only === undefined);
const cpuProf = optionValue('--cpu-prof');
const profDir = cpuProf === undefined ? undefined : resolve(cpuProf || join(HERE, 'profiles'));

function readHeader() {
  return [
    'usage: node bench/run.mjs [--only NAME[,NAME...]] [--bulk | --no-bulk] [--cpu-prof[=DIR]] [--list]',
    'env:   BENCH_DURATION=8 BENCH_WARMUP=2 BENCH_CONNECTIONS=50 BENCH_PIPELINING=1 BENCH_ROUNDS=1 BENCH_NOISE_RETRIES=2',
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
  // The ratio column needs the bare server of each framework picked.
  const withBase = new Set(picked.map(s => s.name));
  for (const s of picked) withBase.add(`bare-${s.framework}`);
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
    const built = statSync(join(ROOT, 'packages', p, 'dist', 'index.js')).mtimeMs;
    const src = join(ROOT, 'packages', p, 'src');
    const newest = newestMtime(src);
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

/** Rounds of one scenario -> one result: any failed round wins; else the median round by req/s. */
function combine(list) {
  const bad = list.find(r => r.status === 'CRASHED') ?? list.find(r => r.status !== 'ok');
  if (bad) return bad;
  const sorted = [...list].sort((a, b) => a.rps - b.rps);
  const median = sorted[(sorted.length - 1) >> 1];
  return { ...median, rounds: list.length, minRps: sorted[0].rps, maxRps: sorted[sorted.length - 1].rps };
}

async function runScenario(scenario, tmpDir) {
  const result = { ...scenario, status: 'ok', reason: '' };
  const server = new ServerProcess(scenario, tmpDir);
  try {
    const first = await server.waitFor(m => ['ready', 'skip', 'error'].includes(m?.type), 30_000, 'listening');
    if (first.type === 'skip') {
      result.status = 'SKIPPED';
      result.reason = first.reason;
      return result;
    }
    if (first.type === 'error') throw new Crash(`failed to start: ${first.reason}`);
    const base = `http://127.0.0.1:${first.port}`;

    const { cookie } = await setupSession(base, scenario);
    const load = { url: `${base}/api/me`, cookie, connections: SETTINGS.connections, pipelining: SETTINGS.pipelining };

    if (SETTINGS.warmup > 0) await runLoad({ ...load, duration: SETTINGS.warmup });
    const before = await server.stats();
    const r = await runLoad({ ...load, duration: SETTINGS.duration });
    const after = await server.stats();
    if (server.exited) throw new Crash('server exited during the run');

    const cpuMs = (after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system) / 1000;
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
      cpuPct: (cpuMs / (r.duration * 1000)) * 100,
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
    const problems = [];
    if (r.non2xx > 0) problems.push(`${r.non2xx} non-2xx responses ${JSON.stringify(r.codes)}`);
    if (r.errors > 0) problems.push(`${r.errors} connection errors`);
    if (r.timeouts > 0) problems.push(`${r.timeouts} timeouts`);
    if (r.requestsTotal === 0) problems.push('no request completed');
    if (problems.length) {
      result.status = 'INVALID';
      result.reason = `${problems.join(', ')} (measured ${Math.round(r.requestsMean)} req/s, not counted)`;
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

function report(results) {
  const byName = new Map(results.map(r => [r.name, r]));
  const ok = name => (byName.get(name)?.status === 'ok' ? byName.get(name) : undefined);

  const rows = results.map(r => {
    const bare = ok(`bare-${r.framework}`);
    const spread = SETTINGS.rounds > 1 ? [r.status === 'ok' ? `${fmt(((r.maxRps - r.minRps) / r.rps) * 100, 0)}%` : '-'] : [];
    if (r.status !== 'ok') return [r.name, r.status, '-', '-', r.rssMB ? fmt(r.rssMB, 1) : '-', '-', '-', '-', ...spread, r.status];
    return [
      r.name,
      fmtInt(r.rps),
      fmt(r.p99, 0),
      bare ? fmt(r.rps / bare.rps) : '-',
      fmt(r.rssMB, 1),
      `${fmt(r.cpuPct, 0)}%`,
      r.lgCpuPct === undefined ? '-' : `${fmt(r.lgCpuPct, 0)}%`,
      r.otherPct === undefined ? '-' : `${fmt(r.otherPct, 0)}%${r.redis ? '*' : ''}`,
      ...spread,
      'ok',
    ];
  });
  console.log('');
  console.log(table(rows, ['scenario', 'req/s', 'p99 ms', 'vs bare', 'RSS MB', 'srv CPU', 'lg CPU', 'other', ...(SETTINGS.rounds > 1 ? ['spread'] : []), 'status']));

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
  const lowCpu = results.filter(r => r.status === 'ok' && r.cpuPct < 85);
  if (lowCpu.length) {
    console.log('');
    console.log(
      `  note: server CPU below 85% for ${lowCpu.map(r => r.name).join(', ')}: the server was not the bottleneck there ` +
        '(the load generator, a store, or the machine was): treat those req/s as lower bounds.',
    );
  }

  // Targets ---------------------------------------------------------------------------------
  const lines = [];
  const counts = { PASS: 0, MISS: 0, 'n/a': 0 };
  const verdict = (v, text) => {
    counts[v]++;
    lines.push(`  ${v.padEnd(4)}  ${text}`);
  };
  const why = name => {
    const r = byName.get(name);
    return r ? `${name} ${r.status}` : `${name} not run`;
  };
  const TITLE = { express: 'Express', koa: 'Koa', fastify: 'Fastify' };
  const RATIO = { express: 0.9, koa: 0.8, fastify: 0.8 };

  for (const fw of FRAMEWORKS) {
    const t = `tessera-${fw}-memory`;
    const b = `bare-${fw}`;
    if (!byName.has(t) && !byName.has(b)) continue;
    const tr = ok(t);
    const br = ok(b);
    const label = `${TITLE[fw].padEnd(7)} ${t} / ${b} >= ${fmt(RATIO[fw])}`;
    if (!tr || !br) verdict('n/a', `${label}: ${[tr ? null : why(t), br ? null : why(b)].filter(Boolean).join(', ')}`);
    else {
      const ratio = tr.rps / br.rps;
      verdict(ratio >= RATIO[fw] ? 'PASS' : 'MISS', `${label}: ${fmt(ratio)}`);
    }
  }
  for (const fw of FRAMEWORKS) {
    const t = `tessera-${fw}-memory`;
    const peers = SCENARIOS.filter(s => s.framework === fw && s.kind === 'peer' && s.store !== 'redis').map(s => s.name);
    const ran = peers.filter(p => byName.has(p));
    if (!byName.has(t) && ran.length === 0) continue;
    const tr = ok(t);
    const label = `${TITLE[fw].padEnd(7)} ${t} beats every peer`;
    const measured = ran.filter(p => ok(p));
    const unmeasured = peers.filter(p => !ok(p)).map(why);
    const tail = unmeasured.length ? ` (not compared: ${unmeasured.join(', ')})` : '';
    if (!tr || measured.length === 0) {
      verdict('n/a', `${label}: ${tr ? 'no peer measured' : why(t)}${tail}`);
      continue;
    }
    const cmp = measured.map(p => `${p} ${fmt(tr.rps / ok(p).rps)}x`).join(', ');
    verdict(measured.every(p => tr.rps > ok(p).rps) ? 'PASS' : 'MISS', `${label}: ${cmp}${tail}`);
  }
  {
    const t = 'tessera-express-redis';
    const p = 'express-session-connect-redis';
    if (byName.has(t) || byName.has(p)) {
      const label = `Redis   ${t} / ${p} >= 1.50x`;
      const tr = ok(t);
      const pr = ok(p);
      if (!tr || !pr) verdict('n/a', `${label}: ${[tr ? null : why(t), pr ? null : why(p)].filter(Boolean).join(', ')}`);
      else {
        const ratio = tr.rps / pr.rps;
        verdict(ratio >= 1.5 ? 'PASS' : 'MISS', `${label}: ${fmt(ratio)}x`);
      }
    }
  }
  if (lines.length) {
    console.log('');
    console.log(`targets (informational): ${counts.PASS} PASS, ${counts.MISS} MISS, ${counts['n/a']} n/a`);
    console.log(lines.join('\n'));
  }
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  checkBuilt();
  let crashed = false;

  if (!bulkOnly) {
    const scenarios = selectScenarios();
    const cpu = cpus()[0]?.model?.trim() ?? 'unknown CPU';
    console.log(
      `tessera bench: ${scenarios.length} scenarios, GET /api/me, ${SETTINGS.connections} connections, pipelining ${SETTINGS.pipelining}, ` +
        `${SETTINGS.warmup} s warm-up + ${SETTINGS.duration} s measured each (up to ${SETTINGS.noiseRetries} reruns when disturbed)` +
        (SETTINGS.rounds > 1 ? `, ${SETTINGS.rounds} rounds (median shown)` : ''),
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
          if (r.status === 'ok') console.log(`${fmtInt(r.rps).padStart(8)} req/s  p99 ${fmt(r.p99, 0)} ms  (${secs} s)`);
          else console.log(`${r.status}: ${r.reason.split('\n')[0]}`);
          if (r.status === 'CRASHED') crashed = true;
        }
      }
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
      activeTmpDir = undefined;
    }
    report(scenarios.map(s => combine(runs.get(s.name))));
  }

  if (runBulkAfter) {
    if (!bulkOnly) console.log('');
    const { runBulk } = await import('./bulk.mjs');
    const ok = await runBulk();
    if (!ok) crashed = true;
  } else if (!bulkOnly && only !== undefined && !flag('--no-bulk')) {
    console.log('\n(bulk-write bench not run with --only; add --bulk to run it too)');
  }
  return crashed ? 1 : 0;
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
