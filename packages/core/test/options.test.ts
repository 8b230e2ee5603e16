import { describe, expect, it } from '@jest/globals';
import { ConfigError, MemoryStore, createTessera, parseDuration, resolveOptions } from '../src/index.js';
import { SECRET } from './helpers.js';

describe('options', () => {
  it('safe defaults', () => {
    const o = resolveOptions({});
    expect(o).toMatchObject({
      algorithm: 'HS256',
      ttl: 604800,
      refreshable: true,
      refreshBefore: { share: 0.2 },
      mode: 'sliding',
      accessTtl: 300,
      refreshTtl: 604800,
      refreshReuse: { maxReuse: 10, graceSeconds: 10 },
      idleTimeout: 0,
      absoluteTimeout: 0,
      bindClientIp: false,
      tokenInLoginBody: false,
      clockTolerance: 5,
      storeTimeout: 2000,
      prefix: '/auth',
      maxTokenBytes: 4096,
    });
    expect(o.cookie).toEqual({ name: undefined, httpOnly: true, secure: 'auto', sameSite: 'lax', path: '/', domain: undefined, persistence: 'persistent' });
    expect(o.refreshCookie).toMatchObject({ httpOnly: true, path: '/auth' });
  });

  it('refuses unknown options and bad values with the option path', () => {
    expect(() => resolveOptions({ tll: 5 } as never)).toThrow(/^tll: unknown option/);
    expect(() => resolveOptions({ algorithm: 'none' as never })).toThrow(/^algorithm: /);
    expect(() => resolveOptions({ algorithm: 'RS256' as never })).toThrow(ConfigError);
    expect(() => resolveOptions({ cookie: { nmae: 'x' } as never })).toThrow(/^cookie.nmae: /);
    expect(() => resolveOptions({ refreshBefore: '150%' })).toThrow(/^refreshBefore: /);
    expect(() => resolveOptions({ storeTimeout: 0 })).toThrow(/^storeTimeout: /);
    expect(() => resolveOptions({ store: {} as never })).toThrow(/^store: not a TokenStore/);
    expect(() => resolveOptions({ clockTolerance: -1 })).toThrow(/^clockTolerance: /);
    expect(resolveOptions({ clockTolerance: 0 }).clockTolerance).toBe(0);
  });

  it('each createTessera call is its own instance', () => {
    const a = createTessera({ secret: SECRET, store: new MemoryStore() });
    const b = createTessera({ secret: SECRET, store: new MemoryStore() });
    expect(a).not.toBe(b);
    expect(a.store).not.toBe(b.store);
  });

  it('parses durations', () => {
    expect(parseDuration(30)).toBe(30);
    expect(parseDuration('30')).toBe(30);
    expect(parseDuration('30s')).toBe(30);
    expect(parseDuration('15m')).toBe(900);
    expect(parseDuration('12h')).toBe(43200);
    expect(parseDuration('7d')).toBe(604800);
    expect(parseDuration('2w')).toBe(1209600);
    for (const bad of ['', '1.5', '-1', '5y', 'abc', 1.5, -3, null, {}]) expect(parseDuration(bad)).toBeNull();
  });
});
