// Tessera + Koa demo. Start: PORT=3000 pnpm --filter ./examples/koa start
import Koa from 'koa';
import { tessera } from '@tessera/koa';
import { needsSetup } from '@tessera/config';
import { loadConfig, page, port, trustProxySetting, verifyCredentials } from '../shared/demo.mjs';

const { options, store, trustProxy } = await loadConfig(); // TESSERA_* variables; TESSERA_STORE picks the store (default file:.tessera)
if (needsSetup(store)) await store.setup(); // PostgreSQL / DynamoDB: explicit, idempotent schema creation

const app = new Koa();
if (trustProxy !== undefined) app.proxy = trustProxySetting(trustProxy) !== false;

const auth = tessera({ ...options, verifyCredentials });
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
const stop = () => server.close(() => auth.core.close().finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
