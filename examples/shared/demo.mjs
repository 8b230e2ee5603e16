// Shared bits of the three example apps: demo users, configuration from TESSERA_*, the HTML page.
import { timingSafeEqual, createHash } from 'node:crypto';
import { ConfigError, ERRORS, TesseraError } from '@tessera/core';
import { fromEnv } from '@tessera/config';

/** Demo users (documented in examples/README.md). Never ship real users like this. */
const USERS = {
  alice: { password: 'wonderland', user: { id: 'alice', username: 'alice', name: 'Alice Liddell' } },
  bob: { password: 'builder', user: { id: 'bob', username: 'bob', name: 'Bob the Builder' } },
};

const digest = s => createHash('sha256').update(s).digest();

/** Checks a password in constant time (also for unknown users). */
export async function verifyCredentials({ username, password }) {
  const entry = Object.hasOwn(USERS, username) ? USERS[username] : undefined;
  const ok = timingSafeEqual(digest(password), digest(entry ? entry.password : '\0no-such-user'));
  return entry && ok ? entry.user : null;
}

/** Who may act on other users' sessions in the admin routes: alice (everyone manages their own). */
export const isAdmin = session => session.user.id === 'alice';

/** The body of a failed login, as the login route answers it. */
export const LOGIN_FAILED = Object.freeze({ error: { code: 'LOGIN_FAILED', message: ERRORS.LOGIN_FAILED.message } });

/**
 * HTTP Basic: `Authorization: Basic base64(user:password)` checked like the login form. The demo's
 * stand-in for any other way an app authenticates a user (an OIDC or SAML callback, a proxy's
 * Kerberos header): then it starts the session with the framework package's `issue()`.
 */
export async function basicUser(header) {
  const m = /^Basic +([A-Za-z0-9+/=]{1,1024})$/i.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 1) return null;
  return verifyCredentials({ username: text.slice(0, colon), password: text.slice(colon + 1) });
}

/** An error as one line of text: its message's first line, never its stack. */
export function oneLine(err) {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].trim().slice(0, 300) || (err instanceof Error ? err.name : 'unknown error');
}

/** Stops start-up: one line on stderr, exit code 1, no stack trace. */
export function fail(what, err) {
  console.error(`tessera: ${what}: ${oneLine(err)}`);
  process.exit(1);
}

/**
 * Runs one start-up step (building the middleware, store setup, loading the secret, listening);
 * a failure stops start-up with one line naming the problem. A bad TESSERA_* value is reported
 * as a configuration error naming the variable.
 */
export async function startup(fn) {
  try {
    return await fn();
  } catch (err) {
    fail(err instanceof ConfigError ? 'configuration error' : 'start-up failed', err);
  }
}

/** TESSERA_* -> options and store; a bad value stops start-up with a message naming the variable. */
export async function loadConfig() {
  const cfg = await startup(() => fromEnv(process.env));
  for (const name of cfg.unknown) console.warn(`tessera: ignoring unknown variable ${name}`);
  return cfg;
}

/** The only 500 the demo ever answers: a bug in the app's own code. Nothing about the error is sent. */
export const INTERNAL_ERROR = Object.freeze({ error: { code: 'INTERNAL', message: 'Internal error.' } });

/**
 * What to answer for an error that reached the framework's error handler: a client error the
 * framework itself raised (a body parser's 400/413/415, a bad URL) is the contract's
 * 400 BAD_REQUEST; anything else is a bug: 500 INTERNAL, logged as one line.
 */
export function errorReply(err) {
  // Tessera's own (e.g. a failing store while issuing a session): its contract reply.
  if (err instanceof TesseraError) return { status: err.status, body: { error: { code: err.code, message: err.message } } };
  const status = Number(err?.status ?? err?.statusCode);
  if (status >= 400 && status < 500) {
    return { status: ERRORS.BAD_REQUEST.status, body: { error: { code: 'BAD_REQUEST', message: ERRORS.BAD_REQUEST.message } } };
  }
  logInternal(err);
  return { status: 500, body: INTERNAL_ERROR };
}

/** One line on stderr for a bug, without the stack trace. */
export function logInternal(err) {
  console.error(`tessera demo: internal error: ${err instanceof Error ? err.name : 'Error'}: ${oneLine(err)}`);
}

/** PORT (default 3000) with a clear message when it is not a port number. */
export function port() {
  const raw = process.env.PORT ?? '3000';
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > 65535) {
    console.error(`tessera: configuration error: PORT: expected a port number; got ${JSON.stringify(raw)}`);
    process.exit(1);
  }
  return n;
}

/** TESSERA_TRUST_PROXY: true/false, a hop count, or a comma-separated list of addresses. */
export function trustProxySetting(raw) {
  if (raw === undefined) return undefined;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  if (/^\d+$/.test(v)) return Number(v);
  return raw.split(',').map(s => s.trim()).filter(Boolean);
}

export function page(framework) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tessera demo (${framework})</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}
form,section{border:1px solid #ccc;border-radius:8px;padding:1rem;margin:1rem 0}label{display:block;margin:.4rem 0}
input{font:inherit;padding:.3rem}button{font:inherit;padding:.3rem .9rem}pre{background:#f5f5f5;padding:.6rem;overflow:auto}
.err{color:#b00}</style></head>
<body><h1>Tessera demo <small>(${framework})</small></h1>
<p>Demo users: <code>alice</code> / <code>wonderland</code>, <code>bob</code> / <code>builder</code>.</p>
<form id="login"><label>Username <input name="username" autocomplete="username" value="alice"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Log in</button> <span id="loginError" class="err" role="alert"></span></form>
<section><h2>Session</h2><pre id="session">…</pre>
<button id="refresh" type="button">Refresh token</button> <button id="logout" type="button">Log out</button></section>
<script type="module">
const $ = id => document.getElementById(id);
const api = (path, init = {}) => fetch(path, { credentials: 'same-origin', ...init, headers: { 'content-type': 'application/json', ...(init.headers || {}) } });
async function show() {
  const res = await api('/auth/session');
  const body = res.status === 204 ? null : await res.json();
  $('session').textContent = res.ok
    ? 'Logged in as ' + body.user.name + ' (' + body.user.id + ')\\nexpires ' + new Date(body.expiresAt * 1000).toLocaleString() + '\\n\\n' + JSON.stringify(body, null, 2)
    : 'Not logged in (' + body.error.code + ')';
}
$('login').addEventListener('submit', async e => {
  e.preventDefault();
  const f = new FormData(e.target);
  const res = await api('/auth/login', { method: 'POST', body: JSON.stringify({ username: f.get('username'), password: f.get('password') }) });
  $('loginError').textContent = res.ok ? '' : (await res.json()).error.message;
  show();
});
$('refresh').addEventListener('click', async () => { await api('/auth/refresh', { method: 'POST' }); show(); });
$('logout').addEventListener('click', async () => { await api('/auth/logout', { method: 'POST' }); show(); });
show();
</script></body></html>`;
}
