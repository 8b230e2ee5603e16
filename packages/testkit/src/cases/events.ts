import { describe, expect, it } from '@jest/globals';
import { sessionIdOf } from '@tessera/core';
import { decodeJwt } from 'jose';
import type { SuiteContext } from '../adapter-suite.js';
import { SECRET } from '../fixtures.js';

export default function events(ctx: SuiteContext): void {
  describe('onEvent', () => {
    it('emits typed events and never a raw token or secret', async () => {
      const app = await ctx.app({ mode: 'pair', accessTtl: 60, refreshTtl: 3600, refreshReuse: false });
      const login = await app.login();
      // the refresh cookie alone: beside a still-fresh access token a refresh does not rotate
      const refreshOnly = `${app.cookieName}-refresh=${login.jar[`${app.cookieName}-refresh`]}`;
      await app.http().post('/auth/refresh').set('Cookie', refreshOnly);
      await app.http().post('/auth/refresh').set('Cookie', refreshOnly); // reuse
      await app.http().get('/api/me').set('Cookie', 'x=1; ' + login.cookie.replace(/=ey/, '=eyX'));
      app.store.mode = 'fail';
      await app.http().get('/api/me').set('Cookie', login.cookie);
      app.store.mode = 'ok';
      const types = new Set(app.events.map(e => e.type));
      for (const t of ['issued', 'refreshed', 'rejected', 'revoked', 'reuse-detected', 'store-error']) expect(types).toContain(t);
      const dump = JSON.stringify(app.events);
      for (const value of Object.values(login.jar)) {
        expect(dump).not.toContain(value);
        expect(dump).not.toContain(value.split('.')[2]!);
      }
      expect(dump).not.toContain(SECRET);
      // Ids as hashes: the session key (`sid`) and the token ids (`jti`) of the tokens never appear;
      // events name the session by its public id, the one session lists show.
      for (const value of Object.values(login.jar)) {
        const { sid, jti } = decodeJwt(value) as { sid: string; jti: string };
        expect(dump).not.toContain(sid);
        expect(dump).not.toContain(jti);
        expect(app.events.some(e => 'sessionId' in e && e.sessionId === sessionIdOf(sid))).toBe(true);
      }
      const rejected = app.events.find(e => e.type === 'rejected' && e.code === 'REFRESH_REUSED');
      expect(rejected).toMatchObject({ reason: 'refresh-reused', path: '/auth/refresh' });
    });

    it('a throwing listener never breaks a request', async () => {
      const app = await ctx.app({ onEvent: () => { throw new Error('listener bug'); } });
      const { status, cookie } = await app.login();
      expect(status).toBe(200);
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
    });
  });
}
