/** The further checks some options add to their kind's (the table's `refine`): cookie attributes, the routes prefix, trusted origins. */
import { ConfigError } from '../errors.js';
import { COOKIE_ATTR_RE, COOKIE_NAME_RE } from './cookies.js';

export function cookiePath(v: string, path: string): string {
  if (!v.startsWith('/') || !COOKIE_ATTR_RE.test(v)) throw new ConfigError(path, 'must start with "/" and hold no spaces, controls or ";"');
  return v;
}

export function cookieDomain(v: string, path: string): string {
  if (!COOKIE_ATTR_RE.test(v)) throw new ConfigError(path, 'holds characters a cookie domain cannot');
  return v;
}

export function cookieName(v: string, path: string): string {
  if (!COOKIE_NAME_RE.test(v)) throw new ConfigError(path, 'not a valid cookie name');
  return v;
}

/** A path starting with "/", without trailing slashes (except "/" itself). */
export function routesPrefix(v: string, path: string): string {
  if (!/^\/[\x21-\x7e]*$/.test(v) || v.includes(';')) throw new ConfigError(path, 'must start with "/"');
  return v.length > 1 ? v.replace(/\/+$/, '') || '/' : v;
}

/** Origins like "https://app.example.com", resolved lower case. */
export function trustedOrigins(v: string[], path: string): string[] {
  if (v.some(o => !/^https?:\/\/[^/]+$/.test(o))) throw new ConfigError(path, 'expected a list of origins like "https://app.example.com"');
  return v.map(o => o.toLowerCase());
}
