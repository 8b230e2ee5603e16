import { describe, expect, it } from '@jest/globals';
import { ConfigError, MemoryStore, createTessera } from '../src/index.js';
import { parseDuration } from '../src/lib/duration.js';
import { OPTION_TABLE, checkOption, envName, resolveOptions, type OptionEntry, type ResolvedOptions, type TesseraOptions } from '../src/options.js';
import { SECRET } from './helpers.js';

const TABLE = OPTION_TABLE as readonly OptionEntry[];

/** The resolved value of a table path (the few renamed or reshaped fields spelled out). */
function resolvedAt(r: ResolvedOptions, path: string): unknown {
  if (path === 'secret') return r.secrets;
  if (path === 'routes.prefix') return r.prefix;
  if (path === 'csrf') return r.csrf !== false;
  if (path === 'csrf.trustedOrigins') return r.csrf === false ? undefined : [...r.csrf.trustedOrigins];
  if (path === 'refreshReuse') return r.refreshReuse !== undefined;
  if (path === 'jobs') return r.jobs !== undefined;
  let v: unknown = r;
  for (const p of path.split('.')) v = (v as Record<string, unknown>)[p];
  return v;
}

function errorOf(options: unknown): ConfigError {
  try {
    resolveOptions(options as TesseraOptions);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(options)}`);
}

describe('options', () => {
  it('safe defaults', () => {
    const o = resolveOptions({});
    expect(o).toMatchObject({
      secrets: undefined,
      algorithm: 'HS256',
      issuer: 'tessera',
      audience: 'tessera',
      ttl: 604800,
      refreshable: true,
      refreshBefore: { share: 0.2 },
      mode: 'sliding',
      accessTtl: 300,
      refreshTtl: 604800,
      refreshReuse: { maxReuse: 1000, graceSeconds: 10 },
      idleTimeout: 0,
      absoluteTimeout: 0,
      bindClientIp: false,
      tokenInLoginBody: false,
      clockTolerance: 5,
      storeTimeout: 2,
      prefix: '/auth',
      csrf: { trustedOrigins: new Set() },
      touchInterval: 60,
      maxTokenBytes: 4096,
      verifiedCacheSize: 10000,
      verifyCredentials: undefined,
      tenant: undefined,
      onEvent: undefined,
      loginThrottle: { limit: 10, window: 900 },
      refreshThrottle: { limit: 100, window: 900 },
    });
    expect(o.cookie).toEqual({ name: 'tessera', httpOnly: true, secure: 'auto', sameSite: 'lax', path: '/', domain: undefined, persistence: 'persistent' });
    expect(o.refreshCookie).toEqual({ name: 'tessera-refresh', httpOnly: true, secure: 'auto', sameSite: 'lax', path: '/auth', domain: undefined, persistence: 'persistent' });
    expect(Math.abs(o.clock() - Date.now() / 1000)).toBeLessThan(2);
  });

  it('the defaults are the declared ones', () => {
    const o = resolveOptions({});
    for (const e of TABLE) {
      if (e.type.kind === 'group') {
        if (e.type.off) expect([e.path, resolvedAt(o, e.path)]).toEqual([e.path, true]);
      }
      else if ('default' in e && e.type.kind !== 'function') expect([e.path, resolvedAt(o, e.path)]).toEqual([e.path, checkOption(e, e.default)]);
    }
  });

  it('refuses unknown options, at the top level and in each group', () => {
    expect(() => resolveOptions({ tll: 5 } as never)).toThrow(/^tll: unknown option/);
    expect(() => resolveOptions({ cookie: { nmae: 'x' } } as never)).toThrow(/^cookie.nmae: unknown option/);
    expect(() => resolveOptions({ refreshCookie: { httpOnly: false } } as never)).toThrow(/^refreshCookie.httpOnly: unknown option/);
    expect(() => resolveOptions({ refreshReuse: { max: 1 } } as never)).toThrow(/^refreshReuse.max: unknown option/);
    expect(() => resolveOptions({ routes: { prfix: '/a' } } as never)).toThrow(/^routes.prfix: unknown option/);
    expect(() => resolveOptions({ csrf: { trustedOrigin: [] } } as never)).toThrow(/^csrf.trustedOrigin: unknown option/);
    expect(() => resolveOptions(null as never)).toThrow(/^options: /);
  });

  it('checks each option, naming its path', () => {
    const bad: [unknown, string][] = [
      [{ secret: [] }, 'secret'],
      [{ secret: 42 }, 'secret'],
      [{ secret: [SECRET, 7] }, 'secret[1]'],
      [{ algorithm: 'none' }, 'algorithm'],
      [{ algorithm: 'RS256' }, 'algorithm'],
      [{ algorithm: 'hs256' }, 'algorithm'],
      [{ issuer: '' }, 'issuer'],
      [{ audience: 5 }, 'audience'],
      [{ ttl: 0 }, 'ttl'],
      [{ ttl: '7y' }, 'ttl'],
      [{ ttl: 1.5 }, 'ttl'],
      [{ refreshable: 'yes' }, 'refreshable'],
      [{ refreshBefore: '150%' }, 'refreshBefore'],
      [{ refreshBefore: '0%' }, 'refreshBefore'],
      [{ refreshBefore: 'soon' }, 'refreshBefore'],
      [{ mode: 'both' }, 'mode'],
      [{ accessTtl: -1 }, 'accessTtl'],
      [{ refreshTtl: '0' }, 'refreshTtl'],
      [{ refreshReuse: true }, 'refreshReuse'],
      [{ refreshReuse: { maxReuse: 1001 } }, 'refreshReuse.maxReuse'],
      [{ refreshReuse: { graceSeconds: 1.5 } }, 'refreshReuse.graceSeconds'],
      [{ idleTimeout: true }, 'idleTimeout'],
      [{ absoluteTimeout: '-5' }, 'absoluteTimeout'],
      [{ maxSessionsPerUser: true }, 'maxSessionsPerUser'],
      [{ maxSessionsPerUser: 1.5 }, 'maxSessionsPerUser'],
      [{ touchInterval: 'often' }, 'touchInterval'],
      [{ bindClientIp: true }, 'bindClientIp'],
      [{ bindClientIp: 'strict' }, 'bindClientIp'],
      [{ cookie: 'sid' }, 'cookie'],
      [{ cookie: [] }, 'cookie'],
      [{ cookie: { name: 'bad name' } }, 'cookie.name'],
      [{ cookie: { name: '' } }, 'cookie.name'],
      [{ cookie: { httpOnly: 1 } }, 'cookie.httpOnly'],
      [{ cookie: { secure: 'yes' } }, 'cookie.secure'],
      [{ cookie: { sameSite: 'sometimes' } }, 'cookie.sameSite'],
      [{ cookie: { path: 'auth' } }, 'cookie.path'],
      [{ cookie: { path: '/a;b' } }, 'cookie.path'],
      [{ cookie: { domain: 'a b' } }, 'cookie.domain'],
      [{ cookie: { persistence: 'forever' } }, 'cookie.persistence'],
      [{ refreshCookie: false }, 'refreshCookie'],
      [{ refreshCookie: { name: 'x=y' } }, 'refreshCookie.name'],
      [{ refreshCookie: { path: 'x' } }, 'refreshCookie.path'],
      [{ refreshCookie: { domain: ';' } }, 'refreshCookie.domain'],
      [{ refreshCookie: { sameSite: 'x' } }, 'refreshCookie.sameSite'],
      [{ refreshCookie: { persistence: 'x' } }, 'refreshCookie.persistence'],
      [{ keys: 'not a key' }, 'keys'],
      [{ algorithm: 'ES256', keys: ['-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIGw4kDKNfhHNaUdJPeoZZBz8l0qYgK8xA6tj0yuAMCAB\n-----END PRIVATE KEY-----\n'] }, 'keys'],
      [{ algorithm: 'RS256' }, 'algorithm'],
      [{ tokenInLoginBody: 'true' }, 'tokenInLoginBody'],
      [{ bearerSessions: 'api-only' }, 'bearerSessions'],
      [{ jobs: true }, 'jobs'],
      [{ jobs: { ttl: 0 } }, 'jobs.ttl'],
      [{ jobs: { ttl: '8d' } }, 'jobs.ttl'], // longer than the default maxTtl
      [{ jobs: { maxTtl: 'a week' } }, 'jobs.maxTtl'],
      [{ clockTolerance: -1 }, 'clockTolerance'],
      [{ store: {} }, 'store'],
      [{ storeTimeout: 0 }, 'storeTimeout'],
      [{ verifyCredentials: 'admin' }, 'verifyCredentials'],
      [{ safePassword: 'x'.repeat(31) }, 'safePassword'],
      [{ safePassword: ['y'.repeat(32), 'é'.repeat(20)] }, 'safePassword[1]'],
      [{ safePassword: [] }, 'safePassword'],
      [{ safePassword: 'a shared secret of 32 characters!', secret: 'a shared secret of 32 characters!' }, 'safePassword'],
      [{ tenant: {} }, 'tenant'],
      [{ onEvent: 1 }, 'onEvent'],
      [{ routes: '/auth' }, 'routes'],
      [{ routes: { prefix: 'auth' } }, 'routes.prefix'],
      [{ routes: { prefix: '/a;b' } }, 'routes.prefix'],
      [{ csrf: true }, 'csrf'],
      [{ csrf: { trustedOrigins: 'https://a.example' } }, 'csrf.trustedOrigins'],
      [{ csrf: { trustedOrigins: ['https://a.example/path'] } }, 'csrf.trustedOrigins'],
      [{ maxTokenBytes: 100 }, 'maxTokenBytes'],
      [{ verifiedCacheSize: -1 }, 'verifiedCacheSize'],
      [{ recordCacheSize: 1.5 }, 'recordCacheSize'],
      [{ recordCacheMaxStale: -1 }, 'recordCacheMaxStale'],
      [{ clock: 5 }, 'clock'],
      [{ freshAge: -1 }, 'freshAge'],
      [{ trustProxy: 'not-an-address' }, 'trustProxy'],
      [{ trustProxy: ['10.0.0.0/33'] }, 'trustProxy'],
      [{ trustProxy: -1 }, 'trustProxy'],
      [{ loginThrottle: true }, 'loginThrottle'],
      [{ loginThrottle: '10' }, 'loginThrottle'],
      [{ loginThrottle: '0/15m' }, 'loginThrottle'],
      [{ refreshThrottle: '10/forever' }, 'refreshThrottle'],
      [{ refreshThrottle: '10/31d' }, 'refreshThrottle'],
      [{ onReject: 'redirect' }, 'onReject'],
      [{ openStore: 'redis://x' }, 'openStore'],
      [{ logger: console.log }, 'logger'],
      [{ logger: { info() {} } }, 'logger'],
    ];
    for (const [options, path] of bad) {
      const err = errorOf(options);
      expect([options, err.option]).toEqual([options, path]);
      expect(err.message.startsWith(`${path}: `)).toBe(true);
    }
    // Every option of the table has at least one refusal above.
    const covered = new Set(bad.map(([, p]) => p.replace(/\[\d+\]$/, '')));
    expect(TABLE.map(e => e.path).filter(p => !covered.has(p))).toEqual([]);
    expect(errorOf({ store: {} }).message).toMatch(/^store: not a TokenStore/);
    expect(errorOf({ ttl: 0 }).message).toBe('ttl: must be at least 1 second');
  });

  it('trustProxy takes true, a hop count, or addresses and subnets (a list or comma-separated); logger takes false or info/warn/error', () => {
    expect(resolveOptions({}).trustProxy).toBeUndefined();
    expect(resolveOptions({ trustProxy: true }).trustProxy).toBe(true);
    expect(resolveOptions({ trustProxy: 2 }).trustProxy).toBe(2);
    expect(resolveOptions({ trustProxy: ['loopback', '10.0.0.0/8', '2001:db8::/32'] }).trustProxy).toEqual(['loopback', '10.0.0.0/8', '2001:db8::/32']);
    expect(resolveOptions({ trustProxy: '127.0.0.1, 10.0.0.0/8' as never }).trustProxy).toEqual(['127.0.0.1', '10.0.0.0/8']);
    const lines: unknown[] = [];
    const logger = { info: (o: object) => lines.push(o), warn() {}, error() {} };
    expect(resolveOptions({ logger }).logger).toBe(logger);
    expect(() => resolveOptions({ logger: false }).logger.error({}, 'x')).not.toThrow();
    expect(resolveOptions({}).freshAge).toBe(600);
    expect(resolveOptions({ freshAge: '5m' }).freshAge).toBe(300);
  });

  it('accepts the other forms each check allows', () => {
    expect(resolveOptions({ clockTolerance: 0 }).clockTolerance).toBe(0);
    expect(resolveOptions({ ttl: '2w', accessTtl: '15m' })).toMatchObject({ ttl: 1209600, accessTtl: 900, refreshTtl: 1209600 });
    expect(resolveOptions({ refreshBefore: '1h' }).refreshBefore).toEqual({ seconds: 3600 });
    expect(resolveOptions({ refreshBefore: ' 12.5 % ' }).refreshBefore).toEqual({ share: 0.125 });
    expect(resolveOptions({ idleTimeout: '30m' })).toMatchObject({ idleTimeout: 1800, touchInterval: 60 });
    expect(resolveOptions({ idleTimeout: 300 }).touchInterval).toBe(30);
    expect(resolveOptions({ idleTimeout: 5 }).touchInterval).toBe(1);
    expect(resolveOptions({ idleTimeout: 300, touchInterval: 0 }).touchInterval).toBe(0);
    expect(resolveOptions({ idleTimeout: false, absoluteTimeout: 0 })).toMatchObject({ idleTimeout: 0, absoluteTimeout: 0 });
    expect(resolveOptions({ bindClientIp: 'subnet' }).bindClientIp).toBe('subnet');
    expect(resolveOptions({ cookie: { sameSite: 'Strict' } }).cookie.sameSite).toBe('strict');
    expect(resolveOptions({ secret: SECRET }).secrets).toEqual([SECRET]);
    expect(resolveOptions({ secret: [SECRET, `${SECRET}-old`] }).secrets).toEqual([SECRET, `${SECRET}-old`]);
    expect(resolveOptions({ refreshReuse: false }).refreshReuse).toBeUndefined();
    expect(resolveOptions({ refreshReuse: { maxReuse: 0 } }).refreshReuse).toEqual({ maxReuse: 0, graceSeconds: 10 });
    expect(resolveOptions({ csrf: false }).csrf).toBe(false);
    expect(resolveOptions({ csrf: { trustedOrigins: ['https://App.Example.com'] } }).csrf).toEqual({ trustedOrigins: new Set(['https://app.example.com']) });
    expect(resolveOptions({ routes: { prefix: '/api/auth/' } }).prefix).toBe('/api/auth');
    expect(resolveOptions({ loginThrottle: false, refreshThrottle: false })).toMatchObject({ loginThrottle: false, refreshThrottle: false });
    expect(resolveOptions({ loginThrottle: ' 3 / 30s ', refreshThrottle: '5/600' })).toMatchObject({ loginThrottle: { limit: 3, window: 30 }, refreshThrottle: { limit: 5, window: 600 } });
    const verify = () => null;
    expect(resolveOptions({ verifyCredentials: verify }).verifyCredentials).toBe(verify);
    const store = new MemoryStore();
    expect(() => resolveOptions({ store })).not.toThrow();
  });

  it('never echoes a secret', () => {
    const short = 'hunter2-hunter2-hunter2';
    for (const secret of [short, [SECRET, short]]) {
      const err = errorOf({ secret });
      expect(err.message).toMatch(/too short \(23 bytes\)/);
      expect(err.message).not.toContain('hunter2');
    }
    // A long string in the wrong place is described, not quoted.
    expect(errorOf({ mode: SECRET }).message).not.toContain(SECRET);
  });

  it('safePassword: at least 32 characters (not bytes), a keyring as a list, never echoed, never the secret', () => {
    const short = 'hunter2-hunter2-hunter2-hunter2'; // 31 characters
    for (const safePassword of [short, ['p'.repeat(32), short]]) {
      const err = errorOf({ safePassword });
      expect(err.message).toMatch(/too short \(31 characters\); use at least 32 characters/);
      expect(err.message).not.toContain('hunter2');
    }
    expect(errorOf({ safePassword: 'ü'.repeat(31) }).message).toMatch(/31 characters/); // 62 bytes, still too short
    expect(resolveOptions({}).safePasswords).toBeUndefined();
    expect(resolveOptions({ safePassword: 'p'.repeat(32) }).safePasswords).toEqual(['p'.repeat(32)]);
    expect(resolveOptions({ safePassword: ['n'.repeat(40), 'o'.repeat(32)] }).safePasswords).toEqual(['n'.repeat(40), 'o'.repeat(32)]);
    const err = errorOf({ secret: [SECRET, 'q'.repeat(32)], safePassword: 'q'.repeat(32) });
    expect(err.message).toBe('safePassword: must differ from secret');
  });

  it('storeTimeout is a duration in seconds that also takes milliseconds', () => {
    const t = (storeTimeout: TesseraOptions['storeTimeout']) => resolveOptions({ storeTimeout }).storeTimeout;
    expect(t(undefined)).toBe(2);
    expect(t(5)).toBe(5);
    expect(t('5')).toBe(5);
    expect(t('2s')).toBe(2);
    expect(t('1m')).toBe(60);
    expect(t('500ms')).toBe(0.5);
    expect(t('1ms')).toBe(0.001);
    expect(t('1500ms')).toBe(1.5);
    expect(t(0.25)).toBe(0.25);
    expect(t(600)).toBe(600);
    for (const bad of [0, '0ms', '0', 601, '11m', '600001ms', '1.5', 0.0005, -1, 'fast']) {
      expect(() => t(bad as never)).toThrow(/^storeTimeout: /);
    }
    expect(errorOf({ storeTimeout: '0ms' }).message).toBe('storeTimeout: must be at least 1ms');
    expect(errorOf({ storeTimeout: 601 }).message).toBe('storeTimeout: must be at most 600 seconds');
    // Other durations keep whole seconds.
    expect(() => resolveOptions({ ttl: '500ms' })).toThrow(/^ttl: /);
    expect(() => resolveOptions({ clockTolerance: 0.5 })).toThrow(/^clockTolerance: /);
  });

  it('cross-field rules', () => {
    expect(() => resolveOptions({ mode: 'pair', accessTtl: 100, refreshTtl: 10 })).toThrow(/^refreshTtl: must not be shorter than accessTtl/);
    expect(() => resolveOptions({ mode: 'pair', ttl: 60, accessTtl: 300 })).toThrow(/^refreshTtl: /);
    expect(() => resolveOptions({ mode: 'sliding', accessTtl: 100, refreshTtl: 10 })).not.toThrow();
    expect(() => resolveOptions({ cookie: { sameSite: 'none' } })).toThrow(/^cookie.sameSite: "none" requires secure: true/);
    expect(() => resolveOptions({ cookie: { sameSite: 'none', secure: true } })).not.toThrow();
    expect(() => resolveOptions({ refreshCookie: { sameSite: 'none' } })).toThrow(/^refreshCookie.sameSite: /);
    expect(() => resolveOptions({ cookie: { name: '__Host-x', secure: 'auto' } })).toThrow(/^cookie.name: __Host- cookies need/);
    expect(() => resolveOptions({ cookie: { name: '__Host-x', secure: true, path: '/app' } })).toThrow(/^cookie.name: /);
    expect(() => resolveOptions({ cookie: { name: '__Host-x', secure: true, domain: 'example.com' } })).toThrow(/^cookie.name: /);
    expect(() => resolveOptions({ cookie: { name: '__Secure-x' } })).toThrow(/^cookie.name: __Secure- cookies need secure: true/);
    expect(() => resolveOptions({ refreshCookie: { name: '__Host-r', path: '/' } })).toThrow(/^refreshCookie.name: /);
    expect(() => resolveOptions({ refreshCookie: { name: 'tessera' } })).toThrow(/^refreshCookie.name: must differ from cookie.name/);
    expect(() => resolveOptions({ cookie: { name: 'sid' }, refreshCookie: { name: 'sid' } })).toThrow(/^refreshCookie.name: /);
  });

  it('fixed cookie names: tessera and <cookie.name>-refresh, keeping the __Host-/__Secure- derivation', () => {
    const names = (o: TesseraOptions) => {
      const r = resolveOptions(o);
      return [r.cookie.name, r.refreshCookie.name];
    };
    expect(names({})).toEqual(['tessera', 'tessera-refresh']);
    expect(names({ cookie: { name: 'sid' } })).toEqual(['sid', 'sid-refresh']);
    expect(names({ cookie: { name: 'sid' }, refreshCookie: { name: 'rt' } })).toEqual(['sid', 'rt']);
    // __Host- needs path "/" and no domain: the refresh cookie (path /auth) becomes __Secure-.
    expect(names({ cookie: { name: '__Host-sid', secure: true } })).toEqual(['__Host-sid', '__Secure-sid-refresh']);
    expect(names({ cookie: { name: '__Host-sid', secure: true }, refreshCookie: { path: '/' } })).toEqual(['__Host-sid', '__Host-sid-refresh']);
    expect(names({ cookie: { name: '__Host-sid', secure: true }, routes: { prefix: '/' } })).toEqual(['__Host-sid', '__Host-sid-refresh']);
    expect(names({ cookie: { name: '__Host-sid', secure: true }, refreshCookie: { path: '/', domain: 'example.com' } })).toEqual(['__Host-sid', '__Secure-sid-refresh']);
    expect(names({ cookie: { name: '__Secure-sid', secure: true } })).toEqual(['__Secure-sid', '__Secure-sid-refresh']);
  });

  it('the refresh cookie follows the access cookie and the routes prefix unless set', () => {
    const r = resolveOptions({
      cookie: { secure: true, sameSite: 'strict', domain: 'example.com', persistence: 'session', httpOnly: false, path: '/app' },
      routes: { prefix: '/api/auth/' },
    });
    expect(r.refreshCookie).toEqual({ name: 'tessera-refresh', httpOnly: true, secure: true, sameSite: 'strict', path: '/api/auth', domain: 'example.com', persistence: 'session' });
    const s = resolveOptions({ cookie: { sameSite: 'strict' }, refreshCookie: { path: '/', sameSite: 'lax', persistence: 'session', domain: 'auth.example.com' } });
    expect(s.refreshCookie).toMatchObject({ path: '/', sameSite: 'lax', persistence: 'session', domain: 'auth.example.com' });
    expect(resolveOptions({ routes: { prefix: '/' } }).refreshCookie.path).toBe('/');
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
    expect(parseDuration(' 15M ')).toBe(900);
    expect(parseDuration('12h')).toBe(43200);
    expect(parseDuration('7d')).toBe(604800);
    expect(parseDuration('2w')).toBe(1209600);
    for (const bad of ['', '1.5', '-1', '5y', 'abc', '500ms', 1.5, -3, NaN, Infinity, null, {}]) expect(parseDuration(bad)).toBeNull();
  });

  it('parses milliseconds only when asked to', () => {
    const ms = { ms: true };
    expect(parseDuration('500ms', ms)).toBe(0.5);
    expect(parseDuration('500MS', ms)).toBe(0.5);
    expect(parseDuration('2000ms', ms)).toBe(2);
    expect(parseDuration('0ms', ms)).toBe(0);
    expect(parseDuration('2s', ms)).toBe(2);
    expect(parseDuration(2, ms)).toBe(2);
    expect(parseDuration(0.25, ms)).toBe(0.25);
    expect(parseDuration(0.1 + 0.2, ms)).toBe(0.3);
    for (const bad of ['1.5', '1.5s', '-1ms', '5msec', 0.0005, -0.5, NaN, Infinity, null]) expect(parseDuration(bad, ms)).toBeNull();
  });
});

describe('the option table', () => {
  it('declares each path once, under a declared group', () => {
    const paths = TABLE.map(e => e.path);
    expect(new Set(paths).size).toBe(paths.length);
    for (const p of paths.filter(p => p.includes('.'))) {
      const parent = TABLE.find(e => e.path === p.slice(0, p.lastIndexOf('.')));
      expect([p, parent?.type.kind]).toEqual([p, 'group']);
    }
  });

  it('names each variable TESSERA_ + the path in upper snake case; code-only options have none', () => {
    expect(envName('cookie.httpOnly')).toBe('TESSERA_COOKIE_HTTP_ONLY');
    expect(envName('refreshReuse.maxReuse')).toBe('TESSERA_REFRESH_REUSE_MAX_REUSE');
    expect(envName('refreshCookie.sameSite')).toBe('TESSERA_REFRESH_COOKIE_SAME_SITE');
    for (const e of TABLE) expect([e.path, e.env]).toEqual([e.path, e.env === undefined ? undefined : envName(e.path)]);
    const codeOnly = TABLE.filter(e => e.env === undefined).map(e => e.path);
    expect(codeOnly).toEqual(['cookie', 'refreshCookie', 'store', 'verifyCredentials', 'tenant', 'onEvent', 'onReject', 'logger', 'openStore', 'routes', 'clock']);
    const envs = TABLE.flatMap(e => (e.env ? [e.env] : []));
    expect(new Set(envs).size).toBe(envs.length);
  });

  it('documents every option, with a default line and a unit for durations', () => {
    for (const e of TABLE) {
      if (e.type.kind !== 'group') expect([e.path, typeof e.doc, e.defaultDoc.length > 0]).toEqual([e.path, 'string', true]);
      if (e.type.kind === 'duration') expect([e.path, e.unit]).toEqual([e.path, 'seconds']);
      if (e.type.kind === 'function' || e.type.kind === 'store') expect([e.path, e.env]).toEqual([e.path, undefined]);
    }
  });
});
