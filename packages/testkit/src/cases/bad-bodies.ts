import { describe, expect, it } from '@jest/globals';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { ERRORS, type ErrorCode } from '@tessera/core';
import type { SuiteContext, TestApp } from '../adapter-suite.js';
import { expectError } from './helpers.js';

/**
 * "Never a 500": whatever the body of an auth request, the answer is a contract reply
 * (`{ error: { code, message } }`, fixed message per code), never a 500, never a stack trace
 * or an internal message, and the server keeps serving afterwards.
 */

const LOGIN = { username: 'alice', password: 'wonderland' };
const LOGIN_JSON = JSON.stringify(LOGIN);

/** Text that must never reach a client: stack frames, internal error names and messages. */
const LEAKS: RegExp[] = [
  /\bat [^\n]*:\d+:\d+/, // a stack frame "at fn (file.js:1:2)"
  /node:internal|node_modules|\/src\/|\.ts:\d+|\.js:\d+/,
  /\b(?:Range|Type|Reference|Syntax)Error\b/,
  /request body too large|Unexpected (?:end|token)|ECONNRESET|aborted/i,
];

export function expectNoLeak(text: string, extra: string[] = []): void {
  for (const re of LEAKS) expect(text).not.toMatch(re);
  for (const s of extra) expect(text).not.toContain(s);
}

/** Any reply of the auth routes: below 500, and when an error, exactly the contract body. */
export function expectContractReply(res: { status: number; body: unknown; text?: string; headers: Record<string, unknown> }): void {
  expect(res.status).toBeLessThan(500);
  expectNoLeak(res.text ?? JSON.stringify(res.body ?? null));
  if (res.status >= 400) {
    const code = (res.body as { error?: { code?: string } } | null)?.error?.code as ErrorCode | undefined;
    expect(code !== undefined && Object.hasOwn(ERRORS, code)).toBe(true);
    expectError(res, code!);
  }
}

interface Reply {
  /** 0 when no reply came. */
  status: number;
  headers: Record<string, unknown>;
  text: string;
  body: unknown;
  /** A client-side error (the connection was reset or closed) before a complete reply. */
  error?: string;
}

/** POST through node:http (a body supertest would choke on): resolves with the reply, or the error when none came. */
function post(url: string, path: string, headers: Record<string, string>, chunks: (string | Buffer)[]): Promise<Reply> {
  return new Promise(resolve => {
    let settled = false;
    const done = (r: Reply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      req.destroy();
      done({ status: 0, headers: {}, text: '', body: undefined, error: 'timeout: no reply within 10 s' });
    }, 10_000);
    const req = httpRequest(new URL(path, url), { method: 'POST', headers, agent: false }, res => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      const finish = (error?: string) => {
        const text = Buffer.concat(parts).toString('utf8');
        let body: unknown = undefined;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = text;
        }
        done({ status: res.statusCode ?? 0, headers: res.headers as Record<string, unknown>, text, body, ...(error ? { error } : {}) });
      };
      res.on('end', () => finish());
      res.on('error', e => finish(String((e as NodeJS.ErrnoException).code ?? e.message)));
      res.on('close', () => finish());
    });
    req.on('error', e => done({ status: 0, headers: {}, text: '', body: undefined, error: String((e as NodeJS.ErrnoException).code ?? e.message) }));
    for (const c of chunks) req.write(c);
    req.end();
  });
}

interface RawResult {
  /** Everything the server wrote on the connection, as text. */
  text: string;
  /** The status of every HTTP response found in `text`. */
  statuses: number[];
  /** The server closed the connection (rather than the client giving up). */
  closedByServer: boolean;
}

/**
 * Writes `head` and `body` on a raw socket (no HTTP client to fix Content-Length up), then
 * `after`: 'end' half-closes the request side (the request can never complete), 'destroy'
 * drops the connection, 'wait' keeps it open. Records what arrives within `waitMs`, then
 * half-closes and waits (bounded) for the server to close too.
 */
function rawRequest(url: string, head: string, body: string, after: 'end' | 'destroy' | 'wait', waitMs = 1000): Promise<RawResult> {
  const { port, hostname } = new URL(url);
  return new Promise(resolve => {
    const parts: Buffer[] = [];
    let closedByServer = false;
    let settled = false;
    const socket = connect(Number(port), hostname);
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(t1);
      clearTimeout(t2);
      socket.destroy();
      const text = Buffer.concat(parts).toString('latin1');
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map(m => Number(m[1]));
      resolve({ text, statuses, closedByServer });
    };
    socket.on('data', (c: Buffer) => parts.push(c));
    socket.on('error', () => {
      closedByServer = true;
      finish();
    });
    socket.on('end', () => {
      closedByServer = true;
      finish();
    });
    socket.on('close', finish);
    // 'wait': after waitMs, end our side so the server sees the request can never complete.
    const t1 = setTimeout(() => {
      if (!socket.destroyed) socket.end();
    }, waitMs);
    // Whatever happens, stop after waitMs + 3 s.
    const t2 = setTimeout(finish, waitMs + 3000);
    socket.write(head + body, 'latin1', () => {
      if (after === 'end') socket.end();
      if (after === 'destroy') {
        socket.destroy();
        finish();
      }
    });
  });
}

function head(path: string, port: number, headers: Record<string, string | number>): string {
  const lines = [`POST ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return lines.join('\r\n') + '\r\n\r\n';
}

/**
 * What arrived on a raw connection: no 500, nothing leaked, and every reply has an allowed
 * status (login: 400 only). Node itself may answer a request that can never complete with a
 * bare `400 Bad Request` and close, or close without a reply: both are fine.
 */
function expectRawClean(r: RawResult, allowed: (status: number) => boolean = s => s === 400): void {
  expect(r.statuses.filter(s => s >= 500)).toEqual([]);
  expectNoLeak(r.text, [LOGIN.password]);
  expect(r.statuses.filter(s => !allowed(s))).toEqual([]);
}

/** The server still logs in and serves a session after the bad request. */
async function stillServes(app: TestApp, cookie: string): Promise<void> {
  const me = await app.http().get('/api/me').set('Cookie', cookie);
  expect(me.status).toBe(200);
  expect(me.body.user.id).toBe('alice');
  const again = await app.login();
  expect(again.status).toBe(200);
  expect((await app.http().get('/api/me').set('Cookie', again.cookie)).status).toBe(200);
}

const BIG = (bytes: number) => JSON.stringify({ ...LOGIN, pad: 'x'.repeat(bytes) });

/** Bodies a client can send with a correct framing; each must get the contract's 400 on login. */
const MALFORMED: [label: string, type: string, body: string][] = [
  ['malformed JSON (cut)', 'application/json', '{"username": "alice", "password": "wonder'],
  ['malformed JSON (trailing garbage)', 'application/json', LOGIN_JSON + '}}'],
  ['malformed JSON (single quotes)', 'application/json', "{'username': 'alice', 'password': 'wonderland'}"],
  ['malformed JSON (binary)', 'application/json', '\u0000\u00ff\u00fe{'],
  ['JSON array', 'application/json', JSON.stringify([LOGIN])],
  ['JSON number', 'application/json', '42'],
  ['JSON null', 'application/json', 'null'],
  ['JSON true', 'application/json', 'true'],
  ['JSON string', 'application/json', JSON.stringify(LOGIN_JSON)],
  ['urlencoded form', 'application/x-www-form-urlencoded', 'username=alice&password=wonderland'],
  ['XML', 'application/xml', '<login><username>alice</username><password>wonderland</password></login>'],
  ['multipart', 'multipart/form-data; boundary=XyZ', '--XyZ\r\nContent-Disposition: form-data; name="username"\r\n\r\nalice\r\n--XyZ--\r\n'],
  ['octet-stream', 'application/octet-stream', '\u0001\u0002\u0003'],
];

/** An unsupported content type with a body that would be valid JSON credentials (a cross-site form can send text/plain). */
const JSON_AS_TEXT: [label: string, type: string, body: string][] = [
  ['JSON credentials as text/plain', 'text/plain', LOGIN_JSON],
  ['JSON credentials as text/plain; charset', 'text/plain; charset=utf-8', LOGIN_JSON],
];

export default function badBodies(ctx: SuiteContext): void {
  describe('bad-bodies: no body makes the auth routes answer 500', () => {
    it('login: an oversized JSON body (20 KB, 1 MB; Content-Length and chunked) gets 400 BAD_REQUEST', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login();
      for (const size of [20 * 1024, 1024 * 1024]) {
        const body = BIG(size);
        for (const framing of ['content-length', 'chunked'] as const) {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          let chunks: string[];
          if (framing === 'content-length') {
            headers['content-length'] = String(Buffer.byteLength(body));
            chunks = [body];
          } else {
            chunks = body.match(/[\s\S]{1,8192}/g)!; // no content-length: node sends it chunked
          }
          const res = await post(app.url, '/auth/login', headers, chunks);
          expect({ size, framing, status: res.status, error: res.error }).toEqual({ size, framing, status: 400, error: undefined });
          expectNoLeak(res.text, [LOGIN.password]);
          expectError(res, 'BAD_REQUEST');
          expect(res.headers['set-cookie']).toBeUndefined();
          await stillServes(app, cookie);
        }
      }
    });

    it('login: malformed JSON, non-object JSON and unsupported content types get 400 BAD_REQUEST', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login();
      for (const [label, type, body] of [...MALFORMED, ...JSON_AS_TEXT]) {
        const res = await app.http().post('/auth/login').set('Content-Type', type).send(body);
        expect({ label, status: res.status }).toEqual({ label, status: 400 });
        expectError(res, 'BAD_REQUEST');
        expectNoLeak(res.text, [LOGIN.password]);
        expect(res.headers['set-cookie']).toBeUndefined();
        expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
      }
      // The supported type, with parameters, still logs in.
      const ok = await app.http().post('/auth/login').set('Content-Type', 'application/json; charset=utf-8').send(LOGIN_JSON);
      expect(ok.status).toBe(200);
    });

    it('login: Content-Length shorter than the body gets a 400 (the rest is not a request), never a 500', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login();
      const r = await rawRequest(app.url, head('/auth/login', app.port, { 'Content-Type': 'application/json', 'Content-Length': 10 }), LOGIN_JSON, 'wait');
      expectRawClean(r);
      expect(r.statuses.length).toBeGreaterThan(0);
      await stillServes(app, cookie);
    });

    it('login: a truncated body (fewer bytes than Content-Length, then the client ends or drops) never gets a 500', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login();
      const partial = LOGIN_JSON.slice(0, 20);
      for (const after of ['end', 'destroy'] as const) {
        const r = await rawRequest(app.url, head('/auth/login', app.port, { 'Content-Type': 'application/json', 'Content-Length': LOGIN_JSON.length }), partial, after);
        expectRawClean(r);
        await stillServes(app, cookie);
      }
      // A large declared body cut short while the server is reading it.
      const big = BIG(64 * 1024);
      const r = await rawRequest(app.url, head('/auth/login', app.port, { 'Content-Type': 'application/json', 'Content-Length': big.length }), big.slice(0, 40 * 1024), 'end');
      expectRawClean(r);
      await stillServes(app, cookie);
    });

    it('login: Content-Length longer than the body (the client waits, then gives up) never gets a 500', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login();
      const r = await rawRequest(app.url, head('/auth/login', app.port, { 'Content-Type': 'application/json', 'Content-Length': LOGIN_JSON.length + 50 }), LOGIN_JSON, 'wait', 800);
      expectRawClean(r);
      await stillServes(app, cookie);
    });

    it('refresh and logout: the same bad bodies never get a 500 (sliding mode)', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login();
      for (const path of ['/auth/refresh', '/auth/logout']) {
        for (const [, type, body] of [...MALFORMED, ...JSON_AS_TEXT]) {
          const res = await app.http().post(path).set('Content-Type', type).send(body);
          expectContractReply(res);
        }
        for (const size of [20 * 1024, 1024 * 1024]) {
          const big = BIG(size);
          const res = await post(app.url, path, { 'content-type': 'application/json', 'content-length': String(big.length) }, [big]);
          expect({ path, size, error: res.error }).toEqual({ path, size, error: undefined });
          expectContractReply(res);
        }
        for (const after of ['end', 'destroy'] as const) {
          expectRawClean(await rawRequest(app.url, head(path, app.port, { 'Content-Type': 'application/json', 'Content-Length': 500 }), '{"refreshToken": "', after), s => s < 500);
        }
        await stillServes(app, cookie);
      }
      // With a session cookie, refresh does not need the body at all: a reply, never a 500.
      for (const [, type, body] of MALFORMED) expectContractReply(await app.http().post('/auth/refresh').set('Cookie', cookie).set('Content-Type', type).send(body));
      const big = BIG(1024 * 1024);
      const res = await post(app.url, '/auth/refresh', { 'content-type': 'application/json', 'content-length': String(big.length), cookie }, [big]);
      expect(res.error).toBeUndefined();
      expectContractReply(res); // 200 (the body is never read) or 400 (refused while reading it)
      await stillServes(app, cookie);
    });

    it('refresh: pair mode with tokenInLoginBody (the body is read) answers bad bodies with 400 BAD_REQUEST', async () => {
      const app = await ctx.app({ mode: 'pair', tokenInLoginBody: true });
      const { cookie } = await app.login();
      // Bodies that cannot carry a refresh token at all.
      for (const [label, type, body] of [
        ['malformed JSON', 'application/json', '{"refreshToken": '],
        ['refreshToken not a string', 'application/json', '{"refreshToken": 42}'],
      ] as const) {
        const res = await app.http().post('/auth/refresh').set('Content-Type', type).send(body);
        expect({ label, status: res.status }).toEqual({ label, status: 400 });
        expectError(res, 'BAD_REQUEST');
      }
      for (const size of [20 * 1024, 1024 * 1024]) {
        const big = JSON.stringify({ refreshToken: 'x'.repeat(size) });
        const res = await post(app.url, '/auth/refresh', { 'content-type': 'application/json', 'content-length': String(big.length) }, [big]);
        expect({ size, status: res.status, error: res.error }).toEqual({ size, status: 400, error: undefined });
        expectError(res, 'BAD_REQUEST');
        expectNoLeak(res.text);
      }
      for (const after of ['end', 'destroy'] as const) {
        expectRawClean(await rawRequest(app.url, head('/auth/refresh', app.port, { 'Content-Type': 'application/json', 'Content-Length': 500 }), '{"refreshToken": "', after));
      }
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
      expect((await app.login()).status).toBe(200);
    });
  });
}
