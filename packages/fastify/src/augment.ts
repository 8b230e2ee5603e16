import type { AuthResult, Session, Tessera } from '@tessera/core';
import type { onRequestHookHandler } from 'fastify';

export interface TesseraDecorator {
  readonly core: Tessera;
  /** An onRequest / preHandler hook answering 401/403/503 per the response contract unless there is a session. */
  requireSession(): onRequestHookHandler;
}

/** Each request's authentication result, kept off the request object (no per-request shape change). */
export const results = new WeakMap<object, AuthResult>();

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated session, or null when anonymous. */
    tessera: Session | null;
  }
  interface FastifyInstance {
    tessera: TesseraDecorator;
  }
}
