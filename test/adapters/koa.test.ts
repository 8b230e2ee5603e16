import Koa from 'koa';
import { bodyParser } from '@koa/bodyparser';
import { tessera } from '@tessera/koa';
import { BASIC_LOGIN_FAILED, basicIssueOptions, basicLogin, credentialsDigest, defineAdapterSuite, isAdmin, listen, type Mount } from '../../packages/testkit/src/index.js';

const mount: Mount = async (core, setup) => {
  const app = new Koa();
  app.silent = true; // the bad-bodies case sends truncated requests on purpose: no console noise for them
  if (setup.trustProxy) app.proxy = true;
  if (setup.extras) app.use(bodyParser());
  const auth = tessera(core);
  app.use(auth);
  app.use(auth.adminRoutes({ prefix: '/auth/admin', isAdmin }));
  app.use(auth.routes({ prefix: '/auth' }));
  const guard = auth.requireSession();
  const fresh = auth.requireFresh();
  const page = auth.requireSession({ onReject: (ctx, rejection) => ctx.redirect(`/login?reason=${rejection.error.code}`) });
  app.use(async (ctx, next) => {
    if (ctx.path === '/auth/basic' && ctx.method === 'POST') {
      const user = basicLogin(ctx.get('authorization') || undefined);
      if (user === null) {
        ctx.status = 401;
        ctx.body = BASIC_LOGIN_FAILED;
        return;
      }
      try {
        await auth.issue(ctx, user, basicIssueOptions(ctx.get('x-upstream-token') || undefined));
        ctx.body = { user };
      } catch (err) {
        const e = err as { status?: number; code?: string; message?: string };
        ctx.status = e.status ?? 500;
        ctx.body = { error: { code: e.code, message: e.message } };
      }
      return;
    }
    if (ctx.path === '/api/me' && ctx.method === 'GET') return guard(ctx, async () => void (ctx.body = { user: ctx.state.tessera!.user }));
    if (ctx.path === '/api/credentials' && ctx.method === 'GET') return guard(ctx, async () => void (ctx.body = { digest: credentialsDigest(ctx.state.tessera!) }));
    if (ctx.path === '/api/data' && ctx.method === 'POST') return guard(ctx, async () => void (ctx.body = { ok: true }));
    if (ctx.path === '/api/sensitive' && ctx.method === 'POST') return fresh(ctx, async () => void (ctx.body = { ok: true }));
    if (ctx.path === '/page' && ctx.method === 'GET') return page(ctx, async () => void (ctx.body = { user: ctx.state.tessera!.user }));
    if (ctx.path === '/public') return void (ctx.body = { user: ctx.state.tessera?.user ?? null });
    await next();
  });
  return listen(app.listen(0, '127.0.0.1'));
};

defineAdapterSuite('koa', mount);
