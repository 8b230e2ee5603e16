/**
 * @tessera/koa: `app.use(auth = tessera(options))` sets `ctx.state.tessera`;
 * `app.use(auth.routes())` serves login/refresh/logout/session under the prefix (default /auth);
 * `auth.requireSession()` guards a route.
 */
import { adapterKit, type AdminRouteOptions, type AuthResult, type Tessera } from '@tessera/core/adapter';
import type { TesseraOptions } from '@tessera/core';
import { defaultStore } from '@tessera/store-file';
import type { Context, Middleware, Next } from 'koa';
import { appendCookies, send, toRequest } from './adapt.js';
import './augment.js'; // carries the `ctx.state.tessera` typing into the published declarations
import { results } from './augment.js';

export type { Session, TesseraOptions, Tessera } from '@tessera/core';

export interface TesseraKoa extends Middleware {
  readonly core: Tessera;
  /** Login, refresh, logout and session routes under `prefix` (default: the `routes.prefix` option, `/auth`). */
  routes(options?: { prefix?: string }): Middleware;
  requireSession(): Middleware;
  /** Optional session/API-token administration routes under `prefix` (default `/auth/admin`). */
  adminRoutes(options?: AdminRouteOptions & { prefix?: string }): Middleware;
}

export function tessera(options: TesseraOptions | Tessera = {}): TesseraKoa {
  const kit = adapterKit(options, defaultStore);

  /** Records the result on the context and sends any reissued cookie. */
  const settle = (ctx: Context, r: AuthResult): AuthResult => {
    ctx.state.tessera = r.ok ? r.session : null;
    results.set(ctx, r);
    if (r.ok && r.cookies.length > 0) appendCookies(ctx, r.cookies);
    return r;
  };

  // Not an async function: when the result is known without I/O, no promise is added to the chain.
  const middleware = ((ctx: Context, next: Next) => kit.authenticate(toRequest(ctx), r => (settle(ctx, r), next()))) as TesseraKoa;
  Object.defineProperty(middleware, 'core', { value: kit.core });

  middleware.routes = (opts = {}) => async (ctx: Context, next: Next) => {
    const rel = kit.below(ctx.path, opts.prefix);
    const name = rel === null ? null : kit.matchRoute(ctx.method, rel);
    if (name === null) return next();
    send(ctx, await kit.route(name, toRequest(ctx), results.get(ctx)));
  };

  middleware.adminRoutes = (opts = {}) => {
    const prefix = opts.prefix ?? `${kit.prefix === '/' ? '' : kit.prefix}/admin`;
    return async (ctx: Context, next: Next) => {
      const rel = kit.below(ctx.path, prefix);
      const reply = rel === null ? null : await kit.admin({ path: rel, req: toRequest(ctx), prior: results.get(ctx), options: opts });
      if (reply === null) return next();
      send(ctx, reply);
    };
  };

  middleware.requireSession = () => (ctx: Context, next: Next) => {
    const done = (r: AuthResult) => (r.ok ? next() : send(ctx, r.reply));
    const prior = results.get(ctx);
    return prior ? done(prior) : kit.authenticate(toRequest(ctx), r => done(settle(ctx, r)));
  };

  return middleware;
}

export default tessera;
