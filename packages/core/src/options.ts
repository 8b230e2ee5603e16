/** Options: the public types and `resolveOptions`, which checks them once (per field from option-table.ts, then across fields). */
import { consoleLogger, silentLogger, type Logger } from './logger.js';
import type { TrustProxy } from './lib/proxy.js';
import type { Rate } from './lib/rate.js';
import { ConfigError } from './errors.js';
import type { SameSite } from './lib/cookies.js';
import { checkOption } from './lib/option-check.js';
import { checkKeysFor } from './lib/key-material.js';
import type { KeyObject } from 'node:crypto';
import { OPTION_TABLE, OPTIONS_BY_PATH, childrenOf, type Algorithm, type OptionPath, type OptionValue } from './option-table.js';
import type { TesseraEvent } from './events.js';
import type { Binding, TokenStore } from './store.js';
import type { HttpReply, HttpRequest, Rejection, Verified } from './types.js';

// `@tessera/core/options`, for tooling (@tessera/config, the README tables, tests): the declaration and its helpers.
export { ALGORITHMS, DEFAULT_TTL, OPTION_TABLE, OPTIONS_BY_PATH, childrenOf } from './option-table.js';
export type { Algorithm, OptionPath, OptionValue } from './option-table.js';
export { envName, type KindValue, type OptionEntry, type OptionSpec, type OptionType, type Unit } from './lib/option-types.js';
export { checkOption, describe } from './lib/option-check.js';
export { cell, renderOptionsTable } from './lib/option-render.js';
export { ConfigError } from './errors.js';
export { parseDuration, type DurationOptions } from './lib/duration.js';
export { parseRate, type Rate } from './lib/rate.js';

/** Seconds as a number, or a string such as `30s`, `15m`, `12h`, `7d`, `2w` (`storeTimeout` also takes `500ms`). */
export type Duration = number | string;

export interface CookieOptions {
  /** Default `tessera`. Two apps on one host share cookies (cookies ignore ports): give each its own name. Production: a `__Host-` name. */
  name?: string;
  /** Default true. */
  httpOnly?: boolean;
  /** `'auto'` (default): Secure when the request is HTTPS as the framework sees it (trust proxy). */
  secure?: boolean | 'auto';
  /** Default `'lax'`. `'none'` requires `secure: true`. */
  sameSite?: 'lax' | 'strict' | 'none' | 'Lax' | 'Strict' | 'None';
  /** Default `/`. */
  path?: string;
  /** Default: none (host-only cookie). */
  domain?: string;
  /** `'persistent'` (default) sets Max-Age/Expires from the token lifetime; `'session'` sets neither. */
  persistence?: 'persistent' | 'session';
}

export interface RefreshCookieOptions {
  /** Default: the access cookie name + `-refresh` (`tessera-refresh`; `__Host-x` becomes `__Secure-x-refresh` off path `/`). */
  name?: string;
  /** Default: the routes prefix (`/auth`), so the refresh token only travels to the auth routes. Set `/` for transparent refresh. */
  path?: string;
  /** Default: `cookie.domain`. */
  domain?: string;
  /** Default: `cookie.sameSite`. */
  sameSite?: CookieOptions['sameSite'];
  /** Default: `cookie.persistence`. */
  persistence?: CookieOptions['persistence'];
}

/** A signing key as given: PEM text, a JWK or JWK Set (object or JSON text), or a Node `KeyObject`. */
export type SigningKey = string | KeyObject | { readonly kty: string; readonly [member: string]: unknown } | { readonly keys: readonly unknown[] };

export interface LoginInput {
  username: string;
  password: string;
}

export interface TesseraOptions {
  /** Signing secret(s), each at least 32 bytes. A list is a keyring: the first signs, all verify. Omitted: generated once and kept in the store. */
  secret?: string | string[];
  algorithm?: Algorithm;
  /** EdDSA / ES256: PEM or JWK private key(s); a list is a keyring (the first signs). Omitted: derived from `secret`. */
  keys?: SigningKey | SigningKey[];
  issuer?: string;
  audience?: string;
  /** Token (session) validity in sliding mode. Default 604800 s (7 days). */
  ttl?: Duration;
  /** Reissue tokens inside the refresh window. Default true. */
  refreshable?: boolean;
  /** The reissue window: seconds / duration before expiry, or a share of the lifetime like `'20%'` (default). */
  refreshBefore?: Duration;
  mode?: 'sliding' | 'pair';
  /** Pair mode: access-token validity. Default 300 s. */
  accessTtl?: Duration;
  /** Pair mode: refresh-token validity. Default: `ttl`. */
  refreshTtl?: Duration;
  /** Pair mode: how an honest client may present a just-rotated refresh token again. `false` = never. */
  refreshReuse?: { maxReuse?: number; graceSeconds?: number } | false;
  /** End a session unused for this long. Default off. */
  idleTimeout?: Duration | false;
  /** End a session this long after login, however active. Default off. */
  absoluteTimeout?: Duration | false;
  /** At most this many live sessions per user (and tenant); a login beyond it ends the oldest. Default false (no cap). */
  maxSessionsPerUser?: number | false;
  /** Bind sessions to the client address they logged in from. Default false. */
  bindClientIp?: Binding | false;
  cookie?: CookieOptions;
  refreshCookie?: RefreshCookieOptions;
  /** Also return the token(s) in the login/refresh JSON body. Default false. */
  tokenInLoginBody?: boolean;
  /** Accept session/access tokens from `Authorization: Bearer` (API tokens always are). Default true. */
  bearerSessions?: boolean;
  /** Job tokens for long-running work: default lifetime (24 h) and the longest allowed (7 days). `false`: no job routes, job tokens refused. Default on. */
  jobs?: { ttl?: Duration; maxTtl?: Duration } | false;
  /** Seconds of clock skew accepted on exp/nbf/iat. Default 5. 0 is allowed. */
  clockTolerance?: Duration;
  /** Default in the framework packages: the file store in `./.tessera`. `createTessera()` needs one given. */
  store?: TokenStore;
  /** How long a store call may take before the request fails with 503. Seconds, or `'500ms'`. Default 2 s. */
  storeTimeout?: Duration;
  /** The user for a good password (or `{ user, credentials }`, credentials needing `safePassword`), else null. */
  verifyCredentials?: (input: LoginInput, req: HttpRequest) => Verified | null | Promise<Verified | null>;
  /** Seals the user object and credentials at rest (at least 32 characters; a list is a keyring, the first seals). Default off. */
  safePassword?: string | string[];
  /** Tenant of a request; bound into every token and record and checked on every request. */
  tenant?: (req: HttpRequest) => string | null | undefined;
  onEvent?: (event: TesseraEvent) => void;
  routes?: { prefix?: string };
  /** Origin checks on unsafe methods authenticated by cookie. Default on. */
  csrf?: false | { trustedOrigins?: string[] };
  /** Least seconds between two `touch` writes of one session. Default: min(60, idleTimeout / 10). */
  touchInterval?: Duration;
  /** Longest token accepted, in bytes. Default 4096. */
  maxTokenBytes?: number;
  /** Verified-signature cache entries (tokens are still checked against the store each request). Default 10000. */
  verifiedCacheSize?: number;
  /** Records cached in this process for stores that push change notices (`watch`). Default 10000; 0 disables. */
  recordCacheSize?: number;
  /** Stores without change notices: how old a cached record may be. Default 0 (not cached). */
  recordCacheMaxStale?: Duration;
  /** Epoch-seconds clock, for tests. */
  clock?: () => number;
  /** How recent a login `requireFresh()` accepts. Default 600 s. */
  freshAge?: Duration;
  /** Which proxies to believe for the client address and HTTPS. Default: the framework's setting. */
  trustProxy?: TrustProxy;
  /** Failed logins allowed per user per window, like `'10/15m'` (each address: 10 times as many); then 429. `false`: off. Default `'10/15m'`. */
  loginThrottle?: string | false;
  /** Pair mode: unknown or forged refresh tokens allowed per address per window, like `'100/15m'`; then 429. `false`: off. Default `'100/15m'`. */
  refreshThrottle?: string | false;
  /** Reshape every refusal (a redirect, an API's own body); undefined keeps the contract reply. */
  onReject?: (rejection: Rejection) => HttpReply | undefined | void;
  /** pino-compatible; `false` for silence. Default: console (Fastify: `app.log`). */
  logger?: Logger | false;
  /**
   * Opens a store from its URL, for following a live switch (`tessera migrate`) announced in this
   * server's store. `@tessera/config`'s `fromEnv()` sets it. Without it a server refuses store calls
   * (503) while a switch it can't follow is under way.
   */
  openStore?: (url: string) => TokenStore | Promise<TokenStore>;
}

// The table and the public interfaces declare the same keys (a compile error here names the mismatch).
type TopKey<P> = P extends `${infer H}.${string}` ? H : P;
type ChildKey<P, G extends string> = P extends `${G}.${infer K}` ? K : never;
type SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : { missing: Exclude<B, A>; extra: Exclude<A, B> }) : { missing: Exclude<B, A>; extra: Exclude<A, B> };
type Assert<T extends true> = T;
export type OptionKeysMatchTable = [
  Assert<SameKeys<keyof TesseraOptions, TopKey<OptionPath>>>,
  Assert<SameKeys<keyof CookieOptions, ChildKey<OptionPath, 'cookie'>>>,
  Assert<SameKeys<keyof RefreshCookieOptions, ChildKey<OptionPath, 'refreshCookie'>>>,
  Assert<SameKeys<keyof Exclude<TesseraOptions['refreshReuse'], false | undefined>, ChildKey<OptionPath, 'refreshReuse'>>>,
  Assert<SameKeys<keyof Exclude<TesseraOptions['csrf'], false | undefined>, ChildKey<OptionPath, 'csrf'>>>,
  Assert<SameKeys<keyof Exclude<TesseraOptions['jobs'], false | undefined>, ChildKey<OptionPath, 'jobs'>>>,
  Assert<SameKeys<keyof NonNullable<TesseraOptions['routes']>, ChildKey<OptionPath, 'routes'>>>,
];

export interface ResolvedCookie {
  name: string;
  httpOnly: boolean;
  secure: boolean | 'auto';
  sameSite: SameSite;
  path: string;
  domain: string | undefined;
  persistence: 'persistent' | 'session';
}

export interface ResolvedOptions {
  secrets: string[] | undefined;
  algorithm: Algorithm;
  /** Configured asymmetric keys (checked against `algorithm`); undefined: derived from the secret. */
  keys: KeyObject[] | undefined;
  issuer: string;
  audience: string;
  ttl: number;
  refreshable: boolean;
  refreshBefore: { seconds: number } | { share: number };
  mode: 'sliding' | 'pair';
  accessTtl: number;
  refreshTtl: number;
  refreshReuse: { maxReuse: number; graceSeconds: number } | undefined;
  idleTimeout: number;
  absoluteTimeout: number;
  /** 0: no cap. */
  maxSessionsPerUser: number;
  bindClientIp: Binding | false;
  cookie: ResolvedCookie;
  refreshCookie: ResolvedCookie;
  tokenInLoginBody: boolean;
  bearerSessions: boolean;
  /** Job tokens, in seconds; undefined: off. */
  jobs: { ttl: number; maxTtl: number } | undefined;
  clockTolerance: number;
  /** Seconds (may be fractional: `'500ms'` is 0.5). */
  storeTimeout: number;
  verifyCredentials: TesseraOptions['verifyCredentials'];
  /** `safePassword` as a keyring (the first seals); undefined: sealing off. */
  safePasswords: string[] | undefined;
  tenant: TesseraOptions['tenant'];
  onEvent: TesseraOptions['onEvent'];
  prefix: string;
  csrf: false | { trustedOrigins: Set<string> };
  touchInterval: number;
  maxTokenBytes: number;
  verifiedCacheSize: number;
  recordCacheSize: number;
  recordCacheMaxStale: number;
  clock: () => number;
  freshAge: number;
  trustProxy: TrustProxy | undefined;
  loginThrottle: Rate | false;
  refreshThrottle: Rate | false;
  onReject: TesseraOptions['onReject'];
  logger: Logger;
  openStore: TesseraOptions['openStore'];
}

/** Unknown keys, at the top level and inside each group object given. */
function checkKeys(given: Record<string, unknown>, group: string): void {
  const children = childrenOf(group);
  const known = new Set(children.map(e => (group ? e.path.slice(group.length + 1) : e.path)));
  for (const k of Object.keys(given)) if (!known.has(k)) throw new ConfigError(group ? `${group}.${k}` : k, 'unknown option');
  for (const e of children) {
    const v = given[e.path.slice(group ? group.length + 1 : 0)];
    if (e.type.kind === 'group' && typeof v === 'object' && v !== null && !Array.isArray(v)) checkKeys(v as Record<string, unknown>, e.path);
  }
}

/** The value given at `path`; undefined when it, or a group above it, is absent or not an object. */
function givenAt(options: Record<string, unknown>, path: string): unknown {
  let v: unknown = options;
  for (const p of path.split('.')) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

type Get = <P extends OptionPath>(path: P) => OptionValue<P>;

/**
 * The per-field pass: every option of the table checked (given value) or defaulted (fixed
 * default, through the same check, or one derived from other options), in table order.
 */
function resolveFields(options: Record<string, unknown>): Get {
  const done = new Map<string, unknown>();
  const busy = new Set<string>();
  const get = (path: string): unknown => {
    if (done.has(path)) return done.get(path);
    const e = OPTIONS_BY_PATH.get(path);
    if (e === undefined) throw new Error(`option table: no option ${path}`);
    if (busy.has(path)) throw new Error(`option table: derived defaults form a cycle at ${path}`);
    busy.add(path);
    const given = givenAt(options, path);
    let value: unknown;
    if (given !== undefined) value = checkOption(e, given);
    else if (e.type.kind === 'group') value = true;
    else if ('default' in e) value = checkOption(e, e.default);
    else if (e.derive) value = e.derive(get);
    busy.delete(path);
    done.set(path, value);
    return value;
  };
  for (const e of OPTION_TABLE) get(e.path);
  return get as Get;
}

function cookieRules(path: 'cookie' | 'refreshCookie', c: ResolvedCookie): void {
  if (c.sameSite === 'none' && c.secure !== true) {
    throw new ConfigError(`${path}.sameSite`, '"none" requires secure: true (browsers drop SameSite=None cookies without Secure)');
  }
  if (c.name.startsWith('__Host-') && (c.secure !== true || c.path !== '/' || c.domain !== undefined)) {
    throw new ConfigError(`${path}.name`, '__Host- cookies need secure: true, path "/" and no domain');
  }
  if (c.name.startsWith('__Secure-') && c.secure !== true) throw new ConfigError(`${path}.name`, '__Secure- cookies need secure: true');
}

export function resolveOptions(options: TesseraOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new ConfigError('options', 'expected an object');
  const given = options as Record<string, unknown>;
  checkKeys(given, '');
  const v = resolveFields(given);

  // Cross-field rules.
  const keys = v('keys');
  if (keys !== undefined) checkKeysFor(v('algorithm'), keys, v('secret') !== undefined);
  const mode = v('mode');
  if (mode === 'pair' && v('refreshTtl') < v('accessTtl')) throw new ConfigError('refreshTtl', 'must not be shorter than accessTtl');
  if (v('jobs') && v('jobs.ttl') > v('jobs.maxTtl')) throw new ConfigError('jobs.ttl', 'must not be longer than jobs.maxTtl');
  // One key, one purpose: a signing secret that also seals would tie the two rotations together.
  if (v('safePassword')?.some(p => v('secret')?.includes(p))) throw new ConfigError('safePassword', 'must differ from secret');

  const cookie: ResolvedCookie = {
    name: v('cookie.name'),
    httpOnly: v('cookie.httpOnly'),
    secure: v('cookie.secure'),
    sameSite: v('cookie.sameSite'),
    path: v('cookie.path'),
    domain: v('cookie.domain'),
    persistence: v('cookie.persistence'),
  };
  const refreshCookie: ResolvedCookie = {
    name: v('refreshCookie.name'),
    httpOnly: true,
    secure: cookie.secure,
    sameSite: v('refreshCookie.sameSite'),
    path: v('refreshCookie.path'),
    domain: v('refreshCookie.domain'),
    persistence: v('refreshCookie.persistence'),
  };
  cookieRules('cookie', cookie);
  cookieRules('refreshCookie', refreshCookie);
  if (refreshCookie.name === cookie.name) throw new ConfigError('refreshCookie.name', 'must differ from cookie.name');

  return {
    secrets: v('secret'),
    algorithm: v('algorithm'),
    keys,
    issuer: v('issuer'),
    audience: v('audience'),
    ttl: v('ttl'),
    refreshable: v('refreshable'),
    refreshBefore: v('refreshBefore'),
    mode,
    accessTtl: v('accessTtl'),
    refreshTtl: v('refreshTtl'),
    refreshReuse: v('refreshReuse') ? { maxReuse: v('refreshReuse.maxReuse'), graceSeconds: v('refreshReuse.graceSeconds') } : undefined,
    idleTimeout: v('idleTimeout'),
    absoluteTimeout: v('absoluteTimeout'),
    maxSessionsPerUser: v('maxSessionsPerUser'),
    bindClientIp: v('bindClientIp'),
    cookie,
    refreshCookie,
    tokenInLoginBody: v('tokenInLoginBody'),
    bearerSessions: v('bearerSessions'),
    jobs: v('jobs') ? { ttl: v('jobs.ttl'), maxTtl: v('jobs.maxTtl') } : undefined,
    clockTolerance: v('clockTolerance'),
    storeTimeout: v('storeTimeout'),
    verifyCredentials: v('verifyCredentials') as TesseraOptions['verifyCredentials'],
    safePasswords: v('safePassword'),
    tenant: v('tenant') as TesseraOptions['tenant'],
    onEvent: v('onEvent') as TesseraOptions['onEvent'],
    prefix: v('routes.prefix'),
    csrf: v('csrf') ? { trustedOrigins: new Set(v('csrf.trustedOrigins')) } : false,
    touchInterval: v('touchInterval'),
    maxTokenBytes: v('maxTokenBytes'),
    verifiedCacheSize: v('verifiedCacheSize'),
    recordCacheSize: v('recordCacheSize'),
    recordCacheMaxStale: v('recordCacheMaxStale'),
    clock: v('clock') as () => number,
    freshAge: v('freshAge'),
    trustProxy: v('trustProxy'),
    loginThrottle: v('loginThrottle'),
    refreshThrottle: v('refreshThrottle'),
    onReject: v('onReject') as TesseraOptions['onReject'],
    logger: v('logger') === false ? silentLogger : ((v('logger') as Logger | undefined) ?? consoleLogger),
    openStore: v('openStore') as TesseraOptions['openStore'],
  };
}
