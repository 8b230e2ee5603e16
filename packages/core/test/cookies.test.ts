import { describe, expect, it } from '@jest/globals';
import { clearCookie, findCookie, serializeCookie } from '../src/index.js';

describe('cookies', () => {
  it('finds a cookie by exact name and reports duplicates', () => {
    expect(findCookie(undefined, 'a')).toEqual({ status: 'absent' });
    expect(findCookie('a=1; b=2', 'b')).toEqual({ status: 'found', value: '2' });
    expect(findCookie('ab=1; b=2', 'a')).toEqual({ status: 'absent' });
    expect(findCookie(' a = 1 ;b=2', 'a')).toEqual({ status: 'found', value: '1' });
    expect(findCookie('a="quoted"', 'a')).toEqual({ status: 'found', value: 'quoted' });
    expect(findCookie('a=1; x; b=2', 'b')).toEqual({ status: 'found', value: '2' });
    expect(findCookie('a=1; a=2', 'a')).toEqual({ status: 'duplicate' });
    expect(findCookie('a=', 'a')).toEqual({ status: 'found', value: '' });
  });

  it('serialises attributes in a fixed order', () => {
    const attrs = { path: '/', domain: 'example.com', httpOnly: true, secure: true, sameSite: 'strict' as const, maxAge: 60 };
    expect(serializeCookie('s', 'v', attrs, 0)).toBe('s=v; Path=/; Domain=example.com; Max-Age=60; Expires=Thu, 01 Jan 1970 00:01:00 GMT; HttpOnly; Secure; SameSite=Strict');
    expect(serializeCookie('s', 'v', { ...attrs, domain: undefined, maxAge: undefined, secure: false }, 0)).toBe('s=v; Path=/; HttpOnly; SameSite=Strict');
    expect(clearCookie('s', { path: '/auth', domain: undefined, httpOnly: true, secure: false, sameSite: 'lax' })).toBe('s=; Path=/auth; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax');
  });
});
