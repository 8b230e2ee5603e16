import Koa from 'koa';
import { bodyParser } from '@koa/bodyparser';
import { tessera } from '@tessera/koa';
import { defineAdapterSuite, isAdmin, listen, type Mount } from '../../packages/testkit/src/index.js';

const mount: Mount = async (core, setup) => {
  const app = new Koa();
  if (setup.trustProxy) app.proxy = true;
  if (setup.extras) app.use(bodyParser());
  const auth = tessera(core);
  app.use(auth);
  app.use(auth.adminRoutes({ prefix: '/auth/admin', isAdmin }));
  app.use(auth.routes({ prefix: '/auth' }));
  const guard = auth.requireSession();
  app.use(async (ctx, next) => {
    if (ctx.path === '/api/me' && ctx.method === 'GET') return guard(ctx, async () => void (ctx.body = { user: ctx.state.tessera!.user }));
    if (ctx.path === '/api/data' && ctx.method === 'POST') return guard(ctx, async () => void (ctx.body = { ok: true }));
    if (ctx.path === '/public') return void (ctx.body = { user: ctx.state.tessera?.user ?? null });
    await next();
  });
  return listen(app.listen(0, '127.0.0.1'));
};

defineAdapterSuite('koa', mount);
