/**
 * @tessera/express: `app.use(tessera(options))` sets `req.tessera` on every request;
 * `auth.routes()` serves login/refresh/logout/session; `auth.requireSession()` guards a route.
 * Works with or without cookie-parser and body parsers.
 */
import { adapterKit, type AdminRouteOptions, type AuthResult, type Tessera } from '@tessera/core/adapter';
import type { TesseraOptions } from '@tessera/core';
import { defaultStore } from '@tessera/store-file';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { appendCookies, send, toRequest } from './adapt.js';
import './augment.js'; // carries the `req.tessera` typing into the published declarations
import { attach, resultOf } from './augment.js';

export type { Session, TesseraOptions, Tessera } from '@tessera/core';

export interface TesseraExpress extends RequestHandler {
  /** The framework-neutral instance (admin API: revokeUser, listSessions, createApiToken, ...). */
  readonly core: Tessera;
  /** Login, refresh, logout and session routes. Mount with `app.use('/auth', auth.routes())` or `app.use(auth.routes())`. */
  routes(): RequestHandler;
  /** Answers 401/403/503 per the response contract unless the request has a session. */
  requireSession(): RequestHandler;
  /** Optional session/API-token administration routes: `app.use('/auth/admin', auth.adminRoutes({ isAdmin }))`. */
  adminRoutes(options?: AdminRouteOptions): RequestHandler;
}

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

  const guard: RequestHandler = (req, res, next) => {
    const done = (r: AuthResult) => (r.ok ? next() : send(res, r.reply));
    const prior = resultOf(req);
    if (prior) return done(prior);
    kit.authenticate(toRequest(req), r => done(settle(req, res, r)), next);
  };

  Object.defineProperty(middleware, 'core', { value: kit.core });
  middleware.routes = () => routes;
  middleware.requireSession = () => guard;
  middleware.adminRoutes = (adminOptions = {}) => (req, res, next) => {
    kit.admin({ path: req.path, req: toRequest(req), prior: resultOf(req), options: adminOptions }).then(reply => (reply ? send(res, reply) : next()), next);
  };
  return middleware;
}

export default tessera;
