/** @tessera/core: what apps call. Store authors: `@tessera/core/store`; adapter authors: `@tessera/core/adapter`. */
export { createTessera, isTessera } from './tessera.js';
export type { Tessera, SessionInfo, Page, CreateApiTokenInput, CreateJobTokenInput, CreatedJobToken } from './tessera.js';
export { ConfigError, StoreError, TesseraError, ERRORS } from './errors.js';
export type { ErrorCode } from './errors.js';
export type { TesseraEvent, TokenKind } from './events.js';
export { MemoryStore } from './memory-store.js';
export type { MemoryStoreOptions } from './memory-store.js';
export type { TokenStore, TokenRecord } from './store.js';
export type { TesseraOptions, ResolvedOptions, CookieOptions, RefreshCookieOptions, LoginInput, Duration, Algorithm, SigningKey } from './options.js';
export { generateSecret, kidOf } from './keys.js';
export { sessionIdOf } from './lib/at-rest.js';
// The keyring kept in the store, for `tessera keys` (only kids, never keys).
export { readKeyring, rotateKeyring, type KeyringKey, type KeyringReport, type RotateReport } from './keyring-admin.js';
export { KEYRING_META, JWKS_MAX_AGE, publishDelayFor, retireAfter } from './keyring.js';
export { configuredKids, keyringOf } from './keys.js';
export type { AuthResult, HttpRequest, HttpReply, Rejection, Session, SessionKind, User, Credentials, Verified, IssueOptions, JsonObject, JsonValue, RouteName } from './types.js';
export type { Logger } from './logger.js';
export type { TrustProxy } from './lib/proxy.js';
export type { AdminRouteOptions } from './admin-routes.js';
