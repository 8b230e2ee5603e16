/** Asymmetric key material: configured keys (PEM / JWK) read and checked, key pairs derived from a secret, public JWKs and their RFC 7638 thumbprints. */
import { KeyObject, createECDH, createHash, createPrivateKey, createPublicKey, hkdfSync } from 'node:crypto';
import { ConfigError } from '../errors.js';

export type AsymmetricAlgorithm = 'EdDSA' | 'ES256';

export function isAsymmetric(algorithm: string): algorithm is AsymmetricAlgorithm {
  return algorithm === 'EdDSA' || algorithm === 'ES256';
}

/** A public key as `/jwks` publishes it: the public members only (never `d`), with kid, alg and use. */
export interface PublicJwk {
  kty: 'OKP' | 'EC';
  crv: string;
  x: string;
  y?: string;
  kid: string;
  alg: AsymmetricAlgorithm;
  use: 'sig';
}

const NEEDS: Readonly<Record<AsymmetricAlgorithm, string>> = { EdDSA: 'an Ed25519 key', ES256: 'a P-256 (prime256v1) EC key' };

/** The one key type each algorithm verifies with: EdDSA only Ed25519 (not Ed448), ES256 only P-256. */
export function keyFits(algorithm: AsymmetricAlgorithm, key: KeyObject): boolean {
  if (algorithm === 'EdDSA') return key.asymmetricKeyType === 'ed25519';
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

function kindOf(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return `${key.type === 'secret' ? 'a secret' : `${key.type === 'private' ? 'a private' : 'a public'} ${key.asymmetricKeyType ?? 'unknown'}${curve ? ` ${curve}` : ''}`} key`;
}

/** RFC 7638: SHA-256 over the required members in lexicographic order, base64url. */
export function thumbprint(jwk: { kty: string; crv: string; x: string; y?: string }): string {
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** The public half of `key` as a JWK whose kid is its thumbprint. */
export function publicJwk(algorithm: AsymmetricAlgorithm, key: KeyObject): PublicJwk {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const j = pub.export({ format: 'jwk' }) as { kty: 'OKP' | 'EC'; crv: string; x: string; y?: string };
  const base = j.kty === 'EC' ? { kty: j.kty, crv: j.crv, x: j.x, y: j.y! } : { kty: j.kty, crv: j.crv, x: j.x };
  return { ...base, kid: thumbprint(base), alg: algorithm, use: 'sig' };
}

// The PKCS#8 header of an Ed25519 private key (RFC 8410); the 32-byte seed follows.
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

/**
 * A private key derived from `secret` (HKDF-SHA-256, `label` names the key): every server holding
 * the secret derives the same key pair, so the secret's atomic put-if-absent in the store is all
 * a cluster needs to agree on one key. HKDF is one-way: a derived key never reveals the secret.
 */
export function deriveKey(algorithm: AsymmetricAlgorithm, secret: string, label: string): KeyObject {
  const info = `tessera ${algorithm} key ${label}`;
  if (algorithm === 'EdDSA') {
    const seed = Buffer.from(hkdfSync('sha256', secret, 'tessera-keys', info, 32));
    return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' });
  }
  // FIPS 186-5 A.2.1: 64 bits more than the order's size, reduced mod n-1, plus 1, is uniform in [1, n-1].
  const okm = Buffer.from(hkdfSync('sha256', secret, 'tessera-keys', info, 40));
  const d = Buffer.from(((BigInt('0x' + okm.toString('hex')) % (P256_N - 1n)) + 1n).toString(16).padStart(64, '0'), 'hex');
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey(); // 0x04 || x || y
  const b64 = (b: Buffer) => b.toString('base64url');
  return createPrivateKey({ key: { kty: 'EC', crv: 'P-256', d: b64(d), x: b64(point.subarray(1, 33)), y: b64(point.subarray(33)) }, format: 'jwk' });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Never echoes the value: key material is secret. */
function unreadable(where: string, what: string): ConfigError {
  return new ConfigError(where, `${what}; expected a PEM key (PKCS#8 or SEC1 private key, SPKI public key), a JWK or a JWK Set`);
}

function fromPem(pem: string, where: string): KeyObject {
  try {
    return /^-----BEGIN PUBLIC KEY-----/.test(pem) ? createPublicKey(pem) : createPrivateKey(pem);
  } catch {
    throw unreadable(where, 'not a readable PEM key (encrypted keys are not supported)');
  }
}

function fromJwk(jwk: unknown, where: string): KeyObject {
  if (!isObject(jwk) || typeof jwk.kty !== 'string') throw unreadable(where, 'not a JWK (an object with kty)');
  if (jwk.kty === 'oct') throw new ConfigError(where, 'a symmetric (oct) JWK is a secret: use `secret` with HS256, HS384 or HS512');
  try {
    const key = { ...jwk } as import('node:crypto').JsonWebKey;
    return jwk.d !== undefined ? createPrivateKey({ key, format: 'jwk' }) : createPublicKey({ key, format: 'jwk' });
  } catch {
    throw unreadable(where, 'not a usable JWK');
  }
}

/** One given item as keys: a KeyObject, a JWK or JWK Set (object or JSON text), or PEM text holding one or more keys. */
function readItem(item: unknown, where: string): KeyObject[] {
  if (item instanceof KeyObject) return [item];
  if (isObject(item)) return Array.isArray(item.keys) ? item.keys.map(k => fromJwk(k, where)) : [fromJwk(item, where)];
  if (typeof item !== 'string') throw unreadable(where, `got ${Array.isArray(item) ? 'a nested list' : typeof item}`);
  let text = item.trim();
  if (text.startsWith('{') || text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw unreadable(where, 'not valid JSON');
    }
    return Array.isArray(parsed) ? parsed.flatMap(p => readItem(p, where)) : readItem(parsed, where);
  }
  // An environment variable often carries a PEM on one line with literal \n.
  if (!text.includes('\n') && text.includes('\\n')) text = text.replace(/\\n/g, '\n');
  const blocks = text.match(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g);
  if (blocks === null) throw unreadable(where, 'not a key');
  return blocks.map(b => fromPem(b, where));
}

/** The `keys` option as KeyObjects, in order (a PEM text or a JWK Set may hold several). Never echoes key material. */
export function readKeys(value: unknown, path: string): KeyObject[] {
  const items = Array.isArray(value) ? value : [value];
  if (items.length === 0) throw new ConfigError(path, 'expected a key or a non-empty list of keys');
  const keys = items.flatMap((item, i) => readItem(item, Array.isArray(value) ? `${path}[${i}]` : path));
  if (keys.length === 0) throw new ConfigError(path, 'expected at least one key');
  for (const k of keys) if (k.type === 'secret') throw new ConfigError(path, 'a secret key is not a signing key pair: use `secret` with HS256, HS384 or HS512');
  return keys;
}

/**
 * The cross-field rules of `keys`: only with EdDSA or ES256, not together with `secret`, every
 * key of exactly the algorithm's type (no key of another type can ever verify), and the first, the
 * one that signs, private.
 */
export function checkKeysFor(algorithm: string, keys: readonly KeyObject[], secretGiven: boolean): void {
  if (!isAsymmetric(algorithm)) throw new ConfigError('keys', `${algorithm} signs with \`secret\`; \`keys\` are for algorithm EdDSA or ES256`);
  if (secretGiven) throw new ConfigError('keys', 'give `keys` or `secret`, not both (with EdDSA or ES256 a key pair is derived from `secret` only when no keys are given)');
  keys.forEach((k, i) => {
    const where = keys.length > 1 ? `keys[${i}]` : 'keys';
    if (!keyFits(algorithm, k)) throw new ConfigError(where, `${algorithm} needs ${NEEDS[algorithm]}; got ${kindOf(k)}`);
  });
  if (keys[0]!.type !== 'private') throw new ConfigError(keys.length > 1 ? 'keys[0]' : 'keys', 'the first key signs, so it must be a private key (the others may be public keys, which only verify)');
}
