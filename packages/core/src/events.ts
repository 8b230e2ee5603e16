/**
 * Typed security and lifecycle events. None ever carries a raw token, token id or secret: `sessionId`
 * is a session's public id (`sessionIdOf` the token's `sid`, the id session lists show; an API or job
 * token's id), `tokenId` a hash of a refresh token's `jti` (lib/at-rest.ts).
 */
import type { ErrorCode } from './errors.js';
import type { RevokeWhere } from './store.js';

interface Base {
  /** Epoch seconds. */
  at: number;
}

export type TokenKind = 'session' | 'access' | 'refresh' | 'api' | 'job';

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
  /** `login`: the session a login request presented (fixation); `session-cap`: the oldest beyond `maxSessionsPerUser`. */
  | (Base & { type: 'revoked'; by: 'logout' | 'login' | 'admin' | 'reuse' | 'session-cap'; where: RevokeWhere; count: number })
  | (Base & { type: 'reuse-detected'; sessionId: string; subject: string; tokenId: string })
  | (Base & {
      type: 'throttled';
      /** What was refused: a login, or a refresh with an unknown or forged refresh token. */
      what: 'login' | 'refresh';
      /** Which limit: the username's (never named: it may be a mistyped password) or the address's. */
      by: 'user' | 'address';
      ip: string | null;
      /** Seconds until the window ends (the `Retry-After` sent). */
      retryAfter: number;
    })
  | (Base & { type: 'store-error'; operation: string; message: string });

/** Removes credentials from URLs and long opaque strings before a store message reaches an event. */
export function redact(message: string): string {
  return message
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^@\s/]*@/gi, '$1***@')
    // A seal (`safePassword`) a store error may quote: `v1.<kid>.<iv>.<ciphertext>.<tag>`.
    .replace(/\bv1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+/g, '[sealed]')
    .replace(/[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{10,}/g, '[token]')
    .slice(0, 500);
}
