import { describe, expect, it } from '@jest/globals';
import { ConfigError, optionsFromEnv, parseTokenExpiration, resolveOptions } from '../src/index.js';
import { SECRET } from './helpers.js';

describe('optionsFromEnv', () => {
  it('maps TESSERA_* variables to options, with durations in seconds or 30s/15m/7d', () => {
    const { options, storeUrl, unknown } = optionsFromEnv({
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
    });
    expect(storeUrl).toBe('redis://127.0.0.1:6379');
    expect(unknown).toEqual(['TESSERA_TYPO']);
    expect(resolveOptions(options).refreshBefore).toEqual({ share: 0.25 });
  });

  it('a bad value stops start-up with a message naming the variable', () => {
    const bad: Record<string, string>[] = [
      { TESSERA_TTL: 'forever' },
      { TESSERA_MODE: 'both' },
      { TESSERA_COOKIE_SECURE: 'maybe' },
      { TESSERA_COOKIE_HTTP_ONLY: 'sometimes' },
      { TESSERA_IDLE_TIMEOUT: '-5' },
      { TESSERA_STORE_TIMEOUT: '1.5' },
    ];
    for (const env of bad) {
      const name = Object.keys(env)[0]!;
      expect(() => optionsFromEnv(env)).toThrow(ConfigError);
      expect(() => optionsFromEnv(env)).toThrow(new RegExp(`^${name}: `));
    }
  });

  it('cross-field problems are reported against the variable that caused them', () => {
    expect(() => optionsFromEnv({ TESSERA_COOKIE_SAME_SITE: 'none' })).toThrow(/^TESSERA_COOKIE_SAME_SITE: /);
    expect(() => optionsFromEnv({ TESSERA_MODE: 'pair', TESSERA_ACCESS_TTL: '100', TESSERA_REFRESH_TTL: '10' })).toThrow(/^TESSERA_REFRESH_TTL: /);
  });

  it('a short secret is refused by name, never echoed', () => {
    let message = '';
    try {
      optionsFromEnv({ TESSERA_SECRET: 'hunter2-hunter2' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^TESSERA_SECRET: /);
    expect(message).not.toContain('hunter2');
    // a comma-separated keyring
    expect(optionsFromEnv({ TESSERA_SECRET: `${SECRET},${SECRET}-old` }).options.secret).toEqual([SECRET, `${SECRET}-old`]);
  });

  it('TESSERA_TOKEN_EXPIRATION_SECONDS takes a plain ttl or the gateway form accessToken:60,refreshToken:3600', () => {
    expect(optionsFromEnv({ TESSERA_TOKEN_EXPIRATION_SECONDS: 'accessToken:60,refreshToken:3600' }).options).toEqual({ accessTtl: 60, refreshTtl: 3600 });
    expect(optionsFromEnv({ TESSERA_TOKEN_EXPIRATION_SECONDS: '86400' }).options).toEqual({ ttl: 86400 });
    expect(parseTokenExpiration('X', ' refreshToken:7d , accessToken:5m ')).toEqual({ refreshTtl: 604800, accessTtl: 300 });
    for (const bad of ['accessToken:', 'idToken:60', 'accessToken:60:1', 'abc']) {
      expect(() => optionsFromEnv({ TESSERA_TOKEN_EXPIRATION_SECONDS: bad })).toThrow(/^TESSERA_TOKEN_EXPIRATION_SECONDS: /);
    }
  });
});
