/**
 * @tessera/koa: `app.use(auth = tessera(options))` sets `ctx.state.tessera`;
 * `app.use(auth.routes())` serves login/refresh/logout/session under the prefix (default /auth);
 * `auth.requireSession()` guards a route.
 */
import { createTessera, isTessera, type AuthResult, type Tessera, type TesseraOptions } from '@tessera/core';
import { FileStore } from '@tessera/store-file';
import type { Context, Middleware, Next } from 'koa';
import { send, toRequest, toResponse } from './adapt.js';
import { TESSERA_RESULT } from './augment.js';
import './augment.js';

export type { Session, TesseraOptions, Tessera } from '@tessera/core';

export interface TesseraKoa extends Middleware {
  readonly core: Tessera;
  /** Login, refresh, logout and session routes under `prefix` (default: the `routes.prefix` option, `/auth`). */
  routes(options?: { prefix?: string }): Middleware;
  requireSession(): Middleware;
}

type Ctx = Context & { [TESSERA_RESULT]?: AuthResult };

function instance(x: TesseraOptions | Tessera): Tessera {
  return isTessera(x) ? x : createTessera(x, { defaultStore: () => new FileStore() });
}

export function tessera(options: TesseraOptions | Tessera = {}): TesseraKoa {
  const core = instance(options);

  const authenticate = async (ctx: Ctx): Promise<AuthResult> => {
    const r = await core.authenticate(toRequest(ctx), toResponse(ctx));
    ctx.state.tessera = r.ok ? r.session : null;
    ctx[TESSERA_RESULT] = r;
    return r;
  };

  const middleware = (async (ctx: Ctx, next: Next) => {
    await authenticate(ctx);
    await next();
  }) as TesseraKoa;

  Object.defineProperty(middleware, 'core', { value: core });

  middleware.routes = (opts = {}) => {
    const raw = opts.prefix ?? core.options.prefix;
    const prefix = raw.length > 1 ? raw.replace(/\/+$/, '') : raw;
    return async (ctx: Ctx, next: Next) => {
      const path = ctx.path;
      let rel: string;
      if (prefix === '/') rel = path;
      else if (path === prefix || path.startsWith(prefix + '/')) rel = path.slice(prefix.length) || '/';
      else return next();
      const name = core.matchRoute(ctx.method, rel);
      if (name === null) return next();
      send(ctx, await core.route(name, toRequest(ctx), toResponse(ctx), ctx[TESSERA_RESULT]));
    };
  };

  middleware.requireSession = () => async (ctx: Ctx, next: Next) => {
    const r = ctx[TESSERA_RESULT] ?? (await authenticate(ctx));
    if (!r.ok) return send(ctx, r.reply);
    await next();
  };

  return middleware;
}

export default tessera;
