import { describe, expect, it } from '@jest/globals';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, createLocalJWKSet, exportJWK, jwtVerify, type JSONWebKeySet } from 'jose';
import type { SuiteContext, TestApp } from '../adapter-suite.js';
import { decodeJwt, expectError } from './helpers.js';

const ed25519 = (): KeyObject => generateKeyPairSync('ed25519').privateKey;
const p256 = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const pem = (k: KeyObject): string => k.export({ format: 'pem', type: 'pkcs8' }) as string;

/** What a foreign service does: the JWKS from the server, issuer and audience pinned (at the suite clock's time). */
async function verifyWithJwks(ctx: SuiteContext, app: TestApp, token: string, typ?: string) {
  const jwks = (await app.http().get('/auth/jwks')).body as JSONWebKeySet;
  return jwtVerify(token, createLocalJWKSet(jwks), { issuer: 'tessera', audience: 'tessera', currentDate: new Date(ctx.clock.now() * 1000), ...(typ ? { typ } : {}) });
}

export default function jwks(ctx: SuiteContext): void {
  describe('asymmetric signing and /auth/jwks', () => {
    it('EdDSA: GET /auth/jwks publishes the public key (never d), briefly cacheable; tokens verify with it', async () => {
      const app = await ctx.app({ algorithm: 'EdDSA' });
      const res = await app.http().get('/auth/jwks');
      expect(res.status).toBe(200);
      expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
      const maxAge = Number(/(?:^|,)\s*max-age=(\d+)/.exec(String(res.headers['cache-control']))?.[1]);
      expect(maxAge).toBeGreaterThan(0);
      expect(maxAge).toBeLessThanOrEqual(300);
      expect(res.body.keys).toHaveLength(1);
      const [key] = res.body.keys;
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key.d).toBeUndefined();
      expect(key.kid).toBe(await calculateJwkThumbprint(key));

      const login = await app.login();
      const token = login.jar[app.cookieName]!;
      expect(decodeJwt(token).header).toEqual({ alg: 'EdDSA', typ: 'tessera-session+jwt', kid: key.kid });
      const { payload } = await verifyWithJwks(ctx, app, token, 'tessera-session+jwt');
      expect(payload).toMatchObject({ sub: 'alice', iss: 'tessera', aud: 'tessera' });
      expect((await app.http().get('/api/me').set('Cookie', login.cookie)).status).toBe(200);
      expect((await app.http().head('/auth/jwks')).status).toBe(200);
    });

    it('ES256 in pair mode: the access token verifies from the JWKS; pinning typ keeps the refresh token out', async () => {
      const app = await ctx.app({ algorithm: 'ES256', mode: 'pair', accessTtl: 60, refreshTtl: 3600 });
      const [key] = (await app.http().get('/auth/jwks')).body.keys;
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(key.d).toBeUndefined();
      const login = await app.login();
      const access = login.jar[app.cookieName]!;
      const refresh = login.jar[`${app.cookieName}-refresh`]!;
      expect((await verifyWithJwks(ctx, app, access)).payload.sub).toBe('alice');
      expect((await verifyWithJwks(ctx, app, access, 'tessera-access+jwt')).protectedHeader).toMatchObject({ alg: 'ES256', kid: key.kid });
      await expect(verifyWithJwks(ctx, app, refresh, 'tessera-access+jwt')).rejects.toThrow();
      // Refreshed tokens are signed by the same key.
      ctx.clock.advance(61);
      const refreshed = await app.http().post('/auth/refresh').set('Cookie', login.cookie);
      expect(refreshed.status).toBe(200);
      const next = /^tessera=([^;]+)/.exec(([] as string[]).concat(refreshed.headers['set-cookie'] as unknown as string[]).find(c => c.startsWith('tessera='))!)![1]!;
      expect((await verifyWithJwks(ctx, app, next, 'tessera-access+jwt')).payload.sub).toBe('alice');
    });

    it('HMAC algorithms publish nothing: /auth/jwks does not exist', async () => {
      const app = await ctx.app();
      expect((await app.http().get('/auth/jwks')).status).toBe(404);
      const hs512 = await ctx.app({ algorithm: 'HS512' });
      expect((await hs512.http().get('/auth/jwks')).status).toBe(404);
    });

    it('configured keys: a keyring publishes every key, the first signs; a removed key no longer verifies', async () => {
      const store = ctx.newStore();
      const [oldKey, newKey] = [p256(), p256()];
      const before = await ctx.app({ store, secret: undefined, algorithm: 'ES256', keys: pem(oldKey) });
      const old = await before.login();
      const oldKid = decodeJwt(old.jar[before.cookieName]!).header.kid;

      // The old key stays as a public key only: it verifies, it can't sign.
      const oldPublic = JSON.stringify(await exportJWK(createPublicKey(oldKey)));
      const rotated = await ctx.app({ store, secret: undefined, algorithm: 'ES256', keys: [pem(newKey), oldPublic] });
      const published = (await rotated.http().get('/auth/jwks')).body.keys as { kid: string; d?: string }[];
      expect(published.map(k => k.kid)).toEqual([(await calculateJwkThumbprint(await exportJWK(newKey))), oldKid]);
      expect(published.every(k => k.d === undefined)).toBe(true);
      expect((await rotated.http().get('/api/me').set('Cookie', old.cookie)).status).toBe(200);
      const fresh = await rotated.login();
      expect(decodeJwt(fresh.jar[rotated.cookieName]!).header.kid).toBe(published[0]!.kid);

      const retired = await ctx.app({ store, secret: undefined, algorithm: 'ES256', keys: pem(newKey) });
      expectError(await retired.http().get('/api/me').set('Cookie', old.cookie), 'TOKEN_INVALID');
      await expect(verifyWithJwks(ctx, retired, old.jar[before.cookieName]!)).rejects.toThrow();
      expect((await retired.http().get('/api/me').set('Cookie', fresh.cookie)).status).toBe(200);
    });

    it('generated: servers sharing a store derive one key pair from its secret and publish the same JWKS', async () => {
      const store = ctx.newStore();
      const a = await ctx.app({ store, secret: undefined, algorithm: 'EdDSA' });
      const b = await ctx.app({ store, secret: undefined, algorithm: 'EdDSA' });
      const [ja, jb] = await Promise.all([a.http().get('/auth/jwks'), b.http().get('/auth/jwks')]);
      expect(ja.status).toBe(200);
      expect(jb.body).toEqual(ja.body);
      const login = await a.login();
      expect((await b.http().get('/api/me').set('Cookie', login.cookie)).status).toBe(200);
      const stranger = await ctx.app({ secret: undefined, algorithm: 'EdDSA' });
      expect((await stranger.http().get('/auth/jwks')).body.keys[0].kid).not.toBe(ja.body.keys[0].kid);
      expectError(await stranger.http().get('/api/me').set('Cookie', login.cookie), 'TOKEN_INVALID');
    });

    it('no algorithm confusion: HS256 over the public key, alg none, another key type or another kid are all TOKEN_INVALID', async () => {
      const key = ed25519();
      const app = await ctx.app({ secret: undefined, algorithm: 'EdDSA', keys: key });
      const login = await app.login();
      const { payload, header } = decodeJwt(login.jar[app.cookieName]!);
      const kid = header.kid as string;
      const jwk = (await app.http().get('/auth/jwks')).body.keys[0];
      const forge = (alg: string, k: KeyObject | Uint8Array, h: Record<string, unknown> = {}) =>
        new SignJWT(payload).setProtectedHeader({ alg, typ: 'tessera-session+jwt', kid, ...h }).sign(k);
      const cookie = (t: string) => `${app.cookieName}=${t}`;
      // The public key as an HMAC secret (the classic confusion), in both forms a verifier might hold it.
      for (const secret of [Buffer.from(jwk.x, 'base64url'), Buffer.from(JSON.stringify(jwk))]) {
        expectError(await app.http().get('/api/me').set('Cookie', cookie(await forge('HS256', new Uint8Array(secret)))), 'TOKEN_INVALID');
      }
      const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'tessera-session+jwt', kid })).toString('base64url')}.${login.jar[app.cookieName]!.split('.')[1]}.`;
      expectError(await app.http().get('/api/me').set('Cookie', cookie(unsigned)), 'TOKEN_INVALID');
      expectError(await app.http().get('/api/me').set('Cookie', cookie(await forge('ES256', p256()))), 'TOKEN_INVALID');
      expectError(await app.http().get('/api/me').set('Cookie', cookie(await forge('EdDSA', ed25519()))), 'TOKEN_INVALID');
      expectError(await app.http().get('/api/me').set('Cookie', cookie(await forge('EdDSA', ed25519(), { kid: 'made-up' }))), 'TOKEN_INVALID');
      // The genuine one still works; and an EdDSA token means nothing to an HMAC server.
      expect((await app.http().get('/api/me').set('Cookie', login.cookie)).status).toBe(200);
      const hmac = await ctx.app({ store: app.store });
      expectError(await hmac.http().get('/api/me').set('Cookie', login.cookie), 'TOKEN_INVALID');
    });
  });
}
