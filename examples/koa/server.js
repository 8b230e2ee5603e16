// Tessera + Koa demo. Start: PORT=3000 pnpm --filter ./examples/koa start
import Koa from 'koa';
import { tessera } from '@tessera/koa';
import { needsSetup } from '@tessera/config';
import { CLIENT_SCRIPT, LOGIN_FAILED, basicUser, errorReply, fail, isAdmin, loadConfig, logInternal, page, port, startup, verifyCredentials } from '../shared/demo.mjs';

const { options, store } = await loadConfig(); // TESSERA_* variables; TESSERA_STORE picks the store (default file:.tessera)
if (needsSetup(store)) await startup(() => store.setup()); // PostgreSQL / DynamoDB: explicit, idempotent schema creation

const app = new Koa();
// Koa itself trusts all hops or a count, never an address list; Tessera reads TESSERA_TRUST_PROXY
// itself (the trustProxy option) for IP binding, so a list never lets a client spoof its address.
const proxySetting = options.trustProxy;
if (proxySetting === true || typeof proxySetting === 'number') {
  app.proxy = proxySetting !== 0;
  if (typeof proxySetting === 'number') app.maxIpsCount = proxySetting;
}

const auth = await startup(() => tessera({ ...options, verifyCredentials }));
// Loads the signing secret (from the store when TESSERA_SECRET is unset): a broken store or
// secret stops start-up here with one line, instead of failing every request later.
await startup(() => auth.core.ready());

// Errors Koa reports itself (e.g. while streaming a response): one line, no stack trace.
app.on('error', err => logInternal(err));
// First: anything that escaped the middleware below. A bug answers { error: { code: 'INTERNAL' } } 500, never a stack trace.
app.use(async (ctx, next) => {
  try {
    await next();
  } catch (err) {
    const { status, body } = errorReply(err);
    ctx.status = status;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body;
  }
});

const requireSession = auth.requireSession();
const requireFresh = auth.requireFresh();
app.use(auth); // ctx.state.tessera on every request (null when anonymous)
app.use(auth.adminRoutes({ prefix: '/auth/admin', isAdmin })); // own sessions for everyone; alice may act on anyone's
app.use(auth.routes({ prefix: '/auth' })); // POST login, refresh, logout, jobs; GET session; DELETE jobs/:jobId
app.use(async (ctx, next) => {
  // A session started by the app's own authentication (here HTTP Basic; an SSO callback works the same way).
  if (ctx.method === 'POST' && ctx.path === '/auth/basic') {
    const user = await basicUser(ctx.get('authorization'));
    ctx.set('Cache-Control', 'no-store');
    if (!user) {
      ctx.status = 401;
      ctx.body = LOGIN_FAILED;
      return;
    }
    await auth.issue(ctx, user);
    ctx.body = { user };
    return;
  }
  // A sensitive action: only for a login younger than freshAge (TESSERA_FRESH_AGE), else 401 REAUTH_REQUIRED.
  if (ctx.method === 'POST' && ctx.path === '/api/sensitive') {
    return requireFresh(ctx, async () => {
      ctx.body = { ok: true };
    });
  }
  if (ctx.method === 'GET' && ctx.path === '/api/me') {
    return requireSession(ctx, async () => {
      ctx.body = { user: ctx.state.tessera.user };
    });
  }
  if (ctx.method === 'GET' && ctx.path === '/tessera-client.js') {
    ctx.type = 'text/javascript'; // the browser build of @tessera/client
    ctx.body = CLIENT_SCRIPT;
    return;
  }
  if (ctx.method === 'GET' && ctx.path === '/') {
    ctx.type = 'html';
    ctx.body = page('Koa');
    return;
  }
  await next();
});

const server = app.listen(port(), () => console.log(`Tessera Koa demo on http://localhost:${server.address().port}`));
server.on('error', err => fail('start-up failed', err));
const stop = () => server.close(() => auth.core.close().finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
