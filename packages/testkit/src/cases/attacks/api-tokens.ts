/** API-token abuse: secrets of the wrong length or value under the right prefix, ids of other records, the token in the wrong place, revoked tokens. */
import { expect } from '@jest/globals';
import { USERS } from '../../fixtures.js';
import { type Attack, ACCESS, expectAlice, expectRefusal, genuine, lastReason, me } from './harness.js';
import type { SuiteContext } from '../../adapter-suite.js';
import { sessionIdOf } from '@tessera/core';

async function withApiToken(ctx: SuiteContext) {
  const app = await ctx.app();
  const created = await app.core.createApiToken({ user: USERS.alice!.user });
  const [, id, secret] = /^tsr_([^.]+)\.(.+)$/.exec(created.token)!;
  const bearer = (token: string) => app.http().get('/api/me').set('Authorization', `Bearer ${token}`);
  await expectAlice(await bearer(created.token));
  return { app, token: created.token, id: id!, secret: secret!, bearer };
}

/** A character of the base64url alphabet other than `c`. */
const other = (c: string) => (c === 'A' ? 'B' : 'A');

export const API_TOKEN_ATTACKS: Attack[] = [
  {
    id: 'A106',
    title: 'an API token with the right prefix and id but a secret of the wrong length, or extra segments, is refused',
    async run(ctx) {
      const { app, token, id, secret, bearer } = await withApiToken(ctx);
      for (const t of [`tsr_${id}.${secret.slice(0, 31)}`, `tsr_${id}.${secret}${'A'.repeat(129 - secret.length)}`, `tsr_${id}.`, `tsr_${id}`, `tsr_.${secret}`, `tsr_${id}.${secret}.x`, `tsr_${id}.${secret}=`]) {
        expectRefusal(await bearer(t), 'TOKEN_INVALID', 'none', [secret]);
        expect(lastReason(app)).toBe('api-malformed');
      }
      await expectAlice(await bearer(token));
    },
  },
  {
    id: 'A107',
    title: 'an API token of the right shape with one secret character changed is refused (compared by hash), and the real one still works',
    async run(ctx) {
      const { app, token, id, secret, bearer } = await withApiToken(ctx);
      for (const i of [0, Math.floor(secret.length / 2), secret.length - 1]) {
        const forged = `tsr_${id}.${secret.slice(0, i)}${other(secret[i]!)}${secret.slice(i + 1)}`;
        expectRefusal(await bearer(forged), 'TOKEN_INVALID', 'none', [secret]);
        expect(lastReason(app)).toBe('api-unknown');
      }
      await expectAlice(await bearer(token));
    },
  },
  {
    id: 'A108',
    title: 'the `tsr_`/`tsj_` prefixes naming a record of another kind (a session id, an API token as a job token) are refused',
    async run(ctx) {
      const { app, id, secret, bearer } = await withApiToken(ctx);
      const login = await genuine(app);
      const sid = sessionIdOf(login.payload.sid as string);
      expectRefusal(await bearer(`tsr_${sid}.${secret}`), 'TOKEN_INVALID', 'none', [secret]);
      expect(lastReason(app)).toBe('api-unknown');
      const asJob = await bearer(`tsj_${id}.${secret}`);
      expectRefusal(asJob, 'TOKEN_INVALID', 'none', [secret]);
      await expectAlice(await me(app, login.cookie));
    },
  },
  {
    id: 'A109',
    title: 'an API token in the session cookie is not an API token: TOKEN_INVALID, access cookie cleared',
    async run(ctx) {
      const { app, token, secret } = await withApiToken(ctx);
      expectRefusal(await me(app, `${ACCESS}=${token}`), 'TOKEN_INVALID', 'access', [secret]);
      expect(lastReason(app)).toBe('malformed');
    },
  },
  {
    id: 'A110',
    title: 'a revoked API token is SESSION_ENDED at once',
    async run(ctx) {
      const { app, token, id, secret, bearer } = await withApiToken(ctx);
      expect(await app.core.revokeApiToken(id)).toBe(1);
      expectRefusal(await bearer(token), 'SESSION_ENDED', 'none', [secret]);
    },
  },
];
