/**
 * The fuzz inputs, as fast-check arbitraries. Genuine tokens never appear in an input: an input names
 * one by index and says how to change it, so a printed counterexample carries no credential.
 */
import fc from 'fast-check';

/** `arb` in about one input of `every`, else null (fc.option's `freq` counts the other way round). */
function sometimes<T>(arb: fc.Arbitrary<T>, every: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: every - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
}

const ch = (lo: number, hi: number) => fc.integer({ min: lo, max: hi }).map(c => String.fromCharCode(c));

/** Any byte a header value may carry on the wire (HTAB, visible ASCII, space, obs-text 0x80-0xff), as a latin1 character. */
export const headerChar = fc.oneof({ weight: 1, arbitrary: fc.constant('\t') }, { weight: 12, arbitrary: ch(0x20, 0x7e) }, { weight: 3, arbitrary: ch(0x80, 0xff) });

/** Every byte value, control characters included (for the one-shot connections only). */
export const anyByteChar = ch(0x00, 0xff);

export const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Characters a mutation writes into a token: mostly the token alphabet, and the ones a decoder
 * might skip, translate or stop at. Not the transports' own separators (whitespace, `;`), which a
 * header or cookie parser strips before the token is read at all.
 */
export const mutationChar = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...B64URL) },
  { weight: 2, arbitrary: fc.constantFrom('.', '=', '+', '/', '%', '"', ',', '\\', '!', '~', '*', '\u0080', '\u00e9', '\u00ff') },
  { weight: 1, arbitrary: ch(0x21, 0x7e).filter(c => c !== ';') },
);

export type Mutation =
  | { op: 'set'; at: number; c: string }
  | { op: 'insert'; at: number; c: string }
  | { op: 'delete'; at: number; n: number }
  | { op: 'case'; at: number }
  | { op: 'truncate'; at: number }
  /** Rewrites the last character of segment `seg` to the `k`-th spelling of the same used bits (same bytes; also the identity). */
  | { op: 'lastBits'; seg: number; k: number }
  /** Flips one bit of segment `seg`'s decoded bytes and re-encodes it canonically. */
  | { op: 'flip'; seg: number; bit: number }
  | { op: 'swap'; a: number; b: number }
  /** Segment `seg` taken from another genuine token of the same pool. */
  | { op: 'graft'; seg: number; from: number }
  | { op: 'drop'; seg: number }
  | { op: 'dup'; seg: number };

const seg = fc.integer({ min: 0, max: 2 });

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), c: mutationChar }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), c: mutationChar }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('case' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('lastBits' as const), seg, k: fc.nat({ max: 15 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('flip' as const), seg, bit: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('swap' as const), a: seg, b: seg }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('graft' as const), seg, from: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drop' as const), seg }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('dup' as const), seg }) },
);

export const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });

function splice(s: string, at: number, del: number, ins = ''): string {
  return s.slice(0, at) + ins + s.slice(at + del);
}

function withSegments(token: string, f: (segs: string[]) => string[]): string {
  return f(token.split('.')).join('.');
}

/** The characters sharing `c`'s used bits when `c` is the last of a base64url segment of `len` characters. */
export function lastCharVariants(c: string, len: number): string[] {
  const unused = len % 4 === 2 ? 4 : len % 4 === 3 ? 2 : 0;
  const v = B64URL.indexOf(c);
  if (v === -1) return [c];
  const base = v & ~((1 << unused) - 1);
  return Array.from({ length: 1 << unused }, (_, i) => B64URL[base + i]!);
}

/** `token` with the mutations applied in order; `pool` lends segments for `graft`. */
export function applyMutations(token: string, ms: readonly Mutation[], pool: readonly string[]): string {
  let t = token;
  for (const m of ms) {
    const len = Math.max(t.length, 1);
    switch (m.op) {
      case 'set':
        t = splice(t, m.at % len, 1, m.c);
        break;
      case 'insert':
        t = splice(t, m.at % (t.length + 1), 0, m.c);
        break;
      case 'delete':
        t = splice(t, m.at % len, m.n);
        break;
      case 'case': {
        const at = m.at % len;
        const c = t.charAt(at);
        t = splice(t, at, 1, c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase());
        break;
      }
      case 'truncate':
        t = t.slice(0, m.at % len);
        break;
      case 'lastBits':
        t = withSegments(t, s => {
          const x = s[m.seg % s.length]!;
          if (x.length === 0) return s;
          const vs = lastCharVariants(x.slice(-1), x.length);
          s[m.seg % s.length] = x.slice(0, -1) + vs[m.k % vs.length]!;
          return s;
        });
        break;
      case 'flip':
        t = withSegments(t, s => {
          const i = m.seg % s.length;
          const bytes = Buffer.from(s[i]!, 'base64url');
          if (bytes.length === 0) return s;
          const bit = m.bit % (bytes.length * 8);
          bytes[bit >> 3] = bytes[bit >> 3]! ^ (1 << (bit & 7));
          s[i] = bytes.toString('base64url');
          return s;
        });
        break;
      case 'swap':
        t = withSegments(t, s => {
          const a = m.a % s.length;
          const b = m.b % s.length;
          [s[a], s[b]] = [s[b]!, s[a]!];
          return s;
        });
        break;
      case 'graft': {
        const donor = pool[m.from % pool.length]!.split('.');
        t = withSegments(t, s => {
          const i = m.seg % s.length;
          s[i] = donor[i % donor.length]!;
          return s;
        });
        break;
      }
      case 'drop':
        t = withSegments(t, s => (s.length > 1 ? s.filter((_, i) => i !== m.seg % s.length) : s));
        break;
      case 'dup':
        t = withSegments(t, s => {
          const i = m.seg % s.length;
          return [...s.slice(0, i + 1), s[i]!, ...s.slice(i + 1)];
        });
        break;
    }
  }
  return t;
}

/** A cookie-header piece: raw text, or a genuine token (by index in the scratch pool) written in place. */
export type Piece = string | { genuine: number };

const cookieName = fc.constantFrom('tessera', 'tessera-refresh', 'Tessera', 'tessera ', ' tessera', 'tessera\t', 'tesser', 'tessera2', '$tessera', 'sid');
const separator = fc.constantFrom(';', '; ', '=', '"', ' ', ';;', ',', '==', ' = ', '\t');

/** A Cookie header built from pieces that often name the session cookies, plus garbage of any header byte. */
export const cookiePieces: fc.Arbitrary<Piece[]> = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: headerChar, maxLength: 24 }) },
    { weight: 4, arbitrary: separator },
    { weight: 3, arbitrary: cookieName },
    { weight: 1, arbitrary: fc.record({ genuine: fc.nat() }) },
  ),
  { maxLength: 14 },
);

/** A whole Cookie header: structured pieces, plain garbage, or (rarely) a long one. */
export const cookieHeader: fc.Arbitrary<Piece[]> = fc.oneof(
  { weight: 6, arbitrary: cookiePieces },
  { weight: 3, arbitrary: fc.string({ unit: headerChar, maxLength: 200 }).map(s => [s]) },
  { weight: 1, arbitrary: fc.string({ unit: headerChar, minLength: 1000, maxLength: 6000 }).map(s => [s]) },
);

/** An Authorization header: schemes this server reads, with garbage or a genuine token behind them. */
export const authorization: fc.Arbitrary<Piece[]> = fc.oneof(
  fc.tuple(fc.constantFrom('Bearer ', 'bearer  ', 'Bearer', 'Bearer tsr_', 'Bearer tsj_', 'Basic ', 'Bearer "'), fc.string({ unit: headerChar, maxLength: 80 })).map(([a, b]) => [a, b]),
  fc.tuple(fc.constantFrom('Bearer ', 'Bearer tsr_x', 'Token '), fc.record({ genuine: fc.nat() }), fc.constantFrom('', ' ', '\t', 'x', '.x')).map(([a, g, b]) => [a, g, b]),
  fc.string({ unit: headerChar, maxLength: 60 }).map(s => [s]),
);

export const origin = fc.oneof(
  fc.constantFrom('http://127.0.0.1', 'https://evil.example', 'null', 'http://127.0.0.1:1'),
  fc.string({ unit: headerChar, maxLength: 30 }),
);

export type Route = 'GET /api/me' | 'GET /public' | 'GET /auth/session' | 'POST /auth/refresh' | 'POST /auth/logout' | 'POST /auth/login';

export interface CookieInput {
  pair: boolean;
  route: Route;
  cookie: Piece[];
  authorization: Piece[] | null;
  origin: string | null;
}

export const cookieInput: fc.Arbitrary<CookieInput> = fc.record({
  pair: fc.boolean(),
  route: fc.constantFrom<Route>('GET /api/me', 'GET /api/me', 'GET /public', 'GET /auth/session', 'POST /auth/refresh', 'POST /auth/logout'),
  cookie: cookieHeader,
  authorization: sometimes(authorization, 4),
  origin: sometimes(origin, 8),
});

export interface MutantInput {
  pair: boolean;
  /** Index into the app's mutation pool. */
  token: number;
  mutations: Mutation[];
  via: 'cookie' | 'bearer';
  /** Other cookies around the session cookie (never one of its name). */
  before: string;
  after: string;
}

const otherCookies = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.constantFrom('a=1', 'tessera-refresh=x', 'theme=dark', 'tessera2=y', '"'), },
);

export const mutantInput: fc.Arbitrary<MutantInput> = fc.record({
  pair: fc.boolean(),
  token: fc.nat(),
  mutations,
  via: fc.constantFrom('cookie', 'cookie', 'bearer'),
  before: otherCookies,
  after: otherCookies,
});

export type Body =
  | { text: string }
  | { bytes: Uint8Array }
  | { json: unknown }
  | { login: Record<string, unknown> }
  /** `{ "refreshToken": ... }` with a refresh token of the pool, mutated (or not). */
  | { refresh: { token: number; mutations: Mutation[] } }
  | { big: number; json: boolean };

const credential = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('alice', 'bob', 'wonderland', 'builder', 'root', '', 'constructor', '__proto__', 'hasOwnProperty') },
  { weight: 3, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 1000, maxLength: 1100 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

export const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ text: fc.string({ unit: 'grapheme', maxLength: 120 }) }) },
  { weight: 2, arbitrary: fc.record({ bytes: fc.uint8Array({ maxLength: 200 }) }) },
  { weight: 3, arbitrary: fc.record({ json: fc.jsonValue({ maxDepth: 3 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      login: fc.record(
        { username: credential, password: credential, refreshToken: fc.string({ maxLength: 30 }), extra: fc.jsonValue({ maxDepth: 1 }) },
        { requiredKeys: [] },
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ refresh: fc.record({ token: fc.nat(), mutations: fc.array(mutation, { maxLength: 3 }) }) }) },
  { weight: 1, arbitrary: fc.record({ big: fc.integer({ min: 8 * 1024, max: 40 * 1024 }), json: fc.boolean() }) },
);

export const contentType = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  {
    weight: 5,
    arbitrary: fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'APPLICATION/JSON',
      'application/vnd.api+json',
      'application/json;charset=utf-16',
      ' application/json ',
      'application/jsonx',
      'text/plain',
      'text/plain; charset=utf-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/octet-stream',
      '*/*',
      '',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: headerChar, maxLength: 40 }) },
);

export interface BodyInput {
  pair: boolean;
  route: 'POST /auth/login' | 'POST /auth/refresh' | 'POST /auth/logout';
  contentType: string | null;
  body: Body;
  /** Transfer-Encoding: chunked, cut at these offsets (else Content-Length). */
  chunks: number[] | null;
  /** A genuine session of the scratch pool as the cookie, or garbage, or none. */
  cookie: { genuine: number } | string | null;
}

export const bodyInput: fc.Arbitrary<BodyInput> = fc.record({
  pair: fc.boolean(),
  route: fc.constantFrom('POST /auth/login', 'POST /auth/login', 'POST /auth/refresh', 'POST /auth/logout'),
  contentType,
  body,
  chunks: sometimes(fc.array(fc.nat({ max: 256 }), { maxLength: 4 }), 5),
  cookie: sometimes(fc.oneof(fc.record({ genuine: fc.nat() }), fc.string({ unit: headerChar, maxLength: 40 })), 3),
});

export interface RawInput {
  pair: boolean;
  /** Cookie header bytes, any value 0x00-0xff: control characters, CR and LF included. */
  cookie: string;
}

export const rawInput: fc.Arbitrary<RawInput> = fc.record({
  pair: fc.boolean(),
  cookie: fc.oneof(
    fc.string({ unit: anyByteChar, maxLength: 64 }),
    fc.tuple(fc.constantFrom('tessera=', 'tessera="', 'a=b; tessera='), fc.string({ unit: anyByteChar, maxLength: 64 })).map(([a, b]) => a + b),
  ),
});
