/**
 * Asymmetric signing from outside: the example apps run with TESSERA_ALGORITHM=EdDSA / ES256 and
 * a separate process, using only jose's createRemoteJWKSet + jwtVerify (issuer and audience
 * pinned), verifies their tokens from GET /auth/jwks; a token of a removed key fails there too.
 */
import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import request from 'supertest';
import { ROOT, startServer, stop } from '../support/example-server.js';

const FRAMEWORKS = ['express', 'koa', 'fastify'] as const;
const VERIFIER = join(ROOT, 'packages', 'testkit', 'scripts', 'verify-jwks.mjs');

/** Runs the foreign verifier in its own process; its one JSON line. */
function foreignVerify(jwksUrl: string, token: string, typ?: string): Promise<{ ok: boolean; sub?: string; kid?: string; alg?: string; code?: string }> {
  const args = [VERIFIER, jwksUrl, token, ...(typ ? ['--typ', typ] : [])];
  return new Promise((res, rej) =>
    execFile(process.execPath, args, { timeout: 15_000, env: { PATH: process.env.PATH ?? '' } }, (err, stdout) => {
      const line = stdout.trim();
      if (!line) return rej(err ?? new Error('the verifier printed nothing'));
      const out = JSON.parse(line);
      expect(err === null).toBe(out.ok); // exit code 0 exactly when it verified
      res(out);
    }),
  );
}

function cookies(res: { headers: Record<string, unknown> }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of ([] as string[]).concat((res.headers['set-cookie'] as string[] | undefined) ?? [])) {
    const [pair] = c.split(';');
    const i = pair!.indexOf('=');
    out[pair!.slice(0, i)] = pair!.slice(i + 1);
  }
  return out;
}

const login = (url: string) => request(url).post('/auth/login').send({ username: 'alice', password: 'wonderland' });

describe('examples: JWKS and a foreign verifier in another process', () => {
  it.each(FRAMEWORKS)('%s: EdDSA, sliding: the session token verifies from /auth/jwks; the JWKS holds no private part', async fw => {
    const server = await startServer(fw, { TESSERA_STORE: 'memory:', TESSERA_ALGORITHM: 'EdDSA' });
    try {
      const jwks = await request(server.url).get('/auth/jwks');
      expect(jwks.status).toBe(200);
      expect(jwks.headers['cache-control']).toMatch(/max-age=300/);
      expect(jwks.body.keys).toHaveLength(1);
      expect(jwks.body.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(jwks.body.keys[0].d).toBeUndefined();
      const token = cookies(await login(server.url)).tessera!;
      const out = await foreignVerify(`${server.url}/auth/jwks`, token);
      expect(out).toEqual({ ok: true, sub: 'alice', kid: jwks.body.keys[0].kid, alg: 'EdDSA' });
      // Tampered: refused.
      const [h, p, s] = token.split('.');
      // One bit of the signature's first byte flipped (an edit of the last characters may only touch
      // the base64url padding bits, which decode to the same signature).
      const sig = Buffer.from(s!, 'base64url');
      sig[0]! ^= 1;
      expect((await foreignVerify(`${server.url}/auth/jwks`, `${h}.${p}.${sig.toString('base64url')}`)).ok).toBe(false);
    } finally {
      await stop(server.child);
    }
  }, 60_000);

  it.each(FRAMEWORKS)('%s: ES256, pair mode: the access token verifies; with typ pinned the refresh token does not', async fw => {
    const server = await startServer(fw, { TESSERA_STORE: 'memory:', TESSERA_ALGORITHM: 'ES256', TESSERA_MODE: 'pair' });
    try {
      const jar = cookies(await login(server.url));
      const url = `${server.url}/auth/jwks`;
      expect(await foreignVerify(url, jar.tessera!)).toMatchObject({ ok: true, sub: 'alice', alg: 'ES256' });
      expect(await foreignVerify(url, jar.tessera!, 'tessera-access+jwt')).toMatchObject({ ok: true, sub: 'alice' });
      expect(await foreignVerify(url, jar['tessera-refresh']!, 'tessera-access+jwt')).toMatchObject({ ok: false, code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
    } finally {
      await stop(server.child);
    }
  }, 60_000);

  it.each(FRAMEWORKS)('%s: HMAC (the default) has no /auth/jwks', async fw => {
    const server = await startServer(fw, { TESSERA_STORE: 'memory:' });
    try {
      expect((await request(server.url).get('/auth/jwks')).status).toBe(404);
    } finally {
      await stop(server.child);
    }
  }, 60_000);

  it('a token signed by a key since removed from TESSERA_KEYS fails the foreign verifier (and the app)', async () => {
    const pem = () => generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const [oldKey, newKey] = [pem(), pem()];
    const env = { TESSERA_STORE: 'memory:', TESSERA_ALGORITHM: 'EdDSA' };
    const before = await startServer('express', { ...env, TESSERA_KEYS: oldKey });
    let oldToken: string;
    try {
      oldToken = cookies(await login(before.url)).tessera!;
      expect((await foreignVerify(`${before.url}/auth/jwks`, oldToken)).ok).toBe(true);
    } finally {
      await stop(before.child);
    }
    // One PEM on one line with \n escapes, as an environment often carries it.
    const after = await startServer('fastify', { ...env, TESSERA_KEYS: newKey.trim().replace(/\n/g, '\\n') });
    try {
      expect(await foreignVerify(`${after.url}/auth/jwks`, oldToken)).toEqual({ ok: false, code: 'ERR_JWKS_NO_MATCHING_KEY' });
      const fresh = cookies(await login(after.url)).tessera!;
      expect((await foreignVerify(`${after.url}/auth/jwks`, fresh)).ok).toBe(true);
      expect((await request(after.url).get('/api/me').set('Cookie', `tessera=${oldToken}`)).status).toBe(401);
    } finally {
      await stop(after.child);
    }
  }, 60_000);
});
