import type { AuthResult, Session } from '@tessera/core';

declare module 'koa' {
  interface DefaultState {
    /** The authenticated session, or null when anonymous (set by the tessera middleware). */
    tessera?: Session | null;
  }
}

/** Where each request's authentication result is kept on the context (a WeakMap entry per request cost about half a microsecond more). */
const kResult: unique symbol = Symbol('tessera.result');
type Slot = { [kResult]?: AuthResult };

export function resultOf(ctx: object): AuthResult | undefined {
  return (ctx as Slot)[kResult];
}

export function setResult(ctx: object, r: AuthResult): void {
  (ctx as Slot)[kResult] = r;
}
