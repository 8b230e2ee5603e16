/** Cookie header parsing and Set-Cookie serialising. The core formats every Set-Cookie byte. */

export type SameSite = 'lax' | 'strict' | 'none';

export interface CookieAttributes {
  path: string;
  domain: string | undefined;
  httpOnly: boolean;
  secure: boolean;
  sameSite: SameSite;
  /** Seconds; undefined = browser-session cookie (no Max-Age / Expires). */
  maxAge: number | undefined;
}

export type CookieLookup =
  | { status: 'absent' }
  | { status: 'duplicate' }
  | { status: 'found'; value: string };

const ABSENT: CookieLookup = Object.freeze({ status: 'absent' });
const DUPLICATE: CookieLookup = Object.freeze({ status: 'duplicate' });

/**
 * Finds the cookies named `a` and `b` (b optional) in one pass over a Cookie header. Two cookies
 * of one name (for example a shadowing cookie planted on a parent domain) are reported as
 * `duplicate`, never guessed between.
 */
export function findCookies(header: string | undefined, a: string, b?: string): [CookieLookup, CookieLookup] {
  if (!header) return [ABSENT, ABSENT];
  let first: CookieLookup = ABSENT;
  let second: CookieLookup = ABSENT;
  let pos = 0;
  const len = header.length;
  while (pos < len) {
    let end = header.indexOf(';', pos);
    if (end === -1) end = len;
    const eq = header.indexOf('=', pos);
    if (eq !== -1 && eq < end) {
      let ks = pos;
      while (ks < eq && (header.charCodeAt(ks) === 32 || header.charCodeAt(ks) === 9)) ks++;
      let ke = eq;
      while (ke > ks && (header.charCodeAt(ke - 1) === 32 || header.charCodeAt(ke - 1) === 9)) ke--;
      const n = ke - ks;
      const isA = n === a.length && header.startsWith(a, ks);
      const isB = !isA && b !== undefined && n === b.length && header.startsWith(b, ks);
      if (isA || isB) {
        let vs = eq + 1;
        let ve = end;
        while (vs < ve && header.charCodeAt(vs) === 32) vs++;
        while (ve > vs && header.charCodeAt(ve - 1) === 32) ve--;
        if (ve - vs >= 2 && header.charCodeAt(vs) === 34 && header.charCodeAt(ve - 1) === 34) {
          vs++;
          ve--;
        }
        const found: CookieLookup = { status: 'found', value: header.slice(vs, ve) };
        if (isA) first = first === ABSENT ? found : DUPLICATE;
        else second = second === ABSENT ? found : DUPLICATE;
      }
    }
    pos = end + 1;
  }
  return [first, second];
}

/** One cookie by exact name; see `findCookies`. */
export function findCookie(header: string | undefined, name: string): CookieLookup {
  return findCookies(header, name)[0];
}

const SAME_SITE: Record<SameSite, string> = { lax: 'Lax', strict: 'Strict', none: 'None' };

/** Set-Cookie value. Attribute order is fixed so every adapter emits identical bytes. */
export function serializeCookie(name: string, value: string, attrs: CookieAttributes, now: number): string {
  let out = `${name}=${value}; Path=${attrs.path}`;
  if (attrs.domain) out += `; Domain=${attrs.domain}`;
  if (attrs.maxAge !== undefined) {
    out += `; Max-Age=${attrs.maxAge}; Expires=${new Date((now + attrs.maxAge) * 1000).toUTCString()}`;
  }
  if (attrs.httpOnly) out += '; HttpOnly';
  if (attrs.secure) out += '; Secure';
  out += `; SameSite=${SAME_SITE[attrs.sameSite]}`;
  return out;
}

const EPOCH = new Date(0).toUTCString();

/** Set-Cookie value that deletes the cookie (same Path/Domain as when it was set). */
export function clearCookie(name: string, attrs: Omit<CookieAttributes, 'maxAge'>): string {
  let out = `${name}=; Path=${attrs.path}`;
  if (attrs.domain) out += `; Domain=${attrs.domain}`;
  out += `; Max-Age=0; Expires=${EPOCH}`;
  if (attrs.httpOnly) out += '; HttpOnly';
  if (attrs.secure) out += '; Secure';
  out += `; SameSite=${SAME_SITE[attrs.sameSite]}`;
  return out;
}

/** RFC 6265 cookie-name token. */
export const COOKIE_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Path and Domain values must not contain control characters or `;`. */
export const COOKIE_ATTR_RE = /^[\x21-\x3a\x3c-\x7e]+$/;
