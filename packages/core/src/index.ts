export { createTessera, isTessera } from './tessera.js';
export type { Tessera, SessionInfo, CreateApiTokenInput, CreateTesseraContext } from './tessera.js';
export { ConfigError, StoreError, TesseraError, ERRORS, isStoreError } from './errors.js';
export type { ErrorCode } from './errors.js';
export type { TesseraEvent, TokenKind } from './events.js';
export { MemoryStore } from './memory-store.js';
export type { MemoryStoreOptions } from './memory-store.js';
export { parseRecord, isLive, decideRotate, matchesWhere, matchesQuery, freezeRecord } from './store.js';
export type {
  TokenStore,
  TokenRecord,
  RecordKind,
  RotateResult,
  ReusePolicy,
  RevokeWhere,
  ListQuery,
  ListPage,
  Binding,
} from './store.js';
export { resolveOptions, DEFAULT_TTL, ALGORITHMS } from './options.js';
export type { TesseraOptions, ResolvedOptions, CookieOptions, RefreshCookieOptions, LoginInput, Duration, Algorithm } from './options.js';
export { optionsFromEnv, parseTokenExpiration, ENV_VARS } from './env.js';
export type { EnvConfig } from './env.js';
export { parseDuration } from './lib/duration.js';
export { generateSecret, kidOf } from './keys.js';
export { findCookie, serializeCookie, clearCookie } from './lib/cookies.js';
export { readBody, headerValue } from './lib/body.js';
export { withTimeout } from './lib/timeout.js';
export type { HttpRequest, HttpResponse, HttpReply, AuthResult, Session, SessionKind, User, JsonObject, JsonValue, RouteName } from './types.js';
export { adminRoute, isAdminRoute } from './admin-routes.js';
export type { AdminRouteOptions } from './admin-routes.js';
