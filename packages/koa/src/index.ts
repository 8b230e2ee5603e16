/**
 * @tessera/koa: `app.use(auth = tessera(options))` sets `ctx.state.tessera`;
 * `app.use(auth.routes())` serves login/refresh/logout/session under the prefix (default /auth);
 * `auth.requireSession()` guards a route.
 */
import { adminRoute, createTessera, isTessera, type AdminRouteOptions, type AuthResult, type Tessera, type TesseraOptions } from '@tessera/core';
import { FileStore } from '@tessera/store-file';
import type { Context, Middleware, Next } from 'koa';
import { send, toRequest, toResponse } from './adapt.js';
import { results } from './augment.js';
import './augment.js';

export type { Session, TesseraOptions, Tessera } from '@tessera/core';

export interface TesseraKoa extends Middleware {
  readonly core: Tessera;
  /** Login, refresh, logout and session routes under `prefix` (default: the `routes.prefix` option, `/auth`). */
  routes(options?: { prefix?: string }): Middleware;
  requireSession(): Middleware;
  /** Optional session/API-token administration routes under `prefix` (default `/auth/admin`). */
  adminRoutes(options?: AdminRouteOptions & { prefix?: string }): Middleware;
}

type Ctx = Context;

function instance(x: TesseraOptions | Tessera): Tessera {
  return isTessera(x) ? x : createTessera(x, { defaultStore: () => new FileStore() });
}

function normalize(prefix: string): string {
  return prefix.length > 1 ? prefix.replace(/\/+$/, '') : prefix;
}

/** The path below `prefix`, or null when the path is elsewhere. */
function relative(prefix: string, path: string): string | null {
  if (prefix === '/') return path;
  if (path === prefix || path.startsWith(prefix + '/')) return path.slice(prefix.length) || '/';
  return null;
}

export function tessera(options: TesseraOptions | Tessera = {}): TesseraKoa {
  const core = instance(options);

  const attach = (ctx: Ctx, r: AuthResult): AuthResult => {
    ctx.state.tessera = r.ok ? r.session : null;
    results.set(ctx, r);
    return r;
  };

  const authenticate = async (ctx: Ctx): Promise<AuthResult> => attach(ctx, await core.authenticate(toRequest(ctx), toResponse(ctx)));

  // Not an async function: when the result is known without I/O, no promise is added to the chain.
  const middleware = ((ctx: Ctx, next: Next) => {
    const r = core.authenticateFast(toRequest(ctx), toResponse(ctx));
    if (r instanceof Promise) return r.then(v => (attach(ctx, v), next()));
    attach(ctx, r);
    return next();
  }) as TesseraKoa;

  Object.defineProperty(middleware, 'core', { value: core });

  middleware.routes = (opts = {}) => {
    const prefix = normalize(opts.prefix ?? core.options.prefix);
    return async (ctx: Ctx, next: Next) => {
      const rel = relative(prefix, ctx.path);
      if (rel === null) return next();
      const name = core.matchRoute(ctx.method, rel);
      if (name === null) return next();
      send(ctx, await core.route(name, toRequest(ctx), toResponse(ctx), results.get(ctx)));
    };
  };

  middleware.adminRoutes = (opts = {}) => {
    const prefix = normalize(opts.prefix ?? `${core.options.prefix === '/' ? '' : core.options.prefix}/admin`);
    return async (ctx: Ctx, next: Next) => {
      const rel = relative(prefix, ctx.path);
      const reply = rel === null ? null : await adminRoute(core, ctx.method, rel, toRequest(ctx), toResponse(ctx), results.get(ctx), opts);
      if (reply === null) return next();
      send(ctx, reply);
    };
  };

  middleware.requireSession = () => (ctx: Ctx, next: Next) => {
    const r = results.get(ctx);
    if (r === undefined) return authenticate(ctx).then(v => (v.ok ? next() : send(ctx, v.reply)));
    if (!r.ok) return send(ctx, r.reply);
    return next();
  };

  return middleware;
}

export default tessera;
