/** The attack corpus's tools: the case table type, token forging, raw requests and the refusal assertions every case shares. */
import { expect } from '@jest/globals';
import { base64url } from 'jose';
import { createHmac } from 'node:crypto';
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import type { ErrorCode, TokenStore } from '@tessera/core';
import { cookieHeader, type SuiteContext, type TestApp } from '../../adapter-suite.js';
import { SECRET, SECRET_KID } from '../../fixtures.js';
import { clearedCookie, cookiesOf, decodeJwt, expectError } from '../helpers.js';
import { sessionIdOf } from '@tessera/core';

/** One attack: a stable id (docs/security.md maps it), a one-line title, and a run of one or a few requests. */
export interface Attack {
  id: string;
  title: string;
  run(ctx: SuiteContext): Promise<void>;
}

export const PAIR = { mode: 'pair', accessTtl: 60, refreshTtl: 3600 } as const;
export const TYP = { session: 'tessera-session+jwt', access: 'tessera-access+jwt', refresh: 'tessera-refresh+jwt' } as const;
export const ACCESS = 'tessera';
export const REFRESH = 'tessera-refresh';
export const LOGIN = { username: 'alice', password: 'wonderland' } as const;

/** Set-Cookie values a refusal sends, by the cookies it clears (default names and paths). */
export const CLEARS = {
  none: [] as string[],
  access: [clearedCookie(ACCESS)],
  /** Pair mode: the access cookie and the refresh cookie (path /auth). */
  all: [clearedCookie(ACCESS), clearedCookie(REFRESH, '/auth')],
};

/** base64url of a JSON value, or of a string taken as the exact bytes (for hand-written JSON). */
export function seg(v: unknown): string {
  return base64url.encode(typeof v === 'string' ? v : JSON.stringify(v));
}

/** A JWS in compact form over exactly these header and payload bytes, HMAC'd with `key` (any alg in the header: that is the point). */
export function macJws(header: unknown, payload: unknown, key: string | Uint8Array = SECRET, hash: 'sha256' | 'sha384' | 'sha512' = 'sha256'): string {
  const input = `${seg(header)}.${seg(payload)}`;
  return `${input}.${createHmac(hash, key).update(input).digest('base64url')}`;
}

/** A session header exactly as the server signs it, with `extra` merged over it. */
export function header(typ: keyof typeof TYP = 'session', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { alg: 'HS256', typ: TYP[typ], kid: SECRET_KID, ...extra };
}

/** A genuine login: its token(s), decoded, and the Cookie header. */
export async function genuine(app: TestApp, username = 'alice') {
  const login = await app.login(username);
  expect(login.status).toBe(200);
  const token = login.jar[ACCESS]!;
  const { header: h, payload } = decodeJwt(token);
  return { ...login, token, header: h, payload, refresh: login.jar[REFRESH] };
}

/** GET /api/me with this Cookie header. */
export function me(app: TestApp, cookie: string) {
  return app.http().get('/api/me').set('Cookie', cookie);
}

/** GET /api/me with this value in the session cookie. */
export function withToken(app: TestApp, token: string) {
  return me(app, `${ACCESS}=${token}`);
}

/** The request is answered for alice: the forgery control, proving the forged token differs from a good one only in what the case changes. */
export async function expectAlice(res: { status: number; body: any }): Promise<void> {
  expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { user: { id: 'alice', name: 'Alice' } } });
}

/** Nothing the attacker sent as a credential, and never the secret, comes back in the body or any header. */
export function expectNoEcho(res: { text?: string; body?: unknown; headers: Record<string, unknown> }, echoes: string[] = []): void {
  const seen = `${res.text ?? JSON.stringify(res.body ?? null)}\n${JSON.stringify(res.headers)}`;
  for (const s of [SECRET, ...echoes]) {
    if (s.length === 0) continue;
    // A token is echoed if any signature-sized run of it is (a refusal carries only fixed text and cleared cookies).
    const probe = s.length > 24 ? s.slice(-24) : s;
    expect(seen.includes(probe)).toBe(false);
  }
}

/** The contract refusal: status, code, fixed message, JSON, exactly the cookies `clears` names cleared, nothing echoed. */
export function expectRefusal(
  res: { status: number; body: unknown; text?: string; headers: Record<string, unknown> },
  code: ErrorCode,
  clears: keyof typeof CLEARS | string[],
  echoes: string[] = [],
): void {
  expectError(res, code);
  expect(cookiesOf(res).map(c => c.raw)).toEqual(Array.isArray(clears) ? clears : CLEARS[clears]);
  expectNoEcho(res, echoes);
}

/** The internal reasons of the `rejected` events so far (docs/errors.md). */
export function reasons(app: TestApp): string[] {
  return app.events.flatMap(e => (e.type === 'rejected' ? [e.reason] : []));
}

/** The reason of the last `rejected` event. */
export function lastReason(app: TestApp): string | undefined {
  return reasons(app).at(-1);
}

/** The session id a token names. */
export function sidOf(token: string): string {
  return sessionIdOf(decodeJwt(token).payload.sid as string);
}

/** The Cookie header of a reply's Set-Cookie values (over `jar`). */
export function jarOf(res: { headers: Record<string, unknown> }, jar: Record<string, string> = {}) {
  return cookieHeader(cookiesOf(res), jar);
}

export interface RawReply {
  status: number;
  headers: Record<string, unknown>;
  text: string;
  body: unknown;
  /** The connection failed before a complete reply. */
  error?: string;
}

/** A request through node:http, for what supertest cannot send: repeated headers (array values), very large ones. */
export function nodeRequest(app: TestApp, method: string, path: string, headers: OutgoingHttpHeaders, body?: string): Promise<RawReply> {
  return new Promise(resolve => {
    const req = httpRequest(new URL(path, app.url), { method, headers, agent: false }, res => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          /* not JSON: kept as text */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, unknown>, text, body: parsed });
      });
    });
    req.on('error', e => resolve({ status: 0, headers: {}, text: '', body: undefined, error: String((e as NodeJS.ErrnoException).code ?? e.message) }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * Bytes written as they are on a fresh connection (header lines no HTTP client would send: bare CR
 * or LF, NUL, folded lines). Resolves with what the server wrote before closing, or after `waitMs`.
 */
export function rawExchange(app: TestApp, requestText: string, waitMs = 1500): Promise<{ text: string; statuses: number[] }> {
  const { port, hostname } = new URL(app.url);
  return new Promise(resolve => {
    const parts: Buffer[] = [];
    const socket = connect(Number(port), hostname);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(parts).toString('latin1');
      resolve({ text, statuses: [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map(m => Number(m[1])) });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('data', (c: Buffer) => {
      parts.push(c);
      // One complete reply is all a case needs.
      const text = Buffer.concat(parts).toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: *(\d+)/i.exec(text);
      if (head !== -1 && len && text.length >= head + 4 + Number(len[1])) finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
    socket.write(requestText, 'latin1');
  });
}

/** A request head for `rawExchange`: the lines given, Host first, `Connection: close`. */
export function rawHead(app: TestApp, method: string, path: string, lines: string[]): string {
  return [`${method} ${path} HTTP/1.1`, `Host: ${new URL(app.url).host}`, 'Connection: close', ...lines].join('\r\n') + '\r\n\r\n';
}

/** A store that counts the calls made to it (wrapped by the suite's failing store like any other). */
export function countingStore(inner: TokenStore): { store: TokenStore; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const store = new Proxy(inner, {
    get(target, prop, _receiver) {
      const v = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls[String(prop)] = (calls[String(prop)] ?? 0) + 1;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls };
}

/** The token's header and payload re-signed with the real secret after `edit` (so only the edit differs from a genuine token). */
export function resign(h: Record<string, unknown>, payload: Record<string, unknown>, edit: (p: Record<string, unknown>) => Record<string, unknown>): string {
  return macJws(h, edit({ ...payload }));
}
