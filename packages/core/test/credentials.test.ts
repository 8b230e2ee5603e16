import { describe, expect, it } from '@jest/globals';
import { CookieJar } from '../src/cookie-jar.js';
import { readCredentials, refreshTokenOf } from '../src/credentials.js';
import { findCookie, findCookies } from '../src/lib/cookies.js';
import { resolveOptions, type TesseraOptions } from '../src/options.js';
import { TesseraError } from '../src/errors.js';
import { Reject } from '../src/reject.js';
import { req } from './helpers.js';

function jar(options: TesseraOptions = {}): CookieJar {
  return new CookieJar(resolveOptions(options));
}

const pairJar = () => jar({ mode: 'pair' });

describe('readCredentials: the Authorization bearer', () => {
  const bearerOf = (authorization: string | undefined) => readCredentials(req({ headers: authorization === undefined ? {} : { authorization } }), jar()).bearer;

  it('takes the token of a Bearer header, any case, any number of spaces, trailing whitespace trimmed', () => {
    expect(bearerOf('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerOf('bearer abc')).toBe('abc');
    expect(bearerOf('BEARER    abc')).toBe('abc');
    expect(bearerOf('Bearer abc  ')).toBe('abc');
    expect(bearerOf('Bearer tsr_x.y')).toBe('tsr_x.y');
  });

  it('ignores other schemes, an empty token and a token with spaces in it', () => {
    expect(bearerOf(undefined)).toBeUndefined();
    expect(bearerOf('Basic YWxpY2U6d29uZGVybGFuZA==')).toBeUndefined();
    expect(bearerOf('Bearer')).toBeUndefined();
    expect(bearerOf('Bearer ')).toBeUndefined();
    expect(bearerOf('Bearer a b')).toBeUndefined();
    expect(bearerOf('Bearerabc')).toBeUndefined();
    expect(bearerOf(' Bearer abc')).toBeUndefined();
  });

  it('a bearer and cookies are both read (the flows decide which one counts)', () => {
    const c = readCredentials(req({ headers: { authorization: 'Bearer b1' }, cookie: 'tessera=c1' }), jar());
    expect(c).toEqual({ bearer: 'b1', access: { status: 'found', value: 'c1' }, refresh: { status: 'absent' } });
  });
});

describe('readCredentials: the session cookies', () => {
  it('finds the access and the refresh cookie in one header (pair mode)', () => {
    const c = readCredentials(req({ cookie: 'theme=dark; tessera=A.B.C; tessera-refresh=R.S.T; other=1' }), pairJar());
    expect(c).toEqual({ bearer: undefined, access: { status: 'found', value: 'A.B.C' }, refresh: { status: 'found', value: 'R.S.T' } });
  });

  it('sliding mode has no refresh cookie: a tessera-refresh cookie is not read', () => {
    const c = readCredentials(req({ cookie: 'tessera=A; tessera-refresh=R' }), jar());
    expect(c.access).toEqual({ status: 'found', value: 'A' });
    expect(c.refresh).toEqual({ status: 'absent' });
  });

  it('uses the configured names', () => {
    const j = jar({ mode: 'pair', cookie: { name: 'sid' }, refreshCookie: { name: 'rt' } });
    const c = readCredentials(req({ cookie: 'tessera=no; tessera-refresh=no; sid=yes; rt=also' }), j);
    expect(c.access).toEqual({ status: 'found', value: 'yes' });
    expect(c.refresh).toEqual({ status: 'found', value: 'also' });
  });

  it('no Cookie header, or neither cookie in it: both absent', () => {
    expect(readCredentials(req(), pairJar())).toEqual({ bearer: undefined, access: { status: 'absent' }, refresh: { status: 'absent' } });
    expect(readCredentials(req({ cookie: 'a=1; b=2' }), pairJar())).toEqual({ bearer: undefined, access: { status: 'absent' }, refresh: { status: 'absent' } });
  });

  it('reports a duplicated cookie as duplicate, each cookie on its own', () => {
    const c = readCredentials(req({ cookie: 'tessera=A; tessera-refresh=R; tessera=B' }), pairJar());
    expect(c.access).toEqual({ status: 'duplicate' });
    expect(c.refresh).toEqual({ status: 'found', value: 'R' });
    const d = readCredentials(req({ cookie: 'tessera-refresh=R1; tessera=A; tessera-refresh=R2' }), pairJar());
    expect(d.access).toEqual({ status: 'found', value: 'A' });
    expect(d.refresh).toEqual({ status: 'duplicate' });
  });

  it('a duplicate stays a duplicate even when the values are equal, or a third copy follows', () => {
    expect(readCredentials(req({ cookie: 'tessera=A; tessera=A' }), jar()).access).toEqual({ status: 'duplicate' });
    expect(readCredentials(req({ cookie: 'tessera=A; tessera=B; tessera=C' }), jar()).access).toEqual({ status: 'duplicate' });
  });

  it('names that are prefixes or suffixes of others never match', () => {
    // `tessera` is a prefix of `tessera-refresh` and of `tessera2`; `xtessera` ends with it.
    const c = readCredentials(req({ cookie: 'tessera2=X; xtessera=Y; tessera-refresh=R' }), jar());
    expect(c.access).toEqual({ status: 'absent' });
    const p = readCredentials(req({ cookie: 'tessera-refresh-old=X; tessera-refresh=R; tessera-=Z; tessera=A' }), pairJar());
    expect(p.access).toEqual({ status: 'found', value: 'A' });
    expect(p.refresh).toEqual({ status: 'found', value: 'R' });
  });

  it('unquotes a double-quoted value and trims spaces around names and values', () => {
    const c = readCredentials(req({ cookie: ' tessera = "A.B.C" ;\ttessera-refresh="R"' }), pairJar());
    expect(c.access).toEqual({ status: 'found', value: 'A.B.C' });
    expect(c.refresh).toEqual({ status: 'found', value: 'R' });
  });
});

describe('refreshTokenOf', () => {
  it('the refresh cookie value, or undefined; a duplicated refresh cookie is TOKEN_INVALID clearing both cookies', () => {
    expect(refreshTokenOf(readCredentials(req({ cookie: 'tessera-refresh=R' }), pairJar()))).toBe('R');
    expect(refreshTokenOf(readCredentials(req({ cookie: 'tessera=A' }), pairJar()))).toBeUndefined();
    let thrown: unknown;
    try {
      refreshTokenOf(readCredentials(req({ cookie: 'tessera-refresh=R; tessera-refresh=S' }), pairJar()));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(Reject);
    const r = thrown as Reject;
    expect(r.error).toBeInstanceOf(TesseraError);
    expect([r.error.code, r.error.reason, r.clear]).toEqual(['TOKEN_INVALID', 'duplicate-refresh-cookie', 'all']);
  });
});

describe('findCookies / findCookie (the Cookie header parser)', () => {
  it('finds a cookie by exact name and reports duplicates', () => {
    expect(findCookie(undefined, 'a')).toEqual({ status: 'absent' });
    expect(findCookie('', 'a')).toEqual({ status: 'absent' });
    expect(findCookie('a=1; b=2', 'b')).toEqual({ status: 'found', value: '2' });
    expect(findCookie('ab=1; b=2', 'a')).toEqual({ status: 'absent' });
    expect(findCookie(' a = 1 ;b=2', 'a')).toEqual({ status: 'found', value: '1' });
    expect(findCookie('a="quoted"', 'a')).toEqual({ status: 'found', value: 'quoted' });
    expect(findCookie('a="', 'a')).toEqual({ status: 'found', value: '"' });
    expect(findCookie('a=1; x; b=2', 'b')).toEqual({ status: 'found', value: '2' });
    expect(findCookie('a=1; a=2', 'a')).toEqual({ status: 'duplicate' });
    expect(findCookie('a=', 'a')).toEqual({ status: 'found', value: '' });
    expect(findCookie('a=x=y', 'a')).toEqual({ status: 'found', value: 'x=y' });
  });

  it('one pass for two names: each found, absent or duplicate on its own', () => {
    expect(findCookies('a=1; b=2', 'a', 'b')).toEqual([{ status: 'found', value: '1' }, { status: 'found', value: '2' }]);
    expect(findCookies('b=2; a=1; b=3', 'a', 'b')).toEqual([{ status: 'found', value: '1' }, { status: 'duplicate' }]);
    expect(findCookies('c=1', 'a', 'b')).toEqual([{ status: 'absent' }, { status: 'absent' }]);
    expect(findCookies('a=1; b=2', 'a')).toEqual([{ status: 'found', value: '1' }, { status: 'absent' }]);
  });
});
