import type { AuthResult, Session } from '@tessera/core';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The authenticated session, or null when anonymous (set by the tessera middleware). */
      tessera?: Session | null;
      /** @internal the full authentication result for this request. */
      [TESSERA_RESULT]?: AuthResult;
    }
  }
}

export const TESSERA_RESULT: unique symbol = Symbol.for('tessera.result');
