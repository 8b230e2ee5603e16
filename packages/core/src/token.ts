/**
 * Token signing and verification with jose. The algorithm allow-list, `typ`, issuer and
 * audience are pinned on every verify; `exp`, `iat`, `sub`, `jti` and `sid` are required, and
 * `exp - iat` may not exceed the lifetime this server issues for the token's type.
 *
 * Verified tokens are remembered in a bounded cache, so a token's signature is checked by jose
 * once; expiry and the store record are still checked on every request. The cache is keyed by a
 * small integer mixed from the token's last characters (its signature's: uniformly random for a
 * genuine token), and a hit counts only when the whole token is the one that was verified.
 */
import { SignJWT, errors as joseErrors, jwtVerify, type JWTHeaderParameters, type JWTPayload } from 'jose';
import type { KeyObject } from 'node:crypto';
import type { Key, KeyRing } from './keys.js';
import { sessionIdOf } from './lib/at-rest.js';
import type { Algorithm } from './options.js';

export type TokenType = 'session' | 'access' | 'refresh';

export const TYP: Readonly<Record<TokenType, string>> = {
  session: 'tessera-session+jwt',
  access: 'tessera-access+jwt',
  refresh: 'tessera-refresh+jwt',
};

export interface Claims {
  sub: string;
  /** The session's public id (its record id, token family): `sessionIdOf` the signed `sid` claim. */
  sid: string;
  /**
   * The signed `sid` claim itself: the session's secret, known only to the holders of its tokens.
   * The store keeps its hash (`sid`) and an HMAC keyed with it, never the value (lib/at-rest.ts).
   */
  key: string;
  /** Token id. Refresh tokens: the refresh record id. */
  jti: string;
  iat: number;
  exp: number;
  /** Tenant, when the server has a `tenant` function. */
  tnt?: string;
}

export type VerifyResult =
  | { ok: true; claims: Claims }
  | { ok: false; code: 'TOKEN_INVALID'; reason: string }
  /** Signature and claims were good; only the time is up. */
  | { ok: false; code: 'TOKEN_EXPIRED'; reason: string; claims: Claims };

export interface CodecOptions {
  algorithm: Algorithm;
  issuer: string;
  audience: string;
  clockTolerance: number;
  maxTokenBytes: number;
  cacheSize: number;
  /**
   * The longest `exp - iat` this server ever signs, per type (before `clockTolerance`): a genuine
   * token claiming more was signed under other settings or with a leaked key, never by this server.
   */
  maxLifetime: Readonly<Record<TokenType, number>>;
  /** A kid this keyring lacks: the key, if re-reading the keys finds it (generated, rotating keyrings only). */
  unknownKid?: (kid: string) => Promise<Key | undefined>;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}$/;

type Valid = Extract<VerifyResult, { ok: true }>;

/** A verified token: the exact string, and the one result object every in-time use of it returns. */
interface Verified {
  readonly token: string;
  readonly valid: Valid;
}

/**
 * The cache key of a token: an integer mixed from its last 8 characters. Any string key costs a
 * hash computed in the engine's runtime on every lookup (about 0.15 us a request here); an
 * integer is hashed inline. Two tokens sharing a key only share a slot: the later one verified
 * takes it, and the other's next use is a miss (a jose verify), never a wrong answer, since a hit
 * must be the same whole token. Only verified tokens are cached, so a forger can't choose keys
 * to evict others' entries with anything but its own genuine tokens.
 */
function cacheKey(token: string): number {
  const n = token.length;
  let h = n;
  for (let i = n > 8 ? n - 8 : 0; i < n; i++) h = (Math.imul(h, 31) + token.charCodeAt(i)) | 0;
  return h & 0x3fffffff; // a small integer (Smi) on every platform
}

export class TokenCodec {
  private readonly caches: Record<TokenType, Map<number, Verified>> = { session: new Map(), access: new Map(), refresh: new Map() };

  constructor(private readonly ring: KeyRing, private readonly o: CodecOptions) {}

  async sign(type: TokenType, c: Claims): Promise<string> {
    const payload: JWTPayload = { sid: c.key };
    if (c.tnt !== undefined) payload.tnt = c.tnt;
    return new SignJWT(payload)
      .setProtectedHeader({ alg: this.o.algorithm, typ: TYP[type], kid: this.ring.signing.kid })
      .setIssuer(this.o.issuer)
      .setAudience(this.o.audience)
      .setSubject(c.sub)
      .setJti(c.jti)
      .setIssuedAt(c.iat)
      .setExpirationTime(c.exp)
      .sign(this.ring.signing.material);
  }

  /** Synchronous answer for a token whose signature was already verified; undefined on a cache miss. */
  verifyCached(type: TokenType, token: string, now: number): VerifyResult | undefined {
    const hit = this.caches[type].get(cacheKey(token));
    return hit === undefined || hit.token !== token ? undefined : this.checkTimes(hit.valid, now, this.o.clockTolerance);
  }

  async verify(type: TokenType, token: string, now: number): Promise<VerifyResult> {
    const tol = this.o.clockTolerance;
    const cache = this.caches[type];
    const key = cacheKey(token);
    const hit = cache.get(key);
    if (hit !== undefined && hit.token === token) return this.checkTimes(hit.valid, now, tol);
    if (token.length > this.o.maxTokenBytes) return { ok: false, code: 'TOKEN_INVALID', reason: 'oversized' };
    if (!JWT_SHAPE.test(token)) return { ok: false, code: 'TOKEN_INVALID', reason: 'malformed' };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header: JWTHeaderParameters) => this.keyFor(header), {
        algorithms: [this.o.algorithm],
        issuer: this.o.issuer,
        audience: this.o.audience,
        typ: TYP[type],
        requiredClaims: ['exp', 'iat', 'sub', 'jti', 'sid'],
        clockTolerance: tol,
        currentDate: new Date(now * 1000),
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        // jose checks the signature and every other claim before it reports expiry.
        const claims = toClaims(err.payload);
        if (claims && !this.tooLong(type, claims)) return { ok: false, code: 'TOKEN_EXPIRED', reason: 'exp', claims };
        return { ok: false, code: 'TOKEN_INVALID', reason: claims ? 'lifetime' : 'claims' };
      }
      return { ok: false, code: 'TOKEN_INVALID', reason: reasonOf(err) };
    }
    const claims = toClaims(payload);
    if (claims === null) return { ok: false, code: 'TOKEN_INVALID', reason: 'claims' };
    // Checked before caching, so the cache only ever answers for tokens within the bound.
    if (this.tooLong(type, claims)) return { ok: false, code: 'TOKEN_INVALID', reason: 'lifetime' };
    const valid: Valid = { ok: true, claims };
    if (this.o.cacheSize > 0) {
      if (cache.size >= this.o.cacheSize && !cache.has(key)) cache.delete(cache.keys().next().value as number);
      cache.set(key, { token, valid });
    }
    return this.checkTimes(valid, now, tol);
  }

  /** Claims of a genuine token, expired or not (logout needs to know which session to end). */
  async claimsEvenIfExpired(type: TokenType, token: string, now: number): Promise<Claims | null> {
    const v = await this.verify(type, token, now);
    return v.ok || v.code === 'TOKEN_EXPIRED' ? v.claims : null;
  }

  private tooLong(type: TokenType, c: Claims): boolean {
    return c.exp - c.iat > this.o.maxLifetime[type] + this.o.clockTolerance;
  }

  /** `valid` itself when the token is within its times (no allocation on the hot path). */
  private checkTimes(valid: Valid, now: number, tol: number): VerifyResult {
    const c = valid.claims;
    if (c.exp <= now - tol) return { ok: false, code: 'TOKEN_EXPIRED', reason: 'exp', claims: c };
    if (c.iat > now + tol) return { ok: false, code: 'TOKEN_INVALID', reason: 'iat-future' };
    return valid;
  }

  /** The verifying key the header names: only by kid, and only of the one configured algorithm (jose pins `alg` and checks the key's type). */
  private async keyFor(header: JWTHeaderParameters): Promise<Uint8Array | KeyObject> {
    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    const key = kid === undefined ? undefined : (this.ring.byKid.get(kid) ?? (await this.o.unknownKid?.(kid)));
    if (!key) throw new UnknownKid();
    return key.verify;
  }
}

class UnknownKid extends Error {}

function reasonOf(err: unknown): string {
  if (err instanceof UnknownKid) return 'kid';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'alg';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim:${err.claim}`;
  if (err instanceof joseErrors.JOSENotSupported) return 'unsupported';
  return 'malformed';
}

function toClaims(p: JWTPayload): Claims | null {
  const { sub, sid, jti, iat, exp, tnt } = p as Record<string, unknown>;
  if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string') return null;
  if (typeof iat !== 'number' || typeof exp !== 'number' || !Number.isFinite(iat) || !Number.isFinite(exp)) return null;
  if (sid.length === 0 || sid.length > 256 || jti.length === 0 || jti.length > 256) return null;
  if (tnt !== undefined && typeof tnt !== 'string') return null;
  const c: Claims = { sub, sid: sessionIdOf(sid), key: sid, jti, iat, exp };
  if (typeof tnt === 'string') c.tnt = tnt;
  return c;
}
