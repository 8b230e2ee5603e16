// Shared bits of the three example apps: demo users, configuration from TESSERA_*, the HTML page.
import { timingSafeEqual, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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

/** The browser build of @tessera/client (one self-contained ES module), served at /tessera-client.js. */
export const CLIENT_SCRIPT = readFileSync(fileURLToPath(import.meta.resolve('@tessera/client')), 'utf8').replace(/\n\/\/# sourceMappingURL=.*$/, '');

/** The demo page: built on @tessera/client, it shows the session and its countdowns, refreshes as they happen, the user's sessions. */
export function page(framework) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tessera demo (${framework})</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2.5rem auto;padding:0 1rem;color:#1d1d1f}
h1 small{color:#777;font-weight:400}section,form{border:1px solid #ddd;border-radius:10px;padding:1rem 1.2rem;margin:1rem 0}
label{display:block;margin:.4rem 0}input{font:inherit;padding:.3rem .5rem}button{font:inherit;padding:.3rem .9rem;margin:.2rem .3rem .2rem 0;cursor:pointer}
.grid{display:grid;grid-template-columns:auto 1fr;gap:.2rem 1rem}.num{font-variant-numeric:tabular-nums;font-weight:600}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #eee;font-size:.92em}
#log{max-height:10rem;overflow:auto;font:13px/1.4 ui-monospace,monospace;background:#f7f7f7;padding:.5rem;border-radius:6px}
.err{color:#b00}.muted{color:#777}[hidden]{display:none}
</style></head>
<body><h1>Tessera demo <small>(${framework})</small></h1>
<form id="login"><p class="muted">Demo users: <code>alice</code> / <code>wonderland</code> (admin), <code>bob</code> / <code>builder</code>.</p>
<label>Username <input name="username" autocomplete="username" value="alice"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Log in</button> <span id="loginError" class="err" role="alert"></span></form>
<section id="who" hidden><h2 id="whoTitle">Session</h2>
<div class="grid"><span>Access token expires in</span><span id="accessLeft" class="num">–</span>
<span>Session ends in</span><span id="sessionLeft" class="num">–</span></div>
<p><button id="refresh" type="button">Refresh now</button><button id="logout" type="button">Log out</button><button id="logoutAll" type="button">Log out everywhere</button></p></section>
<section id="sessionsBox" hidden><h2>Your sessions</h2><table><thead><tr><th>Started</th><th>Last seen</th><th>Address</th><th></th></tr></thead><tbody id="sessions"></tbody></table></section>
<section><h2>Events</h2><div id="log" aria-live="polite"></div></section>
<p id="status" class="muted">Not logged in.</p>
<script type="module">
import { createClient } from '/tessera-client.js';
const $ = id => document.getElementById(id);
const auth = createClient({ mode: 'cookie' });
let info = null;
const log = text => { const line = document.createElement('div'); line.textContent = new Date().toLocaleTimeString() + '  ' + text; $('log').prepend(line); };
const left = at => { if (!at) return '–'; const s = Math.max(0, Math.round(at - Date.now() / 1000)); return s >= 3600 ? Math.floor(s / 3600) + ' h ' + Math.floor(s % 3600 / 60) + ' min' : s >= 60 ? Math.floor(s / 60) + ' min ' + (s % 60) + ' s' : s + ' s'; };
function render() {
  const on = info !== null;
  $('login').hidden = on; $('who').hidden = !on; $('sessionsBox').hidden = !on;
  $('status').textContent = on ? '' : 'Not logged in.';
  if (!on) return;
  $('whoTitle').textContent = 'Logged in as ' + (info.user.name || info.user.id);
  $('accessLeft').textContent = left(info.expiresAt);
  $('sessionLeft').textContent = left(info.sessionExpiresAt);
}
setInterval(render, 1000);
async function loadSessions() {
  if (!info) return;
  try {
    const { sessions, current } = await auth.sessions();
    $('sessions').replaceChildren(...sessions.map(s => {
      const tr = document.createElement('tr');
      const cell = t => { const td = document.createElement('td'); td.textContent = t; tr.append(td); };
      cell(new Date(s.createdAt * 1000).toLocaleString()); cell(new Date(s.lastSeenAt * 1000).toLocaleTimeString()); cell(s.kind === 'job' ? 'job token: ' + s.jobId : s.ip || '');
      const td = document.createElement('td');
      if (s.id === current) td.textContent = 'this one';
      else { const b = document.createElement('button'); b.textContent = 'Revoke'; b.onclick = async () => { await auth.revoke(s.id); log('revoked a session'); loadSessions(); }; td.append(b); }
      tr.append(td); return tr;
    }));
  } catch (e) { log('could not list sessions: ' + e.message); }
}
async function show() { info = await auth.session(); render(); loadSessions(); }
auth.on('refreshed', e => { log('token refreshed' + (e.elsewhere ? ' (in another tab)' : '') + ', expires in ' + left(e.expiresAt)); show(); });
auth.on('session-ended', e => { log('session ended: ' + e.code); info = null; render(); });
auth.on('logged-out', e => { log(e.elsewhere ? 'logged out in another tab' : 'logged out'); info = null; render(); });
auth.on('logged-in', e => { if (e.elsewhere) { log('logged in in another tab'); show(); } });
$('login').addEventListener('submit', async e => {
  e.preventDefault();
  const f = new FormData(e.target);
  try { await auth.login(f.get('username'), f.get('password')); $('loginError').textContent = ''; log('logged in'); await show(); }
  catch (err) { $('loginError').textContent = err.message; }
});
$('refresh').onclick = async () => { try { await auth.refresh(); } catch (e) { log('refresh failed: ' + e.message); } };
$('logout').onclick = () => auth.logout();
$('logoutAll').onclick = () => auth.logoutEverywhere(info && info.user.id);
auth.start();
show();
</script></body></html>`;
}
