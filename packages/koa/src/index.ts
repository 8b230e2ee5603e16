/**
 * @tessera/koa: `app.use(auth = tessera(options))` sets `ctx.state.tessera`;
 * `app.use(auth.routes())` serves login/refresh/logout/session under the prefix (default /auth);
 * `auth.requireSession()` guards a route.
 */
import { adapterKit, type AdminRouteOptions, type AuthResult, type IssueOptions, type Rejection, type Session, type Tessera, type User } from '@tessera/core/adapter';
import type { TesseraOptions } from '@tessera/core';
import { defaultStore } from '@tessera/store-file';
import type { Context, Middleware, Next } from 'koa';
import { appendCookies, send, toRequest } from './adapt.js';
import './augment.js'; // carries the `ctx.state.tessera` typing into the published declarations
import { resultOf, setResult } from './augment.js';

export type { Credentials, IssueOptions, Rejection, Session, TesseraOptions, Tessera, User } from '@tessera/core';

export interface GuardOptions {
  /** This guard's own answer to a refusal, instead of the contract reply (e.g. `ctx.redirect('/login')`). */
  onReject?: (ctx: Context, rejection: Rejection) => void | Promise<void>;
}

export interface FreshOptions extends GuardOptions {
  /** Seconds since login accepted. Default: the `freshAge` option (600). */
  maxAge?: number;
}

export interface TesseraKoa extends Middleware {
  readonly core: Tessera;
  /** Login, refresh, logout and session routes under `prefix` (default: the `routes.prefix` option, `/auth`). */
  routes(options?: { prefix?: string }): Middleware;
  /** Answers 401/403/503 per the response contract unless the request has a session. */
  requireSession(options?: GuardOptions): Middleware;
  /** Like requireSession, and the login must be recent (`freshAge`): else 401 REAUTH_REQUIRED. For sensitive actions. */
  requireFresh(options?: FreshOptions): Middleware;
  /**
   * Starts a session for a user your code authenticated (SSO callback, HTTP Basic, sign-up),
   * sets its cookies and ends the session the request presented. A failing store throws a
   * TesseraError whose `status` is 503. `options.credentials` are kept only sealed (`safePassword`),
   * readable with `session.credentials()`.
   */
  issue<U extends User>(ctx: Context, user: U, options?: IssueOptions): Promise<Session>;
  /** Optional session/API-token administration routes under `prefix` (default `/auth/admin`). */
  adminRoutes(options?: AdminRouteOptions & { prefix?: string }): Middleware;
}

const pass = (_ctx: Context, r: AuthResult): AuthResult => r;

/** `ctx.path`, without Koa's URL parse for the usual origin-form URL (the routes middleware sees every request). */
function pathOf(ctx: Context): string {
  const url = ctx.req.url ?? '';
  if (url.charCodeAt(0) !== 47) return ctx.path; // absolute-form (`GET http://host/path`): Koa parses it
  // ctx.path's setter (koa-mount, rewrites) writes req.url, so it is what req.url says.
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

export function tessera(options: TesseraOptions | Tessera = {}): TesseraKoa {
  const kit = adapterKit(options, defaultStore);

  /** Records the result on the context and sends any reissued cookie. */
  const settle = (ctx: Context, r: AuthResult): AuthResult => {
    ctx.state.tessera = r.ok ? r.session : null;
    setResult(ctx, r);
    if (r.ok && r.cookies.length > 0) appendCookies(ctx, r.cookies);
    return r;
  };

  // Not an async function: when the result is known without I/O, no promise is added to the chain.
  const middleware = ((ctx: Context, next: Next) => kit.authenticate(toRequest(ctx), r => (settle(ctx, r), next()))) as TesseraKoa;
  Object.defineProperty(middleware, 'core', { value: kit.core });

  middleware.routes = (opts = {}) => async (ctx: Context, next: Next) => {
    const rel = kit.below(pathOf(ctx), opts.prefix);
    const name = rel === null ? null : kit.matchRoute(ctx.method, rel);
    if (name === null) return next();
    send(ctx, await kit.route(name, toRequest(ctx), resultOf(ctx)));
  };

  middleware.adminRoutes = (opts = {}) => {
    const prefix = opts.prefix ?? `${kit.prefix === '/' ? '' : kit.prefix}/admin`;
    return async (ctx: Context, next: Next) => {
      const rel = kit.below(pathOf(ctx), prefix);
      const reply = rel === null ? null : await kit.admin({ path: rel, req: toRequest(ctx), prior: resultOf(ctx), options: opts });
      if (reply === null) return next();
      send(ctx, reply);
    };
  };

  /** A guard over the request's result: `check` may turn a session into a refusal (freshness). */
  const guard =
    (options: GuardOptions = {}, check: (ctx: Context, r: AuthResult) => AuthResult = pass): Middleware =>
    (ctx: Context, next: Next) => {
      const prior = resultOf(ctx);
      if (prior !== undefined && prior.ok && check === pass) return next(); // the common case, without a closure
      const done = (r0: AuthResult) => {
        const r = check(ctx, r0);
        if (r.ok) return next();
        if (!options.onReject) return send(ctx, kit.replyFor(toRequest(ctx), r));
        appendCookies(ctx, kit.cookiesOf(r.reply));
        return options.onReject(ctx, { error: r.error, reply: r.reply, request: toRequest(ctx) });
      };
      return prior ? done(prior) : kit.authenticate(toRequest(ctx), r => done(settle(ctx, r)));
    };

  middleware.requireSession = options => guard(options);
  middleware.requireFresh = (options = {}) => guard(options, (ctx, r) => kit.fresh(toRequest(ctx), r, options.maxAge));
  middleware.issue = async (ctx, user, issueOptions) => {
    const { session, cookies } = await kit.issue(toRequest(ctx), user, issueOptions);
    appendCookies(ctx, cookies);
    return session;
  };

  return middleware;
}

export default tessera;
