/** The values the core and the adapters exchange: requests in, sessions and replies out. */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface HttpRequest {
  readonly method: string;
  /** Path without the query string, as the client sent it. */
  readonly path: string;
  /** Header value by lower-case name; repeated headers joined as the framework joins them. */
  header(name: string): string | undefined;
  /** The framework's trust-proxy-aware client IP. */
  readonly ip: string | undefined;
  /** TLS as the framework sees it (trust-proxy aware). */
  readonly secure: boolean;
  /** The socket peer's address, for the `trustProxy` option (which reads X-Forwarded-For itself). */
  readonly remoteAddress?: string | undefined;
  /** Whether the socket itself is TLS, for the `trustProxy` option (which reads X-Forwarded-Proto itself). */
  readonly encrypted?: boolean | undefined;
  /** The request body: an already-parsed value, a raw string, or undefined when none. */
  body(): Promise<unknown>;
}

export interface HttpReply {
  status: number;
  headers: [string, string][];
  body: JsonObject | null;
}

/**
 * The app's user, as `verifyCredentials` or `issue()` hands it over; `id` becomes the token
 * subject. Declare your own fields once, and every framework package types them:
 *
 *     declare module '@tessera/core' {
 *       interface User { name: string; roles: string[] }
 *     }
 *
 * It is stored as JSON: a `Date` comes back as its ISO string, `undefined` fields are dropped, and
 * functions, symbols, bigints and cycles are refused with a TypeError naming the field.
 */
export interface User {
  id: string;
}

/**
 * What the app hands over beside the user (an upstream OAuth token, say): from `verifyCredentials`
 * as `{ user, credentials }`, or `issue(..., { credentials })`. Kept only sealed (`safePassword`),
 * readable server-side only, with `session.credentials()`; never in a cookie, a reply, an event or
 * a log. JSON, like `User`; declare its fields the same way (`interface Credentials { ... }`).
 */
export interface Credentials {
  [key: string]: JsonValue | undefined;
}

/** What `verifyCredentials` may return for a good password: the user, or the user with credentials. */
export type Verified = User | { user: User; credentials?: Credentials | null };

/** `issue()`'s options. */
export interface IssueOptions {
  /** Kept only sealed beside the session (needs `safePassword`); `session.credentials()` reads them. */
  credentials?: Credentials | null;
}

/** `session`: a login; `api`: an API token (`tsr_…`); `job`: a job token (`tsj_…`). */
export type SessionKind = 'session' | 'api' | 'job';

/** What `req.tessera` / `ctx.state.tessera` / `request.tessera` holds for an authenticated request. */
export interface Session {
  /** Session id (the token family). Use it with `revokeSession`. */
  readonly id: string;
  readonly kind: SessionKind;
  readonly user: User;
  readonly subject: string;
  readonly tenant: string | null;
  /** Epoch seconds the session started (login). */
  readonly createdAt: number;
  /** Epoch seconds the presented (or just reissued) token expires; null for non-expiring API tokens. */
  readonly expiresAt: number | null;
  /** Epoch seconds the session itself ends at the latest (refresh token / record expiry). */
  readonly sessionExpiresAt: number | null;
  /**
   * Scoped API tokens and job tokens: what the token may do (`'admin'`, `'jobs'`, the app's own
   * names); a job token's list is empty. Absent: everything its user may (logins, unscoped API tokens).
   */
  readonly scopes?: readonly string[];
  /** Job tokens: the job the token was made for. */
  readonly jobId?: string;
  /** The credentials handed over at login (`Credentials`), opened from the seal; null when none. Server-side only: never serialized with the session. */
  credentials(): Credentials | null;
}

/**
 * The outcome of authenticating a request. On success, `cookies` holds the Set-Cookie values to
 * send (a reissued or rotated token; empty when nothing changed). On failure, `reply` is the
 * contract reply, cookies to clear included.
 */
export type AuthResult =
  | { ok: true; session: Session; refreshed: boolean; cookies: readonly string[] }
  | { ok: false; error: import('./errors.js').TesseraError; reply: HttpReply };

/** A refusal about to be sent, for `onReject` (globally or per guard) to reshape. */
export interface Rejection {
  readonly error: import('./errors.js').TesseraError;
  /** The contract reply: status, headers (cookies to clear included), `{ error: { code, message } }`. */
  readonly reply: HttpReply;
  readonly request: HttpRequest;
}

/** `jwks`: only with an asymmetric `algorithm` (EdDSA, ES256). `createJob` (POST /jobs), `revokeJob` (DELETE /jobs/:jobId): unless `jobs: false`. */
export type RouteName = 'login' | 'refresh' | 'logout' | 'session' | 'jwks' | 'createJob' | 'revokeJob';
