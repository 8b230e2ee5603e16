import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { ConfigError, OPTION_TABLE, resolveOptions, type OptionEntry, type OptionType, type TesseraOptions } from '@tessera/core/options';
import { optionsFromEnv, parseTokenExpiration } from '../src/index.js';
import { ENV_EXTRAS } from '../src/env-table.js';

const SECRET = 'config-test-secret-0123456789-abcdefghijklmnop';
const ED25519_PEM = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;

describe('optionsFromEnv', () => {
  it('maps TESSERA_* variables to options, with durations in seconds or 30s/15m/7d', () => {
    const { options, storeUrl, trustProxy, unknown } = optionsFromEnv({
      TESSERA_SECRET: SECRET,
      TESSERA_MODE: 'pair',
      TESSERA_TTL: '7d',
      TESSERA_ACCESS_TTL: '15m',
      TESSERA_REFRESH_TTL: '3600',
      TESSERA_IDLE_TIMEOUT: '30m',
      TESSERA_COOKIE_NAME: 'sid',
      TESSERA_COOKIE_SECURE: 'auto',
      TESSERA_COOKIE_HTTP_ONLY: 'false',
      TESSERA_COOKIE_PERSISTENCE: 'session',
      TESSERA_REFRESH_BEFORE: '25%',
      TESSERA_STORE: 'redis://127.0.0.1:6379',
      TESSERA_TRUST_PROXY: '1',
      TESSERA_TYPO: 'x',
      OTHER: 'ignored',
    });
    expect(options).toEqual({
      secret: SECRET,
      mode: 'pair',
      ttl: 604800,
      accessTtl: 900,
      refreshTtl: 3600,
      idleTimeout: 1800,
      refreshBefore: '25%',
      cookie: { name: 'sid', secure: 'auto', httpOnly: false, persistence: 'session' },
      trustProxy: 1,
    });
    expect(storeUrl).toBe('redis://127.0.0.1:6379');
    expect(trustProxy).toBe('1');
    expect(unknown).toEqual(['TESSERA_TYPO']);
    expect(resolveOptions(options).refreshBefore).toEqual({ share: 0.25 });
  });

  it('reads TESSERA_TRUST_PROXY as Express does: a hop count, true/false, or addresses', () => {
    const t = (v: string) => optionsFromEnv({ TESSERA_TRUST_PROXY: v }).options.trustProxy;
    expect([t('2'), t('true'), t('off'), t('127.0.0.1,10.0.0.0/8')]).toEqual([2, true, false, ['127.0.0.1', '10.0.0.0/8']]);
    expect(() => optionsFromEnv({ TESSERA_TRUST_PROXY: 'proxy.example' })).toThrow(/^TESSERA_TRUST_PROXY: not an IP address/);
  });

  it('reads the variables the option table adds', () => {
    const { options, unknown } = optionsFromEnv({
      TESSERA_REFRESH_COOKIE_PERSISTENCE: 'session',
      TESSERA_REFRESH_COOKIE_SAME_SITE: 'Strict',
      TESSERA_MAX_TOKEN_BYTES: '8192',
      TESSERA_VERIFIED_CACHE_SIZE: '0',
      TESSERA_CSRF_TRUSTED_ORIGINS: 'https://a.example, https://b.example',
      TESSERA_REFRESH_REUSE: 'off',
      TESSERA_STORE_TIMEOUT: '500ms',
      TESSERA_BIND_CLIENT_IP: 'off',
    });
    expect(unknown).toEqual([]);
    expect(options).toEqual({
      refreshCookie: { persistence: 'session', sameSite: 'strict' },
      maxTokenBytes: 8192,
      verifiedCacheSize: 0,
      csrf: { trustedOrigins: ['https://a.example', 'https://b.example'] },
      refreshReuse: false,
      storeTimeout: 0.5,
      bindClientIp: false,
    });
    const r = resolveOptions(options);
    expect(r.refreshCookie).toMatchObject({ persistence: 'session', sameSite: 'strict' });
    expect(r.storeTimeout).toBe(0.5);
    expect(optionsFromEnv({ TESSERA_CSRF: 'false' }).options).toEqual({ csrf: false });
    expect(optionsFromEnv({ TESSERA_STORE_TIMEOUT: '3' }).options).toEqual({ storeTimeout: 3 });
  });

  it('has a variable for every option of the table that is not code-only', () => {
    const sample = (t: OptionType, path: string): [string, unknown] => {
      switch (t.kind) {
        case 'group':
          return ['off', false];
        case 'boolean':
          return ['false', false];
        case 'booleanOrAuto':
          return ['true', true];
        case 'integer':
          return [String(t.max), t.max];
        case 'duration':
          return ['2m', 120];
        case 'window':
          return ['30s', 30];
        case 'enum':
          return [t.values[0]!.toUpperCase(), t.values[0]];
        case 'secrets':
          return [SECRET, SECRET];
        case 'list':
          return ['https://a.example', ['https://a.example']];
        case 'trustProxy':
          return ['loopback, 10.0.0.0/8', ['loopback', '10.0.0.0/8']];
        case 'rate':
          return ['5/1m', '5/1m'];
        case 'keys':
          return [ED25519_PEM, ED25519_PEM.trim()];
        default:
          return /(path|prefix)$/i.test(path) ? ['/x', '/x'] : ['x', 'x'];
      }
    };
    const table = OPTION_TABLE as readonly OptionEntry[];
    for (const e of table.filter(e => e.env !== undefined)) {
      const [raw, value] = sample(e.type, e.path);
      // Keys only go with an asymmetric algorithm; a job-token maximum is not below the default ttl.
      const context = e.type.kind === 'keys' ? { TESSERA_ALGORITHM: 'EdDSA' } : e.path === 'jobs.maxTtl' ? { TESSERA_JOBS_TTL: '1m' } : {};
      let v: unknown = optionsFromEnv({ [e.env!]: raw, ...context }).options;
      for (const p of e.path.split('.')) v = (v as Record<string, unknown>)[p];
      expect([e.env, v]).toEqual([e.env, value]);
    }
    const names = table.flatMap(e => (e.env ? [e.env] : []));
    for (const x of ENV_EXTRAS) expect(names).not.toContain(x.name);
  });

  it('reads TESSERA_LOGIN_THROTTLE and TESSERA_REFRESH_THROTTLE as failures per window, or off', () => {
    const { options } = optionsFromEnv({ TESSERA_LOGIN_THROTTLE: ' 5 / 2m ', TESSERA_REFRESH_THROTTLE: 'off' });
    expect(options).toEqual({ loginThrottle: '5 / 2m', refreshThrottle: false });
    const r = resolveOptions(options);
    expect(r.loginThrottle).toEqual({ limit: 5, window: 120 });
    expect(r.refreshThrottle).toBe(false);
    expect(resolveOptions({}).loginThrottle).toEqual({ limit: 10, window: 900 });
    expect(resolveOptions({}).refreshThrottle).toEqual({ limit: 100, window: 900 });
    expect(() => optionsFromEnv({ TESSERA_LOGIN_THROTTLE: 'lots' })).toThrow(/^TESSERA_LOGIN_THROTTLE: expected failures per window like 10\/15m/);
  });

  it('merges over base without changing it', () => {
    const base: TesseraOptions = { cookie: { name: 'app', sameSite: 'strict' }, csrf: { trustedOrigins: ['https://a.example'] }, ttl: 60 };
    const copy = structuredClone(base);
    const { options } = optionsFromEnv({ TESSERA_COOKIE_NAME: 'env', TESSERA_TTL: '120', TESSERA_CSRF: 'true' }, base);
    expect(options).toEqual({ cookie: { name: 'env', sameSite: 'strict' }, csrf: { trustedOrigins: ['https://a.example'] }, ttl: 120 });
    expect(base).toEqual(copy);
    expect(optionsFromEnv({ TESSERA_CSRF: 'on' }, { csrf: false }).options).toEqual({ csrf: {} });
  });

  it('a bad value stops start-up with a message naming the variable', () => {
    const bad: Record<string, string>[] = [
      { TESSERA_TTL: 'forever' },
      { TESSERA_TTL: '0' },
      { TESSERA_TTL: '500ms' },
      { TESSERA_MODE: 'both' },
      { TESSERA_COOKIE_SECURE: 'maybe' },
      { TESSERA_COOKIE_HTTP_ONLY: 'sometimes' },
      { TESSERA_COOKIE_NAME: '' },
      { TESSERA_COOKIE_NAME: 'bad name' },
      { TESSERA_IDLE_TIMEOUT: '-5' },
      { TESSERA_STORE_TIMEOUT: '1.5' },
      { TESSERA_STORE_TIMEOUT: '0ms' },
      { TESSERA_STORE_TIMEOUT: '11m' },
      { TESSERA_MAX_TOKEN_BYTES: '10' },
      { TESSERA_REFRESH_REUSE_MAX_REUSE: '-1' },
      { TESSERA_REFRESH_COOKIE_SAME_SITE: 'sometimes' },
      { TESSERA_CSRF_TRUSTED_ORIGINS: 'app.example.com' },
      { TESSERA_CSRF_TRUSTED_ORIGINS: ' , ' },
      { TESSERA_REFRESH_REUSE: 'maybe' },
      { TESSERA_ROUTES_PREFIX: 'auth' },
      { TESSERA_REFRESH_BEFORE: '150%' },
      { TESSERA_LOGIN_THROTTLE: '10' },
      { TESSERA_LOGIN_THROTTLE: '10/forever' },
      { TESSERA_LOGIN_THROTTLE: '0/15m' },
      { TESSERA_REFRESH_THROTTLE: '10/60d' },
    ];
    for (const env of bad) {
      const name = Object.keys(env)[0]!;
      expect(() => optionsFromEnv(env)).toThrow(ConfigError);
      expect(() => optionsFromEnv(env)).toThrow(new RegExp(`^${name}: `));
    }
  });

  it('cross-field problems are reported against the variable that caused them', () => {
    expect(() => optionsFromEnv({ TESSERA_COOKIE_SAME_SITE: 'none' })).toThrow(/^TESSERA_COOKIE_SAME_SITE: /);
    expect(() => optionsFromEnv({ TESSERA_REFRESH_COOKIE_SAME_SITE: 'none' })).toThrow(/^TESSERA_REFRESH_COOKIE_SAME_SITE: /);
    expect(() => optionsFromEnv({ TESSERA_MODE: 'pair', TESSERA_ACCESS_TTL: '100', TESSERA_REFRESH_TTL: '10' })).toThrow(/^TESSERA_REFRESH_TTL: /);
    expect(() => optionsFromEnv({ TESSERA_COOKIE_NAME: '__Host-sid' })).toThrow(/^TESSERA_COOKIE_NAME: __Host- cookies need/);
    // An option under a group that another variable turned off.
    expect(() => optionsFromEnv({ TESSERA_CSRF: 'off', TESSERA_CSRF_TRUSTED_ORIGINS: 'https://a.example' })).toThrow(/^TESSERA_CSRF_TRUSTED_ORIGINS: csrf is turned off/);
    expect(() => optionsFromEnv({ TESSERA_REFRESH_REUSE_MAX_REUSE: '3' }, { refreshReuse: false })).toThrow(/^TESSERA_REFRESH_REUSE_MAX_REUSE: /);
  });

  it('a short secret is refused by name, never echoed', () => {
    for (const value of ['hunter2-hunter2', `${SECRET},hunter2-hunter2`]) {
      let message = '';
      try {
        optionsFromEnv({ TESSERA_SECRET: value });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/^TESSERA_SECRET: too short/);
      expect(message).not.toContain('hunter2');
    }
    // a comma-separated keyring
    expect(optionsFromEnv({ TESSERA_SECRET: `${SECRET},${SECRET}-old` }).options.secret).toEqual([SECRET, `${SECRET}-old`]);
    expect(() => optionsFromEnv({ TESSERA_SECRET: ' , ' })).toThrow(/^TESSERA_SECRET: must not be empty/);
  });

  it('TESSERA_TOKEN_EXPIRATION_SECONDS takes a plain ttl or the gateway form accessToken:60,refreshToken:3600', () => {
    expect(optionsFromEnv({ TESSERA_TOKEN_EXPIRATION_SECONDS: 'accessToken:60,refreshToken:3600' }).options).toEqual({ accessTtl: 60, refreshTtl: 3600 });
    expect(optionsFromEnv({ TESSERA_TOKEN_EXPIRATION_SECONDS: '86400' }).options).toEqual({ ttl: 86400 });
    expect(parseTokenExpiration('X', ' refreshToken:7d , accessToken:5m ')).toEqual({ refreshTtl: 604800, accessTtl: 300 });
    for (const bad of ['accessToken:', 'idToken:60', 'accessToken:60:1', 'abc']) {
      expect(() => optionsFromEnv({ TESSERA_TOKEN_EXPIRATION_SECONDS: bad })).toThrow(/^TESSERA_TOKEN_EXPIRATION_SECONDS: /);
    }
    expect(() => optionsFromEnv({ TESSERA_MODE: 'pair', TESSERA_TOKEN_EXPIRATION_SECONDS: 'accessToken:600,refreshToken:60' })).toThrow(
      /^TESSERA_TOKEN_EXPIRATION_SECONDS: must not be shorter than accessTtl/,
    );
  });
});
