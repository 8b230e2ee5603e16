/** Session fixation: a token planted in the victim's browser before login is ended by the login, never adopted. */
import { expect } from '@jest/globals';
import { type Attack, PAIR, REFRESH, LOGIN, expectRefusal, genuine, jarOf, macJws, header, me, sidOf } from './harness.js';

export const FIXATION_ATTACKS: Attack[] = [
  {
    id: 'A73',
    title: 'a session planted before the victim logs in is ended by the login (SESSION_ENDED for the attacker\'s copy)',
    async run(ctx) {
      const app = await ctx.app();
      const planted = await genuine(app, 'bob');
      const res = await app.http().post('/auth/login').set('Cookie', planted.cookie).send(LOGIN);
      expect(res.status).toBe(200);
      const victim = jarOf(res);
      expect(sidOf(victim.jar.tessera!)).not.toBe(sidOf(planted.token));
      expectRefusal(await me(app, planted.cookie), 'SESSION_ENDED', 'access', [planted.token]);
      expect((await me(app, victim.cookie)).body).toEqual({ user: { id: 'alice', name: 'Alice' } });
      expect(app.events.filter(e => e.type === 'revoked')).toMatchObject([{ by: 'login', where: { family: sidOf(planted.token) } }]);
    },
  },
  {
    id: 'A74',
    title: 'pair mode: a planted refresh cookie alone is ended by the login too',
    async run(ctx) {
      const app = await ctx.app(PAIR);
      const planted = await genuine(app, 'bob');
      const refreshOnly = `${REFRESH}=${planted.refresh}`;
      const res = await app.http().post('/auth/login').set('Cookie', refreshOnly).send(LOGIN);
      expect(res.status).toBe(200);
      expectRefusal(await app.http().post('/auth/refresh').set('Cookie', refreshOnly), 'SESSION_ENDED', 'all', [planted.refresh!]);
    },
  },
  {
    id: 'A75',
    title: 'a planted token that is not genuine (another deployment\'s secret, garbage) neither blocks the login nor ends anything',
    async run(ctx) {
      const app = await ctx.app();
      const other = await genuine(app, 'bob');
      const foreign = macJws(header(), other.payload, 'another-deployments-secret-0123456789abcdef');
      for (const cookie of [`tessera=${foreign}`, 'tessera=garbage']) {
        const res = await app.http().post('/auth/login').set('Cookie', cookie).send(LOGIN);
        expect(res.status).toBe(200);
      }
      expect(app.events.filter(e => e.type === 'revoked')).toEqual([]);
      expect((await me(app, other.cookie)).status).toBe(200);
    },
  },
];
