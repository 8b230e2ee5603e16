/**
 * Error classes with a stable `code` (jose style). Every request-time failure is a
 * `TesseraError`; start-up problems are `ConfigError`; a failing backend is `StoreError`.
 */

export type ErrorCode =
  | 'TOKEN_MISSING'
  | 'TOKEN_INVALID'
  | 'TOKEN_EXPIRED'
  | 'SESSION_ENDED'
  | 'REFRESH_REUSED'
  | 'BINDING_MISMATCH'
  | 'CSRF_FAILED'
  | 'REAUTH_REQUIRED'
  | 'BAD_REQUEST'
  | 'LOGIN_FAILED'
  | 'FORBIDDEN'
  | 'TOO_MANY_ATTEMPTS'
  | 'STORE_UNAVAILABLE';

/** Status and fixed public message per code: the body never carries anything else. */
export const ERRORS: Readonly<Record<ErrorCode, { status: number; message: string }>> = {
  TOKEN_MISSING: { status: 401, message: 'Authentication required.' },
  TOKEN_INVALID: { status: 401, message: 'The session token is invalid.' },
  TOKEN_EXPIRED: { status: 401, message: 'The access token has expired; refresh it.' },
  SESSION_ENDED: { status: 401, message: 'The session has ended; log in again.' },
  REFRESH_REUSED: { status: 401, message: 'The refresh token was already used; the session was revoked.' },
  BINDING_MISMATCH: { status: 401, message: 'The session is bound to another client.' },
  CSRF_FAILED: { status: 403, message: 'Cross-site request refused.' },
  REAUTH_REQUIRED: { status: 401, message: 'Log in again to continue.' },
  BAD_REQUEST: { status: 400, message: 'The request is malformed.' },
  LOGIN_FAILED: { status: 401, message: 'Invalid credentials.' },
  FORBIDDEN: { status: 403, message: 'Not allowed.' },
  TOO_MANY_ATTEMPTS: { status: 429, message: 'Too many failed attempts; try again later.' },
  STORE_UNAVAILABLE: { status: 503, message: 'The session store is unavailable; try again shortly.' },
};

/** A request was refused. `reason` is internal (for events and logs), never sent to clients. */
export class TesseraError extends Error {
  readonly code: ErrorCode;
  /** The HTTP status; also as `statusCode`, so Express, Koa and Fastify error handlers answer with it. */
  readonly status: number;
  readonly statusCode: number;
  /** Koa: the message is the fixed public text, safe to send. */
  readonly expose = true;
  readonly reason: string;
  /** TOO_MANY_ATTEMPTS: seconds until the client may try again (the `Retry-After` header). */
  readonly retryAfter?: number;
  constructor(code: ErrorCode, reason?: string, retryAfter?: number) {
    super(ERRORS[code].message);
    this.name = 'TesseraError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.statusCode = this.status;
    this.reason = reason ?? code.toLowerCase();
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

/** Invalid options: thrown by `createTessera` / `optionsFromEnv`, stops the boot. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID' as const;
  /** The option path or environment variable at fault, e.g. `cookie.sameSite` or `TESSERA_TTL`. */
  readonly option: string;
  constructor(option: string, message: string) {
    super(`${option}: ${message}`);
    this.name = 'ConfigError';
    this.option = option;
  }
}

/** A store backend failed (unreachable, timed out, closed). The core answers 503 STORE_UNAVAILABLE. */
export class StoreError extends Error {
  readonly code = 'STORE_UNAVAILABLE' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

export function isStoreError(err: unknown): err is StoreError {
  return err instanceof Error && (err as { code?: unknown }).code === 'STORE_UNAVAILABLE';
}
