/** @tessera/core: what apps call. Store authors: `@tessera/core/store`; adapter authors: `@tessera/core/adapter`. */
export { createTessera, isTessera } from './tessera.js';
export type { Tessera, SessionInfo, Page, CreateApiTokenInput } from './tessera.js';
export { ConfigError, StoreError, TesseraError, ERRORS } from './errors.js';
export type { ErrorCode } from './errors.js';
export type { TesseraEvent, TokenKind } from './events.js';
export { MemoryStore } from './memory-store.js';
export type { MemoryStoreOptions } from './memory-store.js';
export type { TokenStore, TokenRecord } from './store.js';
export type { TesseraOptions, ResolvedOptions, CookieOptions, RefreshCookieOptions, LoginInput, Duration, Algorithm } from './options.js';
export { generateSecret, kidOf } from './keys.js';
export type { AuthResult, HttpRequest, HttpReply, Rejection, Session, SessionKind, User, JsonObject, JsonValue, RouteName } from './types.js';
export type { Logger } from './logger.js';
export type { TrustProxy } from './lib/proxy.js';
export type { AdminRouteOptions } from './admin-routes.js';
