/**
 * Fuzzing the token decoder/verifier (TokenCodec.verify) directly (FUZZ_RUNS inputs each): mutated
 * genuine tokens, arbitrary strings, and tokens correctly signed over arbitrary headers and claims.
 * It never throws, and it accepts only what the pinned checks allow.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { buildKeyRing, kidOf } from '../../packages/core/src/keys.js';
import { TokenCodec, TYP, type Claims, type TokenType } from '../../packages/core/src/token.js';
import { applyMutations, mutations } from './arbitraries.js';
import { RUNS, TEST_TIMEOUT_MS } from './config.js';
import { sameBytes } from './contract.js';
import { fuzz } from './run.js';

const SECRET = 'fuzz-secret-0123456789-abcdefghijklmnopqrstuv';
const KID = kidOf(SECRET);
const NOW = 1_800_000_000;
const TOL = 5;
const LIFETIME: Record<TokenType, number> = { session: 3600, access: 300, refresh: 86_400 };
const TYPES: TokenType[] = ['session', 'access', 'refresh'];

const codec = () =>
  new TokenCodec(buildKeyRing([SECRET]), {
    algorithm: 'HS256',
    issuer: 'tessera',
    audience: 'tessera',
    clockTolerance: TOL,
    maxTokenBytes: 4096,
    cacheSize: 1000,
    maxLifetime: LIFETIME,
  });

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8').toString('base64url');
/** A compact JWS over exactly these header and payload values, HMAC-SHA256 with the server's key. */
function signed(header: unknown, payload: unknown): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

describe(`fuzz: TokenCodec.verify (${RUNS} inputs each)`, () => {
  const genuine: Record<TokenType, string[]> = { session: [], access: [], refresh: [] };

  beforeAll(async () => {
    const c = codec();
    for (const type of TYPES) {
      for (const [i, sub] of ['alice', 'bob', 'alice'].entries()) {
        const claims: Claims = { sub, sid: '', key: `sid-${type}-${i}`, jti: `jti-${type}-${i}`, iat: NOW - 10, exp: NOW - 10 + LIFETIME[type] };
        genuine[type].push(await c.sign(type, claims));
      }
    }
  });

  it(
    'a mutated genuine token verifies only if it decodes to the genuine bytes, and only as its own type',
    async () => {
      const c = codec();
      let sameSpelling = 0;
      await fuzz({
        name: 'TokenCodec mutants',
        arbitrary: fc.record({ type: fc.constantFrom(...TYPES), as: fc.constantFrom(...TYPES), token: fc.nat(), mutations }),
        runs: RUNS,
        lanes: 8, // verification awaits WebCrypto, which runs off the main thread
        async check({ type, as, token, mutations: ms }) {
          const pool = genuine[type];
          const original = pool[token % pool.length]!;
          const mutant = applyMutations(original, ms, [...pool, ...genuine[as]]);
          const v = await c.verify(as, mutant, NOW);
          if (mutant === original) sameSpelling++;
          if (!v.ok) {
            if (mutant === original && as === type) throw new Error(`the unchanged genuine ${type} token was refused (${v.reason})`);
            return v.code;
          }
          const match = genuine[as].find(g => sameBytes(mutant, g));
          if (match === undefined) throw new Error(`a mutated ${type} token verified as ${as}`);
          return mutant === original ? 'ok (unchanged)' : 'ok (another spelling of the same bytes)';
        },
      });
      expect(sameSpelling).toBeGreaterThan(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'arbitrary strings never verify and never throw',
    async () => {
      const c = codec();
      const segment = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), maxLength: 60 });
      await fuzz({
        name: 'TokenCodec arbitrary strings',
        arbitrary: fc.record({
          type: fc.constantFrom(...TYPES),
          token: fc.oneof(fc.string({ maxLength: 120 }), fc.tuple(segment, segment, segment).map(s => s.join('.')), fc.array(segment, { maxLength: 5 }).map(s => s.join('.'))),
        }),
        runs: RUNS,
        lanes: 8, // verification awaits WebCrypto, which runs off the main thread
        async check({ type, token }) {
          const v = await c.verify(type, token, NOW);
          if (v.ok) throw new Error('an arbitrary string verified');
          return v.reason;
        },
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a token signed with the key over arbitrary headers and claims verifies only when every pinned check holds',
    async () => {
      const c = codec();
      // Mostly what the server signs, each field now and then wrong, missing or of another type,
      // and times around every boundary: so that both verdicts stay common.
      const some = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown>) =>
        fc.oneof({ weight: 30, arbitrary: good }, { weight: 1, arbitrary: bad }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }, { weight: 1, arbitrary: fc.constant(undefined) });
      const rarely = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
      const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
      const offsets = fc.oneof(fc.constantFrom(0, 1, -1, TOL, TOL + 1, -TOL, -TOL - 1, -10), fc.integer({ min: -100_000, max: 100_000 }));
      const input = fc.oneof(
        ...TYPES.map(type =>
          fc.record({
            type: fc.constant(type),
            header: fc
              .record({
                alg: some(fc.constant('HS256'), fc.constantFrom('HS384', 'none', 'RS256', 'hs256', 'EdDSA')),
                typ: some(fc.constant(TYP[type]), fc.constantFrom(...Object.values(TYP), 'JWT', `application/${TYP[type]}`, TYP[type].toUpperCase())),
                kid: some(fc.constant(KID), fc.constantFrom('other', '', KID.toLowerCase())),
                crit: rarely(fc.constantFrom(['b64'], ['exp'], [])),
                b64: rarely(fc.boolean()),
              })
              .map(defined),
            payload: fc
              .record({
                iss: some(fc.constant('tessera'), fc.constantFrom('other', 'Tessera', ['tessera'])),
                aud: some(fc.constantFrom('tessera', ['tessera'], ['x', 'tessera']), fc.constantFrom('other', [], ['x'])),
                sub: some(fc.constantFrom('alice', 'bob'), fc.constantFrom('', 42)),
                sid: some(fc.constant('s1'), fc.oneof(fc.constantFrom('', 7), fc.string({ minLength: 250, maxLength: 260 }))),
                jti: some(fc.constant('j1'), fc.constantFrom('', null)),
                iat: some(offsets.map(d => NOW + d), fc.constantFrom('now', Number.MAX_VALUE, 1e300, -1)),
                life: some(fc.oneof(fc.constantFrom(LIFETIME[type], LIFETIME[type] + TOL, LIFETIME[type] + TOL + 1, 1, 0), fc.integer({ min: -1000, max: 200_000 })), fc.constant('x')),
                nbf: rarely(offsets.map(d => NOW + d)),
                tnt: rarely(fc.constantFrom('t1', 1)),
              })
              .map(({ life, ...p }) => defined({ ...p, exp: typeof p.iat === 'number' && typeof life === 'number' ? p.iat + life : life })),
          }),
        ),
      );
      await fuzz({
        name: 'TokenCodec signed claims',
        arbitrary: input,
        runs: RUNS,
        lanes: 8, // verification awaits WebCrypto, which runs off the main thread
        async check({ type, header: h, payload: p }) {
          const v = await c.verify(type, signed(h, p), NOW);
          if (!v.ok) return v.reason;
          const aud = p.aud;
          const problems = [
            h.alg !== 'HS256' && 'alg',
            // jose compares `typ` without case and without an `application/` prefix (RFC 7515 4.1.9).
            (typeof h.typ !== 'string' || h.typ.toLowerCase().replace(/^application\//, '') !== TYP[type]) && 'typ',
            h.kid !== KID && 'kid',
            p.iss !== 'tessera' && 'iss',
            !(aud === 'tessera' || (Array.isArray(aud) && aud.includes('tessera'))) && 'aud',
            (typeof p.sub !== 'string' || typeof p.sid !== 'string' || typeof p.jti !== 'string' || p.sid.length === 0 || p.sid.length > 256 || p.jti.length === 0) && 'ids',
            'tnt' in p && typeof p.tnt !== 'string' && 'tnt',
            (typeof p.iat !== 'number' || typeof p.exp !== 'number' || !Number.isFinite(p.iat) || !Number.isFinite(p.exp)) && 'times',
            typeof p.exp === 'number' && p.exp <= NOW - TOL && 'expired',
            typeof p.iat === 'number' && p.iat > NOW + TOL && 'iat in the future',
            typeof p.iat === 'number' && typeof p.exp === 'number' && p.exp - p.iat > LIFETIME[type] + TOL && 'lifetime',
            'nbf' in p && (typeof p.nbf !== 'number' || p.nbf > NOW + TOL) && 'nbf',
          ].filter(Boolean);
          if (problems.length > 0) throw new Error(`verified despite: ${problems.join(', ')}`);
          assert.deepEqual([v.claims.sub, v.claims.key, v.claims.jti, v.claims.iat, v.claims.exp], [p.sub, p.sid, p.jti, p.iat, p.exp]);
          return 'ok';
        },
      });
    },
    TEST_TIMEOUT_MS,
  );
});
