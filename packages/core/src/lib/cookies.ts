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
 * Finds the cookies named `a` and `b` (b optional) in a Cookie header. Two cookies of one name
 * (for example a shadowing cookie planted on a parent domain) are reported as `duplicate`, never
 * guessed between. Pairs are read as RFC 6265 has them: split on `;`, the name before the first
 * `=` with spaces and tabs around it trimmed, the value with spaces trimmed and one pair of
 * double quotes removed.
 */
export function findCookies(header: string | undefined, a: string, b?: string): [CookieLookup, CookieLookup] {
  if (!header) return [ABSENT, ABSENT];
  return [lookup(header, a), b === undefined || b === a ? ABSENT : lookup(header, b)];
}

const isBlank = (c: number): boolean => c === 32 || c === 9;

/**
 * The cookie `name` in `header`. It searches for the name itself and checks each occurrence is
 * where a pair's name stands (after the start or a `;` and blanks, before blanks and `=`): a few
 * engine-level searches instead of three calls per pair, which a header full of other cookies
 * makes many. Cookie names (RFC 6265 tokens) hold no `;` or `=`.
 */
function lookup(header: string, name: string): CookieLookup {
  const len = header.length;
  let found: CookieLookup = ABSENT;
  let from = 0;
  while (from <= len) {
    const k = header.indexOf(name, from);
    if (k === -1) break;
    from = k + 1;
    let i = k;
    while (i > 0 && isBlank(header.charCodeAt(i - 1))) i--;
    if (i > 0 && header.charCodeAt(i - 1) !== 59 /* ; */) continue;
    let eq = k + name.length;
    while (eq < len && isBlank(header.charCodeAt(eq))) eq++;
    if (eq >= len || header.charCodeAt(eq) !== 61 /* = */) continue;
    let end = header.indexOf(';', eq + 1);
    if (end === -1) end = len;
    if (found !== ABSENT) return DUPLICATE;
    let vs = eq + 1;
    let ve = end;
    while (vs < ve && header.charCodeAt(vs) === 32) vs++;
    while (ve > vs && header.charCodeAt(ve - 1) === 32) ve--;
    if (ve - vs >= 2 && header.charCodeAt(vs) === 34 && header.charCodeAt(ve - 1) === 34) {
      vs++;
      ve--;
    }
    found = { status: 'found', value: header.slice(vs, ve) };
    from = end + 1;
  }
  return found;
}

/** One cookie by exact name; see `findCookies`. */
export function findCookie(header: string | undefined, name: string): CookieLookup {
  return header ? lookup(header, name) : ABSENT;
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
