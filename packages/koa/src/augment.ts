import type { Session } from '@tessera/core';

declare module 'koa' {
  interface DefaultState {
    /** The authenticated session, or null when anonymous (set by the tessera middleware). */
    tessera?: Session | null;
  }
}

/** Each request's authentication result, kept off the context object (no per-request shape change). */
export const results = new WeakMap<object, import('@tessera/core').AuthResult>();
