/**
 * Options from the environment: `TESSERA_` + the option path in upper snake case
 * (`TESSERA_COOKIE_HTTP_ONLY` -> `cookie.httpOnly`), derived from the option declaration in
 * `@tessera/core/options`. A bad value throws a ConfigError naming the variable.
 */
import { ConfigError, OPTION_TABLE, parseDuration, parseRate, resolveOptions, type OptionEntry, type TesseraOptions } from '@tessera/core/options';
import { ENV_EXTRAS, envOptions } from './env-table.js';

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

/** A bad value, quoted briefly. Only variables that cannot hold a secret reach this. */
function quote(v: string): string {
  return JSON.stringify(v.slice(0, 40));
}

function parseBool(name: string, v: string): boolean {
  const s = v.toLowerCase();
  if (TRUE.has(s)) return true;
  if (FALSE.has(s)) return false;
  throw new ConfigError(name, `expected true or false; got ${quote(v)}`);
}

function commaList(name: string, raw: string): string[] {
  const list = raw.split(',').map(s => s.trim()).filter(Boolean);
  if (list.length === 0) throw new ConfigError(name, 'must not be empty');
  return list;
}

/** The text of one variable as the option value a user would write in code (checked later by resolveOptions). */
function convert(name: string, entry: OptionEntry, raw: string): unknown {
  const t = entry.type;
  const v = raw.trim();
  switch (t.kind) {
    case 'group':
      return parseBool(name, v);
    case 'string':
      if (!v) throw new ConfigError(name, 'must not be empty');
      return v;
    case 'boolean':
      return parseBool(name, v);
    case 'booleanOrAuto':
      return v.toLowerCase() === 'auto' ? 'auto' : parseBool(name, v);
    case 'integer':
      if (t.off && FALSE.has(v.toLowerCase())) return false;
      if (!/^\d{1,9}$/.test(v)) throw new ConfigError(name, `expected a whole number; got ${quote(v)}`);
      return Number(v);
    case 'duration': {
      if (t.off && FALSE.has(v.toLowerCase())) return false;
      const n = parseDuration(v, { ms: t.ms });
      if (n === null) {
        const like = t.ms ? '500ms, 30s, 15m' : '30s, 15m, 7d';
        throw new ConfigError(name, `expected seconds or a duration like ${like}${t.off ? ', or off' : ''}; got ${quote(v)}`);
      }
      return n;
    }
    case 'window': {
      if (/%\s*$/.test(v)) return v;
      const n = parseDuration(v);
      if (n === null) throw new ConfigError(name, `expected a share like 20%, seconds, or a duration like 30s, 15m, 7d; got ${quote(v)}`);
      return n;
    }
    case 'enum': {
      if (t.off && FALSE.has(v.toLowerCase())) return false;
      const s = t.values.find(x => x.toLowerCase() === v.toLowerCase());
      if (s === undefined) throw new ConfigError(name, `expected one of ${[...t.values, ...(t.off ? ['off'] : [])].join(', ')}; got ${quote(v)}`);
      return s;
    }
    case 'secrets': {
      // Never quoted: only the (safe) checks of resolveOptions report on a secret.
      const list = commaList(name, raw);
      return list.length === 1 ? list[0] : list;
    }
    case 'keys':
      // Never quoted, never split on commas (a JWK holds them): PEM block(s), or a JWK / JWK Set as JSON.
      return raw.trim();
    case 'list':
      return commaList(name, raw);
    case 'rate':
      if (FALSE.has(v.toLowerCase())) return false;
      if (parseRate(v) === null) throw new ConfigError(name, `expected failures per window like 10/15m (a count from 1, then a window of seconds or 30s, 15m, 7d up to 30d), or off; got ${quote(v)}`);
      return v;
    case 'trustProxy': {
      // A number is a hop count (as in Express), so check digits before the true/false words.
      if (/^\d{1,3}$/.test(v)) return Number(v);
      const lower = v.toLowerCase();
      if (TRUE.has(lower)) return true;
      if (FALSE.has(lower)) return false;
      return commaList(name, raw);
    }
    case 'function':
    case 'store':
    case 'logger':
      throw new Error(`option table: ${entry.path} (${t.kind}) cannot come from the environment`);
  }
}

function setPath(name: string, target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let o = target;
  for (const [i, p] of parts.slice(0, -1).entries()) {
    if (o[p] === false) {
      throw new ConfigError(name, `${parts.slice(0, i + 1).join('.')} is turned off (false); unset one of the two`);
    }
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
    if (extra !== undefined || n === null || n < 1) throw new ConfigError(name, `bad entry ${quote(part)}; expected accessToken:<s>,refreshToken:<s>`);
    if (k === 'accessToken') out.accessTtl = n;
    else if (k === 'refreshToken') out.refreshTtl = n;
    else throw new ConfigError(name, `unknown key ${quote(k ?? '')}; expected accessToken or refreshToken`);
  }
  return out;
}

/** The groups of `base` copied one level deep, so setting `cookie.name` never writes into the caller's object. */
function copyOptions(base: TesseraOptions): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const e of OPTION_TABLE) {
    const v = out[e.path];
    if (e.type.kind === 'group' && v && typeof v === 'object') out[e.path] = { ...v };
  }
  return out;
}

/**
 * Reads the `TESSERA_*` variables into options (merged over `base`) and validates them with
 * `resolveOptions`; a bad value throws a ConfigError naming the variable.
 */
export function optionsFromEnv(env: Record<string, string | undefined> = process.env, base: TesseraOptions = {}): EnvConfig {
  const options = copyOptions(base);
  /** Option path -> the variable that set it, to report problems against the variable. */
  const fromVar = new Map<string, string>();
  const known = new Set<string>(ENV_EXTRAS.map(x => x.name));

  // In table order, so a group switch (TESSERA_CSRF) comes before the options under it.
  for (const e of envOptions()) {
    known.add(e.env);
    const raw = env[e.env];
    if (raw === undefined) continue;
    const value = convert(e.env, e, raw);
    if (e.type.kind === 'group') {
      if (value === false) options[e.path] = false;
      else if (options[e.path] === false) options[e.path] = {};
    } else setPath(e.env, options, e.path, value);
    fromVar.set(e.path, e.env);
  }
  const expiration = env.TESSERA_TOKEN_EXPIRATION_SECONDS;
  if (expiration !== undefined) {
    for (const [k, v] of Object.entries(parseTokenExpiration('TESSERA_TOKEN_EXPIRATION_SECONDS', expiration))) {
      options[k] = v;
      fromVar.set(k, 'TESSERA_TOKEN_EXPIRATION_SECONDS');
    }
  }
  const unknown = Object.keys(env).filter(name => name.startsWith('TESSERA_') && env[name] !== undefined && !known.has(name));

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
