#!/usr/bin/env node
/**
 * Heap per session: BENCH_HEAP_SESSIONS sessions (default 1,000,000) of BENCH_HEAP_USERS users
 * (default 1,000) in Tessera's MemoryStore, created the way logins create them
 * (`tessera.issue(req, user)`, what the login route calls: the record it writes, with its JSON copy
 * of the user and the client's address), and the same number in express-session's MemoryStore for comparison.
 * Each store is measured in a child process of its own (`node --expose-gc`): heapUsed + external
 * (typed arrays' buffers) after a full GC, before and after, divided by the number of sessions.
 *
 *   node bench/heap.mjs                     both stores
 *   BENCH_HEAP_SESSIONS=100000 node bench/heap.mjs
 *   node bench/run.mjs --heap               the same, from the runner (a full `pnpm bench` runs it too)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envNumber } from './util.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');

/** The issue's bar for Tessera's memory store at 1,000,000 sessions. */
export const HEAP_TARGET_BYTES = 300;
/** Most seconds one store's measurement may take (creating the sessions included). */
const CHILD_LIMIT_S = 480;

export const HEAP_STORES = [
  { name: 'tessera-memory', what: "Tessera MemoryStore (@tessera/core), via tessera.issue()" },
  { name: 'express-session-memory', what: "express-session's MemoryStore, via store.set()" },
];

/** The app's user objects: what verifyCredentials returns (one object per user, as an app's user table would). */
function appUsers(count) {
  const users = [];
  for (let k = 0; k < count; k++) {
    users.push({ id: `user${k}`, name: `User Number ${k}`, roles: k % 10 === 0 ? ['admin', 'member'] : ['member'] });
  }
  return users;
}

/**
 * The client address of login `i` as a fresh string (as a framework reads it from each
 * connection): each user logs in from one of 3 addresses of their own (home, work, phone).
 */
function clientIp(i, userCount) {
  const n = (i % userCount) * 3 + (Math.floor(i / userCount) % 3);
  return Buffer.from(`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, 'latin1').toString('latin1');
}

/** What the heap holds (after a full GC) plus memory outside it that JS objects own (typed arrays' buffers). */
const used = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};

const gc = async () => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise(r => setImmediate(r));
  }
};

function loginRequest(ip) {
  return { method: 'POST', path: '/auth/login', header: () => undefined, ip, secure: false, body: async () => undefined };
}

/** Logins in flight at once: token signing is asynchronous (WebCrypto), one at a time would leave the CPU idle. */
const BATCH = 64;

async function measureTessera(n, userCount) {
  const { createTessera, MemoryStore } = await import('@tessera/core');
  const users = appUsers(userCount);
  const options = store => ({ secret: 'tessera-bench-secret-0123456789-abcdefghijklmnop', store, cookie: { name: 'sid' } });
  // Some logins on a store of their own first: the code is loaded and compiled before the baseline.
  const warm = createTessera(options(new MemoryStore()));
  for (let i = 0; i < 2000; i++) await warm.issue(loginRequest(clientIp(i, userCount)), users[i % userCount]);
  await warm.close();
  const store = new MemoryStore({ capacity: n });
  const auth = createTessera(options(store));
  await gc();
  const before = used();
  const t0 = Date.now();
  for (let i = 0; i < n; ) {
    const batch = [];
    for (const end = Math.min(n, i + BATCH); i < end; i++) batch.push(auth.issue(loginRequest(clientIp(i, userCount)), users[i % userCount]));
    for (const r of await Promise.all(batch)) if (!r.ok) throw new Error(`issue failed: ${JSON.stringify(r)}`);
  }
  const seconds = (Date.now() - t0) / 1000;
  await gc();
  const after = used();
  if (store.size !== n) throw new Error(`the store holds ${store.size} records, expected ${n}`);
  // One session read back, so nothing above could have been optimised away.
  const some = await store.list({ subject: users[0].id, limit: 1 });
  if (some.records.length !== 1 || some.records[0].user?.name !== users[0].name) throw new Error('a stored session did not read back');
  await auth.close();
  return { bytes: after - before, seconds };
}

async function measureExpressSession(n, userCount) {
  const { default: session } = await import('express-session');
  const users = appUsers(userCount);
  const store = new session.MemoryStore();
  await gc();
  const before = used();
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    // What express-session stores after a login: the session (its default cookie) with the user in it.
    const sid = randomBytes(24).toString('base64url'); // uid-safe(24), express-session's id
    const sess = { cookie: new session.Cookie(), user: users[i % userCount] };
    await new Promise((res, rej) => store.set(sid, sess, err => (err ? rej(err) : res())));
  }
  const seconds = (Date.now() - t0) / 1000;
  await gc();
  const after = used();
  const count = Object.keys(store.sessions).length;
  if (count !== n) throw new Error(`express-session's store holds ${count} sessions, expected ${n}`);
  return { bytes: after - before, seconds };
}

async function child(which, n, userCount) {
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
  const r = which === 'tessera-memory' ? await measureTessera(n, userCount) : await measureExpressSession(n, userCount);
  console.log(JSON.stringify({ ...r, perSession: r.bytes / n }));
}

function runChild(which, n, userCount) {
  return new Promise(resolveRun => {
    let out = '';
    let err = '';
    const proc = spawn(process.execPath, ['--expose-gc', '--max-old-space-size=6144', fileURLToPath(import.meta.url), '--child', which, String(n), String(userCount)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'], // the channel only tells the child when the runner goes away
    });
    proc.stdout.on('data', d => (out += d));
    proc.stderr.on('data', d => (err = (err + d).slice(-2000)));
    const timer = setTimeout(() => proc.kill('SIGKILL'), CHILD_LIMIT_S * 1000);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') return resolveRun({ status: 'TIMEOUT', reason: `took more than ${CHILD_LIMIT_S} s` });
      const line = out.trim().split('\n').pop();
      try {
        if (code === 0) return resolveRun({ status: 'ok', ...JSON.parse(line) });
      } catch {}
      const reason = (err.trim().split('\n').filter(l => /Error|error/.test(l))[0] ?? err.trim().split('\n').pop() ?? `exit ${code}`).trim();
      resolveRun({ status: /Cannot find (module|package)/.test(err) ? 'SKIPPED' : 'FAILED', reason });
    });
  });
}

/** Measures every store (one child each) and prints a table; returns { [store]: result }. */
export async function runHeap() {
  const n = envNumber('BENCH_HEAP_SESSIONS', 1_000_000, { min: 1000, integer: true });
  const userCount = envNumber('BENCH_HEAP_USERS', 1000, { min: 1, integer: true });
  console.log(`heap per session: ${n.toLocaleString('en-US')} sessions of ${userCount.toLocaleString('en-US')} users, heapUsed + external after a full GC, one process per store`);
  const results = {};
  for (const s of HEAP_STORES) {
    process.stdout.write(`  ${s.name.padEnd(24)} `);
    const r = await runChild(s.name, n, userCount);
    results[s.name] = { ...r, sessions: n };
    if (r.status === 'ok') console.log(`${String(Math.round(r.perSession)).padStart(5)} B/session  (${(r.bytes / 2 ** 20).toFixed(0)} MB in all, ${r.seconds.toFixed(1)} s to create)  ${s.what}`);
    else console.log(`${r.status}: ${r.reason}`);
  }
  return results;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--child');
  if (i >= 0) {
    process.on('disconnect', () => process.exit(1)); // the runner went away: don't linger
    const [which, n, users] = process.argv.slice(i + 1);
    child(which, Number(n), Number(users)).then(
      () => process.exit(0),
      err => {
        console.error(err?.stack ?? err);
        process.exit(1);
      },
    );
  } else {
    const results = await runHeap();
    process.exit(Object.values(results).some(r => r.status === 'FAILED' || r.status === 'TIMEOUT') ? 1 : 0);
  }
}
