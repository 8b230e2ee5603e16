import { describe, expect, it } from '@jest/globals';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, createLocalJWKSet, exportJWK, jwtVerify } from 'jose';
import { ConfigError, MemoryStore, createTessera, type TesseraEvent, type TesseraOptions } from '../src/index.js';
import { resolveOptions } from '../src/options.js';
import { deriveKey, publicJwk, readKeys, thumbprint } from '../src/lib/key-material.js';
import { SECRET, T0, codeOf, decodeJwt, fakeClock, login, ok, req, verifyCredentials } from './helpers.js';

const ed = () => generateKeyPairSync('ed25519').privateKey;
const ec = (namedCurve = 'P-256') => generateKeyPairSync('ec', { namedCurve }).privateKey;
const pkcs8 = (k: KeyObject) => k.export({ format: 'pem', type: 'pkcs8' }) as string;
const bodyOf = (pem: string) => pem.split('\n')[1]!;

function instance(options: Partial<TesseraOptions>) {
  const events: TesseraEvent[] = [];
  const core = createTessera({ store: new MemoryStore(), clock: fakeClock(), verifyCredentials, logger: false, onEvent: e => void events.push(e), ...options });
  return { core, events };
}

async function jwksOf(core: ReturnType<typeof createTessera>) {
  const reply = await core.route('jwks', req({ path: '/auth/jwks' }));
  expect(reply.status).toBe(200);
  return reply.body as { keys: Record<string, string>[] };
}

/** Whatever the error says, it never carries key material. */
function configError(fn: () => unknown, path: string, secretParts: string[]): ConfigError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).option).toBe(path);
  for (const part of secretParts) expect((err as Error).message).not.toContain(part);
  return err as ConfigError;
}

describe('key material', () => {
  it('kid: the RFC 7638 thumbprint, as jose computes it, for Ed25519 and P-256', async () => {
    for (const k of [ed(), ec()]) {
      const jwk = publicJwk(k.asymmetricKeyType === 'ed25519' ? 'EdDSA' : 'ES256', k);
      expect(jwk.kid).toBe(await calculateJwkThumbprint(await exportJWK(createPublicKey(k))));
      expect(thumbprint(jwk)).toBe(jwk.kid);
      expect(jwk).not.toHaveProperty('d');
      expect(jwk.use).toBe('sig');
    }
  });

  it('deriveKey: the same secret and label give the same key pair; any other input another one', () => {
    for (const alg of ['EdDSA', 'ES256'] as const) {
      const a = publicJwk(alg, deriveKey(alg, SECRET, 'initial'));
      expect(publicJwk(alg, deriveKey(alg, SECRET, 'initial'))).toEqual(a);
      expect(publicJwk(alg, deriveKey(alg, SECRET, 'other')).kid).not.toBe(a.kid);
      expect(publicJwk(alg, deriveKey(alg, `${SECRET}!`, 'initial')).kid).not.toBe(a.kid);
    }
    expect(deriveKey('ES256', SECRET, 'x').asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(deriveKey('EdDSA', SECRET, 'x').asymmetricKeyType).toBe('ed25519');
  });

  it('readKeys: PEM (PKCS#8, SEC1, SPKI, several blocks, \\n-escaped), JWK, JWK JSON, JWK Set, KeyObject', async () => {
    const k = ec();
    const sec1 = k.export({ format: 'pem', type: 'sec1' }) as string;
    const spki = createPublicKey(k).export({ format: 'pem', type: 'spki' }) as string;
    const jwk = await exportJWK(k);
    expect(readKeys(pkcs8(k), 'keys')).toHaveLength(1);
    expect(readKeys(sec1, 'keys')[0]!.type).toBe('private');
    expect(readKeys(spki, 'keys')[0]!.type).toBe('public');
    expect(readKeys(`${pkcs8(k)}\n${spki}`, 'keys').map(x => x.type)).toEqual(['private', 'public']);
    expect(readKeys(pkcs8(k).replace(/\n/g, '\\n'), 'keys')).toHaveLength(1);
    expect(readKeys(jwk, 'keys')[0]!.type).toBe('private');
    expect(readKeys(JSON.stringify(jwk), 'keys')).toHaveLength(1);
    expect(readKeys({ keys: [jwk, { ...jwk, d: undefined }] }, 'keys')).toHaveLength(2);
    expect(readKeys(JSON.stringify({ keys: [jwk] }), 'keys')).toHaveLength(1);
    expect(readKeys([k, pkcs8(ed())], 'keys')).toHaveLength(2);
  });

  it('unreadable keys are refused naming the option, never echoing the material', () => {
    const pem = pkcs8(ed());
    const broken = pem.replace(bodyOf(pem), bodyOf(pem).slice(0, 20) + 'A' + bodyOf(pem).slice(21));
    configError(() => readKeys(broken.replace('MC4CAQAwBQYDK2VwBCIEI', 'XXXX'), 'keys'), 'keys', [bodyOf(pem)]);
    configError(() => readKeys('not a key at all, but secret-ish text', 'keys'), 'keys', ['secret-ish']);
    configError(() => readKeys(['{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}'], 'keys'), 'keys[0]', ['c2VjcmV0']);
    configError(() => readKeys('{"kty":"EC","crv":"P-256","d":"abc"', 'keys'), 'keys', ['"d"']);
    configError(() => readKeys([], 'keys'), 'keys', []);
  });
});

describe('options: algorithm and keys', () => {
  it('EdDSA and ES256 are algorithms; keys must fit the algorithm exactly', () => {
    expect(resolveOptions({ algorithm: 'EdDSA' }).algorithm).toBe('EdDSA');
    expect(resolveOptions({ algorithm: 'ES256', keys: pkcs8(ec()) }).keys).toHaveLength(1);
    const edPem = pkcs8(ed());
    expect(configError(() => resolveOptions({ algorithm: 'ES256', keys: edPem }), 'keys', [bodyOf(edPem)]).message).toMatch(/P-256.*ed25519/);
    configError(() => resolveOptions({ algorithm: 'ES256', keys: ec('P-384') }), 'keys', []);
    configError(() => resolveOptions({ algorithm: 'EdDSA', keys: generateKeyPairSync('ed448').privateKey }), 'keys', []);
    configError(() => resolveOptions({ algorithm: 'EdDSA', keys: [ed(), ec()] }), 'keys[1]', []);
    configError(() => resolveOptions({ keys: edPem }), 'keys', [bodyOf(edPem)]);
    configError(() => resolveOptions({ algorithm: 'EdDSA', keys: edPem, secret: SECRET }), 'keys', [SECRET, bodyOf(edPem)]);
    expect(configError(() => resolveOptions({ algorithm: 'EdDSA', keys: createPublicKey(ed()) }), 'keys', []).message).toMatch(/private/);
    expect(resolveOptions({ algorithm: 'EdDSA', keys: [ed(), createPublicKey(ed())] }).keys).toHaveLength(2);
  });
});

describe('asymmetric signing', () => {
  it('configured key: tokens carry alg and the thumbprint kid; /jwks publishes the public key; a plain jose verifier accepts them', async () => {
    const key = ec();
    const { core } = instance({ algorithm: 'ES256', keys: pkcs8(key) });
    const { jar } = await login(core);
    const token = jar.get('tessera')!;
    const kid = await calculateJwkThumbprint(await exportJWK(createPublicKey(key)));
    expect(decodeJwt(token).header).toEqual({ alg: 'ES256', typ: 'tessera-session+jwt', kid });
    const jwks = await jwksOf(core);
    expect(jwks.keys.map(k => k.kid)).toEqual([kid]);
    expect(JSON.stringify(jwks)).not.toContain('"d"');
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks as never), { issuer: 'tessera', audience: 'tessera', currentDate: new Date(T0 * 1000) });
    expect(payload.sub).toBe('alice');
    ok(await core.authenticate(req({ cookie: jar.header })));
  });

  it('HMAC: no jwks route at all', async () => {
    const { core } = instance({ secret: SECRET });
    const { contextOf } = await import('../src/tessera.js');
    const { matchRoute } = await import('../src/routes.js');
    expect(matchRoute(contextOf(core), 'GET', '/jwks')).toBeNull();
    expect(matchRoute(contextOf(instance({ algorithm: 'EdDSA' }).core), 'GET', '/jwks')).toBe('jwks');
    expect(matchRoute(contextOf(instance({ algorithm: 'EdDSA' }).core), 'POST', '/jwks')).toBeNull();
  });

  it('secret + EdDSA: the key pair is derived from the secret, so servers sharing it agree without a PEM', async () => {
    const a = instance({ algorithm: 'EdDSA', secret: SECRET });
    const b = instance({ algorithm: 'EdDSA', secret: SECRET, store: a.core.store });
    expect(await jwksOf(b.core)).toEqual(await jwksOf(a.core));
    const { jar } = await login(a.core);
    ok(await b.core.authenticate(req({ cookie: jar.header })));
    // The same secret under HMAC is another key altogether: the token means nothing there.
    const hmac = instance({ secret: SECRET, store: a.core.store });
    expect(codeOf(await hmac.core.authenticate(req({ cookie: jar.header })))).toBe('TOKEN_INVALID');
  });

  it('the algorithm and key type are pinned: HS256 keyed with the public key, another curve, alg none are refused', async () => {
    const key = ed();
    const { core, events } = instance({ algorithm: 'EdDSA', keys: key });
    const issued = ok(await core.issue(req(), { id: 'alice' }));
    const jwk = (await jwksOf(core)).keys[0]!;
    const sid = decodeJwt(issued.cookies[0]!.split(';')[0]!.split('=')[1]!).payload.sid;
    const as = async (alg: string, k: Uint8Array | KeyObject) =>
      new SignJWT({ sid })
        .setIssuer('tessera')
        .setAudience('tessera')
        .setSubject('alice')
        .setJti('j1')
        .setIssuedAt(T0)
        .setExpirationTime(T0 + 60)
        .setProtectedHeader({ alg, typ: 'tessera-session+jwt', kid: jwk.kid })
        .sign(k);
    const tokens = [
      await as('HS256', new TextEncoder().encode(jwk.x)),
      await as('HS256', createPublicKey(key).export({ format: 'der', type: 'spki' })),
      await as('ES256', ec()),
      await as('EdDSA', ed()),
    ];
    for (const t of tokens) expect(codeOf(await core.authenticate(req({ cookie: `tessera=${t}` })))).toBe('TOKEN_INVALID');
    const reasons = events.flatMap(e => (e.type === 'rejected' ? [e.reason] : []));
    expect(reasons).toEqual(['alg', 'alg', 'alg', 'signature']);
    ok(await core.authenticate(req({ cookie: `tessera=${await as('EdDSA', key)}` })));
  });
});
