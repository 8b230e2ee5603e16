/** The environment forms of `maxSessionsPerUser` (an integer that can be off) and `bearerSessions`. */
import { describe, expect, it } from '@jest/globals';
import { resolveOptions } from '@tessera/core/options';
import { optionsFromEnv } from '../src/index.js';

describe('optionsFromEnv: maxSessionsPerUser and bearerSessions', () => {
  it('TESSERA_MAX_SESSIONS_PER_USER takes a whole number, or off / false / 0', () => {
    expect(optionsFromEnv({ TESSERA_MAX_SESSIONS_PER_USER: '3' }).options).toEqual({ maxSessionsPerUser: 3 });
    for (const off of ['off', 'false', 'OFF', '0']) {
      const { options } = optionsFromEnv({ TESSERA_MAX_SESSIONS_PER_USER: off });
      expect(options).toEqual({ maxSessionsPerUser: false });
      expect(resolveOptions(options).maxSessionsPerUser).toBe(0);
    }
    expect(() => optionsFromEnv({ TESSERA_MAX_SESSIONS_PER_USER: 'many' })).toThrow(/^TESSERA_MAX_SESSIONS_PER_USER: /);
  });

  it('TESSERA_BEARER_SESSIONS is a boolean', () => {
    expect(optionsFromEnv({ TESSERA_BEARER_SESSIONS: 'false' }).options).toEqual({ bearerSessions: false });
  });
});
