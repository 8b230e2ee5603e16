/** Algorithm confusion: `alg: none`, other and mis-spelt algorithms, HMAC keyed with a public key, `crit` and `b64: false`. */
import { expect } from '@jest/globals';
import { SignJWT } from 'jose';
import { createHmac, createPublicKey, generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import type { SuiteContext, TestApp } from '../../adapter-suite.js';
import { SECRET } from '../../fixtures.js';
import { type Attack, expectAlice, expectRefusal, genuine, header, lastReason, macJws, reasons, seg, withToken } from './harness.js';

/** Every forged token is refused with the contract's TOKEN_INVALID (access cookie cleared), for `reason`. */
async function refusedAll(app: TestApp, tokens: string[], reason: string | string[]): Promise<void> {
  for (const t of tokens) {
    expectRefusal(await withToken(app, t), 'TOKEN_INVALID', 'access', [t]);
    expect([reason].flat()).toContain(lastReason(app));
  }
}

/** An app signing with EdDSA or ES256 (key pair derived from the suite secret), its published key, and a genuine token's payload. */
async function asymmetric(ctx: SuiteContext, algorithm: 'EdDSA' | 'ES256') {
  const app = await ctx.app({ algorithm });
  const { payload, header: h } = await genuine(app);
  const jwks = await app.http().get('/auth/jwks');
  expect(jwks.status).toBe(200);
  const jwk = jwks.body.keys[0] as JsonWebKey & { kid: string };
  expect(h.kid).toBe(jwk.kid);
  const pub = createPublicKey({ key: jwk, format: 'jwk' });
  /** The public key in every form a confused verifier might have used as an HMAC secret. */
  const publicForms: (string | Uint8Array)[] = [
    JSON.stringify(jwk),
    pub.export({ type: 'spki', format: 'pem' }) as string,
    new Uint8Array(pub.export({ type: 'spki', format: 'der' })),
    new Uint8Array(Buffer.from(jwk.x!, 'base64url')),
  ];
  return { app, payload, kid: jwk.kid, publicForms };
}

export const ALGORITHM_ATTACKS: Attack[] = [
  {
    id: 'A01',
    title: '`alg: none` with an empty signature is refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const unsigned = `${seg(header('session', { alg: 'none' }))}.${seg(payload)}.`;
      await refusedAll(app, [unsigned], 'malformed');
    },
  },
  {
    id: 'A02',
    title: '`alg: none` and its case variants (None, NONE, nOnE) with a signature present are refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const tokens = ['none', 'None', 'NONE', 'nOnE'].map(alg => macJws(header('session', { alg }), payload));
      await refusedAll(app, tokens, 'alg');
    },
  },
  {
    id: 'A03',
    title: 'case and whitespace variants of the pinned algorithm (hs256, Hs256, "HS256 "), signed with the real secret, are refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      await expectAlice(await withToken(app, macJws(header(), payload))); // control: the exact spelling passes
      const tokens = ['hs256', 'Hs256', 'hS256', 'HS256 ', ' HS256', 'HS256\u0000', 'HS 256'].map(alg => macJws(header('session', { alg }), payload));
      await refusedAll(app, tokens, 'alg');
    },
  },
  {
    id: 'A04',
    title: 'another HMAC algorithm (HS384, HS512) with the real secret is refused when HS256 is pinned',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const tokens = [macJws(header('session', { alg: 'HS384' }), payload, SECRET, 'sha384'), macJws(header('session', { alg: 'HS512' }), payload, SECRET, 'sha512')];
      await refusedAll(app, tokens, 'alg');
    },
  },
  {
    id: 'A05',
    title: 'RS256/RS512/PS256 headers over an HMAC made with the secret (RS/HS confusion) are refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const tokens = ['RS256', 'RS384', 'RS512', 'PS256', 'PS512'].map(alg => macJws(header('session', { alg }), payload));
      await refusedAll(app, tokens, 'alg');
    },
  },
  {
    id: 'A06',
    title: 'ES256/ES384/ES256K/EdDSA/Ed25519 headers over an HMAC made with the secret are refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const tokens = ['ES256', 'ES384', 'ES256K', 'EdDSA', 'Ed25519'].map(alg => macJws(header('session', { alg }), payload));
      await refusedAll(app, tokens, 'alg');
    },
  },
  {
    id: 'A07',
    title: 'EdDSA server: HS256 tokens MAC\'d with its published public key (JWK, PEM, DER, raw) are refused',
    async run(ctx) {
      const { app, payload, kid, publicForms } = await asymmetric(ctx, 'EdDSA');
      const tokens = publicForms.flatMap(key => ['HS256', 'HS512'].map(alg => macJws(header('session', { alg, kid }), payload, key, alg === 'HS256' ? 'sha256' : 'sha512')));
      await refusedAll(app, tokens, 'alg');
    },
  },
  {
    id: 'A08',
    title: 'ES256 server: HS256 tokens MAC\'d with its published P-256 public key are refused',
    async run(ctx) {
      const { app, payload, kid, publicForms } = await asymmetric(ctx, 'ES256');
      await refusedAll(app, publicForms.map(key => macJws(header('session', { alg: 'HS256', kid }), payload, key)), 'alg');
    },
  },
  {
    id: 'A09',
    title: 'EdDSA server: a token EdDSA-signed by the attacker\'s own Ed25519 key under the server\'s kid is refused',
    async run(ctx) {
      const { app, payload, kid } = await asymmetric(ctx, 'EdDSA');
      const { privateKey } = generateKeyPairSync('ed25519');
      const forged = await new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', typ: 'tessera-session+jwt', kid }).sign(privateKey);
      await refusedAll(app, [forged], 'signature');
    },
  },
  {
    id: 'A10',
    title: 'asymmetric servers refuse the other asymmetric algorithm and `alg: none` under their own kid',
    async run(ctx) {
      const ed = await asymmetric(ctx, 'EdDSA');
      const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
      const asEs = await new SignJWT(ed.payload).setProtectedHeader({ alg: 'ES256', typ: 'tessera-session+jwt', kid: ed.kid }).sign(p256);
      await refusedAll(ed.app, [asEs, macJws(header('session', { alg: 'none', kid: ed.kid }), ed.payload)], 'alg');
      const es = await asymmetric(ctx, 'ES256');
      const edKey = generateKeyPairSync('ed25519').privateKey;
      const asEd = await new SignJWT(es.payload).setProtectedHeader({ alg: 'EdDSA', typ: 'tessera-session+jwt', kid: es.kid }).sign(edKey);
      const esOwn = await new SignJWT(es.payload).setProtectedHeader({ alg: 'ES256', typ: 'tessera-session+jwt', kid: es.kid }).sign(p256);
      await refusedAll(es.app, [asEd], 'alg');
      await refusedAll(es.app, [esOwn], 'signature');
    },
  },
  {
    id: 'A11',
    title: 'all-zero signatures are refused: ECDSA r = s = 0 ("psychic signatures") on ES256, zeros on EdDSA',
    async run(ctx) {
      const zeros = Buffer.alloc(64).toString('base64url');
      for (const algorithm of ['ES256', 'EdDSA'] as const) {
        const { app, payload, kid } = await asymmetric(ctx, algorithm);
        const forged = `${seg({ alg: algorithm, typ: 'tessera-session+jwt', kid })}.${seg(payload)}.${zeros}`;
        await refusedAll(app, [forged], 'signature');
      }
    },
  },
  {
    id: 'A12',
    title: '`crit` naming an unknown or a registered parameter, or malformed (empty, a string), is refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const headers = [
        { crit: ['x-tessera-skip-exp'], 'x-tessera-skip-exp': true },
        { crit: ['exp'], exp: 0 },
        { crit: ['kid'] },
        { crit: [] },
        { crit: 'b64' },
        { crit: [''] },
      ];
      for (const extra of headers) {
        const t = macJws(header('session', extra), payload);
        expectRefusal(await withToken(app, t), 'TOKEN_INVALID', 'access', [t]);
      }
      expect(new Set(reasons(app))).toEqual(new Set(['unsupported', 'malformed']));
    },
  },
  {
    id: 'A13',
    title: '`b64: false` (RFC 7797 unencoded payload), listed in `crit` or not, never changes what is verified',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      // Listed as critical: jose refuses unencoded payloads for JWTs outright, even with a valid MAC.
      const crit = macJws(header('session', { b64: false, crit: ['b64'] }), payload);
      expectRefusal(await withToken(app, crit), 'TOKEN_INVALID', 'access', [crit]);
      // MAC'd over the raw payload as RFC 7797 would have it: the payload segment is not what was signed.
      const h = seg(header('session', { b64: false, crit: ['b64'] }));
      const rawSig = createHmac('sha256', SECRET).update(`${h}.${JSON.stringify(payload)}`).digest('base64url');
      const raw = `${h}.${seg(payload)}.${rawSig}`;
      expectRefusal(await withToken(app, raw), 'TOKEN_INVALID', 'access', [raw]);
      // Not critical: the parameter is ignored and the usual encoded payload is what the MAC covers.
      const ignoredRaw = `${seg(header('session', { b64: false }))}.${seg(payload)}.${rawSig}`;
      expectRefusal(await withToken(app, ignoredRaw), 'TOKEN_INVALID', 'access', [ignoredRaw]);
      expect(reasons(app)).toEqual(['malformed', 'signature', 'signature']);
    },
  },
];
