/**
 * @tessera/express: `app.use(tessera(options))` sets `req.tessera` on every request;
 * `auth.routes()` serves login/refresh/logout/session; `auth.requireSession()` guards a route.
 * Works with or without cookie-parser and body parsers.
 */
import { adapterKit, type AdminRouteOptions, type AuthResult, type IssueOptions, type Rejection, type Session, type Tessera, type User } from '@tessera/core/adapter';
import type { TesseraOptions } from '@tessera/core';
import { defaultStore } from '@tessera/store-file';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { appendCookies, send, toRequest } from './adapt.js';
import './augment.js'; // carries the `req.tessera` typing into the published declarations
import { attach, resultOf } from './augment.js';

export type { Credentials, IssueOptions, Rejection, Session, TesseraOptions, Tessera, User } from '@tessera/core';

export interface GuardOptions {
  /** This guard's own answer to a refusal, instead of the contract reply (e.g. `res.redirect('/login')`). */
  onReject?: (req: Request, res: Response, rejection: Rejection) => void;
}

export interface FreshOptions extends GuardOptions {
  /** Seconds since login accepted. Default: the `freshAge` option (600). */
  maxAge?: number;
}

export interface TesseraExpress extends RequestHandler {
  /** The framework-neutral instance (admin API: revokeUser, listSessions, createApiToken, ...). */
  readonly core: Tessera;
  /** Login, refresh, logout and session routes. Mount with `app.use('/auth', auth.routes())` or `app.use(auth.routes())`. */
  routes(): RequestHandler;
  /** Answers 401/403/503 per the response contract unless the request has a session. */
  requireSession(options?: GuardOptions): RequestHandler;
  /** Like requireSession, and the login must be recent (`freshAge`): else 401 REAUTH_REQUIRED. For sensitive actions. */
  requireFresh(options?: FreshOptions): RequestHandler;
  /**
   * Starts a session for a user your code authenticated (SSO callback, HTTP Basic, sign-up),
   * sets its cookies on `res` and ends the session the request presented. A failing store
   * rejects with a TesseraError whose `status` is 503. `options.credentials` are kept only sealed
   * (`safePassword`), readable with `session.credentials()`.
   */
  issue<U extends User>(req: Request, res: Response, user: U, options?: IssueOptions): Promise<Session>;
  /** Optional session/API-token administration routes: `app.use('/auth/admin', auth.adminRoutes({ isAdmin }))`. */
  adminRoutes(options?: AdminRouteOptions): RequestHandler;
}

const pass = (_req: Request, r: AuthResult): AuthResult => r;

export function tessera(options: TesseraOptions | Tessera = {}): TesseraExpress {
  const kit = adapterKit(options, defaultStore);

  /** Records the result on the request and sends any reissued cookie. */
  const settle = (req: Request, res: Response, r: AuthResult): AuthResult => {
    attach(req, r);
    if (r.ok && r.cookies.length > 0) appendCookies(res, r.cookies);
    return r;
  };

  const middleware = ((req: Request, res: Response, next: NextFunction) => {
    kit.authenticate(toRequest(req), r => (settle(req, res, r), next()), next);
  }) as TesseraExpress;

  const routes: RequestHandler = (req, res, next) => {
    const rel = req.baseUrl ? req.path : kit.below(req.path);
    const name = rel === null ? null : kit.matchRoute(req.method, rel);
    if (name === null) return next();
    kit.route(name, toRequest(req), resultOf(req)).then(reply => send(res, reply), next);
  };

  /** A guard over the request's result: `check` may turn a session into a refusal (freshness). */
  const guard =
    (options: GuardOptions = {}, check: (req: Request, r: AuthResult) => AuthResult = pass): RequestHandler =>
    (req, res, next) => {
      const prior = resultOf(req);
      if (prior !== undefined && prior.ok && check === pass) return next(); // the common case, without a closure
      const done = (r0: AuthResult) => {
        const r = check(req, r0);
        if (r.ok) return next();
        if (!options.onReject) return send(res, kit.replyFor(toRequest(req), r));
        appendCookies(res, kit.cookiesOf(r.reply));
        options.onReject(req, res, { error: r.error, reply: r.reply, request: toRequest(req) });
      };
      if (prior) return done(prior);
      kit.authenticate(toRequest(req), r => done(settle(req, res, r)), next);
    };

  Object.defineProperty(middleware, 'core', { value: kit.core });
  middleware.routes = () => routes;
  middleware.requireSession = options => guard(options);
  middleware.requireFresh = (options = {}) => guard(options, (req, r) => kit.fresh(toRequest(req), r, options.maxAge));
  middleware.issue = async (req, res, user, issueOptions) => {
    const { session, cookies } = await kit.issue(toRequest(req), user, issueOptions);
    appendCookies(res, cookies);
    return session;
  };
  middleware.adminRoutes = (adminOptions = {}) => (req, res, next) => {
    kit.admin({ path: req.path, req: toRequest(req), prior: resultOf(req), options: adminOptions }).then(reply => (reply ? send(res, reply) : next()), next);
  };
  return middleware;
}

export default tessera;
