import { describe, expect, it } from '@jest/globals';
import { adapterKit } from '../src/adapter.js';
import { MemoryStore, createTessera, type HttpReply, type LoginInput, type TokenRecord } from '../src/index.js';
import {
  ALICE,
  PEER,
  SECRET,
  T0,
  codeOf,
  cookieValue,
  decodeJwt,
  expectErrorReply,
  expires,
  fakeClock,
  headerOf,
  login,
  ok,
  post,
  req,
  setCookiesOf,
  setup,
  verifyCredentials,
  type ReqInit,
} from './helpers.js';
import { sessionIdOf } from '../src/lib/at-rest.js';

/** An instance whose verifyCredentials counts its calls. */
function counted(options: Parameters<typeof setup>[0] = {}) {
  const inputs: LoginInput[] = [];
  const s = setup({
    verifyCredentials: (input, r) => {
      inputs.push(input);
      return verifyCredentials(input, r);
    },
    ...options,
  });
  const send = (body: unknown, init: ReqInit = {}) => s.core.route('login', post('/auth/login', body, init));
  return { ...s, inputs, send };
}

const sidOf = (reply: HttpReply) => sessionIdOf(decodeJwt(cookieValue(setCookiesOf(reply)[0]!)).payload.sid as string);

describe('routes: which drop-in route a path names (adapter kit)', () => {
  it('matches methods and paths below the prefix, a trailing slash allowed', () => {
    const kit = adapterKit(createTessera({ secret: SECRET, store: new MemoryStore() }), () => new MemoryStore());
    expect(kit.prefix).toBe('/auth');
    expect(kit.routeNames).toEqual(['login', 'refresh', 'logout', 'session', 'createJob', 'revokeJob']);
    expect(kit.matchRoute('POST', '/login')).toBe('login');
    expect(kit.matchRoute('POST', '/login/')).toBe('login');
    expect(kit.matchRoute('GET', '/login')).toBeNull();
    expect(kit.matchRoute('POST', '/refresh')).toBe('refresh');
    expect(kit.matchRoute('POST', '/logout')).toBe('logout');
    expect(kit.matchRoute('GET', '/logout')).toBeNull();
    expect(kit.matchRoute('GET', '/session')).toBe('session');
    expect(kit.matchRoute('HEAD', '/session')).toBe('session');
    expect(kit.matchRoute('POST', '/session')).toBeNull();
    expect(kit.matchRoute('POST', '/login/x')).toBeNull();
    expect(kit.matchRoute('POST', '/')).toBeNull();
    expect(kit.matchRoute('POST', '/jobs')).toBe('createJob');
    expect(kit.matchRoute('POST', '/jobs/')).toBe('createJob');
    expect(kit.matchRoute('DELETE', '/jobs/nightly-42')).toBe('revokeJob');
    expect(kit.matchRoute('GET', '/jobs')).toBeNull();
    expect(kit.matchRoute('DELETE', '/jobs')).toBeNull();
    expect(kit.matchRoute('DELETE', '/jobs/a/b')).toBeNull();
  });

  it('no job routes with jobs: false', () => {
    const kit = adapterKit({ secret: SECRET, jobs: false }, () => new MemoryStore());
    expect(kit.routeNames).toEqual(['login', 'refresh', 'logout', 'session']);
    expect(kit.matchRoute('POST', '/jobs')).toBeNull();
    expect(kit.matchRoute('DELETE', '/jobs/nightly-42')).toBeNull();
  });

  it('no refresh route when refreshable is false', () => {
    const kit = adapterKit({ secret: SECRET, refreshable: false }, () => new MemoryStore());
    expect(kit.routeNames).toEqual(['login', 'logout', 'session', 'createJob', 'revokeJob']);
    expect(kit.matchRoute('POST', '/refresh')).toBeNull();
  });

  it('below(): the path under the prefix, or null elsewhere', () => {
    const kit = adapterKit({ secret: SECRET, routes: { prefix: '/api/auth/' } }, () => new MemoryStore());
    expect(kit.prefix).toBe('/api/auth');
    expect(kit.below('/api/auth/login')).toBe('/login');
    expect(kit.below('/api/auth')).toBe('/');
    expect(kit.below('/api/authx/login')).toBeNull();
    expect(kit.below('/login')).toBeNull();
    expect(kit.below('/admin/sessions', '/admin/')).toBe('/sessions');
    expect(kit.below('/anything', '/')).toBe('/anything');
  });

  it('the kit built from options uses the default store only when the options name none', () => {
    let made = 0;
    const store = new MemoryStore();
    expect(adapterKit({ secret: SECRET, store }, () => (made++, new MemoryStore())).core.store).toBe(store);
    expect(made).toBe(0);
    adapterKit({ secret: SECRET }, () => (made++, new MemoryStore()));
    expect(made).toBe(1);
  });
});

describe('login route: success', () => {
  it('200 with the user and expiry, one cookie, a session record, an issued event', async () => {
    const { send, store, events, inputs } = counted({ ttl: 3600 });
    const reply = await send(ALICE);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ user: { id: 'alice', name: 'Alice' }, expiresAt: T0 + 3600 });
    expect(headerOf(reply, 'cache-control')).toBe('no-store');
    const [cookie] = setCookiesOf(reply);
    expect(setCookiesOf(reply)).toEqual([`tessera=${cookieValue(cookie!)}; Path=/; Max-Age=3600; Expires=${expires(T0, 3600)}; HttpOnly; SameSite=Lax`]);
    const sid = sidOf(reply);
    expect(await store.get(sid)).toEqual({
      id: sid,
      kind: 'session',
      subject: 'alice',
      family: sid,
      createdAt: T0,
      lastSeenAt: T0,
      expiresAt: T0 + 3600,
      revokedAt: null,
      user: { id: 'alice', name: 'Alice' },
      ip: PEER,
      mac: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    expect(inputs).toEqual([ALICE]);
    expect(events).toEqual([{ type: 'issued', at: T0, kind: 'session', sessionId: sid, subject: 'alice', tenant: null }]);
  });

  it('tokenInLoginBody: the token is in the body too, and is the cookie value', async () => {
    const { send } = counted({ tokenInLoginBody: true });
    const reply = await send(ALICE);
    expect((reply.body as { token: string }).token).toBe(cookieValue(setCookiesOf(reply)[0]!));
  });

  it('raw JSON bodies: application/json and +json types, with parameters, strings or bytes', async () => {
    const { send } = counted();
    const json = JSON.stringify(ALICE);
    expect((await send(json, { headers: { 'content-type': 'application/json' } })).status).toBe(200);
    expect((await send(json, { headers: { 'content-type': 'Application/JSON; charset=utf-8' } })).status).toBe(200);
    expect((await send(json, { headers: { 'content-type': 'application/vnd.api+json' } })).status).toBe(200);
    expect((await send(new TextEncoder().encode(json), { headers: { 'content-type': 'application/json' } })).status).toBe(200);
  });

  it('the peer address is recorded normalised; an unknown or unparsable peer is not recorded', async () => {
    const { send, store } = counted();
    expect((await store.get(sidOf(await send(ALICE, { ip: '::ffff:198.51.100.4' }))))!.ip).toBe('198.51.100.4');
    expect((await store.get(sidOf(await send(ALICE, { ip: '2001:DB8::1' }))))!.ip).toBe('2001:db8::1');
    expect((await store.get(sidOf(await send(ALICE, { ip: null }))))!).not.toHaveProperty('ip');
    expect((await store.get(sidOf(await send(ALICE, { ip: 'not-an-ip' }))))!).not.toHaveProperty('ip');
  });

  it('bindClientIp: the binding is stored with the address; without an address, nothing is bound', async () => {
    const { send, store } = counted({ bindClientIp: 'subnet' });
    expect(await store.get(sidOf(await send(ALICE, { ip: '10.1.2.3' })))).toMatchObject({ ip: '10.1.2.3', binding: 'subnet' });
    const unbound = (await store.get(sidOf(await send(ALICE, { ip: null }))))!;
    expect(unbound).not.toHaveProperty('binding');
    expect(unbound).not.toHaveProperty('ip');
  });

  it('tenant: stored in the record and the token', async () => {
    const { send, store } = counted({ tenant: r => r.header('x-tenant') });
    const reply = await send(ALICE, { headers: { 'x-tenant': 't1' } });
    expect((await store.get(sidOf(reply)))!.tenant).toBe('t1');
    expect(decodeJwt(cookieValue(setCookiesOf(reply)[0]!)).payload.tnt).toBe('t1');
  });
});

describe('login route: bad bodies are 400 BAD_REQUEST, never reach verifyCredentials', () => {
  const cases: [string, unknown, ReqInit?][] = [
    ['malformed JSON', '{"username": "alice", ', { headers: { 'content-type': 'application/json' } }],
    ['a text/plain body (a cross-site form can send it)', JSON.stringify(ALICE), { headers: { 'content-type': 'text/plain' } }],
    ['a raw body without a content type', JSON.stringify(ALICE)],
    ['a form-encoded raw body', 'username=alice&password=wonderland', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
    ['no body', undefined],
    ['an empty body', '   ', { headers: { 'content-type': 'application/json' } }],
    ['null', null],
    ['an array', [ALICE]],
    ['a JSON string', '"alice"', { headers: { 'content-type': 'application/json' } }],
    ['a missing password', { username: 'alice' }],
    ['a missing username', { password: 'wonderland' }],
    ['a non-string password', { username: 'alice', password: 42 }],
    ['an empty username', { username: '', password: 'wonderland' }],
    ['a username over 1024 characters', { username: 'a'.repeat(1025), password: 'wonderland' }],
    ['a password over 1024 characters', { username: 'alice', password: 'p'.repeat(1025) }],
    ['a body that cannot be read', undefined, { bodyError: new Error('stream destroyed') }],
  ];
  for (const [label, body, init] of cases) {
    it(label, async () => {
      const { send, inputs, store } = counted();
      const reply = await send(body, init);
      expectErrorReply(reply, 'BAD_REQUEST');
      expect(setCookiesOf(reply)).toEqual([]);
      expect(inputs).toEqual([]);
      expect(store.size).toBe(0);
    });
  }

  it('1024 characters is not too long', async () => {
    const { send, inputs } = counted();
    expectErrorReply(await send({ username: 'a'.repeat(1024), password: 'p'.repeat(1024) }), 'LOGIN_FAILED');
    expect(inputs).toHaveLength(1);
  });
});

describe('login route: refusals', () => {
  it('wrong credentials: 401 LOGIN_FAILED, no cookie, no record, a rejected event', async () => {
    const { send, store, events } = counted();
    const reply = await send({ username: 'alice', password: 'nope' });
    expectErrorReply(reply, 'LOGIN_FAILED');
    expect(setCookiesOf(reply)).toEqual([]);
    expect(store.size).toBe(0);
    expect(events).toEqual([{ type: 'rejected', at: T0, code: 'LOGIN_FAILED', reason: 'credentials', path: '/auth/login', ip: PEER }]);
  });

  it('no verifyCredentials configured: LOGIN_FAILED', async () => {
    const core = createTessera({ secret: SECRET, store: new MemoryStore() });
    expectErrorReply(await core.route('login', post('/auth/login', ALICE)), 'LOGIN_FAILED');
  });

  it('cross-origin: 403 CSRF_FAILED before the credentials are checked', async () => {
    const { send, inputs } = counted();
    expectErrorReply(await send(ALICE, { headers: { origin: 'https://evil.example', host: 'app.example' } }), 'CSRF_FAILED');
    expectErrorReply(await send(ALICE, { headers: { 'sec-fetch-site': 'cross-site' } }), 'CSRF_FAILED');
    expect(inputs).toEqual([]);
    expect((await send(ALICE, { headers: { origin: 'https://app.example', host: 'app.example' } })).status).toBe(200);
  });

  it('an error thrown by verifyCredentials is app code: it reaches the caller', async () => {
    const { core } = setup({
      verifyCredentials: () => {
        throw new Error('user database down');
      },
    });
    await expect(core.route('login', post('/auth/login', ALICE))).rejects.toThrow('user database down');
  });
});

describe('issue(): the programmatic session start', () => {
  /** A record with the per-session values (ids) masked. */
  const shape = (r: TokenRecord | null) => ({ ...r!, id: '<sid>', family: '<sid>', mac: '<mac>' });
  const maskToken = (c: string) => c.replace(/^([^=]+)=[^;]+/, '$1=<token>');

  it('sliding: the same cookie and record as the login route', async () => {
    const { core, store } = setup({ ttl: 3600 });
    const { reply } = await login(core);
    const issued = ok(await core.issue(req({ path: '/sso/callback' }), { id: 'alice', name: 'Alice' }));
    expect(issued.refreshed).toBe(true);
    expect(issued.cookies.map(maskToken)).toEqual(setCookiesOf(reply).map(maskToken));
    expect(shape(await store.get(issued.session.id))).toEqual(shape(await store.get(sidOf(reply))));
    expect(issued.session).toEqual({
      id: issued.session.id,
      kind: 'session',
      user: { id: 'alice', name: 'Alice' },
      subject: 'alice',
      tenant: null,
      createdAt: T0,
      expiresAt: T0 + 3600,
      sessionExpiresAt: T0 + 3600,
    });
    ok(await core.authenticate(req({ cookie: issued.cookies[0]!.split(';')[0] })));
  });

  it('pair mode: the same two cookies and records as the login route', async () => {
    const { core, store } = setup({ mode: 'pair', accessTtl: 60, refreshTtl: 3600, bindClientIp: 'exact' });
    const { reply } = await login(core);
    const issued = ok(await core.issue(req(), { id: 'alice', name: 'Alice' }));
    expect(issued.cookies.map(maskToken)).toEqual(setCookiesOf(reply).map(maskToken));
    expect(shape(await store.get(issued.session.id))).toEqual(shape(await store.get(sidOf(reply))));
    expect(issued.session.expiresAt).toBe(T0 + 60);
    const rt = (c: readonly string[]) => decodeJwt(cookieValue(c[1]!)).payload.jti as string;
    const refreshShape = (r: TokenRecord | null) => ({ ...r!, id: '<rid>', family: '<sid>' });
    expect(refreshShape(await store.get(rt(issued.cookies)))).toEqual(refreshShape(await store.get(rt(setCookiesOf(reply)))));
  });

  it('the user is copied into the record: later changes to the object do not leak in', async () => {
    const { core, store } = setup();
    const user = { id: 'carol', roles: ['a'] };
    const issued = ok(await core.issue(req(), user));
    user.roles.push('admin');
    expect((await store.get(issued.session.id))!.user).toEqual({ id: 'carol', roles: ['a'] });
  });

  it('a user without a string id is a programming error: issue() rejects with a TypeError', async () => {
    const { core, store } = setup();
    await expect(core.issue(req(), { id: '' })).rejects.toThrow(TypeError);
    await expect(core.issue(req(), { id: 7 } as never)).rejects.toThrow(TypeError);
    await expect(core.issue(req(), null as never)).rejects.toThrow(TypeError);
    expect(store.size).toBe(0);
  });

  it('issue() records the peer and binding like the login route', async () => {
    const { core, store } = setup({ bindClientIp: 'exact' });
    const issued = ok(await core.issue(req({ ip: '192.0.2.9' }), { id: 'alice' }));
    expect(await store.get(issued.session.id)).toMatchObject({ ip: '192.0.2.9', binding: 'exact' });
    expect(codeOf(await core.authenticate(req({ cookie: issued.cookies[0]!.split(';')[0], ip: '192.0.2.10' })))).toBe('BINDING_MISMATCH');
  });

  it('createTessera requires a store', () => {
    expect(() => createTessera({ secret: SECRET, clock: fakeClock() })).toThrow(/^store: required/);
  });
});
