/** Options: types, defaults, and the one-time validation that turns them into `ResolvedOptions`. */
import { ConfigError } from './errors.js';
import { COOKIE_ATTR_RE, COOKIE_NAME_RE, type SameSite } from './lib/cookies.js';
import { parseDuration } from './lib/duration.js';
import type { TesseraEvent } from './events.js';
import type { Binding, TokenStore } from './store.js';
import type { HttpRequest, User } from './types.js';

/** Seconds as a number, or a string such as `30s`, `15m`, `12h`, `7d`. */
export type Duration = number | string;
export type Algorithm = 'HS256' | 'HS384' | 'HS512';
export const ALGORITHMS: readonly Algorithm[] = ['HS256', 'HS384', 'HS512'];

export interface CookieOptions {
  /** Default: `tessera-<host>-<port>` from the request's Host, so two servers on one host don't collide. */
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
  /** Default: the access cookie name + `-refresh`. */
  name?: string;
  /** Default: the routes prefix (`/auth`), so the refresh token only travels to the auth routes. Set `/` for transparent refresh. */
  path?: string;
  domain?: string;
  sameSite?: CookieOptions['sameSite'];
  persistence?: CookieOptions['persistence'];
}

export interface LoginInput {
  username: string;
  password: string;
}

export interface TesseraOptions {
  /** Signing secret(s), each at least 32 bytes. A list is a keyring: the first signs, all verify. Omitted: generated once and kept in the store. */
  secret?: string | string[];
  algorithm?: Algorithm;
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
  /** Bind sessions to the client address they logged in from. Default false. */
  bindClientIp?: Binding | false;
  cookie?: CookieOptions;
  refreshCookie?: RefreshCookieOptions;
  /** Also return the token(s) in the login/refresh JSON body. Default false. */
  tokenInLoginBody?: boolean;
  /** Seconds of clock skew accepted on exp/nbf/iat. Default 5. 0 is allowed. */
  clockTolerance?: Duration;
  /** Default: the file store in `./.tessera` (framework packages) or a memory store (core alone). */
  store?: TokenStore;
  /** Milliseconds a store call may take before the request fails with 503. Default 2000. */
  storeTimeout?: number;
  verifyCredentials?: (input: LoginInput, req: HttpRequest) => User | null | Promise<User | null>;
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
  /** Epoch-seconds clock, for tests. */
  clock?: () => number;
}

export interface ResolvedCookie {
  name: string | undefined;
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
  bindClientIp: Binding | false;
  cookie: ResolvedCookie;
  refreshCookie: ResolvedCookie;
  tokenInLoginBody: boolean;
  clockTolerance: number;
  storeTimeout: number;
  verifyCredentials: TesseraOptions['verifyCredentials'];
  tenant: TesseraOptions['tenant'];
  onEvent: TesseraOptions['onEvent'];
  prefix: string;
  csrf: false | { trustedOrigins: Set<string> };
  touchInterval: number;
  maxTokenBytes: number;
  verifiedCacheSize: number;
  clock: () => number;
}

export const DEFAULT_TTL = 604800;

const KNOWN = new Set([
  'secret', 'algorithm', 'issuer', 'audience', 'ttl', 'refreshable', 'refreshBefore', 'mode', 'accessTtl',
  'refreshTtl', 'refreshReuse', 'idleTimeout', 'absoluteTimeout', 'bindClientIp', 'cookie', 'refreshCookie',
  'tokenInLoginBody', 'clockTolerance', 'store', 'storeTimeout', 'verifyCredentials', 'tenant', 'onEvent',
  'routes', 'csrf', 'touchInterval', 'maxTokenBytes', 'verifiedCacheSize', 'clock',
]);

function duration(path: string, v: unknown, def: number, min = 0): number {
  if (v === undefined) return def;
  const n = parseDuration(v);
  if (n === null) throw new ConfigError(path, `expected seconds or a duration like "30s", "15m", "7d"; got ${describe(v)}`);
  if (n < min) throw new ConfigError(path, `must be at least ${min} seconds`);
  return n;
}

function optionalDuration(path: string, v: unknown): number {
  if (v === undefined || v === false || v === 0) return 0;
  return duration(path, v, 0, 1);
}

function bool(path: string, v: unknown, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw new ConfigError(path, `expected true or false; got ${describe(v)}`);
  return v;
}

function int(path: string, v: unknown, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ConfigError(path, `expected an integer from ${min} to ${max}; got ${describe(v)}`);
  }
  return v;
}

function str(path: string, v: unknown, def: string): string {
  if (v === undefined) return def;
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(path, `expected a non-empty string; got ${describe(v)}`);
  return v;
}

function oneOf<T extends string>(path: string, v: unknown, allowed: readonly T[], def: T, lower = false): T {
  if (v === undefined) return def;
  const s = typeof v === 'string' && lower ? v.toLowerCase() : v;
  if (!allowed.includes(s as T)) throw new ConfigError(path, `expected one of ${allowed.join(', ')}; got ${describe(v)}`);
  return s as T;
}

function fn<T>(path: string, v: unknown): T | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'function') throw new ConfigError(path, `expected a function; got ${describe(v)}`);
  return v as T;
}

/** Describes a bad value without echoing it when it could be a secret. */
function describe(v: unknown): string {
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : String(v);
}

function secrets(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0) throw new ConfigError('secret', 'expected a string or a non-empty list of strings');
  list.forEach((s, i) => {
    const where = Array.isArray(v) ? `secret[${i}]` : 'secret';
    if (typeof s !== 'string') throw new ConfigError(where, 'expected a string');
    const bytes = Buffer.byteLength(s, 'utf8');
    // Never echo the secret: only its length.
    if (bytes < 32) throw new ConfigError(where, `too short (${bytes} bytes); use at least 32 bytes, e.g. \`tessera secret\` or 32 random bytes in base64`);
  });
  return [...list] as string[];
}

function cookieOpts(path: string, v: unknown, base: ResolvedCookie | undefined, defaults: Partial<ResolvedCookie>): ResolvedCookie {
  if (v !== undefined && (typeof v !== 'object' || v === null)) throw new ConfigError(path, 'expected an object');
  const o = (v ?? {}) as Record<string, unknown>;
  const allowed = path === 'cookie'
    ? ['name', 'httpOnly', 'secure', 'sameSite', 'path', 'domain', 'persistence']
    : ['name', 'path', 'domain', 'sameSite', 'persistence'];
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new ConfigError(`${path}.${k}`, 'unknown option');
  const name = o.name === undefined ? undefined : str(`${path}.name`, o.name, '');
  if (name !== undefined && !COOKIE_NAME_RE.test(name)) throw new ConfigError(`${path}.name`, 'not a valid cookie name');
  const secure = o.secure === undefined ? (base?.secure ?? 'auto') : o.secure;
  if (secure !== 'auto' && typeof secure !== 'boolean') throw new ConfigError(`${path}.secure`, `expected true, false or "auto"; got ${describe(secure)}`);
  const sameSite = oneOf(`${path}.sameSite`, o.sameSite, ['lax', 'strict', 'none'] as const, base?.sameSite ?? 'lax', true);
  const cpath = str(`${path}.path`, o.path, defaults.path ?? '/');
  if (!cpath.startsWith('/') || !COOKIE_ATTR_RE.test(cpath)) throw new ConfigError(`${path}.path`, 'must start with "/" and hold no spaces, controls or ";"');
  const domain = o.domain === undefined ? base?.domain : str(`${path}.domain`, o.domain, '');
  if (domain !== undefined && !COOKIE_ATTR_RE.test(domain)) throw new ConfigError(`${path}.domain`, 'holds characters a cookie domain cannot');
  const persistence = oneOf(`${path}.persistence`, o.persistence, ['persistent', 'session'] as const, base?.persistence ?? 'persistent');
  const httpOnly = path === 'cookie' ? bool(`${path}.httpOnly`, o.httpOnly, true) : true;
  if (sameSite === 'none' && secure !== true) throw new ConfigError(`${path}.sameSite`, '"none" requires secure: true (browsers drop SameSite=None cookies without Secure)');
  if (name?.startsWith('__Host-') && (secure !== true || cpath !== '/' || domain !== undefined)) {
    throw new ConfigError(`${path}.name`, '__Host- cookies need secure: true, path "/" and no domain');
  }
  if (name?.startsWith('__Secure-') && secure !== true) throw new ConfigError(`${path}.name`, '__Secure- cookies need secure: true');
  return { name, httpOnly, secure: secure as boolean | 'auto', sameSite, path: cpath, domain, persistence };
}

export function resolveOptions(options: TesseraOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'expected an object');
  for (const k of Object.keys(options)) if (!KNOWN.has(k)) throw new ConfigError(k, 'unknown option');
  const mode = oneOf('mode', options.mode, ['sliding', 'pair'] as const, 'sliding');
  const ttl = duration('ttl', options.ttl, DEFAULT_TTL, 1);
  const accessTtl = duration('accessTtl', options.accessTtl, 300, 1);
  const refreshTtl = duration('refreshTtl', options.refreshTtl, ttl, 1);
  if (mode === 'pair' && refreshTtl < accessTtl) throw new ConfigError('refreshTtl', 'must not be shorter than accessTtl');

  let refreshBefore: ResolvedOptions['refreshBefore'];
  const rb = options.refreshBefore;
  if (rb === undefined) refreshBefore = { share: 0.2 };
  else if (typeof rb === 'string' && /^\s*\d{1,3}(\.\d+)?\s*%\s*$/.test(rb)) {
    const share = parseFloat(rb) / 100;
    if (share <= 0 || share >= 1) throw new ConfigError('refreshBefore', 'a percentage must be between 0% and 100% exclusive');
    refreshBefore = { share };
  } else refreshBefore = { seconds: duration('refreshBefore', rb, 0, 0) };

  let refreshReuse: ResolvedOptions['refreshReuse'];
  if (options.refreshReuse === false) refreshReuse = undefined;
  else {
    const r = options.refreshReuse ?? {};
    if (typeof r !== 'object' || r === null) throw new ConfigError('refreshReuse', 'expected { maxReuse, graceSeconds } or false');
    refreshReuse = {
      maxReuse: int('refreshReuse.maxReuse', r.maxReuse, 10, 0, 1000),
      graceSeconds: int('refreshReuse.graceSeconds', r.graceSeconds, 10, 0, 3600),
    };
  }

  const prefixRaw = str('routes.prefix', options.routes?.prefix, '/auth');
  if (!/^\/[\x21-\x7e]*$/.test(prefixRaw) || prefixRaw.includes(';')) throw new ConfigError('routes.prefix', 'must start with "/"');
  const prefix = prefixRaw.length > 1 ? prefixRaw.replace(/\/+$/, '') : prefixRaw;

  const cookie = cookieOpts('cookie', options.cookie, undefined, {});
  const refreshCookie = cookieOpts('refreshCookie', options.refreshCookie, cookie, { path: prefix === '/' ? '/' : prefix });
  if (refreshCookie.name === undefined && cookie.name !== undefined) {
    refreshCookie.name = cookie.name.replace(/^__Host-/, refreshCookie.path === '/' ? '__Host-' : '__Secure-') + '-refresh';
  }
  if (refreshCookie.name !== undefined && refreshCookie.name === cookie.name) throw new ConfigError('refreshCookie.name', 'must differ from cookie.name');

  const idleTimeout = optionalDuration('idleTimeout', options.idleTimeout);
  const absoluteTimeout = optionalDuration('absoluteTimeout', options.absoluteTimeout);
  const touchDefault = idleTimeout > 0 ? Math.max(1, Math.min(60, Math.floor(idleTimeout / 10))) : 60;

  let csrf: ResolvedOptions['csrf'];
  if (options.csrf === false) csrf = false;
  else {
    const origins = options.csrf?.trustedOrigins ?? [];
    if (!Array.isArray(origins) || origins.some(o => typeof o !== 'string' || !/^https?:\/\/[^/]+$/.test(o))) {
      throw new ConfigError('csrf.trustedOrigins', 'expected a list of origins like "https://app.example.com"');
    }
    csrf = { trustedOrigins: new Set(origins.map(o => o.toLowerCase())) };
  }

  const bindClientIp = options.bindClientIp === undefined || options.bindClientIp === false
    ? false
    : oneOf('bindClientIp', options.bindClientIp, ['exact', 'subnet'] as const, 'exact');

  const clock = fn<() => number>('clock', options.clock) ?? (() => Math.floor(Date.now() / 1000));
  if (options.store !== undefined) {
    const s = options.store as unknown as Record<string, unknown>;
    for (const m of ['get', 'put', 'touch', 'rotate', 'revoke', 'list', 'purgeExpired', 'close']) {
      if (typeof s?.[m] !== 'function') throw new ConfigError('store', `not a TokenStore: missing ${m}()`);
    }
  }

  return {
    secrets: secrets(options.secret),
    algorithm: oneOf('algorithm', options.algorithm, ALGORITHMS, 'HS256'),
    issuer: str('issuer', options.issuer, 'tessera'),
    audience: str('audience', options.audience, 'tessera'),
    ttl,
    refreshable: bool('refreshable', options.refreshable, true),
    refreshBefore,
    mode,
    accessTtl,
    refreshTtl,
    refreshReuse,
    idleTimeout,
    absoluteTimeout,
    bindClientIp,
    cookie,
    refreshCookie,
    tokenInLoginBody: bool('tokenInLoginBody', options.tokenInLoginBody, false),
    clockTolerance: duration('clockTolerance', options.clockTolerance, 5, 0),
    storeTimeout: int('storeTimeout', options.storeTimeout, 2000, 1, 600_000),
    verifyCredentials: fn('verifyCredentials', options.verifyCredentials),
    tenant: fn('tenant', options.tenant),
    onEvent: fn('onEvent', options.onEvent),
    prefix,
    csrf,
    touchInterval: duration('touchInterval', options.touchInterval, touchDefault, 0),
    maxTokenBytes: int('maxTokenBytes', options.maxTokenBytes, 4096, 256, 65536),
    verifiedCacheSize: int('verifiedCacheSize', options.verifiedCacheSize, 10_000, 0, 10_000_000),
    clock,
  };
}
