/** TESSERA_SAFE_PASSWORD: derived from the option table like TESSERA_SECRET (comma-separated for a keyring), refused by name, never echoed. */
import { describe, expect, it } from '@jest/globals';
import { resolveOptions } from '@tessera/core/options';
import { optionsFromEnv } from '../src/index.js';

const PW = 'config-safe-password-0123456789-abcdefgh';
const OLD = 'config-safe-password-old-9876543210-zyxw';

function messageOf(env: Record<string, string>): string {
  try {
    optionsFromEnv(env);
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
}

describe('optionsFromEnv: TESSERA_SAFE_PASSWORD', () => {
  it('one password, or a keyring comma-separated (the first seals)', () => {
    expect(optionsFromEnv({ TESSERA_SAFE_PASSWORD: PW }).options).toEqual({ safePassword: PW });
    const { options } = optionsFromEnv({ TESSERA_SAFE_PASSWORD: ` ${PW} , ${OLD} ` });
    expect(options).toEqual({ safePassword: [PW, OLD] });
    expect(resolveOptions(options).safePasswords).toEqual([PW, OLD]);
    expect(resolveOptions(optionsFromEnv({}).options).safePasswords).toBeUndefined();
  });

  it('a bad value stops start-up naming the variable, never echoing it', () => {
    const short = 'hunter2-hunter2-hunter2';
    for (const value of [short, `${PW},${short}`]) {
      const message = messageOf({ TESSERA_SAFE_PASSWORD: value });
      expect(message).toMatch(/^TESSERA_SAFE_PASSWORD: too short \(23 characters\); use at least 32 characters/);
      expect(message).not.toContain('hunter2');
    }
    expect(messageOf({ TESSERA_SAFE_PASSWORD: ' , ' })).toMatch(/^TESSERA_SAFE_PASSWORD: must not be empty/);
    const same = messageOf({ TESSERA_SECRET: PW, TESSERA_SAFE_PASSWORD: PW });
    expect(same).toBe('TESSERA_SAFE_PASSWORD: must differ from secret');
  });
});
