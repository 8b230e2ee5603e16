/**
 * Fuzzing the request parsers as pure functions (FUZZ_RUNS inputs each): the Cookie header parser,
 * the credentials reader, the JSON body reader and the raw body reader never throw anything but
 * their contract refusal, and agree with a plain model of what they parse.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import type { CookieJar } from '../../packages/core/src/cookie-jar.js';
import { readCredentials, refreshTokenOf } from '../../packages/core/src/credentials.js';
import { TesseraError } from '../../packages/core/src/errors.js';
import { readJsonBody } from '../../packages/core/src/flows/body.js';
import { readBody } from '../../packages/core/src/lib/body.js';
import { findCookies, type CookieLookup } from '../../packages/core/src/lib/cookies.js';
import { Reject } from '../../packages/core/src/reject.js';
import type { HttpRequest } from '../../packages/core/src/types.js';
import { headerChar } from './arbitraries.js';
import { RUNS, TEST_TIMEOUT_MS } from './config.js';
import { fuzz } from './run.js';

const JAR = { accessName: 'tessera', refreshName: 'tessera-refresh' } as CookieJar;

function request(headers: Record<string, string | undefined>, body: () => Promise<unknown> = async () => undefined): HttpRequest {
  return { method: 'POST', path: '/auth/login', header: n => headers[n], ip: '127.0.0.1', secure: false, body };
}

/** RFC 6265 as this server reads it, written the plain way: split on `;`, first `=`, trim, one pair of quotes. */
function cookieModel(header: string, name: string): CookieLookup {
  const hits: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).replace(/^[ \t]+|[ \t]+$/g, '') !== name) continue;
    let v = part.slice(eq + 1).replace(/^ +| +$/g, '');
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    hits.push(v);
  }
  return hits.length === 0 ? { status: 'absent' } : hits.length === 1 ? { status: 'found', value: hits[0]! } : { status: 'duplicate' };
}

const NAMES = ['tessera', 'tessera-refresh', 'a', 'Tessera', 'x y', ''];
const cookieName = fc.oneof(fc.constantFrom(...NAMES), fc.string({ unit: fc.constantFrom(...'!#$%&\'*+-.^_`|~09AZaz'), minLength: 1, maxLength: 8 }));
/** Cookie headers that often contain the names looked up, in any spelling of separators and spaces. */
const cookieHeader = fc.oneof(
  fc.string({ unit: headerChar, maxLength: 120 }),
  fc
    .array(fc.tuple(fc.constantFrom('', ' ', '\t', '  '), fc.constantFrom(...NAMES), fc.constantFrom('=', ' =', '= ', ''), fc.string({ unit: headerChar, maxLength: 20 }), fc.constantFrom(';', '; ', ' ;', ';;', '')), { maxLength: 8 })
    .map(parts => parts.map(p => p.join('')).join('')),
);

describe(`fuzz: request parsers (${RUNS} inputs each)`, () => {
  it(
    'findCookies: any header, any two names: never throws, and agrees with the plain model',
    async () => {
      await fuzz({
        name: 'findCookies vs model',
        arbitrary: fc.record({ header: fc.option(cookieHeader, { freq: 20 }), a: cookieName, b: fc.option(cookieName) }),
        runs: RUNS,
        check({ header, a, b }) {
          const [x, y] = findCookies(header ?? undefined, a, b ?? undefined);
          assert.deepEqual(x, cookieModel(header ?? '', a));
          if (b === null) assert.deepEqual(y, { status: 'absent' });
          else if (b !== a) assert.deepEqual(y, cookieModel(header ?? '', b));
          for (const r of [x, y]) if (r.status === 'found') assert.ok(!r.value.includes(';'), 'a found value spans a ;');
          return x.status;
        },
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'findCookies: a header written from cookies gives back each value (found once, duplicate when repeated)',
    async () => {
      const value = fc.string({ unit: fc.constantFrom(...'!#$%&\'()*+-./0123456789:<=>?@ABCXYZ[]^_`abcxyz{|}~'), maxLength: 30 });
      await fuzz({
        name: 'findCookies round trip',
        arbitrary: fc.record({
          cookies: fc.array(fc.tuple(fc.constantFrom('tessera', 'tessera-refresh', 'other', 'tessera2', 'Tessera'), value, fc.boolean()), { maxLength: 6 }),
          sep: fc.constantFrom(';', '; ', ' ; ', ';  '),
        }),
        runs: RUNS,
        check({ cookies, sep }) {
          const header = cookies.map(([n, v, quoted]) => `${n}=${quoted ? `"${v}"` : v}`).join(sep);
          const [access, refresh] = findCookies(header, 'tessera', 'tessera-refresh');
          for (const [name, got] of [['tessera', access], ['tessera-refresh', refresh]] as const) {
            const sent = cookies.filter(([n]) => n === name);
            if (sent.length === 0) assert.deepEqual(got, { status: 'absent' });
            else if (sent.length > 1) assert.deepEqual(got, { status: 'duplicate' });
            else assert.deepEqual(got, { status: 'found', value: sent[0]![1] });
          }
          return access.status;
        },
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'readCredentials: any Authorization and Cookie header: a bearer is one whitespace-free word, a duplicate refresh cookie is TOKEN_INVALID',
    async () => {
      const word = fc.string({ unit: fc.constantFrom(...'abcXYZ019-_.~+/=', '\u00e9'), minLength: 1, maxLength: 40 });
      await fuzz({
        name: 'readCredentials',
        arbitrary: fc.record({
          authorization: fc.option(fc.oneof(fc.string({ unit: headerChar, maxLength: 80 }), fc.tuple(fc.constantFrom('Bearer ', 'bearer   ', 'BEARER '), word, fc.constantFrom('', ' ', '\t')).map(p => p.join('')))),
          cookie: fc.option(cookieHeader),
        }),
        runs: RUNS,
        check({ authorization, cookie }) {
          const c = readCredentials(request({ authorization: authorization ?? undefined, cookie: cookie ?? undefined }), JAR);
          if (c.bearer !== undefined) {
            assert.ok(c.bearer.length > 0 && !/\s/.test(c.bearer), 'a bearer that is empty or has whitespace');
            assert.ok(authorization!.toLowerCase().startsWith('bearer'), 'a bearer from another scheme');
          }
          const m = authorization === null ? null : /^bearer +([^\s]+)[ \t]*$/i.exec(authorization);
          if (m) assert.equal(c.bearer, m[1]);
          assert.deepEqual(c.access, cookieModel(cookie ?? '', 'tessera'));
          try {
            const t = refreshTokenOf(c);
            assert.notEqual(c.refresh.status, 'duplicate');
            assert.equal(t, c.refresh.status === 'found' ? c.refresh.value : undefined);
          } catch (err) {
            assert.equal(c.refresh.status, 'duplicate');
            assert.ok(err instanceof Reject && err.error.code === 'TOKEN_INVALID', 'a duplicate refresh cookie refused with another error');
          }
          return c.bearer === undefined ? 'no bearer' : 'bearer';
        },
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'readJsonBody: any body and content type: the parsed JSON, the framework-parsed value, or 400 BAD_REQUEST, nothing else',
    async () => {
      const contentType = fc.oneof(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'Application/Problem+JSON', 'text/plain', 'application/jsonp', ''), fc.string({ unit: headerChar, maxLength: 30 }));
      const raw = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.jsonValue({ maxDepth: 3 }).map(v => JSON.stringify(v) ?? ''), fc.constantFrom('', '  ', '\n', '{', 'null', '"x"', '[]', '{"a":1}'));
      const body = fc.oneof(
        raw.map(s => ({ kind: 'string' as const, value: s })),
        raw.map(s => ({ kind: 'bytes' as const, value: s })),
        // A framework's parsed body (a string would be raw text).
        fc.jsonValue({ maxDepth: 2 }).filter(v => typeof v !== 'string').map(v => ({ kind: 'parsed' as const, value: v })),
        fc.constant({ kind: 'fails' as const, value: '' }),
      );
      await fuzz({
        name: 'readJsonBody',
        arbitrary: fc.record({ contentType: fc.option(contentType), body }),
        runs: RUNS,
        async check({ contentType, body }) {
          const read = async () => {
            if (body.kind === 'fails') throw new RangeError('request body too large');
            if (body.kind === 'bytes') return new Uint8Array(Buffer.from(body.value, 'utf8'));
            return body.value;
          };
          let out: unknown;
          try {
            out = await readJsonBody(request({ 'content-type': contentType ?? undefined }, read));
          } catch (err) {
            if (!(err instanceof Reject) || err.error.code !== 'BAD_REQUEST' || !(err.error instanceof TesseraError)) throw err;
            return 'BAD_REQUEST';
          }
          assert.notEqual(body.kind, 'fails', 'a body that failed to read was parsed');
          if (body.kind === 'parsed') assert.equal(out, body.value);
          else if (typeof body.value === 'string' && body.value.trim() === '') assert.equal(out, undefined);
          else {
            assert.match(contentType ?? '', /json/i);
            assert.deepEqual(out, JSON.parse(body.value as string));
          }
          return 'parsed';
        },
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'readBody: any chunks, any limit: the whole text when within the limit, a RangeError past it, a rejection when the client goes away',
    async () => {
      await fuzz({
        name: 'readBody',
        arbitrary: fc.record({
          chunks: fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.string({ maxLength: 32 })), { maxLength: 8 }),
          limit: fc.nat({ max: 256 }),
          ending: fc.constantFrom('end', 'end', 'destroy', 'error'),
        }),
        runs: RUNS,
        async check({ chunks, limit, ending }) {
          // A plain Readable, stricter than IncomingMessage: it emits 'error' even when nobody listens,
          // which would crash the process; caught here so the property fails with its counterexample.
          const stream = new Readable({ read() {} });
          let crash = false;
          const emit = stream.emit.bind(stream);
          stream.emit = ((event: string | symbol, ...args: unknown[]) => {
            if (event === 'error' && stream.listenerCount('error') === 0) return (crash = true), false;
            return emit(event, ...args);
          }) as typeof stream.emit;
          const p = readBody(stream, limit).then(
            text => ({ ok: true as const, text }),
            (err: unknown) => ({ ok: false as const, err }),
          );
          for (const c of chunks) stream.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : Buffer.from(c));
          if (ending === 'end') stream.push(null);
          else if (ending === 'destroy') stream.destroy();
          else stream.destroy(new Error('socket hang up'));
          let timer: NodeJS.Timeout | undefined;
          const r = await Promise.race([p, new Promise<'hung'>(res => (timer = setTimeout(() => res('hung'), 5000)))]);
          clearTimeout(timer);
          if (r === 'hung') throw new Error('readBody never settled');
          await new Promise(res => setImmediate(res)); // late events of the destroyed stream
          if (crash) throw new Error("an 'error' event with no listener: the process would crash");
          const all = Buffer.concat(chunks.map(c => (typeof c === 'string' ? Buffer.from(c, 'utf8') : Buffer.from(c))));
          if (all.length > limit) {
            // Past the limit: refused (as too large, unless the client went away before the reader saw that much).
            assert.equal(r.ok, false, 'a body past the limit was read');
            if (ending === 'end') assert.ok(!r.ok && r.err instanceof RangeError, 'a body past the limit refused with another error');
            return 'too large';
          }
          if (ending === 'end') assert.deepEqual(r, { ok: true, text: all.toString('utf8') });
          else assert.equal(r.ok, false, 'a body of a client that went away was read');
          return r.ok ? 'read' : 'aborted';
        },
      });
    },
    TEST_TIMEOUT_MS,
  );
});
