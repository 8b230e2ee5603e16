import type { AuthResult, Session, Tessera } from '@tessera/core';
import type { onRequestHookHandler } from 'fastify';

export interface TesseraDecorator {
  readonly core: Tessera;
  /** An onRequest / preHandler hook answering 401/403/503 per the response contract unless there is a session. */
  requireSession(): onRequestHookHandler;
}

export const TESSERA_RESULT: unique symbol = Symbol.for('tessera.result');

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated session, or null when anonymous. */
    tessera: Session | null;
    [TESSERA_RESULT]?: AuthResult;
  }
  interface FastifyInstance {
    tessera: TesseraDecorator;
  }
}
