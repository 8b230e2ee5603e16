/**
 * Options from the environment: `TESSERA_` + the option path in upper snake case
 * (`TESSERA_COOKIE_HTTP_ONLY` -> `cookie.httpOnly`). A bad value throws a ConfigError
 * naming the variable. Used by the examples and the CLI; apps may use it too.
 */
import { ConfigError } from './errors.js';
import { parseDuration } from './lib/duration.js';
import { resolveOptions, type TesseraOptions } from './options.js';

type Kind = 'string' | 'duration' | 'optDuration' | 'bool' | 'int' | 'secure' | 'secrets' | 'window' | 'enum';

interface Spec {
  path: string;
  kind: Kind;
  values?: readonly string[];
}

export const ENV_VARS: Readonly<Record<string, Spec>> = {
  TESSERA_SECRET: { path: 'secret', kind: 'secrets' },
  TESSERA_ALGORITHM: { path: 'algorithm', kind: 'enum', values: ['HS256', 'HS384', 'HS512'] },
  TESSERA_ISSUER: { path: 'issuer', kind: 'string' },
  TESSERA_AUDIENCE: { path: 'audience', kind: 'string' },
  TESSERA_MODE: { path: 'mode', kind: 'enum', values: ['sliding', 'pair'] },
  TESSERA_TTL: { path: 'ttl', kind: 'duration' },
  TESSERA_REFRESHABLE: { path: 'refreshable', kind: 'bool' },
  TESSERA_REFRESH_BEFORE: { path: 'refreshBefore', kind: 'window' },
  TESSERA_ACCESS_TTL: { path: 'accessTtl', kind: 'duration' },
  TESSERA_REFRESH_TTL: { path: 'refreshTtl', kind: 'duration' },
  TESSERA_REFRESH_REUSE_MAX_REUSE: { path: 'refreshReuse.maxReuse', kind: 'int' },
  TESSERA_REFRESH_REUSE_GRACE_SECONDS: { path: 'refreshReuse.graceSeconds', kind: 'int' },
  TESSERA_IDLE_TIMEOUT: { path: 'idleTimeout', kind: 'optDuration' },
  TESSERA_ABSOLUTE_TIMEOUT: { path: 'absoluteTimeout', kind: 'optDuration' },
  TESSERA_BIND_CLIENT_IP: { path: 'bindClientIp', kind: 'enum', values: ['exact', 'subnet', 'false', 'off'] },
  TESSERA_COOKIE_NAME: { path: 'cookie.name', kind: 'string' },
  TESSERA_COOKIE_HTTP_ONLY: { path: 'cookie.httpOnly', kind: 'bool' },
  TESSERA_COOKIE_SECURE: { path: 'cookie.secure', kind: 'secure' },
  TESSERA_COOKIE_SAME_SITE: { path: 'cookie.sameSite', kind: 'enum', values: ['lax', 'strict', 'none'] },
  TESSERA_COOKIE_PATH: { path: 'cookie.path', kind: 'string' },
  TESSERA_COOKIE_DOMAIN: { path: 'cookie.domain', kind: 'string' },
  TESSERA_COOKIE_PERSISTENCE: { path: 'cookie.persistence', kind: 'enum', values: ['persistent', 'session'] },
  TESSERA_REFRESH_COOKIE_NAME: { path: 'refreshCookie.name', kind: 'string' },
  TESSERA_REFRESH_COOKIE_PATH: { path: 'refreshCookie.path', kind: 'string' },
  TESSERA_REFRESH_COOKIE_DOMAIN: { path: 'refreshCookie.domain', kind: 'string' },
  TESSERA_TOKEN_IN_LOGIN_BODY: { path: 'tokenInLoginBody', kind: 'bool' },
  TESSERA_CLOCK_TOLERANCE: { path: 'clockTolerance', kind: 'duration' },
  TESSERA_STORE_TIMEOUT: { path: 'storeTimeout', kind: 'int' },
  TESSERA_ROUTES_PREFIX: { path: 'routes.prefix', kind: 'string' },
  TESSERA_TOUCH_INTERVAL: { path: 'touchInterval', kind: 'duration' },
  TESSERA_CSRF: { path: 'csrf', kind: 'bool' },
};

/** Variables read by optionsFromEnv's caller rather than mapped to options. */
export const ENV_EXTRA = ['TESSERA_STORE', 'TESSERA_TOKEN_EXPIRATION_SECONDS', 'TESSERA_TRUST_PROXY'] as const;

export interface EnvConfig {
  options: TesseraOptions;
  /** TESSERA_STORE, a store URL (`memory:`, `file:./dir`, `redis://…`, `postgres://…`, `dynamodb://table`). */
  storeUrl: string | undefined;
  /** TESSERA_TRUST_PROXY as given (the app applies it to its framework). */
  trustProxy: string | undefined;
  /** Unknown TESSERA_* variables (likely typos). */
  unknown: string[];
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

function parseBool(name: string, v: string): boolean {
  const s = v.trim().toLowerCase();
  if (TRUE.has(s)) return true;
  if (FALSE.has(s)) return false;
  throw new ConfigError(name, `expected true or false; got ${JSON.stringify(v.slice(0, 40))}`);
}

function convert(name: string, spec: Spec, raw: string): unknown {
  const v = raw.trim();
  switch (spec.kind) {
    case 'string':
      if (!v) throw new ConfigError(name, 'must not be empty');
      return v;
    case 'secrets': {
      const list = raw.split(',').map(s => s.trim()).filter(Boolean);
      if (list.length === 0) throw new ConfigError(name, 'must not be empty');
      return list.length === 1 ? list[0] : list;
    }
    case 'duration': {
      const n = parseDuration(v);
      if (n === null) throw new ConfigError(name, `expected seconds or a duration like 30s, 15m, 7d; got ${JSON.stringify(v.slice(0, 40))}`);
      return n;
    }
    case 'optDuration': {
      if (FALSE.has(v.toLowerCase())) return false;
      const n = parseDuration(v);
      if (n === null) throw new ConfigError(name, `expected seconds, a duration like 15m, or off; got ${JSON.stringify(v.slice(0, 40))}`);
      return n;
    }
    case 'window':
      return /%\s*$/.test(v) ? v : convert(name, { ...spec, kind: 'duration' }, v);
    case 'bool':
      return parseBool(name, v);
    case 'int': {
      if (!/^\d{1,9}$/.test(v)) throw new ConfigError(name, `expected a whole number; got ${JSON.stringify(v.slice(0, 40))}`);
      return Number(v);
    }
    case 'secure': {
      if (v.toLowerCase() === 'auto') return 'auto';
      return parseBool(name, v);
    }
    case 'enum': {
      const s = spec.values!.find(x => x.toLowerCase() === v.toLowerCase());
      if (s === undefined) throw new ConfigError(name, `expected one of ${spec.values!.join(', ')}; got ${JSON.stringify(v.slice(0, 40))}`);
      if (spec.path === 'bindClientIp' && (s === 'false' || s === 'off')) return false;
      return s;
    }
  }
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let o = target;
  for (const p of parts.slice(0, -1)) {
    if (typeof o[p] !== 'object' || o[p] === null) o[p] = {};
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1]!] = value;
}

/** `accessToken:60,refreshToken:3600` (gateway style) or a plain duration for the single-token ttl. */
export function parseTokenExpiration(name: string, raw: string): Partial<TesseraOptions> {
  const v = raw.trim();
  if (!v.includes(':')) {
    const n = parseDuration(v);
    if (n === null || n < 1) throw new ConfigError(name, 'expected seconds, or accessToken:<s>,refreshToken:<s>');
    return { ttl: n };
  }
  const out: Partial<TesseraOptions> = {};
  for (const part of v.split(',')) {
    const [k, val, extra] = part.split(':').map(s => s.trim());
    const n = parseDuration(val);
    if (extra !== undefined || n === null || n < 1) throw new ConfigError(name, `bad entry ${JSON.stringify(part.slice(0, 40))}; expected accessToken:<s>,refreshToken:<s>`);
    if (k === 'accessToken') out.accessTtl = n;
    else if (k === 'refreshToken') out.refreshTtl = n;
    else throw new ConfigError(name, `unknown key ${JSON.stringify(k?.slice(0, 40))}; expected accessToken or refreshToken`);
  }
  return out;
}

export function optionsFromEnv(env: Record<string, string | undefined> = process.env, base: TesseraOptions = {}): EnvConfig {
  const options: Record<string, unknown> = structuredCloneOptions(base);
  const fromVar = new Map<string, string>();
  const unknown: string[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('TESSERA_') || raw === undefined) continue;
    const spec = ENV_VARS[name];
    if (spec) {
      let value = convert(name, spec, raw);
      if (spec.path === 'csrf') value = value ? undefined : false;
      setPath(options, spec.path, value);
      fromVar.set(spec.path, name);
    } else if (name === 'TESSERA_TOKEN_EXPIRATION_SECONDS') {
      const parsed = parseTokenExpiration(name, raw);
      for (const [k, v] of Object.entries(parsed)) {
        options[k] = v;
        fromVar.set(k, name);
      }
    } else if (!(ENV_EXTRA as readonly string[]).includes(name)) unknown.push(name);
  }
  try {
    resolveOptions(options as TesseraOptions);
  } catch (err) {
    if (err instanceof ConfigError) {
      const key = [...fromVar.keys()].find(p => err.option === p || err.option.startsWith(p + '[') || err.option.startsWith(p + '.'));
      if (key !== undefined) throw new ConfigError(fromVar.get(key)!, err.message.slice(err.option.length + 2));
    }
    throw err;
  }
  return { options: options as TesseraOptions, storeUrl: env.TESSERA_STORE?.trim() || undefined, trustProxy: env.TESSERA_TRUST_PROXY, unknown };
}

function structuredCloneOptions(base: TesseraOptions): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const k of ['cookie', 'refreshCookie', 'routes', 'refreshReuse'] as const) {
    const v = base[k];
    if (v && typeof v === 'object') out[k] = { ...v };
  }
  return out;
}
