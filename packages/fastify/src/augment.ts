import type { AuthResult, IssueOptions, Rejection, Session, Tessera, User } from '@tessera/core';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';

export interface GuardOptions {
  /** This guard's own answer to a refusal, instead of the contract reply (e.g. `reply.redirect('/login')`). */
  onReject?: (request: FastifyRequest, reply: FastifyReply, rejection: Rejection) => void;
}

export interface FreshOptions extends GuardOptions {
  /** Seconds since login accepted. Default: the `freshAge` option (600). */
  maxAge?: number;
}

export interface TesseraDecorator {
  readonly core: Tessera;
  /** An onRequest / preHandler hook answering 401/403/503 per the response contract unless there is a session. */
  requireSession(options?: GuardOptions): onRequestHookHandler;
  /** Like requireSession, and the login must be recent (`freshAge`): else 401 REAUTH_REQUIRED. For sensitive actions. */
  requireFresh(options?: FreshOptions): onRequestHookHandler;
  /**
   * Starts a session for a user your code authenticated (SSO callback, HTTP Basic, sign-up), sets
   * its cookies on `reply` and ends the session the request presented. A failing store throws a
   * TesseraError whose `statusCode` is 503. `options.credentials` are kept only sealed
   * (`safePassword`), readable with `session.credentials()`.
   */
  issue<U extends User>(request: FastifyRequest, reply: FastifyReply, user: U, options?: IssueOptions): Promise<Session>;
}

/**
 * Where each request's authentication result is kept: a symbol-keyed request decoration (declared
 * once with `decorateRequest`, so every request has the same shape). A WeakMap entry per request
 * cost about half a microsecond more.
 */
export const kResult: unique symbol = Symbol('tessera.result');

export function resultOf(request: FastifyRequest): AuthResult | undefined {
  return (request as unknown as { [kResult]: AuthResult | null })[kResult] ?? undefined;
}

export function setResult(request: FastifyRequest, r: AuthResult): void {
  (request as unknown as { [kResult]: AuthResult | null })[kResult] = r;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated session, or null when anonymous. */
    tessera: Session | null;
  }
  interface FastifyInstance {
    tessera: TesseraDecorator;
  }
}
