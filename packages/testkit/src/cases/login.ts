import { describe, expect, it } from '@jest/globals';
import type { SuiteContext } from '../adapter-suite.js';
import { expectError } from './helpers.js';

export default function login(ctx: SuiteContext): void {
  describe('login input', () => {
    it('wrong credentials: 401 LOGIN_FAILED and no cookie', async () => {
      const app = await ctx.app();
      for (const body of [{ username: 'alice', password: 'nope' }, { username: 'mallory', password: 'wonderland' }]) {
        const res = await app.http().post('/auth/login').send(body);
        expectError(res, 'LOGIN_FAILED');
        expect(res.headers['set-cookie']).toBeUndefined();
      }
    });

    it('malformed input: 400 BAD_REQUEST and no cookie', async () => {
      const app = await ctx.app();
      const cases: [string, string][] = [
        ['application/json', '{"username": "alice", "password": '],
        ['application/json', '[1,2]'],
        ['application/json', '"alice"'],
        ['application/json', '{"username": "alice"}'],
        ['application/json', '{"username": 1, "password": 2}'],
        ['application/json', JSON.stringify({ username: 'a'.repeat(2000), password: 'x' })],
        ['application/json', ''],
        ['text/plain', 'username=alice'],
      ];
      for (const [type, body] of cases) {
        const res = await app.http().post('/auth/login').set('Content-Type', type).send(body);
        expectError(res, 'BAD_REQUEST');
        expect(res.headers['set-cookie']).toBeUndefined();
      }
    });

    it('tokenInLoginBody returns the token in the JSON as well', async () => {
      const app = await ctx.app({ tokenInLoginBody: true });
      const res = await app.login();
      expect(res.status).toBe(200);
      expect(res.body.token).toBe(res.cookies[0]!.value);
      // and a bearer token authenticates too
      const me = await app.http().get('/api/me').set('Authorization', `Bearer ${res.body.token}`);
      expect(me.status).toBe(200);
    });

    it('GET /auth/session returns the user and expiry; 401 when anonymous', async () => {
      const app = await ctx.app();
      const now = ctx.clock.now();
      const { cookie } = await app.login();
      const res = await app.http().get('/auth/session').set('Cookie', cookie);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ user: { id: 'alice', name: 'Alice' }, expiresAt: now + 604800, createdAt: now, mode: 'sliding', kind: 'session' });
      expect(typeof res.body.id).toBe('string');
      expectError(await app.http().get('/auth/session'), 'TOKEN_MISSING');
    });
  });
}
