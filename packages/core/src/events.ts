/** Typed security and lifecycle events. None ever carries a raw token or secret. */
import type { ErrorCode } from './errors.js';
import type { RevokeWhere } from './store.js';

interface Base {
  /** Epoch seconds. */
  at: number;
}

export type TokenKind = 'session' | 'access' | 'refresh' | 'api';

export type TesseraEvent =
  | (Base & { type: 'issued'; kind: TokenKind; sessionId: string; subject: string; tenant: string | null })
  | (Base & { type: 'refreshed'; mode: 'sliding' | 'pair'; sessionId: string; subject: string; grace: boolean })
  | (Base & {
      type: 'rejected';
      code: ErrorCode;
      /** Internal reason (e.g. `signature`, `alg`, `revoked`, `idle`); never sent to the client. */
      reason: string;
      path: string;
      ip: string | null;
      sessionId?: string;
      subject?: string;
    })
  | (Base & { type: 'revoked'; by: 'logout' | 'login' | 'admin' | 'reuse'; where: RevokeWhere; count: number })
  | (Base & { type: 'reuse-detected'; sessionId: string; subject: string; tokenId: string })
  | (Base & { type: 'store-error'; operation: string; message: string });

/** Removes credentials from URLs and long opaque strings before a store message reaches an event. */
export function redact(message: string): string {
  return message
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^@\s/]*@/gi, '$1***@')
    .replace(/[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{10,}/g, '[token]')
    .slice(0, 500);
}
