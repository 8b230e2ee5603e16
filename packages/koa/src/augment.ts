import type { Session } from '@tessera/core';

declare module 'koa' {
  interface DefaultState {
    /** The authenticated session, or null when anonymous (set by the tessera middleware). */
    tessera?: Session | null;
  }
}

export const TESSERA_RESULT: unique symbol = Symbol.for('tessera.result');
