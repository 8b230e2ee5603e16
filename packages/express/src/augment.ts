import type { AuthResult, Session } from '@tessera/core';
import type { Request } from 'express';
import { IncomingMessage } from 'node:http';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The authenticated session, or null when anonymous (set by the tessera middleware). */
      tessera?: Session | null;
    }
  }
}

/**
 * Each request's authentication result, under a symbol on the request (one property added the
 * same way to every request; a WeakMap entry per request cost about half a microsecond more).
 * `req.tessera` is an accessor defined once on the app's request prototype that reads it.
 */
const kResult: unique symbol = Symbol('tessera.result');
type Slot = { [kResult]?: AuthResult };
let lastProto: object | null = null;

export function resultOf(req: Request): AuthResult | undefined {
  return (req as Slot)[kResult];
}

/**
 * The prototype to hold the accessor: the one just above Node's IncomingMessage.prototype in the
 * request's chain, which is Express's own request object, shared by every app and sub-app.
 */
function sharedProto(req: object): object | null {
  let p = Object.getPrototypeOf(req) as object | null;
  while (p !== null) {
    const up = Object.getPrototypeOf(p) as object | null;
    if (up === IncomingMessage.prototype) return p;
    p = up;
  }
  return null;
}

export function attach(req: Request, r: AuthResult): void {
  (req as Slot)[kResult] = r;
  const proto = Object.getPrototypeOf(req) as object | null;
  if (proto === lastProto) return;
  lastProto = proto;
  const target = sharedProto(req);
  if (target === null) {
    // Not an Express request chain: an own property, as a plain middleware would do.
    (req as { tessera?: unknown }).tessera = r.ok ? r.session : null;
    lastProto = null;
    return;
  }
  if (Object.prototype.hasOwnProperty.call(target, 'tessera')) return;
  Object.defineProperty(target, 'tessera', {
    configurable: true,
    enumerable: false,
    get(this: object) {
      const res = (this as Slot)[kResult];
      return res === undefined ? undefined : res.ok ? res.session : null;
    },
    set(this: object, value: unknown) {
      Object.defineProperty(this, 'tessera', { value, writable: true, configurable: true, enumerable: true });
    },
  });
}
