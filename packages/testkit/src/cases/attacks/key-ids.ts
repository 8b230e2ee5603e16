/** Key selection abuse: `kid` injection (paths, SQL, length, types, unknown ids), keys named by URL (`jku`, `x5u`) or embedded (`jwk`, `x5c`). */
import { expect } from '@jest/globals';
import { SignJWT } from 'jose';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { kidOf } from '@tessera/core';
import type { TestApp } from '../../adapter-suite.js';
import { SECRET, SECRET_KID } from '../../fixtures.js';
import { type Attack, countingStore, expectRefusal, genuine, header, lastReason, macJws, seg, withToken } from './harness.js';

async function refused(app: TestApp, token: string, reason: string): Promise<void> {
  expectRefusal(await withToken(app, token), 'TOKEN_INVALID', 'access', [token]);
  expect(lastReason(app)).toBe(reason);
}

/** A listener standing in for the attacker's key server; counts every request it gets. */
async function keyServer(body: string, type: string) {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': type }).end(body);
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/keys`,
    hits: () => hits,
    close: () => new Promise<void>(r => server.close(() => r())),
  };
}

const ATTACKER_KEY = 'attacker-chosen-hmac-key-0123456789abcdef';

export const KEY_ID_ATTACKS: Attack[] = [
  {
    id: 'A14',
    title: 'kid path traversal (../../dev/null, /dev/null, file://, encoded) MAC\'d with an empty key or the secret is refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      for (const kid of ['../../../../../../dev/null', '/dev/null', '..\\..\\..\\windows\\win.ini', 'file:///dev/null', '%2e%2e%2f%2e%2e%2fdev%2fnull', `../${SECRET_KID}`]) {
        for (const key of ['', SECRET]) await refused(app, macJws(header('session', { kid }), payload, key), 'kid');
      }
    },
  },
  {
    id: 'A15',
    title: 'SQL-ish kids (quotes, UNION SELECT, comments) MAC\'d with the value they would select are refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      for (const kid of ["' OR '1'='1", "x' UNION SELECT 'k' -- ", `${SECRET_KID}'--`, '1; DROP TABLE tessera_records', '{"$ne":null}']) {
        await refused(app, macJws(header('session', { kid }), payload, 'k'), 'kid');
      }
    },
  },
  {
    id: 'A16',
    title: 'a very long kid is refused: unknown within maxTokenBytes, unparsed beyond it',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      await refused(app, macJws(header('session', { kid: 'k'.repeat(2000) }), payload), 'kid');
      await refused(app, macJws(header('session', { kid: SECRET_KID + 'k'.repeat(5000) }), payload), 'oversized');
    },
  },
  {
    id: 'A17',
    title: 'an unknown, missing, empty or non-string kid (number, null, array, object) is refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const { kid: _k, ...noKid } = header();
      await refused(app, macJws(noKid, payload), 'kid');
      for (const kid of [randomBytes(9).toString('base64url'), '', 0, 1, null, [SECRET_KID], { kid: SECRET_KID }, true]) {
        await refused(app, macJws(header('session', { kid }), payload), 'kid');
      }
    },
  },
  {
    id: 'A18',
    title: 'generated keyring: a burst of unknown kids does not make each request re-read the store',
    async run(ctx) {
      const { store, calls } = countingStore(ctx.newStore());
      const app = await ctx.app({ store, secret: undefined });
      const { payload } = await genuine(app);
      const before = calls.initSecret ?? 0;
      expect(before).toBeGreaterThanOrEqual(1);
      for (let i = 0; i < 25; i++) await refused(app, macJws(header('session', { kid: randomBytes(9).toString('base64url') }), payload), 'kid');
      // At most one re-read per few seconds, whatever the attacker sends.
      expect((calls.initSecret ?? 0) - before).toBeLessThanOrEqual(1);
    },
  },
  {
    id: 'A19',
    title: '`jku` naming the attacker\'s key set is never fetched; the token is refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const jwks = JSON.stringify({ keys: [{ kty: 'oct', kid: 'attacker', k: Buffer.from(ATTACKER_KEY).toString('base64url'), alg: 'HS256' }] });
      const evil = await keyServer(jwks, 'application/json');
      try {
        await refused(app, macJws(header('session', { kid: 'attacker', jku: evil.url }), payload, ATTACKER_KEY), 'kid');
        await refused(app, macJws(header('session', { jku: evil.url }), payload, ATTACKER_KEY), 'signature');
        await new Promise(r => setTimeout(r, 50));
        expect(evil.hits()).toBe(0);
      } finally {
        await evil.close();
      }
    },
  },
  {
    id: 'A20',
    title: '`x5u` naming the attacker\'s certificate URL is never fetched; the token is refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const { publicKey } = generateKeyPairSync('ed25519');
      const evil = await keyServer(publicKey.export({ type: 'spki', format: 'pem' }) as string, 'application/pem-certificate-chain');
      try {
        // An RS256 token whose signature the attacker's certificate would verify: its bytes do not matter, the URL is never read.
        const rs = `${seg(header('session', { alg: 'RS256', x5u: evil.url }))}.${seg(payload)}.${randomBytes(256).toString('base64url')}`;
        await refused(app, rs, 'alg');
        await refused(app, macJws(header('session', { x5u: evil.url }), payload, ATTACKER_KEY), 'signature');
        await new Promise(r => setTimeout(r, 50));
        expect(evil.hits()).toBe(0);
      } finally {
        await evil.close();
      }
    },
  },
  {
    id: 'A21',
    title: 'an embedded key (`jwk`, `x5c`) is never used to verify, on HMAC and EdDSA servers',
    async run(ctx) {
      const hs = await ctx.app();
      const h = await genuine(hs);
      const oct = { kty: 'oct', k: Buffer.from(ATTACKER_KEY).toString('base64url') };
      await refused(hs, macJws(header('session', { jwk: oct }), h.payload, ATTACKER_KEY), 'signature');
      const { kid: _k, ...noKid } = header('session', { jwk: oct });
      await refused(hs, macJws(noKid, h.payload, ATTACKER_KEY), 'kid');

      const ed = await ctx.app({ algorithm: 'EdDSA' });
      const e = await genuine(ed);
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const jwk = publicKey.export({ format: 'jwk' });
      const sign = (extra: Record<string, unknown>) => new SignJWT(e.payload).setProtectedHeader({ alg: 'EdDSA', typ: 'tessera-session+jwt', ...extra }).sign(privateKey);
      await refused(ed, await sign({ kid: e.header.kid, jwk }), 'signature');
      await refused(ed, await sign({ jwk }), 'kid');
      await refused(ed, await sign({ kid: e.header.kid, x5c: [publicKey.export({ type: 'spki', format: 'der' }).toString('base64')] }), 'signature');
    },
  },
  {
    id: 'A22',
    title: 'a kid naming another key type is refused (the HMAC secret\'s kid on an EdDSA server, an Ed25519 kid on an HMAC server)',
    async run(ctx) {
      // The same secret, once HS256, now the seed of an EdDSA key pair: the old HMAC kid names no key any more.
      const ed = await ctx.app({ algorithm: 'EdDSA' });
      const e = await genuine(ed);
      expect(e.header.kid).not.toBe(kidOf(SECRET));
      await refused(ed, macJws(header('session', { kid: kidOf(SECRET) }), e.payload), 'alg');
      await refused(ed, macJws(header('session', { alg: 'HS256', kid: e.header.kid }), e.payload), 'alg');
      // An HMAC server given an EdDSA token under the EdDSA key's kid (its own key pair, derived from the same secret).
      const hs = await ctx.app();
      const h = await genuine(hs);
      const { privateKey } = generateKeyPairSync('ed25519');
      const edToken = await new SignJWT(h.payload).setProtectedHeader({ alg: 'EdDSA', typ: 'tessera-session+jwt', kid: e.header.kid as string }).sign(privateKey);
      await refused(hs, edToken, 'alg');
    },
  },
];
