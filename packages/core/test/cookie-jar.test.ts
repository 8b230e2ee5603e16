import { describe, expect, it } from '@jest/globals';
import { CookieJar } from '../src/cookie-jar.js';
import { clearCookie, serializeCookie } from '../src/lib/cookies.js';
import { resolveOptions, type TesseraOptions } from '../src/options.js';
import { EPOCH, T0, cookieValue, expires, login, post, setCookiesOf, setup } from './helpers.js';

function jar(options: TesseraOptions = {}): CookieJar {
  return new CookieJar(resolveOptions(options));
}

describe('serializeCookie / clearCookie: the Set-Cookie bytes', () => {
  it('serialises attributes in a fixed order', () => {
    const attrs = { path: '/', domain: 'example.com', httpOnly: true, secure: true, sameSite: 'strict' as const, maxAge: 60 };
    expect(serializeCookie('s', 'v', attrs, 0)).toBe('s=v; Path=/; Domain=example.com; Max-Age=60; Expires=Thu, 01 Jan 1970 00:01:00 GMT; HttpOnly; Secure; SameSite=Strict');
    expect(serializeCookie('s', 'v', { ...attrs, domain: undefined, maxAge: undefined, secure: false }, 0)).toBe('s=v; Path=/; HttpOnly; SameSite=Strict');
    expect(serializeCookie('s', 'v', { ...attrs, httpOnly: false, sameSite: 'none', maxAge: 0 }, T0)).toBe(
      `s=v; Path=/; Domain=example.com; Max-Age=0; Expires=${expires(T0, 0)}; Secure; SameSite=None`,
    );
  });

  it('a clearing cookie keeps Path and Domain, and expires at the epoch', () => {
    expect(clearCookie('s', { path: '/auth', domain: undefined, httpOnly: true, secure: false, sameSite: 'lax' })).toBe(
      `s=; Path=/auth; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`,
    );
    expect(clearCookie('s', { path: '/', domain: 'example.com', httpOnly: false, secure: true, sameSite: 'strict' })).toBe(
      `s=; Path=/; Domain=example.com; Max-Age=0; Expires=${EPOCH}; Secure; SameSite=Strict`,
    );
  });
});

describe('CookieJar: the session cookies', () => {
  it('default access cookie: Path=/, Max-Age and Expires from the lifetime, HttpOnly, SameSite=Lax, no Secure on http', () => {
    expect(jar().access('TOKEN', 3600, false, T0)).toBe(`tessera=TOKEN; Path=/; Max-Age=3600; Expires=${expires(T0, 3600)}; HttpOnly; SameSite=Lax`);
  });

  it("secure 'auto' follows the request: Secure on https only", () => {
    const j = jar({ cookie: { secure: 'auto' } });
    expect(j.access('T', 10, true, T0)).toBe(`tessera=T; Path=/; Max-Age=10; Expires=${expires(T0, 10)}; HttpOnly; Secure; SameSite=Lax`);
    expect(j.access('T', 10, false, T0)).toBe(`tessera=T; Path=/; Max-Age=10; Expires=${expires(T0, 10)}; HttpOnly; SameSite=Lax`);
    expect(j.clear('access', true)).toEqual([`tessera=; Path=/; Max-Age=0; Expires=${EPOCH}; HttpOnly; Secure; SameSite=Lax`]);
    expect(j.clear('access', false)).toEqual([`tessera=; Path=/; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`]);
  });

  it('secure true / false ignore the request', () => {
    expect(jar({ cookie: { secure: true } }).access('T', 10, false, T0)).toContain('; HttpOnly; Secure; SameSite=Lax');
    expect(jar({ cookie: { secure: false } }).access('T', 10, true, T0)).not.toContain('Secure');
  });

  it("persistence 'session' sets neither Max-Age nor Expires; its clearing cookie still expires", () => {
    const j = jar({ mode: 'pair', cookie: { persistence: 'session' } });
    expect(j.access('T', 3600, false, T0)).toBe('tessera=T; Path=/; HttpOnly; SameSite=Lax');
    // the refresh cookie inherits the persistence
    expect(j.refresh('R', 3600, false, T0)).toBe('tessera-refresh=R; Path=/auth; HttpOnly; SameSite=Lax');
    expect(j.clear('all', false)).toEqual([
      `tessera=; Path=/; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`,
      `tessera-refresh=; Path=/auth; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`,
    ]);
  });

  it('the refresh cookie: `<name>-refresh`, Path = the routes prefix, always HttpOnly', () => {
    const j = jar({ mode: 'pair', cookie: { httpOnly: false }, routes: { prefix: '/api/auth' } });
    expect(j.refreshName).toBe('tessera-refresh');
    expect(j.refresh('R', 60, false, T0)).toBe(`tessera-refresh=R; Path=/api/auth; Max-Age=60; Expires=${expires(T0, 60)}; HttpOnly; SameSite=Lax`);
    expect(j.access('A', 60, false, T0)).toBe(`tessera=A; Path=/; Max-Age=60; Expires=${expires(T0, 60)}; SameSite=Lax`);
  });

  it('the refresh cookie options: own name, path, domain, SameSite and persistence', () => {
    const j = jar({
      mode: 'pair',
      cookie: { name: 'sid', domain: 'example.com', sameSite: 'strict' },
      refreshCookie: { name: 'rt', path: '/', sameSite: 'lax', persistence: 'session' },
    });
    expect(j.access('A', 60, false, T0)).toBe(`sid=A; Path=/; Domain=example.com; Max-Age=60; Expires=${expires(T0, 60)}; HttpOnly; SameSite=Strict`);
    expect(j.refresh('R', 60, false, T0)).toBe('rt=R; Path=/; Domain=example.com; HttpOnly; SameSite=Lax');
  });

  it('a __Host- access cookie gets a __Secure- refresh cookie off path /', () => {
    const j = jar({ mode: 'pair', cookie: { name: '__Host-s', secure: true } });
    expect(j.accessName).toBe('__Host-s');
    expect(j.refreshName).toBe('__Secure-s-refresh');
    expect(j.refresh('R', 60, false, T0)).toBe(`__Secure-s-refresh=R; Path=/auth; Max-Age=60; Expires=${expires(T0, 60)}; HttpOnly; Secure; SameSite=Lax`);
  });

  it("clear: 'none' nothing, 'access' the access cookie, 'all' both (pair mode) or the access cookie (sliding)", () => {
    const pair = jar({ mode: 'pair' });
    expect(pair.clear('none', false)).toEqual([]);
    expect(pair.clear('access', false)).toEqual([`tessera=; Path=/; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`]);
    expect(pair.clear('all', false)).toEqual([
      `tessera=; Path=/; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`,
      `tessera-refresh=; Path=/auth; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`,
    ]);
    expect(jar().clear('all', false)).toEqual([`tessera=; Path=/; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`]);
  });

  it('a negative lifetime is written as Max-Age=0', () => {
    expect(jar().access('T', -5, false, T0)).toBe(`tessera=T; Path=/; Max-Age=0; Expires=${expires(T0, 0)}; HttpOnly; SameSite=Lax`);
  });
});

describe('cookies the routes write', () => {
  it('login over http and https: the same cookie, Secure only on https', async () => {
    const { core } = setup({ ttl: 3600 });
    const plain = setCookiesOf(await core.route('login', post('/auth/login', { username: 'alice', password: 'wonderland' })));
    const tls = setCookiesOf(await core.route('login', post('/auth/login', { username: 'alice', password: 'wonderland' }, { secure: true })));
    expect(plain).toHaveLength(1);
    expect(plain[0]).toBe(`tessera=${cookieValue(plain[0]!)}; Path=/; Max-Age=3600; Expires=${expires(T0, 3600)}; HttpOnly; SameSite=Lax`);
    expect(tls[0]).toBe(`tessera=${cookieValue(tls[0]!)}; Path=/; Max-Age=3600; Expires=${expires(T0, 3600)}; HttpOnly; Secure; SameSite=Lax`);
  });

  it("pair-mode login with persistence 'session': two browser-session cookies", async () => {
    const { core } = setup({ mode: 'pair', cookie: { persistence: 'session' } });
    const { reply, jar: j } = await login(core);
    expect(setCookiesOf(reply)).toEqual([
      `tessera=${j.get('tessera')}; Path=/; HttpOnly; SameSite=Lax`,
      `tessera-refresh=${j.get('tessera-refresh')}; Path=/auth; HttpOnly; SameSite=Lax`,
    ]);
  });

  it('logout over https clears with Secure, as the cookies were set', async () => {
    const { core } = setup({ mode: 'pair' });
    const { jar: j } = await login(core, undefined, { secure: true });
    const reply = await core.route('logout', post('/auth/logout', undefined, { cookie: j.header, secure: true }));
    expect(setCookiesOf(reply)).toEqual([
      `tessera=; Path=/; Max-Age=0; Expires=${EPOCH}; HttpOnly; Secure; SameSite=Lax`,
      `tessera-refresh=; Path=/auth; Max-Age=0; Expires=${EPOCH}; HttpOnly; Secure; SameSite=Lax`,
    ]);
    expect(j.values.size).toBe(2);
    expect(j.absorb(reply).values.size).toBe(0);
  });
});
