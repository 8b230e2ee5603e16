import { describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TokenStore } from '@tessera/core';
import type { SuiteContext, TestApp } from '../adapter-suite.js';
import { expectNoLeak } from './bad-bodies.js';
import { expectError } from './helpers.js';

/**
 * A store whose `initSecret` hands back an unusable secret (a crash-truncated `secret` file, a
 * misbehaving Redis) or fails: `ready()` rejects with a clear message that never echoes the
 * value, and every request fails closed with the contract's 503, never a 500.
 */

/** 20 characters: too short to sign with, long enough that an echo would be noticed. */
const GARBAGE = 'GaRbAgE-0123456789xy';

/** `inner` with its `initSecret` replaced; every other member is the inner store's. */
function withInitSecret(inner: TokenStore, initSecret: (candidate: string) => Promise<unknown>): TokenStore {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'initSecret') return initSecret;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const INTERNAL = 'disk on fire at /var/lib/tessera/secret';

const BROKEN: [label: string, initSecret: () => Promise<unknown>, secretText?: string][] = [
  ['an empty string', async () => ''],
  ['a short string', async () => 'short'],
  ['a 20-character string', async () => GARBAGE, GARBAGE],
  ['a number', async () => 42],
  ['null', async () => null],
  ['undefined', async () => undefined],
  ['an object', async () => ({ secret: GARBAGE }), GARBAGE],
  ['a rejection', async () => Promise.reject(new Error(INTERNAL))],
];

async function expectReadyRejects(app: TestApp, secretText?: string): Promise<void> {
  let err: unknown;
  try {
    await app.core.ready();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(Error);
  const message = (err as Error).message;
  expect(message).toMatch(/secret/i);
  if (secretText) expect(message).not.toContain(secretText);
}

/** Every request fails closed: 503 STORE_UNAVAILABLE, Retry-After, the contract body, no leak. */
async function expectAllUnavailable(app: TestApp, cookie: string, leaks: string[]): Promise<void> {
  const requests = [
    ['GET /api/me (anonymous)', app.http().get('/api/me')],
    ['GET /api/me (with a cookie)', app.http().get('/api/me').set('Cookie', cookie)],
    ['GET /auth/session (with a cookie)', app.http().get('/auth/session').set('Cookie', cookie)],
    ['POST /auth/login', app.http().post('/auth/login').send({ username: 'alice', password: 'wonderland' })],
    ['POST /auth/refresh (with a cookie)', app.http().post('/auth/refresh').set('Cookie', cookie)],
    ['POST /auth/logout (with a cookie)', app.http().post('/auth/logout').set('Cookie', cookie)],
  ] as const;
  for (const [label, pending] of requests) {
    const res = await pending;
    expect({ label, status: res.status }).toEqual({ label, status: 503 });
    expectError(res, 'STORE_UNAVAILABLE');
    expect(String(res.headers['retry-after'])).toMatch(/^\d+$/);
    expect(res.headers['set-cookie']).toBeUndefined();
    expectNoLeak(res.text, leaks);
  }
}

export default function brokenSecret(ctx: SuiteContext): void {
  describe('broken-secret: an unusable secret from the store fails closed with 503', () => {
    /** A cookie a healthy instance issued, under the name the broken one reads. */
    const healthyCookie = async (): Promise<string> => {
      const healthy = await ctx.app({ cookie: { name: 'bs' } });
      const { cookie, status } = await healthy.login();
      expect(status).toBe(200);
      return cookie;
    };

    for (const [label, initSecret, secretText] of BROKEN) {
      it(`initSecret gives ${label}: ready() rejects clearly, every request answers 503`, async () => {
        const cookie = await healthyCookie();
        const store = withInitSecret(ctx.newStore(), initSecret);
        const app = await ctx.app({ store, secret: undefined, cookie: { name: 'bs' } });
        await expectReadyRejects(app, secretText);
        await expectAllUnavailable(app, cookie, [INTERNAL, GARBAGE, 'ConfigError', 'secret:']);
        // Still refused on a second round (nothing half-initialised lets a request through).
        await expectReadyRejects(app, secretText);
        expectError(await app.http().post('/auth/login').send({ username: 'alice', password: 'wonderland' }), 'STORE_UNAVAILABLE');
      });
    }

    it('a store that recovers: once initSecret works, requests are served again', async () => {
      let broken = true;
      const inner = ctx.newStore();
      const store = withInitSecret(inner, candidate => (broken ? Promise.reject(new Error(INTERNAL)) : inner.initSecret!(candidate)));
      const app = await ctx.app({ store, secret: undefined });
      expectError(await app.http().post('/auth/login').send({ username: 'alice', password: 'wonderland' }), 'STORE_UNAVAILABLE');
      broken = false;
      await app.core.ready();
      const { status, cookie } = await app.login();
      expect(status).toBe(200);
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
    });

    // Only the file store keeps its secret in a file a crash can truncate; the memory run has no such case.
    if (ctx.storeKind === 'file') it('file store: a crash-truncated secret file fails closed with 503 and is never echoed', async () => {
      const cookie = await healthyCookie();
      for (const content of ['', GARBAGE, `${GARBAGE}\n`]) {
        const store = ctx.newStore() as TokenStore & { dir: string };
        writeFileSync(join(store.dir, 'secret'), content);
        const app = await ctx.app({ store, secret: undefined, cookie: { name: 'bs' } });
        await expectReadyRejects(app, content ? GARBAGE : undefined);
        await expectAllUnavailable(app, cookie, [GARBAGE, 'ConfigError', 'secret:']);
      }
    });
  });
}
