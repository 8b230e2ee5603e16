import { describe, expect, it } from '@jest/globals';
import { adapterKit } from '../src/adapter.js';
import { createContext } from '../src/context.js';
import { MemoryStore, createTessera, type AuthResult, type HttpRequest, type TesseraEvent } from '../src/index.js';
import { resolveOptions } from '../src/options.js';
import {
  EPOCH,
  OTHER_SECRET,
  PEER,
  SECRET,
  T0,
  codeOf,
  decodeJwt,
  expectErrorReply,
  failingStore,
  fakeClock,
  login,
  ok,
  req,
  setCookiesOf,
  setup,
  verifyCredentials,
  type ReqInit,
} from './helpers.js';
import { sessionIdOf } from '../src/lib/at-rest.js';

const CLEAR_ACCESS = `tessera=; Path=/; Max-Age=0; Expires=${EPOCH}; HttpOnly; SameSite=Lax`;

/** Logs alice in and returns a function authenticating a request that carries her cookie. */
async function signedIn(options: Parameters<typeof setup>[0] = {}, loginInit: ReqInit = {}) {
  const s = setup(options);
  const { jar } = await login(s.core, undefined, loginInit);
  const cookie = jar.header;
  const token = jar.get('tessera')!;
  const auth = (init: ReqInit = {}) => s.core.authenticate(req({ cookie, ...init }));
  const key = decodeJwt(token).payload.sid as string;
  return { ...s, cookie, token, auth, key, sid: sessionIdOf(key) };
}

function rejectedReasons(events: TesseraEvent[]): string[] {
  return events.flatMap(e => (e.type === 'rejected' ? [`${e.code}:${e.reason}`] : []));
}

describe('authenticate: a valid session', () => {
  it('a fresh login cookie authenticates to its session', async () => {
    const { auth, sid, token, key } = await signedIn({ ttl: 1000 });
    const r = ok(await auth());
    expect(r.session).toEqual({
      id: sid,
      kind: 'session',
      user: { id: 'alice', name: 'Alice' },
      subject: 'alice',
      tenant: null,
      createdAt: T0,
      expiresAt: T0 + 1000,
      sessionExpiresAt: T0 + 1000,
    });
    expect(r.refreshed).toBe(false);
    expect(r.cookies).toEqual([]);
    expect(decodeJwt(token).payload).toMatchObject({ sub: 'alice', sid: key, iat: T0, exp: T0 + 1000, iss: 'tessera', aud: 'tessera' });
  });

  it('the same token as a Bearer header authenticates too (no cookie needed)', async () => {
    const { core, token, sid } = await signedIn();
    const r = ok(await core.authenticate(req({ headers: { authorization: `Bearer ${token}` } })));
    expect(r.session.id).toBe(sid);
  });

  it('lastSeenAt is written once touchInterval has passed, not before', async () => {
    const { auth, store, clock, sid } = await signedIn({ touchInterval: 60 });
    clock.advance(59);
    ok(await auth());
    expect((await store.get(sid))!.lastSeenAt).toBe(T0);
    clock.advance(1);
    ok(await auth());
    expect((await store.get(sid))!.lastSeenAt).toBe(T0 + 60);
  });
});

describe('authenticate: refusals', () => {
  it('no credentials: 401 TOKEN_MISSING, no cookie cleared, no event', async () => {
    const { core, events } = setup();
    const r = await core.authenticate(req());
    expect(codeOf(r)).toBe('TOKEN_MISSING');
    if (r.ok) throw new Error('unreachable');
    expectErrorReply(r.reply, 'TOKEN_MISSING');
    expect(setCookiesOf(r)).toEqual([]);
    expect(events).toEqual([]);
  });

  it('a malformed cookie: 401 TOKEN_INVALID, the access cookie cleared, a rejected event', async () => {
    const { core, events } = setup();
    const r = await core.authenticate(req({ cookie: 'tessera=not-a-token' }));
    expect(codeOf(r)).toBe('TOKEN_INVALID');
    if (r.ok) throw new Error('unreachable');
    expectErrorReply(r.reply, 'TOKEN_INVALID');
    expect(setCookiesOf(r)).toEqual([CLEAR_ACCESS]);
    expect(events).toEqual([{ type: 'rejected', at: T0, code: 'TOKEN_INVALID', reason: 'malformed', path: '/api/me', ip: PEER }]);
  });

  it('a token signed with another key, or with a tampered payload, is TOKEN_INVALID', async () => {
    const { auth, events, token } = await signedIn();
    const other = setup({ secret: OTHER_SECRET });
    const { jar } = await login(other.core);
    expect(codeOf(await auth({ cookie: `tessera=${jar.get('tessera')}` }))).toBe('TOKEN_INVALID');
    const [h, p, s] = token.split('.');
    const payload = { ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'mallory' };
    const forged = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    expect(codeOf(await auth({ cookie: `tessera=${forged}` }))).toBe('TOKEN_INVALID');
    expect(rejectedReasons(events)).toEqual(['TOKEN_INVALID:kid', 'TOKEN_INVALID:signature']);
  });

  it('a token longer than maxTokenBytes is refused before parsing', async () => {
    const { core, events } = setup({ maxTokenBytes: 256 });
    expect(codeOf(await core.authenticate(req({ cookie: `tessera=${'a'.repeat(100)}.${'b'.repeat(100)}.${'c'.repeat(100)}` })))).toBe('TOKEN_INVALID');
    expect(rejectedReasons(events)).toEqual(['TOKEN_INVALID:oversized']);
  });

  it('an expired token: 401 TOKEN_EXPIRED at exp exactly (clockTolerance 0), nothing cleared', async () => {
    const { auth, clock } = await signedIn({ ttl: 1000, refreshable: false, clockTolerance: 0 });
    clock.advance(999);
    ok(await auth());
    clock.advance(1);
    const r = await auth();
    expect(codeOf(r)).toBe('TOKEN_EXPIRED');
    expect(setCookiesOf(r)).toEqual([]);
  });

  it('clockTolerance: a token is accepted up to the tolerance past exp, while its record lives', async () => {
    const { auth, clock, store, sid } = await signedIn({ ttl: 1000, refreshable: false, clockTolerance: 5 });
    await store.touch(sid, T0, T0 + 2000); // the record outlives the token
    clock.advance(1004);
    ok(await auth());
    clock.advance(1);
    expect(codeOf(await auth())).toBe('TOKEN_EXPIRED');
  });

  it('a revoked session: 401 SESSION_ENDED, cookies cleared, sessionId and subject in the event', async () => {
    const { auth, core, sid, events } = await signedIn();
    ok(await auth());
    expect(await core.revokeSession(sid)).toBe(1);
    const r = await auth();
    expect(codeOf(r)).toBe('SESSION_ENDED');
    expect(setCookiesOf(r)).toEqual([CLEAR_ACCESS]);
    expect(events.filter(e => e.type === 'rejected')).toEqual([
      { type: 'rejected', at: T0, code: 'SESSION_ENDED', reason: 'revoked', path: '/api/me', ip: PEER, sessionId: sid, subject: 'alice' },
    ]);
  });

  it('a session whose record is gone: SESSION_ENDED', async () => {
    const { core, cookie, events } = await signedIn();
    const elsewhere = createTessera({ secret: SECRET, store: new MemoryStore(), clock: fakeClock(), onEvent: e => void events.push(e) });
    expect(codeOf(await elsewhere.authenticate(req({ cookie })))).toBe('SESSION_ENDED');
    ok(await core.authenticate(req({ cookie })));
    expect(rejectedReasons(events)).toEqual(['SESSION_ENDED:unknown-session']);
  });

  it('idle timeout: activity keeps the session alive; longer than idleTimeout without a request ends it', async () => {
    const { auth, clock, store, sid, events } = await signedIn({ idleTimeout: 100 });
    clock.advance(50);
    ok(await auth());
    expect((await store.get(sid))!.lastSeenAt).toBe(T0 + 50); // awaited: the next request sees it
    clock.advance(100);
    ok(await auth()); // exactly idleTimeout since the last request
    clock.advance(101);
    const r = await auth();
    expect(codeOf(r)).toBe('SESSION_ENDED');
    expect(setCookiesOf(r)).toEqual([CLEAR_ACCESS]);
    expect(rejectedReasons(events)).toEqual(['SESSION_ENDED:idle-timeout']);
  });

  it('absolute timeout: sliding reissues never carry the session past it', async () => {
    const { core, clock, events } = setup({ ttl: 100, absoluteTimeout: 250, clockTolerance: 5 });
    const { jar } = await login(core);
    const seen: number[] = [];
    for (const at of [85, 170, 240]) {
      clock.set(T0 + at);
      const r = ok(await core.authenticate(req({ cookie: jar.header })));
      jar.absorb(r);
      seen.push(r.session.expiresAt!);
    }
    expect(seen).toEqual([T0 + 185, T0 + 250, T0 + 250]);
    clock.set(T0 + 250);
    expect(codeOf(await core.authenticate(req({ cookie: jar.header })))).toBe('SESSION_ENDED');
    expect(rejectedReasons(events)).toEqual(['SESSION_ENDED:expired']);
  });

  it('absolute timeout is checked on its own: a record whose expiry was pushed past it still ends there', async () => {
    const { auth, clock, store, sid, events } = await signedIn({ ttl: 1000, absoluteTimeout: 250, clockTolerance: 5 });
    expect((await store.get(sid))!.absoluteExpiresAt).toBe(T0 + 250);
    await store.touch(sid, T0, T0 + 5000);
    clock.set(T0 + 249);
    ok(await auth());
    clock.set(T0 + 250);
    expect(codeOf(await auth())).toBe('SESSION_ENDED');
    expect(rejectedReasons(events)).toEqual(['SESSION_ENDED:absolute-timeout']);
  });

  it("binding 'exact': the login address only (IPv4-mapped IPv6 counts as the same); any other, or none, is BINDING_MISMATCH", async () => {
    const { auth, events } = await signedIn({ bindClientIp: 'exact' }, { ip: '10.0.0.1' });
    ok(await auth({ ip: '10.0.0.1' }));
    ok(await auth({ ip: '::ffff:10.0.0.1' }));
    const r = await auth({ ip: '10.0.0.2' });
    expect(codeOf(r)).toBe('BINDING_MISMATCH');
    expect(setCookiesOf(r)).toEqual([CLEAR_ACCESS]);
    expect(codeOf(await auth({ ip: null }))).toBe('BINDING_MISMATCH');
    // a mismatch does not end the session for its owner
    ok(await auth({ ip: '10.0.0.1' }));
    expect(rejectedReasons(events)).toEqual(['BINDING_MISMATCH:ip-exact', 'BINDING_MISMATCH:ip-exact']);
  });

  it("binding 'subnet': the same IPv4 /24 or IPv6 /64 passes", async () => {
    const v4 = await signedIn({ bindClientIp: 'subnet' }, { ip: '10.0.0.1' });
    ok(await v4.auth({ ip: '10.0.0.254' }));
    expect(codeOf(await v4.auth({ ip: '10.0.1.1' }))).toBe('BINDING_MISMATCH');
    const v6 = await signedIn({ bindClientIp: 'subnet' }, { ip: '2001:db8:1:2::1' });
    ok(await v6.auth({ ip: '2001:db8:1:2:ffff::9' }));
    expect(codeOf(await v6.auth({ ip: '2001:db8:1:3::1' }))).toBe('BINDING_MISMATCH');
  });

  it('tenant mismatch: a token of tenant a is TOKEN_INVALID on tenant b (access cookie cleared)', async () => {
    const tenant = (r: HttpRequest) => r.header('x-tenant');
    const { auth, events } = await signedIn({ tenant }, { headers: { 'x-tenant': 'a' } });
    const r = ok(await auth({ headers: { 'x-tenant': 'a' } }));
    expect(r.session.tenant).toBe('a');
    const b = await auth({ headers: { 'x-tenant': 'b' } });
    expect(codeOf(b)).toBe('TOKEN_INVALID');
    expect(setCookiesOf(b)).toEqual([CLEAR_ACCESS]);
    expect(codeOf(await auth())).toBe('TOKEN_INVALID'); // no tenant is another tenant
    expect(rejectedReasons(events)).toEqual(['TOKEN_INVALID:tenant', 'TOKEN_INVALID:tenant']);
  });

  it('a duplicated session cookie is TOKEN_INVALID, even when one copy is valid', async () => {
    const { auth, token, events } = await signedIn();
    const r = await auth({ cookie: `tessera=${token}; tessera=${token}` });
    expect(codeOf(r)).toBe('TOKEN_INVALID');
    expect(setCookiesOf(r)).toEqual([CLEAR_ACCESS]);
    expect(rejectedReasons(events)).toEqual(['TOKEN_INVALID:duplicate-cookie']);
  });
});

describe('authenticate: CSRF on unsafe methods', () => {
  const evil = { origin: 'https://evil.example', host: 'app.example' };

  it('a cookie-authenticated POST from another origin: 403 CSRF_FAILED, nothing cleared', async () => {
    const { auth, events } = await signedIn();
    const r = await auth({ method: 'POST', headers: evil });
    expect(codeOf(r)).toBe('CSRF_FAILED');
    if (r.ok) throw new Error('unreachable');
    expectErrorReply(r.reply, 'CSRF_FAILED');
    expect(setCookiesOf(r)).toEqual([]);
    for (const method of ['PUT', 'PATCH', 'DELETE']) expect(codeOf(await auth({ method, headers: evil }))).toBe('CSRF_FAILED');
    expect(codeOf(await auth({ method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } }))).toBe('CSRF_FAILED');
    expect(codeOf(await auth({ method: 'POST', headers: { 'sec-fetch-site': 'same-site' } }))).toBe('CSRF_FAILED');
    expect(rejectedReasons(events)[0]).toBe('CSRF_FAILED:cross-origin');
  });

  it('safe methods, same-origin requests and requests without Origin or Sec-Fetch-Site pass', async () => {
    const { auth } = await signedIn();
    ok(await auth({ method: 'GET', headers: evil }));
    ok(await auth({ method: 'HEAD', headers: evil }));
    ok(await auth({ method: 'POST', headers: { origin: 'https://app.example', host: 'app.example' } }));
    ok(await auth({ method: 'POST', headers: { 'sec-fetch-site': 'same-origin', origin: 'https://evil.example', host: 'app.example' } }));
    ok(await auth({ method: 'POST' }));
  });

  it('trustedOrigins and csrf: false let a cross-origin POST through', async () => {
    const trusted = await signedIn({ csrf: { trustedOrigins: ['https://evil.example'] } });
    ok(await trusted.auth({ method: 'POST', headers: evil }));
    const off = await signedIn({ csrf: false });
    ok(await off.auth({ method: 'POST', headers: evil }));
  });

  it('a bearer-authenticated POST is not a CSRF target; a cross-origin POST without credentials is TOKEN_MISSING', async () => {
    const { core, token } = await signedIn();
    ok(await core.authenticate(req({ method: 'POST', headers: { ...evil, authorization: `Bearer ${token}` } })));
    expect(codeOf(await core.authenticate(req({ method: 'POST', headers: evil })))).toBe('TOKEN_MISSING');
  });
});

describe('authenticate: the synchronous fast path (adapter kit, memory store)', () => {
  const isPromise = (v: unknown): v is Promise<AuthResult> => v instanceof Promise;

  it('the first call takes the full path (a Promise); a verified-cache hit answers synchronously, with the same result', async () => {
    const { core, cookie } = await signedIn();
    const kit = adapterKit(core, () => new MemoryStore());
    const first = kit.authenticate(req({ cookie }), r => r);
    expect(isPromise(first)).toBe(true);
    const r1 = await first;
    const second = kit.authenticate(req({ cookie }), r => r);
    expect(isPromise(second)).toBe(false);
    expect(second).toEqual(r1);
    expect(ok(r1).session.subject).toBe('alice');
  });

  it('the fast path runs the same record checks: a revoked session is refused synchronously', async () => {
    const { core, cookie, sid } = await signedIn();
    const kit = adapterKit(core, () => new MemoryStore());
    await kit.authenticate(req({ cookie }), r => r);
    await core.revokeSession(sid);
    const r = kit.authenticate(req({ cookie }), r => r);
    expect(isPromise(r)).toBe(false);
    expect(codeOf(r as AuthResult)).toBe('SESSION_ENDED');
    expect(setCookiesOf(r as AuthResult)).toEqual([CLEAR_ACCESS]);
  });

  it('binding and tenant are checked on the fast path too', async () => {
    const tenant = (r: HttpRequest) => r.header('x-tenant');
    const { core, cookie } = await signedIn({ tenant, bindClientIp: 'exact' }, { headers: { 'x-tenant': 'a' } });
    const kit = adapterKit(core, () => new MemoryStore());
    await kit.authenticate(req({ cookie, headers: { 'x-tenant': 'a' } }), r => r);
    const other = kit.authenticate(req({ cookie, headers: { 'x-tenant': 'a' }, ip: '10.9.9.9' }), r => r);
    expect(isPromise(other)).toBe(false);
    expect(codeOf(other as AuthResult)).toBe('BINDING_MISMATCH');
    const b = kit.authenticate(req({ cookie, headers: { 'x-tenant': 'b' } }), r => r);
    expect(isPromise(b)).toBe(false);
    expect(codeOf(b as AuthResult)).toBe('TOKEN_INVALID');
  });

  it('a due touch, the refresh window, an unsafe method, a bearer or an expired token take the full path', async () => {
    const { core, cookie, clock, store, sid, token } = await signedIn({ ttl: 1000, touchInterval: 60, clockTolerance: 0 });
    const kit = adapterKit(core, () => new MemoryStore());
    await kit.authenticate(req({ cookie }), r => r);
    expect(isPromise(kit.authenticate(req({ cookie, method: 'POST' }), r => r))).toBe(true);
    expect(isPromise(kit.authenticate(req({ headers: { authorization: `Bearer ${token}` } }), r => r))).toBe(true);
    clock.advance(60);
    const due = kit.authenticate(req({ cookie }), r => r);
    expect(isPromise(due)).toBe(true);
    ok(await due);
    expect((await store.get(sid))!.lastSeenAt).toBe(T0 + 60);
    expect(isPromise(kit.authenticate(req({ cookie }), r => r))).toBe(false); // touched: fast again
    clock.set(T0 + 800); // 200 s left: inside the 20% window
    expect(isPromise(kit.authenticate(req({ cookie }), r => r))).toBe(true);
    clock.set(T0 + 1000);
    const expired = kit.authenticate(req({ cookie }), r => r);
    expect(isPromise(expired)).toBe(true);
    expect(codeOf(await expired)).toBe('TOKEN_EXPIRED');
  });

  it('a store without the in-process read never takes the fast path', async () => {
    const store = failingStore();
    const core = createTessera({ secret: SECRET, store, clock: fakeClock(), verifyCredentials });
    const { jar } = await login(core);
    const kit = adapterKit(core, () => new MemoryStore());
    for (let i = 0; i < 3; i++) {
      const r = kit.authenticate(req({ cookie: jar.header }), r => r);
      expect(isPromise(r)).toBe(true);
      ok(await r);
    }
  });

  it('an error thrown by app code (the tenant function) goes to `fail`, or rejects without it', async () => {
    let throwing = false;
    const tenant = () => {
      if (throwing) throw new Error('tenant lookup failed');
      return 't1';
    };
    const { core, cookie } = await signedIn({ tenant });
    const kit = adapterKit(core, () => new MemoryStore());
    await kit.authenticate(req({ cookie }), r => r); // cached: the next call takes the fast path
    throwing = true;
    const seen: unknown[] = [];
    const withFail = kit.authenticate(req({ cookie }), r => r, err => void seen.push(err));
    expect(withFail).toBeUndefined();
    expect((seen[0] as Error).message).toBe('tenant lookup failed');
    await expect(kit.authenticate(req({ cookie }), r => r)).rejects.toThrow('tenant lookup failed');
    // the full path (no cache) rejects the same way
    await expect(core.authenticate(req({ cookie }))).rejects.toThrow('tenant lookup failed');
  });
});

describe('events: built only when someone listens', () => {
  /** A request that counts how often its path is read (only an event reads it). */
  function counting(init: ReqInit): { r: HttpRequest; reads: () => number } {
    let n = 0;
    const base = req(init);
    const r: HttpRequest = {
      method: base.method,
      header: base.header,
      ip: base.ip,
      secure: base.secure,
      body: base.body,
      get path() {
        n++;
        return '/counted';
      },
    };
    return { r, reads: () => n };
  }

  it('without onEvent, a refusal never builds its event (and nothing throws)', async () => {
    const core = createTessera({ secret: SECRET, store: new MemoryStore(), clock: fakeClock() });
    const { r, reads } = counting({ cookie: 'tessera=garbage' });
    expect(codeOf(await core.authenticate(r))).toBe('TOKEN_INVALID');
    expect(reads()).toBe(0);
    const issued = await core.issue(req(), { id: 'alice' });
    expect(issued.ok).toBe(true);
  });

  it('with onEvent, the same refusal builds and delivers its event', async () => {
    const events: TesseraEvent[] = [];
    const core = createTessera({ secret: SECRET, store: new MemoryStore(), clock: fakeClock(), onEvent: e => void events.push(e) });
    const { r, reads } = counting({ cookie: 'tessera=garbage' });
    expect(codeOf(await core.authenticate(r))).toBe('TOKEN_INVALID');
    expect(reads()).toBe(1);
    expect(events).toEqual([{ type: 'rejected', at: T0, code: 'TOKEN_INVALID', reason: 'malformed', path: '/counted', ip: PEER }]);
  });

  it('the context emits lazily: `make` runs only with a listener, and a throwing listener is contained', () => {
    let made = 0;
    const make = (): TesseraEvent => (made++, { type: 'store-error', at: 1, operation: 'get', message: 'm' });
    const quiet = createContext(resolveOptions({ secret: SECRET }), new MemoryStore());
    quiet.emit(make);
    expect(made).toBe(0);
    const got: TesseraEvent[] = [];
    const loud = createContext(resolveOptions({ secret: SECRET, onEvent: e => void got.push(e) }), new MemoryStore());
    loud.emit(make);
    expect(made).toBe(1);
    expect(got).toEqual([{ type: 'store-error', at: 1, operation: 'get', message: 'm' }]);
    const throwing = createContext(
      resolveOptions({
        secret: SECRET,
        onEvent: () => {
          throw new Error('listener bug');
        },
      }),
      new MemoryStore(),
    );
    expect(() => throwing.emit(make)).not.toThrow();
  });

  it('a throwing listener never breaks a request', async () => {
    const { core } = setup({
      onEvent: () => {
        throw new Error('listener bug');
      },
    });
    const { jar } = await login(core);
    ok(await core.authenticate(req({ cookie: jar.header })));
    expect(codeOf(await core.authenticate(req({ cookie: 'tessera=garbage' })))).toBe('TOKEN_INVALID');
  });
});
