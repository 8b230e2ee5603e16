import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ConfigError } from '@tessera/core/options';
import { optionsFromEnv } from '../src/index.js';

const ed = () => generateKeyPairSync('ed25519').privateKey;
const pkcs8 = (k: KeyObject) => k.export({ format: 'pem', type: 'pkcs8' }) as string;
const bodyOf = (pem: string) => pem.split('\n')[1]!;

describe('signing keys from the environment', () => {
  it('from the environment: TESSERA_ALGORITHM and TESSERA_KEYS (PEM, escaped, JSON); a bad key names the variable only', () => {
    const k = ed();
    expect(optionsFromEnv({ TESSERA_ALGORITHM: 'es256' }).options.algorithm).toBe('ES256');
    expect(optionsFromEnv({ TESSERA_ALGORITHM: 'EdDSA', TESSERA_KEYS: pkcs8(k) }).options.keys).toBe(pkcs8(k).trim());
    expect(() => optionsFromEnv({ TESSERA_ALGORITHM: 'EdDSA', TESSERA_KEYS: pkcs8(k).replace(/\n/g, '\\n') })).not.toThrow();
    const set = JSON.stringify({ keys: [k.export({ format: 'jwk' })] });
    expect(() => optionsFromEnv({ TESSERA_ALGORITHM: 'EdDSA', TESSERA_KEYS: set })).not.toThrow();
    let err: unknown;
    try {
      optionsFromEnv({ TESSERA_ALGORITHM: 'ES256', TESSERA_KEYS: pkcs8(k) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).option).toBe('TESSERA_KEYS');
    expect((err as Error).message).not.toContain(bodyOf(pkcs8(k)));
  });
});
