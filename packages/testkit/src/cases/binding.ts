import { describe, expect, it } from '@jest/globals';
import type { SuiteContext, TestApp } from '../adapter-suite.js';
import { expectError } from './helpers.js';

async function loginFrom(app: TestApp, ip: string) {
  const res = await app.http().post('/auth/login').set('X-Forwarded-For', ip).send({ username: 'alice', password: 'wonderland' });
  expect(res.status).toBe(200);
  const raw = ([] as string[]).concat(res.headers['set-cookie'] as unknown as string[]);
  return raw.map(c => c.split(';')[0]).join('; ');
}

export default function binding(ctx: SuiteContext): void {
  describe('binding sessions to the client address', () => {
    it('exact: another address gets BINDING_MISMATCH', async () => {
      const app = await ctx.app({ bindClientIp: 'exact' }, { trustProxy: true });
      const cookie = await loginFrom(app, '203.0.113.5');
      expect((await app.http().get('/api/me').set('Cookie', cookie).set('X-Forwarded-For', '203.0.113.5')).status).toBe(200);
      const res = await app.http().get('/api/me').set('Cookie', cookie).set('X-Forwarded-For', '203.0.113.9');
      expectError(res, 'BINDING_MISMATCH');
    });

    it('subnet: same /24 passes, another network does not', async () => {
      const app = await ctx.app({ bindClientIp: 'subnet' }, { trustProxy: true });
      const cookie = await loginFrom(app, '203.0.113.5');
      expect((await app.http().get('/api/me').set('Cookie', cookie).set('X-Forwarded-For', '203.0.113.77')).status).toBe(200);
      expectError(await app.http().get('/api/me').set('Cookie', cookie).set('X-Forwarded-For', '198.51.100.7'), 'BINDING_MISMATCH');
    });

    it('a spoofed X-Forwarded-For from an untrusted peer changes nothing', async () => {
      const app = await ctx.app({ bindClientIp: 'exact' });
      const cookie = await loginFrom(app, '203.0.113.5'); // ignored: the peer is 127.0.0.1
      expect((await app.http().get('/api/me').set('Cookie', cookie).set('X-Forwarded-For', '198.51.100.7')).status).toBe(200);
    });

    it('each record remembers how it was bound: changing the setting invalidates nothing silently', async () => {
      const store = ctx.newStore();
      const unbound = await ctx.app({ store, cookie: { name: 'b' } }, { trustProxy: true });
      const before = await loginFrom(unbound, '203.0.113.5');
      const bound = await ctx.app({ store, cookie: { name: 'b' }, bindClientIp: 'exact' }, { trustProxy: true });
      // created unbound: still usable from anywhere
      expect((await bound.http().get('/api/me').set('Cookie', before).set('X-Forwarded-For', '198.51.100.7')).status).toBe(200);
      const after = await loginFrom(bound, '203.0.113.5');
      const relaxed = await ctx.app({ store, cookie: { name: 'b' } }, { trustProxy: true });
      // created bound: stays bound even when the server setting is turned off
      expectError(await relaxed.http().get('/api/me').set('Cookie', after).set('X-Forwarded-For', '198.51.100.7'), 'BINDING_MISMATCH');
    });
  });
}
