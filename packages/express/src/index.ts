/**
 * @tessera/express: `app.use(tessera(options))` sets `req.tessera` on every request;
 * `auth.routes()` serves login/refresh/logout/session; `auth.requireSession()` guards a route.
 * Works with or without cookie-parser and body parsers.
 */
import { adminRoute, createTessera, isTessera, type AdminRouteOptions, type AuthResult, type Tessera, type TesseraOptions } from '@tessera/core';
import { FileStore } from '@tessera/store-file';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { send, toRequest, toResponse } from './adapt.js';
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

function instance(x: TesseraOptions | Tessera): Tessera {
  return isTessera(x) ? x : createTessera(x, { defaultStore: () => new FileStore() });
}

export function tessera(options: TesseraOptions | Tessera = {}): TesseraExpress {
  const core = instance(options);
  const prefix = core.options.prefix;

  const middleware = ((req: Request, res: Response, next: NextFunction) => {
    const r = core.authenticateFast(toRequest(req), toResponse(res));
    if (r instanceof Promise) {
      r.then(v => {
        attach(req, v);
        next();
      }, next);
    } else {
      attach(req, r);
      next();
    }
  }) as TesseraExpress;

  const routes: RequestHandler = (req, res, next) => {
    let rel = req.path;
    if (!req.baseUrl) {
      if (prefix !== '/' && !(rel === prefix || rel.startsWith(prefix + '/'))) return next();
      rel = prefix === '/' ? rel : rel.slice(prefix.length) || '/';
    }
    const name = core.matchRoute(req.method, rel);
    if (name === null) return next();
    core.route(name, toRequest(req), toResponse(res), resultOf(req)).then(reply => send(res, reply), next);
  };

  const guard: RequestHandler = (req, res, next) => {
    const done = (r: AuthResult) => (r.ok ? next() : send(res, r.reply));
    const prior = resultOf(req);
    if (prior) return done(prior);
    core.authenticate(toRequest(req), toResponse(res)).then(r => {
      attach(req, r);
      done(r);
    }, next);
  };

  Object.defineProperty(middleware, 'core', { value: core });
  middleware.routes = () => routes;
  middleware.requireSession = () => guard;
  middleware.adminRoutes = (adminOptions = {}) => (req, res, next) => {
    adminRoute(core, req.method, req.path, toRequest(req), toResponse(res), resultOf(req), adminOptions).then(
      reply => (reply ? send(res, reply) : next()),
      next,
    );
  };
  return middleware;
}

export default tessera;
