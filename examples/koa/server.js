// Tessera + Koa demo. Start: PORT=3000 pnpm --filter ./examples/koa start
import Koa from 'koa';
import { tessera } from '@tessera/koa';
import { needsSetup } from '@tessera/config';
import { errorReply, fail, loadConfig, logInternal, page, port, startup, trustProxySetting, verifyCredentials } from '../shared/demo.mjs';

const { options, store, trustProxy } = await loadConfig(); // TESSERA_* variables; TESSERA_STORE picks the store (default file:.tessera)
if (needsSetup(store)) await startup(() => store.setup()); // PostgreSQL / DynamoDB: explicit, idempotent schema creation

const app = new Koa();
if (trustProxy !== undefined) app.proxy = trustProxySetting(trustProxy) !== false;

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
app.use(auth); // ctx.state.tessera on every request (null when anonymous)
app.use(auth.routes({ prefix: '/auth' })); // POST login, refresh, logout; GET session
app.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/api/me') {
    return requireSession(ctx, async () => {
      ctx.body = { user: ctx.state.tessera.user };
    });
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
