#!/usr/bin/env node
/**
 * Tessera's own cost per request, without HTTP: the adapter kit's `authenticate()` (the path every
 * framework package takes) of a cookie session against a MemoryStore, in a loop. Much less sensitive to a busy machine than the HTTP bench,
 * so it is the number to watch when optimising the core.
 *   node bench/micro.mjs            (BENCH_MICRO_N calls per pass, default 300000; 3 passes)
 */
import { createTessera, MemoryStore } from '@tessera/core';
import { adapterKit } from '@tessera/core/adapter';
import { CREDENTIALS } from './scenarios.mjs';

const N = Number(process.env.BENCH_MICRO_N ?? 300_000);
const core = createTessera({
  secret: 'tessera-bench-secret-0123456789-abcdefghijklmnop',
  store: new MemoryStore(),
  verifyCredentials: async ({ username, password }) =>
    username === CREDENTIALS.username && password === CREDENTIALS.password ? { id: 'alice' } : null,
  cookie: { name: 'sid' },
});

const request = (method, path, headers, body) => ({
  method,
  path,
  header: name => headers[name],
  ip: '127.0.0.1',
  secure: false,
  body: async () => body,
});
const kit = adapterKit(core, () => new MemoryStore());
const setCookies = [];
const login = await core.route('login', request('POST', '/login', { 'content-type': 'application/json', host: '127.0.0.1' }, CREDENTIALS));
for (const [name, value] of login.headers) if (name.toLowerCase() === 'set-cookie') setCookies.push(value);
const cookie = setCookies.map(c => c.split(';')[0]).join('; ');
if (!cookie) throw new Error(`login failed: ${JSON.stringify(login)}`);

// A fresh request object per call, with a realistic header set, as an adapter would build it. The
// Cookie headers are flat strings of their own, as Node's HTTP parser makes them (a template
// literal here would be a rope the cookie scan flattens first, and one string for every call would
// let the engine keep its hash): 1,024 of them, taken in turn.
const cookieHeaders = Array.from({ length: 1024 }, () => Buffer.from(`theme=dark; ${cookie}`, 'latin1').toString('latin1'));
let turn = 0;
const me = () => request('GET', '/api/me', { cookie: cookieHeaders[turn++ & 1023], host: '127.0.0.1:3000', accept: 'application/json' }, undefined);
const first = await core.authenticate(me());
if (!first.ok) throw new Error(`authenticate failed: ${JSON.stringify(first)}`);

console.log(`kit.authenticate() (the adapters' hot path) with a MemoryStore, ${N.toLocaleString('en-US')} calls per pass`);
for (let pass = 1; pass <= 3; pass++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const r0 = kit.authenticate(me(), r => r);
    const r = r0 instanceof Promise ? await r0 : r0;
    if (!r.ok) throw new Error(`call ${i} failed: ${JSON.stringify(r)}`);
  }
  const us = Number(process.hrtime.bigint() - t0) / N / 1000;
  console.log(`  pass ${pass}: ${us.toFixed(2)} us/call (${Math.round(1e6 / us).toLocaleString('en-US')} calls/s)`);
}
await core.close();
