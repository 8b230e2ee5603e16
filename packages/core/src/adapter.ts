/**
 * The adapter kit (`@tessera/core/adapter`): what a framework package needs, so that each
 * adapter is only wiring: turn the framework's request into an `HttpRequest`, call the kit,
 * append the Set-Cookie values it hands back and send the replies it returns.
 */
import { adminRoute, type AdminRequest } from './admin-routes.js';
import type { ErrorCode } from './errors.js';
import { authenticate, authenticateSync } from './flows/authenticate.js';
import type { TesseraOptions } from './options.js';
import { errorReply, setCookiesOf } from './reply.js';
import { matchRoute, runRoute } from './routes.js';
import type { TokenStore } from './store.js';
import { contextOf, createTessera, isTessera, type Tessera } from './tessera.js';
import type { AuthResult, HttpReply, HttpRequest, IssueOptions, Rejection, RouteName, Session, User } from './types.js';
import { requireFresh } from './flows/fresh.js';
import { describeStore } from './logger.js';
import { sendable } from './outcome.js';

export type { AdminRequest, AdminRouteOptions } from './admin-routes.js';
export type { AuthResult, Credentials, HttpReply, HttpRequest, IssueOptions, JsonObject, Rejection, RouteName, Session, User } from './types.js';
export type { Logger } from './logger.js';
export type { Tessera } from './tessera.js';
export { readBody, headerValue } from './lib/body.js';

export interface AdapterKit {
  readonly core: Tessera;
  /** The routes prefix (`routes.prefix`, default `/auth`), without a trailing slash. */
  readonly prefix: string;
  /** The drop-in routes enabled by the options (no `refresh` when `refreshable` is false; `jwks` only with EdDSA or ES256; `createJob` and `revokeJob` unless `jobs: false`). */
  readonly routeNames: readonly RouteName[];
  /**
   * Authenticates and hands the result to `then`: synchronously when no I/O was needed (the hot
   * path: a known token on an in-process store), else when the flow completes. A bad token or a
   * failing store is a result, never an error; `fail` receives only errors thrown by app code
   * (a `tenant` function, say). Without `fail`, they reject the returned promise.
   */
  authenticate<T>(req: HttpRequest, then: (r: AuthResult) => T, fail?: (err: unknown) => void): T | Promise<T>;
  /** The part of `path` below `prefix` (default: the routes prefix), or null when `path` is elsewhere. */
  below(path: string, prefix?: string): string | null;
  /** Which drop-in route a method and a path relative to the prefix name, if any. */
  matchRoute(method: string, relativePath: string): RouteName | null;
  route(name: RouteName, req: HttpRequest, prior?: AuthResult): Promise<HttpReply>;
  /** An administration route's reply; null when the path is not one. */
  admin(request: AdminRequest): Promise<HttpReply | null>;
  /** The contract reply for a code (framework-level failures such as a body over the limit). */
  errorReply(code: ErrorCode): HttpReply;
  /**
   * Starts a session for a user the app authenticated (`core.issue`), ending the one the request
   * presented. Resolves to the session and the Set-Cookie values to send; a failing store rejects
   * with a TesseraError (`status` 503) the framework's error handling can answer.
   */
  issue<U extends User>(req: HttpRequest, user: U, options?: IssueOptions): Promise<{ session: Session; cookies: readonly string[] }>;
  /** `r` as is when the login is at most `maxAge` seconds old (default `freshAge`); else a REAUTH_REQUIRED refusal. */
  fresh(req: HttpRequest, r: AuthResult, maxAge?: number): AuthResult;
  /** The reply a guard sends for a refusal: the global `onReject`'s, when it reshapes it, else the contract reply. */
  replyFor(req: HttpRequest, r: Extract<AuthResult, { ok: false }>): HttpReply;
  /** The Set-Cookie values of a reply (a guard with its own `onReject` still clears what the refusal clears). */
  cookiesOf(reply: HttpReply): string[];
}

/**
 * The Set-Cookie list after adding `added`: an earlier value for a cookie of the same name is
 * dropped (one Set-Cookie per name, RFC 6265 4.1.1), e.g. a reissue the middleware set before a
 * login replaced the session.
 */
export function mergeSetCookie(existing: string | readonly string[] | number | undefined, added: readonly string[]): string[] {
  const before = existing === undefined ? [] : typeof existing === 'number' ? [String(existing)] : typeof existing === 'string' ? [existing] : [...existing];
  const names = new Set(added.map(c => c.slice(0, c.indexOf('='))));
  return [...before.filter(c => !names.has(c.slice(0, c.indexOf('=')))), ...added];
}

/** Trailing slashes trimmed, `/` kept (no regular expression for the usual prefix without one: this runs on every request). */
function normalize(prefix: string): string {
  return prefix.length > 1 && prefix.charCodeAt(prefix.length - 1) === 47 ? prefix.replace(/\/+$/, '') || '/' : prefix;
}

/**
 * The kit for a Tessera instance, or for options: then `defaultStore` supplies the store when
 * the options name none (the framework packages pass the file store's default).
 */
export function adapterKit(from: TesseraOptions | Tessera, defaultStore: () => TokenStore): AdapterKit {
  const core = isTessera(from) ? from : createTessera({ ...from, store: from.store ?? defaultStore() });
  const ctx = contextOf(core);
  ctx.o.logger.info({ store: describeStore(core.store) }, 'sessions are kept in the store');
  const prefix = ctx.o.prefix;
  const loginPath = `${prefix === '/' ? '' : prefix}/login`;
  const routeNames: readonly RouteName[] = [
    ...(ctx.o.refreshable ? (['login', 'refresh', 'logout', 'session'] as const) : (['login', 'logout', 'session'] as const)),
    ...(ctx.keys.asymmetric ? (['jwks'] as const) : []),
    ...(ctx.o.jobs ? (['createJob', 'revokeJob'] as const) : []),
  ];
  return {
    core,
    prefix,
    routeNames,
    authenticate<T>(req: HttpRequest, then: (r: AuthResult) => T, fail?: (err: unknown) => void): T | Promise<T> {
      let sync: AuthResult | null;
      try {
        sync = authenticateSync(ctx, req);
      } catch (err) {
        if (!fail) return Promise.reject(err);
        fail(err);
        return undefined as T;
      }
      if (sync !== null) return then(sync);
      // No reissue on the login route: that session is about to end.
      const p = authenticate(ctx, req, undefined, !(req.method === 'POST' && req.path === loginPath)).then(then);
      if (fail) p.catch(fail);
      return p;
    },
    below(path, at = prefix) {
      const p = normalize(at);
      if (p === '/') return path;
      if (path === p || path.startsWith(p + '/')) return path.slice(p.length) || '/';
      return null;
    },
    matchRoute: (method, rel) => matchRoute(ctx, method, rel),
    route: (name, req, prior) => runRoute(ctx, name, req, prior),
    admin: request => adminRoute(ctx, request),
    errorReply: code => errorReply(code),
    async issue(req, user, options) {
      const r = await core.issue(req, user, options);
      if (!r.ok) throw r.error;
      return { session: r.session, cookies: r.cookies };
    },
    fresh: (req, r, maxAge) => requireFresh(ctx, req, r, maxAge),
    replyFor: (req, r) => sendable(ctx, req, r),
    cookiesOf: setCookiesOf,
  };
}
