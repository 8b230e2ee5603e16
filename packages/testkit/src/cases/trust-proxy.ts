import { describe, expect, it } from '@jest/globals';
import type { TesseraOptions } from '@tessera/core';
import type { MountSetup, SuiteContext, TestApp } from '../adapter-suite.js';
import { cookiesOf, decodeJwt, expectError, expires } from './helpers.js';
import { sessionIdOf } from '@tessera/core';

/** Logs in with these headers; returns the Cookie header and the session's store record. */
async function loginWith(app: TestApp, headers: Record<string, string>) {
  let r = app.http().post('/auth/login');
  for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
  const res = await r.send({ username: 'alice', password: 'wonderland' });
  expect(res.status).toBe(200);
  const cookies = cookiesOf(res);
  const record = await app.store.get(sessionIdOf(decodeJwt(cookies[0]!.value).payload.sid as string));
  return { res, cookies, cookie: cookies.map(c => `${c.name}=${c.value}`).join('; '), record };
}

const xff = (value: string) => ({ 'X-Forwarded-For': value });

/** The framework trusts nothing: whatever Tessera believes, it read itself. */
const FRAMEWORK_TRUSTS_NOTHING: MountSetup = { trustProxy: false };
const FRAMEWORK_TRUSTS_ALL: MountSetup = { trustProxy: true };

export default function trustProxy(ctx: SuiteContext): void {
  /** The client address Tessera records for a login with these headers. */
  async function addressFor(options: Partial<TesseraOptions>, setup: MountSetup, headers: Record<string, string>): Promise<unknown> {
    const app = await ctx.app(options, setup);
    return (await loginWith(app, headers)).record?.ip;
  }

  describe('trustProxy: Tessera reads the client address and HTTPS itself', () => {
    it('a trusted proxy\'s X-Forwarded-For is the client address, and binding follows it', async () => {
      const app = await ctx.app({ trustProxy: ['127.0.0.1'], bindClientIp: 'exact' }, FRAMEWORK_TRUSTS_NOTHING);
      const { cookie, record } = await loginWith(app, xff('203.0.113.5'));
      expect(record).toMatchObject({ ip: '203.0.113.5', binding: 'exact' });
      const same = await app.http().get('/api/me').set('Cookie', cookie).set('X-Forwarded-For', '203.0.113.5');
      expect(same.status).toBe(200);
      expectError(await app.http().get('/api/me').set('Cookie', cookie).set('X-Forwarded-For', '203.0.113.9'), 'BINDING_MISMATCH');
      // without the header, the client is the proxy itself
      expectError(await app.http().get('/api/me').set('Cookie', cookie), 'BINDING_MISMATCH');
      expect(app.events.filter(e => e.type === 'rejected' && e.code === 'BINDING_MISMATCH').map(e => (e as { ip: unknown }).ip)).toEqual(['203.0.113.9', '127.0.0.1']);
    });

    it('a spoofed X-Forwarded-For through the trusted proxy resolves to the rightmost untrusted hop', async () => {
      const app = await ctx.app({ trustProxy: ['127.0.0.1'], bindClientIp: 'exact' }, FRAMEWORK_TRUSTS_NOTHING);
      // the client sent "X-Forwarded-For: 203.0.113.5"; the proxy appended the address it saw
      const { cookie, record } = await loginWith(app, xff('203.0.113.5, 198.51.100.7'));
      expect(record!.ip).toBe('198.51.100.7');
      expect((await app.http().get('/api/me').set('Cookie', cookie).set('X-Forwarded-For', '10.9.9.9, 198.51.100.7')).status).toBe(200);
      expectError(await app.http().get('/api/me').set('Cookie', cookie).set('X-Forwarded-For', '203.0.113.5'), 'BINDING_MISMATCH');
    });

    it('trusted proxies as a subnet or a name, and the hops behind them', async () => {
      const chain = xff('203.0.113.5, 10.1.2.3');
      expect(await addressFor({ trustProxy: ['loopback'] }, FRAMEWORK_TRUSTS_NOTHING, chain)).toBe('10.1.2.3');
      expect(await addressFor({ trustProxy: ['127.0.0.0/8', '10.0.0.0/8'] }, FRAMEWORK_TRUSTS_NOTHING, chain)).toBe('203.0.113.5');
      expect(await addressFor({ trustProxy: ['loopback', 'uniquelocal'] }, FRAMEWORK_TRUSTS_NOTHING, chain)).toBe('203.0.113.5');
    });

    it('a hop count trusts that many proxies: 1 gives the rightmost X-Forwarded-For entry', async () => {
      expect(await addressFor({ trustProxy: 1 }, FRAMEWORK_TRUSTS_NOTHING, xff('203.0.113.5'))).toBe('203.0.113.5');
      expect(await addressFor({ trustProxy: 1 }, FRAMEWORK_TRUSTS_NOTHING, xff('203.0.113.5, 198.51.100.7'))).toBe('198.51.100.7');
      expect(await addressFor({ trustProxy: 2 }, FRAMEWORK_TRUSTS_NOTHING, xff('203.0.113.5, 198.51.100.7'))).toBe('203.0.113.5');
      expect(await addressFor({ trustProxy: true }, FRAMEWORK_TRUSTS_NOTHING, xff('203.0.113.5, 198.51.100.7'))).toBe('203.0.113.5');
      expect(await addressFor({ trustProxy: 1 }, FRAMEWORK_TRUSTS_NOTHING, {})).toBe('127.0.0.1');
    });

    it('trustProxy: false ignores X-Forwarded-For, whatever the framework trusts', async () => {
      for (const setup of [FRAMEWORK_TRUSTS_NOTHING, FRAMEWORK_TRUSTS_ALL]) {
        const app = await ctx.app({ trustProxy: false, bindClientIp: 'exact' }, setup);
        const { cookie, record } = await loginWith(app, xff('203.0.113.5'));
        expect({ setup, ip: record!.ip }).toEqual({ setup, ip: '127.0.0.1' });
        expect((await app.http().get('/api/me').set('Cookie', cookie).set('X-Forwarded-For', '198.51.100.7')).status).toBe(200);
      }
      // an untrusted peer's header is ignored the same way
      expect(await addressFor({ trustProxy: ['10.0.0.0/8'] }, FRAMEWORK_TRUSTS_ALL, xff('203.0.113.5'))).toBe('127.0.0.1');
    });

    it('X-Forwarded-Proto: https from a trusted proxy makes the cookie Secure (secure: auto)', async () => {
      const app = await ctx.app({ trustProxy: ['127.0.0.1'] }, FRAMEWORK_TRUSTS_NOTHING);
      const now = ctx.clock.now();
      const https = await loginWith(app, { 'X-Forwarded-Proto': 'https' });
      expect(https.cookies.map(c => c.raw)).toEqual([`tessera=${https.cookies[0]!.value}; Path=/; Max-Age=604800; Expires=${expires(now, 604800)}; HttpOnly; Secure; SameSite=Lax`]);
      const http = await loginWith(app, { 'X-Forwarded-Proto': 'http' });
      expect(http.cookies[0]!.attrs.secure).toBeUndefined();
      // a refusal's clearing cookie follows the same rule
      await app.http().post('/auth/logout').set('Cookie', https.cookie);
      const ended = await app.http().get('/api/me').set('Cookie', https.cookie).set('X-Forwarded-Proto', 'https');
      expectError(ended, 'SESSION_ENDED');
      expect(cookiesOf(ended).map(c => c.attrs.secure)).toEqual([true]);
    });

    it('X-Forwarded-Proto from an untrusted peer changes nothing, whatever the framework trusts', async () => {
      const secure: Record<string, unknown> = {};
      for (const [name, setup] of Object.entries({ 'framework trusts nothing': FRAMEWORK_TRUSTS_NOTHING, 'framework trusts all': FRAMEWORK_TRUSTS_ALL })) {
        for (const trust of [false, ['10.0.0.0/8']] as const) {
          const app = await ctx.app({ trustProxy: trust as TesseraOptions['trustProxy'] }, setup);
          const { cookies } = await loginWith(app, { 'X-Forwarded-Proto': 'https' });
          secure[`${name}, trustProxy ${JSON.stringify(trust)}`] = cookies[0]!.attrs.secure === true;
        }
      }
      expect(secure).toEqual({
        'framework trusts nothing, trustProxy false': false,
        'framework trusts nothing, trustProxy ["10.0.0.0/8"]': false,
        'framework trusts all, trustProxy false': false,
        'framework trusts all, trustProxy ["10.0.0.0/8"]': false,
      });
    });

    it('unset: the framework\'s own address', async () => {
      expect(await addressFor({}, FRAMEWORK_TRUSTS_NOTHING, xff('203.0.113.5'))).toBe('127.0.0.1');
      expect(await addressFor({}, FRAMEWORK_TRUSTS_ALL, xff('203.0.113.5'))).toBe('203.0.113.5');
    });
  });
}
