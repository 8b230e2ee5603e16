/** Token encoding and size: JWE and PBES2 abuse, segment counts, bit flips, truncation, padding, foreign characters, non-object JSON, duplicate keys, oversized tokens and headers. */
import { expect } from '@jest/globals';
import { createHmac, randomBytes } from 'node:crypto';
import type { TestApp } from '../../adapter-suite.js';
import { SECRET } from '../../fixtures.js';
import { type Attack, ACCESS, expectAlice, expectRefusal, genuine, header, lastReason, macJws, me, rawExchange, rawHead, seg, withToken } from './harness.js';

async function refused(app: TestApp, token: string, reason?: string | string[]): Promise<void> {
  expectRefusal(await withToken(app, token), 'TOKEN_INVALID', 'access', [token]);
  if (reason !== undefined) expect([reason].flat()).toContain(lastReason(app));
}

/** The token with bit `bit` of byte `byte` of segment `part` flipped (the segment re-encoded canonically). */
function flip(token: string, part: 0 | 1 | 2, byte: number, bit = 0): string {
  const parts = token.split('.');
  const bytes = Buffer.from(parts[part]!, 'base64url');
  bytes[byte] = bytes[byte]! ^ (1 << bit);
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

/** A compact JWE shell (five segments): nothing in it needs to decrypt for the attack to work on a library that tries. */
function jwe(protectedHeader: Record<string, unknown>): string {
  return [seg(protectedHeader), randomBytes(40).toString('base64url'), randomBytes(12).toString('base64url'), randomBytes(64).toString('base64url'), randomBytes(16).toString('base64url')].join('.');
}

/** Still serving afterwards: the genuine session answers. */
async function stillServes(app: TestApp, cookie: string): Promise<void> {
  await expectAlice(await me(app, cookie));
}

export const TOKEN_SHAPE_ATTACKS: Attack[] = [
  {
    id: 'A23',
    title: 'a compact JWE with PBES2 and a huge p2c (2^31-1 iterations) is refused at once',
    async run(ctx) {
      const app = await ctx.app();
      const { cookie } = await genuine(app);
      const token = jwe({ alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: 2 ** 31 - 1, p2s: randomBytes(16).toString('base64url'), typ: 'tessera-session+jwt' });
      const started = Date.now();
      await refused(app, token, 'malformed');
      expect(Date.now() - started).toBeLessThan(5000); // PBKDF2 at that count would take many minutes
      await stillServes(app, cookie);
    },
  },
  {
    id: 'A24',
    title: 'a three-part token naming a PBES2 algorithm with a huge p2c is refused at once',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const started = Date.now();
      await refused(app, macJws(header('session', { alg: 'PBES2-HS256+A128KW', p2c: 1e9, p2s: 'c2FsdHNhbHQ' }), payload), 'alg');
      expect(Date.now() - started).toBeLessThan(5000); // PBKDF2 at that count would take many minutes
    },
  },
  {
    id: 'A25',
    title: 'a compact JWE with compressed plaintext (`zip: DEF`) and `dir` / `RSA1_5` key management is refused',
    async run(ctx) {
      const app = await ctx.app();
      await refused(app, jwe({ alg: 'dir', enc: 'A128CBC-HS256', zip: 'DEF' }), 'malformed');
      await refused(app, jwe({ alg: 'RSA1_5', enc: 'A128GCM' }), 'malformed');
    },
  },
  {
    id: 'A26',
    title: 'tokens with one, two, four, five or six segments, or empty segments, are refused',
    async run(ctx) {
      const app = await ctx.app();
      const { token } = await genuine(app);
      const [h, p, s] = token.split('.');
      for (const t of [h!, `${h}.${p}`, `${token}.${s}`, `${token}.${s}.${s}`, `${token}.${s}.${s}.${s}`, `${h}..${s}`, `.${p}.${s}`, `${h}.${p}.`, '..', '....']) {
        await refused(app, t, 'malformed');
      }
    },
  },
  {
    id: 'A27',
    title: 'one flipped bit anywhere in the signature is refused',
    async run(ctx) {
      const app = await ctx.app();
      const { token } = await genuine(app);
      for (const [byte, bit] of [[0, 0], [7, 3], [16, 7], [31, 0]] as const) await refused(app, flip(token, 2, byte, bit), 'signature');
    },
  },
  {
    id: 'A28',
    title: 'a changed payload under the original signature (a flipped bit, other whitespace, reordered keys) is refused',
    async run(ctx) {
      const app = await ctx.app();
      const { token, payload } = await genuine(app);
      const [h, , s] = token.split('.');
      await refused(app, flip(token, 1, 3, 1), ['signature', 'malformed']);
      await refused(app, `${h}.${seg(JSON.stringify(payload, null, 1))}.${s}`, 'signature');
      const reordered = Object.fromEntries(Object.entries(payload).reverse());
      await refused(app, `${h}.${seg(reordered)}.${s}`, 'signature');
    },
  },
  {
    id: 'A29',
    title: 'truncated tokens (a signature one or four characters short, the signature gone, cut mid-payload) are refused',
    async run(ctx) {
      const app = await ctx.app();
      const { token } = await genuine(app);
      const [h, p] = token.split('.');
      await refused(app, token.slice(0, -1), ['signature', 'malformed']);
      await refused(app, token.slice(0, -4), ['signature', 'malformed']);
      await refused(app, `${h}.${p}`, 'malformed');
      await refused(app, token.slice(0, h!.length + 30), 'malformed');
    },
  },
  {
    id: 'A30',
    title: 'padded segments (`=`, `==`) and a trailing dot are refused',
    async run(ctx) {
      const app = await ctx.app();
      const { token } = await genuine(app);
      const [h, p, s] = token.split('.');
      for (const t of [`${h}=.${p}.${s}`, `${h}.${p}==.${s}`, `${token}=`, `${token}==`, `${token}.`]) await refused(app, t, 'malformed');
    },
  },
  {
    id: 'A31',
    title: 'non-base64url characters (+ / from base64, %2E for dots, Latin-1, an inner space) are refused',
    async run(ctx) {
      const app = await ctx.app();
      const { token } = await genuine(app);
      const [h, p, s] = token.split('.');
      const mid = Math.floor(s!.length / 2);
      for (const t of [`${h}.${p}.${s!.slice(0, mid)}+${s!.slice(mid + 1)}`, `${h}.${p}.${s!.slice(0, mid)}/${s!.slice(mid + 1)}`, `${h}%2E${p}%2E${s}`, `${h}.${p}\u00b7${s}`, `${h}.${p}. ${s}`, `${h}.${p}.${s!.slice(0, mid)}*${s!.slice(mid + 1)}`]) {
        await refused(app, t, 'malformed');
      }
    },
  },
  {
    id: 'A32',
    title: 'other spellings of a genuine token (unused bits of the signature, a BOM before the header) are the same session: logout ends them all',
    async run(ctx) {
      const app = await ctx.app();
      const { token, cookie } = await genuine(app);
      const [h, p, s] = token.split('.');
      // 32 bytes take 43 characters; the last one carries two unused bits, which decoders ignore.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const variant = `${h}.${p}.${s!.slice(0, -1)}${alphabet[alphabet.indexOf(s!.at(-1)!) ^ 1]}`;
      expect(variant).not.toBe(token);
      await expectAlice(await withToken(app, variant));
      // A UTF-8 byte-order mark before the header JSON is skipped by jose's decoder (this one needs the key to MAC).
      const headerBytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(header()))]).toString('base64url');
      const bomInput = `${headerBytes}.${p}`;
      const bom = `${bomInput}.${createHmac('sha256', SECRET).update(bomInput).digest('base64url')}`;
      await expectAlice(await withToken(app, bom));
      expect((await app.http().post('/auth/logout').set('Cookie', cookie)).status).toBe(204);
      expectRefusal(await withToken(app, variant), 'SESSION_ENDED', 'access', [variant]);
      expectRefusal(await withToken(app, bom), 'SESSION_ENDED', 'access', [bom]);
    },
  },
  {
    id: 'A33',
    title: 'a header that is not a JSON object (array, string, number, null, broken or empty JSON) is refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const p = seg(payload);
      const mac = (h: string) => `${h}.${p}.${createHmac('sha256', SECRET).update(`${h}.${p}`).digest('base64url')}`;
      for (const h of [seg([header()]), seg('"HS256"'), seg('256'), seg('null'), seg('{"alg":"HS256",'), seg('{"alg":"HS256"}x'), seg('')]) await refused(app, mac(h), 'malformed');
    },
  },
  {
    id: 'A34',
    title: 'a correctly MAC\'d payload that is not a JSON object (array, string, number, null, broken JSON) is refused',
    async run(ctx) {
      const app = await ctx.app();
      await genuine(app);
      for (const body of ['[]', '"alice"', '42', 'null', '{"sub":"alice",', 'not json']) await refused(app, macJws(header(), body), 'malformed');
    },
  },
  {
    id: 'A35',
    title: 'duplicate claim keys: one parser (the last key wins), and the store record must agree with it',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const { sub: _s, ...rest } = payload;
      const body = JSON.stringify(rest).slice(0, -1);
      // Last "sub" is bob's: not the subject of alice's session.
      const lastBob = macJws(header(), `${body},"sub":"alice","sub":"bob"}`);
      await refused(app, lastBob, 'record-mismatch');
      // Last "sub" is alice's: the token reads as alice's, and the user comes from the store, never from the token.
      await expectAlice(await withToken(app, macJws(header(), `${body},"sub":"bob","sub":"alice"}`)));
    },
  },
  {
    id: 'A36',
    title: 'duplicate header keys (`alg` then `alg: none`, a second `kid`) are read as the last one and refused',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const h = JSON.stringify(header()).slice(0, -1);
      await refused(app, macJws(`${h},"alg":"none"}`, payload), 'alg');
      await refused(app, macJws(`${h},"kid":"../../dev/null"}`, payload), 'kid');
    },
  },
  {
    id: 'A37',
    title: 'claims nested under `__proto__` in the payload are not claims; nothing is polluted',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const { iss, aud, ...claims } = payload;
      const t = macJws(header(), `{"iss":${JSON.stringify(iss)},"aud":${JSON.stringify(aud)},"__proto__":${JSON.stringify(claims)}}`);
      expectRefusal(await withToken(app, t), 'TOKEN_INVALID', 'access', [t]);
      expect(lastReason(app)).toMatch(/^claim:/);
      expect(({} as Record<string, unknown>).sub).toBeUndefined();
      expect(({} as Record<string, unknown>).sid).toBeUndefined();
    },
  },
  {
    id: 'A38',
    title: 'a genuinely signed token longer than maxTokenBytes is refused before it is verified',
    async run(ctx) {
      const app = await ctx.app();
      const { payload } = await genuine(app);
      const big = macJws(header(), { ...payload, pad: 'x'.repeat(4200) });
      expect(big.length).toBeGreaterThan(4096);
      await refused(app, big, 'oversized');
    },
  },
  {
    id: 'A39',
    title: 'a Cookie header beyond the HTTP server\'s header limit gets a 4xx from the server, never a 5xx',
    async run(ctx) {
      const app = await ctx.app();
      const { cookie } = await genuine(app);
      const r = await rawExchange(app, rawHead(app, 'GET', '/api/me', [`Cookie: ${cookie}; pad=${'x'.repeat(40 * 1024)}`]));
      expect(r.statuses.length).toBeLessThanOrEqual(1);
      for (const s of r.statuses) expect([400, 431]).toContain(s);
      await stillServes(app, cookie);
    },
  },
  {
    id: 'A40',
    title: 'an oversized Authorization header: TOKEN_INVALID within the header limit, a 4xx beyond it',
    async run(ctx) {
      const app = await ctx.app();
      const { cookie } = await genuine(app);
      const res = await app.http().get('/api/me').set('Authorization', `Bearer ${'a'.repeat(6000)}.${'b'.repeat(3000)}.${'c'.repeat(43)}`);
      expectRefusal(res, 'TOKEN_INVALID', 'access');
      expect(lastReason(app)).toBe('oversized');
      const r = await rawExchange(app, rawHead(app, 'GET', '/api/me', [`Authorization: Bearer ${'a'.repeat(64 * 1024)}`]));
      for (const s of r.statuses) expect([400, 431]).toContain(s);
      await stillServes(app, cookie);
    },
  },
  {
    id: 'A41',
    title: 'a thousand cookies: unrelated ones are skipped, a thousand copies of the session cookie are refused',
    async run(ctx) {
      const app = await ctx.app();
      const { cookie } = await genuine(app);
      const noise = Array.from({ length: 500 }, (_, i) => `c${i}=${i}`).join('; '); // 1000 cookies, within the server's header limit
      await expectAlice(await me(app, `${noise}; ${cookie}; ${noise}`));
      const copies = Array.from({ length: 1000 }, () => `${ACCESS}=x`).join('; ');
      expectRefusal(await me(app, copies), 'TOKEN_INVALID', 'access');
      expect(lastReason(app)).toBe('duplicate-cookie');
    },
  },
];
