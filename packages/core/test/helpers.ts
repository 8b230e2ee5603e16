/**
 * Shared test helpers for the core unit tests: hand-built requests, a fake clock, a cookie jar
 * that turns Set-Cookie values into a Cookie header, and a store whose calls can be made to fail.
 */
import { expect } from '@jest/globals';
import { ERRORS, MemoryStore, createTessera, type AuthResult, type ErrorCode, type HttpReply, type HttpRequest, type Tessera, type TesseraEvent, type TesseraOptions, type TokenStore } from '../src/index.js';
import { StoreError } from '../src/errors.js';

export const SECRET = 'unit-test-secret-0123456789-abcdefghijklmnop';
export const OTHER_SECRET = 'another-unit-test-secret-0123456789-abcdefgh';

/** The fake clock's start: epoch seconds. */
export const T0 = 1_800_000_000;

export const EPOCH = 'Thu, 01 Jan 1970 00:00:00 GMT';

/** The `Expires` attribute a cookie of `maxAge` seconds set at `now` carries. */
export function expires(now: number, maxAge: number): string {
  return new Date((now + maxAge) * 1000).toUTCString();
}

export interface ReqInit {
  method?: string;
  path?: string;
  /** Header names in any case. */
  headers?: Record<string, string>;
  /** Shorthand for the Cookie header. */
  cookie?: string;
  /** Default `203.0.113.7`; pass `null` for a request whose peer is unknown. */
  ip?: string | null;
  secure?: boolean;
  /** What `body()` resolves to. */
  body?: unknown;
  /** `body()` rejects with this instead. */
  bodyError?: Error;
}

export const PEER = '203.0.113.7';

/** A hand-built `HttpRequest`. */
export function req(init: ReqInit = {}): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(init.headers ?? {})) headers[k.toLowerCase()] = v;
  if (init.cookie !== undefined) headers.cookie = init.cookie;
  return {
    method: init.method ?? 'GET',
    path: init.path ?? '/api/me',
    header: name => headers[name],
    ip: init.ip === null ? undefined : (init.ip ?? PEER),
    secure: init.secure ?? false,
    body: async () => {
      if (init.bodyError) throw init.bodyError;
      return init.body;
    },
  };
}

/** A POST with a JSON body as a framework body parser hands it over (already parsed). */
export function post(path: string, body?: unknown, init: ReqInit = {}): HttpRequest {
  return req({ ...init, method: 'POST', path, body });
}

export interface FakeClock {
  (): number;
  advance(seconds: number): void;
  set(epochSeconds: number): void;
}

/** Epoch seconds that only move when told to. */
export function fakeClock(start = T0): FakeClock {
  let t = start;
  const c = (() => t) as FakeClock;
  c.advance = s => void (t += s);
  c.set = s => void (t = s);
  return c;
}

/** The Set-Cookie values of a reply or an auth result. */
export function setCookiesOf(from: HttpReply | AuthResult): string[] {
  if ('status' in from) return from.headers.filter(([n]) => n === 'set-cookie').map(([, v]) => v);
  return from.ok ? [...from.cookies] : setCookiesOf(from.reply);
}

export function headerOf(reply: HttpReply, name: string): string | undefined {
  return reply.headers.find(([n]) => n === name)?.[1];
}

/** The value a Set-Cookie value sets (before the first `;`). */
export function cookieValue(setCookie: string): string {
  const pair = setCookie.split(';')[0]!;
  return pair.slice(pair.indexOf('=') + 1);
}

export function cookieName(setCookie: string): string {
  return setCookie.slice(0, setCookie.indexOf('='));
}

/** A browser cookie jar, reduced to what the tests need: names and values; `Max-Age=0` deletes. */
export class Jar {
  readonly values = new Map<string, string>();

  constructor(from?: HttpReply | AuthResult | readonly string[]) {
    if (from) this.absorb(from);
  }

  absorb(from: HttpReply | AuthResult | readonly string[]): this {
    const list = Array.isArray(from) ? (from as readonly string[]) : setCookiesOf(from as HttpReply | AuthResult);
    for (const c of list) {
      const name = cookieName(c);
      if (/;\s*Max-Age=0(;|$)/.test(c)) this.values.delete(name);
      else this.values.set(name, cookieValue(c));
    }
    return this;
  }

  get(name: string): string | undefined {
    return this.values.get(name);
  }

  /** The Cookie header a browser would send (every cookie; the tests choose which to send). */
  get header(): string {
    return [...this.values].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** The Cookie header with only the named cookies. */
  only(...names: string[]): string {
    return names.map(n => `${n}=${this.values.get(n)}`).join('; ');
  }
}

/** The error code of a refusal, or 'ok'. */
export function codeOf(r: AuthResult | HttpReply): ErrorCode | 'ok' | number {
  if ('status' in r) {
    const code = (r.body as { error?: { code?: ErrorCode } } | null)?.error?.code;
    return code ?? r.status;
  }
  return r.ok ? 'ok' : r.error.code;
}

/** The reply is exactly the contract reply for `code` (status, JSON body, no-store). */
export function expectErrorReply(reply: HttpReply, code: ErrorCode): void {
  expect({ status: reply.status, body: reply.body }).toEqual({ status: ERRORS[code].status, body: { error: { code, message: ERRORS[code].message } } });
  expect(headerOf(reply, 'content-type')).toBe('application/json; charset=utf-8');
  expect(headerOf(reply, 'cache-control')).toBe('no-store');
}

export function ok(r: AuthResult): Extract<AuthResult, { ok: true }> {
  if (!r.ok) throw new Error(`expected a session, got ${r.error.code} (${r.error.reason})`);
  return r;
}

/** Decodes a JWT without verifying it (assertions only). */
export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, any> } {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')), payload: JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) };
}

export const verifyCredentials: NonNullable<TesseraOptions['verifyCredentials']> = ({ username, password }) =>
  (username === 'alice' && password === 'wonderland') ? { id: 'alice', name: 'Alice' } : username === 'bob' && password === 'builder' ? { id: 'bob', name: 'Bob' } : null;

export const ALICE = { username: 'alice', password: 'wonderland' };
export const BOB = { username: 'bob', password: 'builder' };

export interface Setup {
  core: Tessera;
  store: MemoryStore;
  clock: FakeClock;
  events: TesseraEvent[];
}

/** An instance on a memory store, a fake clock, known credentials and an event recorder. */
export function setup(options: Partial<TesseraOptions> = {}): Setup {
  const clock = fakeClock();
  const store = new MemoryStore();
  const events: TesseraEvent[] = [];
  const core = createTessera({ secret: SECRET, store, clock, verifyCredentials, onEvent: e => void events.push(e), ...options });
  return { core, store, clock, events };
}

/** Logs in through the login route; the reply and a jar holding its cookies. */
export async function login(core: Tessera, credentials = ALICE, init: ReqInit = {}): Promise<{ reply: HttpReply; jar: Jar }> {
  const reply = await core.route('login', post('/auth/login', credentials, init));
  expect(reply.status).toBe(200);
  return { reply, jar: new Jar(reply) };
}

export type FailMode = 'ok' | 'reject' | 'hang';

export interface FailingStore extends TokenStore {
  /** Per operation; absent = 'ok'. */
  readonly modes: Partial<Record<string, FailMode>>;
  /** Every call, in order, with its operation name. */
  readonly calls: string[];
  /** Sets a mode for every operation. */
  all(mode: FailMode): void;
}

/**
 * A store wrapping `inner` (by default a memory store) whose operations can be made to reject or
 * never settle. It does not carry the memory store's synchronous read, so it is an "I/O" store to
 * the core: calls run under `storeTimeout`.
 */
export function failingStore(inner: TokenStore = new MemoryStore()): FailingStore & { inner: TokenStore } {
  const modes: Partial<Record<string, FailMode>> = {};
  const calls: string[] = [];
  const ops = ['get', 'put', 'touch', 'rotate', 'countReuse', 'revoke', 'list', 'purgeExpired', 'initSecret'] as const;
  const s: Record<string, unknown> = {
    inner,
    modes,
    calls,
    all(mode: FailMode) {
      for (const op of ops) modes[op] = mode;
    },
    close: () => inner.close(),
  };
  for (const op of ops) {
    const fn = (inner as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[op];
    if (typeof fn !== 'function') continue;
    s[op] = (...args: unknown[]) => {
      calls.push(op);
      const mode = modes[op] ?? 'ok';
      if (mode === 'reject') return Promise.reject(new StoreError(`injected ${op} failure`));
      if (mode === 'hang') return new Promise(() => {});
      return fn.apply(inner, args);
    };
  }
  return s as unknown as FailingStore & { inner: TokenStore };
}
