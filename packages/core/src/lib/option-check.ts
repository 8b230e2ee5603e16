/** The per-field check: one option's value against its kind (then its `refine`), as a resolved value or a ConfigError that never echoes a secret. */
import { compileTrust } from './proxy.js';
import { ConfigError } from '../errors.js';
import { childrenOf } from '../option-table.js';
import { parseDuration } from './duration.js';
import { readKeys } from './key-material.js';
import { parseRate, RATE_LIMIT_MAX } from './rate.js';
import type { OptionEntry, OptionType } from './option-types.js';

/** Describes a bad value without echoing it when it could be a secret. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : String(v);
}

function seconds(n: number): string {
  return n < 1 ? `${Math.round(n * 1000)}ms` : `${n} second${n === 1 ? '' : 's'}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkDuration(t: Extract<OptionType, { kind: 'duration' }>, v: unknown, path: string): number {
  if (t.off && (v === false || v === 0)) return 0;
  const n = parseDuration(v, { ms: t.ms });
  if (n === null) {
    const like = t.ms ? '"500ms", "30s", "15m"' : '"30s", "15m", "7d"';
    throw new ConfigError(path, `expected seconds or a duration like ${like}${t.off ? ', or false' : ''}; got ${describe(v)}`);
  }
  if (n < t.min) throw new ConfigError(path, `must be at least ${seconds(t.min)}`);
  if (t.max !== undefined && n > t.max) throw new ConfigError(path, `must be at most ${seconds(t.max)}`);
  return n;
}

/**
 * Checks a given (or default) value of one option and returns it in resolved form; throws a
 * ConfigError naming `path` (or `secret[i]`), which never echoes a secret.
 */
export function checkOption(entry: OptionEntry, v: unknown, path: string = entry.path): unknown {
  const t = entry.type;
  let out: unknown;
  switch (t.kind) {
    case 'group': {
      if (t.off && v === false) return false;
      if (!isPlainObject(v)) {
        const keys = childrenOf(entry.path).map(e => e.path.slice(entry.path.length + 1));
        throw new ConfigError(path, t.off ? `expected { ${keys.join(', ')} } or false` : 'expected an object');
      }
      return true;
    }
    case 'string':
      if (typeof v !== 'string' || v.length === 0) throw new ConfigError(path, `expected a non-empty string; got ${describe(v)}`);
      out = v;
      break;
    case 'boolean':
      if (typeof v !== 'boolean') throw new ConfigError(path, `expected true or false; got ${describe(v)}`);
      out = v;
      break;
    case 'booleanOrAuto':
      if (v !== 'auto' && typeof v !== 'boolean') throw new ConfigError(path, `expected true, false or "auto"; got ${describe(v)}`);
      out = v;
      break;
    case 'integer':
      if (t.off && (v === false || v === 0)) return 0;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < t.min || v > t.max) {
        throw new ConfigError(path, `expected an integer from ${t.min} to ${t.max}${t.off ? ', or false' : ''}; got ${describe(v)}`);
      }
      out = v;
      break;
    case 'duration':
      out = checkDuration(t, v, path);
      break;
    case 'window':
      if (typeof v === 'string' && /^\s*\d{1,3}(\.\d+)?\s*%\s*$/.test(v)) {
        const share = parseFloat(v) / 100;
        if (share <= 0 || share >= 1) throw new ConfigError(path, 'a percentage must be between 0% and 100% exclusive');
        out = { share };
      } else out = { seconds: checkDuration({ kind: 'duration', min: 0 }, v, path) };
      break;
    case 'enum': {
      if (t.off && v === false) return false;
      const s = typeof v === 'string' && t.anyCase ? v.toLowerCase() : v;
      if (!t.values.includes(s as string)) throw new ConfigError(path, `expected one of ${t.values.join(', ')}${t.off ? ', false' : ''}; got ${describe(v)}`);
      out = s;
      break;
    }
    case 'secrets': {
      const list = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(list) || list.length === 0) throw new ConfigError(path, 'expected a string or a non-empty list of strings');
      list.forEach((s: unknown, i) => {
        const where = Array.isArray(v) ? `${path}[${i}]` : path;
        if (typeof s !== 'string') throw new ConfigError(where, 'expected a string');
        const bytes = Buffer.byteLength(s, 'utf8');
        // Never echo the secret: only its length.
        // A password is measured in characters, first (enough of them is enough bytes too).
        if (t.minChars !== undefined && s.length < t.minChars) {
          throw new ConfigError(where, `too short (${s.length} characters); use at least ${t.minChars} characters, e.g. 32 random bytes in base64url: node -e "console.log(crypto.randomBytes(32).toString('base64url'))"`);
        }
        if (bytes < t.minBytes) {
          throw new ConfigError(where, `too short (${bytes} bytes); use at least ${t.minBytes} bytes, e.g. 32 random bytes in base64url: node -e "console.log(crypto.randomBytes(32).toString('base64url'))"`);
        }
      });
      out = [...(list as string[])];
      break;
    }
    case 'keys':
      out = readKeys(v, path);
      break;
    case 'list':
      if (!Array.isArray(v) || v.some(s => typeof s !== 'string')) throw new ConfigError(path, `expected a list of strings; got ${describe(v)}`);
      out = [...v];
      break;
    case 'function':
      if (typeof v !== 'function') throw new ConfigError(path, `expected a function; got ${describe(v)}`);
      out = v;
      break;
    case 'logger': {
      const l = v as Record<string, unknown> | null | false;
      if (l !== false && (typeof l !== 'object' || l === null || ['info', 'warn', 'error'].some(m => typeof l[m] !== 'function'))) {
        throw new ConfigError(path, `expected false or a logger with info, warn and error methods (pino, console, app.log); got ${describe(v)}`);
      }
      out = v;
      break;
    }
    case 'trustProxy': {
      const list = typeof v === 'string' ? v.split(',').map(s => s.trim()).filter(Boolean) : v;
      if (typeof list === 'boolean' || (typeof list === 'number' && Number.isSafeInteger(list) && list >= 0)) out = list;
      else if (Array.isArray(list) && list.length > 0 && list.every(s => typeof s === 'string')) {
        try {
          compileTrust(list as string[]);
        } catch (err) {
          throw new ConfigError(path, (err as Error).message);
        }
        out = [...(list as string[])];
      } else throw new ConfigError(path, `expected true, false, a hop count, or proxy addresses and subnets; got ${describe(v)}`);
      break;
    }
    case 'rate': {
      if (v === false) return false;
      const rate = parseRate(v);
      if (rate === null) {
        throw new ConfigError(path, `expected failures per window like "10/15m" (1 to ${RATE_LIMIT_MAX} per 1 second to 30 days), or false; got ${describe(v)}`);
      }
      out = rate;
      break;
    }
    case 'store': {
      const s = v as Record<string, unknown> | null;
      for (const m of t.methods) {
        if (typeof s?.[m] !== 'function') throw new ConfigError(path, `not a TokenStore: missing ${m}()`);
      }
      out = v;
      break;
    }
  }
  return entry.refine ? entry.refine(out, path) : out;
}
