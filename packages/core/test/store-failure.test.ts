import { describe, expect, it } from '@jest/globals';
import { adapterKit } from '../src/adapter.js';
import { ConfigError, MemoryStore, StoreError, TesseraError, createTessera, type AuthResult, type HttpReply, type TesseraEvent, type TesseraOptions, type TokenStore } from '../src/index.js';
import {
  ALICE,
  SECRET,
  T0,
  codeOf,
  decodeJwt,
  expectErrorReply,
  failingStore,
  fakeClock,
  headerOf,
  login,
  post,
  req,
  setCookiesOf,
  verifyCredentials,
  type FailMode,
} from './helpers.js';
import { sessionIdOf } from '../src/lib/at-rest.js';

/** An instance on a failing store (healthy until told otherwise), alice signed in at T0. */
async function onFailingStore(options: Partial<TesseraOptions> = {}) {
  const store = failingStore();
  const clock = fakeClock();
  const events: TesseraEvent[] = [];
  const core = createTessera({ secret: SECRET, store, clock, verifyCredentials, storeTimeout: '50ms', onEvent: e => void events.push(e), ...options });
  const { jar } = await login(core);
  const sid = sessionIdOf(decodeJwt(jar.get('tessera')!).payload.sid as string);
  return { store, clock, events, core, jar, sid, inner: store.inner as MemoryStore };
}

/** The contract's 503: STORE_UNAVAILABLE, Retry-After, no cookie set or cleared. */
function expectUnavailable(r: HttpReply | AuthResult): void {
  const reply = 'status' in r ? r : r.ok ? null : r.reply;
  expect(reply).not.toBeNull();
  expectErrorReply(reply!, 'STORE_UNAVAILABLE');
  expect(headerOf(reply!, 'retry-after')).toBe('1');
  expect(setCookiesOf(reply!)).toEqual([]);
}

describe('a failing store: 503 STORE_UNAVAILABLE, never a throw', () => {
  for (const mode of ['reject', 'hang'] as FailMode[]) {
    it(`every request answers 503 when every call ${mode === 'reject' ? 'rejects' : 'hangs (storeTimeout 50ms)'}`, async () => {
      const { store, core, jar } = await onFailingStore();
      store.all(mode);
      const kit = adapterKit(core, () => new MemoryStore());
      const started = Date.now();
      expectUnavailable(await core.authenticate(req({ cookie: jar.header })));
      expectUnavailable(await kit.authenticate(req({ cookie: jar.header }), r => r));
      expectUnavailable(await core.route('session', req({ cookie: jar.header })));
      expectUnavailable(await core.route('login', post('/auth/login', ALICE)));
      expectUnavailable(await core.route('refresh', post('/auth/refresh', undefined, { cookie: jar.header })));
      expectUnavailable(await core.route('logout', post('/auth/logout', undefined, { cookie: jar.header })));
      expectUnavailable(await core.issue(req(), { id: 'alice' }));
      expectUnavailable((await kit.admin({ path: '/sessions', req: req({ cookie: jar.header }) }))!);
      expect(Date.now() - started).toBeLessThan(5000);
    });
  }

  it('a store-error event names the operation; the message is redacted', async () => {
    const store = failingStore();
    const events: TesseraEvent[] = [];
    const core = createTessera({ secret: SECRET, store, clock: fakeClock(), onEvent: e => void events.push(e), verifyCredentials });
    const { jar } = await login(core);
    store.get = () => Promise.reject(new Error('connect ECONNREFUSED redis://user:hunter2@10.0.0.5:6379'));
    expectUnavailable(await core.authenticate(req({ cookie: jar.header })));
    expect(events.filter(e => e.type === 'store-error')).toEqual([{ type: 'store-error', at: T0, operation: 'get', message: 'connect ECONNREFUSED redis://***@10.0.0.5:6379' }]);
    expect(events.filter(e => e.type === 'rejected')).toEqual([]);
  });

  it('a hang is cut at storeTimeout', async () => {
    const { store, core, jar, events } = await onFailingStore({ storeTimeout: '50ms' });
    store.modes.get = 'hang';
    const started = Date.now();
    expectUnavailable(await core.authenticate(req({ cookie: jar.header })));
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(45);
    expect(elapsed).toBeLessThan(1000);
    expect(events.filter(e => e.type === 'store-error')).toEqual([{ type: 'store-error', at: T0, operation: 'get', message: 'store get timed out after 50 ms' }]);
  });

  it('a method that throws synchronously is a failure like any other', async () => {
    const { store, core, jar } = await onFailingStore();
    store.get = () => {
      throw new Error('sync boom');
    };
    expectUnavailable(await core.authenticate(req({ cookie: jar.header })));
  });

  it('a closed memory store: 503 (the fast path falls back to the full path)', async () => {
    const store = new MemoryStore();
    const core = createTessera({ secret: SECRET, store, clock: fakeClock(), verifyCredentials });
    const { jar } = await login(core);
    const kit = adapterKit(core, () => new MemoryStore());
    await kit.authenticate(req({ cookie: jar.header }), r => r); // cached
    await store.close();
    expectUnavailable(await kit.authenticate(req({ cookie: jar.header }), r => r));
  });

  it('the admin API surfaces the failure as a TesseraError STORE_UNAVAILABLE', async () => {
    const { store, core, sid } = await onFailingStore();
    store.all('reject');
    for (const call of [() => core.listSessions('alice'), () => core.revokeSession(sid), () => core.revokeAll(), () => core.getRecordInfo(sid), () => core.createApiToken({ user: { id: 'alice' } })]) {
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TesseraError);
      expect((err as TesseraError).code).toBe('STORE_UNAVAILABLE');
    }
  });
});

describe('a failing store consumes nothing: the same credentials work once it recovers', () => {
  it('authenticate: a failed read leaves the session as it was', async () => {
    const { store, core, jar, inner, sid } = await onFailingStore();
    const before = await inner.get(sid);
    store.modes.get = 'reject';
    expectUnavailable(await core.authenticate(req({ cookie: jar.header })));
    store.modes.get = 'ok';
    expect(codeOf(await core.authenticate(req({ cookie: jar.header })))).toBe('ok');
    expect(await inner.get(sid)).toEqual(before);
  });

  it('sliding reissue: a failed touch moves nothing and sets no cookie', async () => {
    const { store, core, jar, inner, sid, clock } = await onFailingStore({ ttl: 1000 });
    clock.set(T0 + 900);
    store.modes.touch = 'reject';
    expectUnavailable(await core.authenticate(req({ cookie: jar.header })));
    expect((await inner.get(sid))!.expiresAt).toBe(T0 + 1000);
    store.modes.touch = 'ok';
    const r = await core.authenticate(req({ cookie: jar.header }));
    expect(codeOf(r)).toBe('ok');
    expect(setCookiesOf(r)).toHaveLength(1);
  });

  it('logout: a failed revocation keeps the cookies (the client can retry) and the session', async () => {
    const { store, core, jar, inner, sid } = await onFailingStore();
    store.modes.revoke = 'reject';
    expectUnavailable(await core.route('logout', post('/auth/logout', undefined, { cookie: jar.header })));
    expect((await inner.get(sid))!.revokedAt).toBeNull();
    store.modes.revoke = 'ok';
    expect((await core.route('logout', post('/auth/logout', undefined, { cookie: jar.header }))).status).toBe(204);
    expect((await inner.get(sid))!.revokedAt).toBe(T0);
  });

  it('login: a failed write sets no cookie', async () => {
    const { store, core } = await onFailingStore();
    store.modes.put = 'reject';
    expectUnavailable(await core.route('login', post('/auth/login', ALICE)));
  });

  it('pair-mode login: a failed write leaves no live session behind for the user', async () => {
    const { store, core, inner } = await onFailingStore({ mode: 'pair' });
    const live = async () => (await inner.list({ subject: 'alice', kind: 'session', limit: 100 })).records.filter(r => r.revokedAt === null).length;
    expect(await live()).toBe(1); // the login of the setup
    let puts = 0;
    const put = inner.put.bind(inner);
    store.put = r => (++puts === 2 ? Promise.reject(new StoreError('injected put failure')) : put(r)); // the refresh record's write fails
    expectUnavailable(await core.route('login', post('/auth/login', ALICE)));
    expect(puts).toBe(2);
    expect((await core.listSessions('alice')).sessions).toHaveLength(1);
  });

  // Pair mode, reuse never allowed: if a failed refresh had consumed the token, the retry would be
  // reuse, and the whole login would be revoked.
  for (const op of ['get', 'rotate', 'touch'] as const) {
    it(`pair refresh: a failed ${op} does not consume the refresh token (refreshReuse: false)`, async () => {
      const { store, core, jar, inner, sid, clock, events } = await onFailingStore({ mode: 'pair', accessTtl: 60, refreshTtl: 3600, refreshReuse: false });
      const used = decodeJwt(jar.get('tessera-refresh')!).payload.jti as string;
      clock.set(T0 + 100);
      store.modes[op] = 'reject';
      expectUnavailable(await core.route('refresh', post('/auth/refresh', undefined, { cookie: jar.header })));
      const rotatedByTheFailedRefresh = (await inner.get(used))!.rotatedAt ?? null;
      store.modes[op] = 'ok';
      clock.set(T0 + 101); // the client retries after Retry-After
      const retry = await core.route('refresh', post('/auth/refresh', undefined, { cookie: jar.header }));
      expect({
        retry: codeOf(retry),
        rotatedByTheFailedRefresh,
        sessionRevokedAt: (await inner.get(sid))!.revokedAt,
        reuseDetected: events.filter(e => e.type === 'reuse-detected').length,
      }).toEqual({ retry: 200, rotatedByTheFailedRefresh: null, sessionRevokedAt: null, reuseDetected: 0 });
    });
  }

  it("pair refresh route after the middleware's 503: the verdict stands, the store is not asked again", async () => {
    const { store, core, jar, clock } = await onFailingStore({ mode: 'pair', accessTtl: 60 });
    clock.set(T0 + 61); // access expired: the middleware refreshes
    store.all('reject');
    const request = post('/auth/refresh', undefined, { cookie: jar.header });
    const prior = await core.authenticate(request);
    expectUnavailable(prior);
    if (prior.ok) throw new Error('unreachable');
    const calls = store.calls.length;
    expect(await core.route('refresh', request, prior)).toBe(prior.reply);
    expect(store.calls.length).toBe(calls);
  });

  it('pair refresh: a hung rotation does not consume the refresh token either', async () => {
    const { store, core, jar, clock } = await onFailingStore({ mode: 'pair', refreshReuse: false });
    store.modes.rotate = 'hang';
    // only the refresh cookie: with the still-fresh access cookie beside it nothing would be rotated
    const cookie = jar.only('tessera-refresh');
    expectUnavailable(await core.route('refresh', post('/auth/refresh', undefined, { cookie })));
    store.modes.rotate = 'ok';
    clock.advance(1);
    expect((await core.route('refresh', post('/auth/refresh', undefined, { cookie }))).status).toBe(200);
  });
});

describe('a store whose generated secret is unusable', () => {
  /** A memory store whose `initSecret` is replaced. */
  function withInitSecret(initSecret: (candidate: string) => Promise<unknown>): TokenStore {
    const inner = new MemoryStore();
    return {
      get: id => inner.get(id),
      put: r => inner.put(r),
      touch: (id, l, e) => inner.touch(id, l, e),
      rotate: (u, n, now) => inner.rotate(u, n, now),
      countReuse: (id, limit) => inner.countReuse(id, limit),
      revoke: (w, now) => inner.revoke(w, now),
      list: q => inner.list(q),
      purgeExpired: now => inner.purgeExpired(now),
      close: () => inner.close(),
      initSecret: initSecret as (candidate: string) => Promise<string>,
    };
  }

  /** 20 characters: too short to sign with, long enough that an echo would show. */
  const GARBAGE = 'GaRbAgE-0123456789xy';
  const cases: [string, () => Promise<unknown>, string?][] = [
    ["''", async () => ''],
    ["'short'", async () => 'short', 'short'],
    ['a 20-character string', async () => GARBAGE, GARBAGE],
    ['42', async () => 42, '42'],
    ['null', async () => null],
    ['an object holding a string', async () => ({ secret: GARBAGE }), GARBAGE],
    ['40 NUL bytes (a crash-truncated file)', async () => '\0'.repeat(40)],
    ['a long string with whitespace in it', async () => `${'k'.repeat(40)}\n`],
  ];

  for (const [label, initSecret, echo] of cases) {
    it(`initSecret gives ${label}: ready() rejects with a ConfigError that does not echo it; requests answer 503`, async () => {
      const events: TesseraEvent[] = [];
      const core = createTessera({ store: withInitSecret(initSecret), clock: fakeClock(), verifyCredentials, onEvent: e => void events.push(e) });
      const err = await core.ready().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).option).toBe('secret');
      expect((err as Error).message).toBe(
        'secret: the generated secret kept in the store is unusable (not a string of at least 32 bytes); remove it from the store or set `secret`',
      );
      if (echo) expect((err as Error).message).not.toContain(echo);
      // (a very short value could occur in the fixed texts by chance: 'short' is in "shortly")
      await expectAllUnavailable(core, echo !== undefined && echo.length >= 8 ? echo : undefined);
      const storeErrors = events.filter(e => e.type === 'store-error');
      expect(storeErrors.length).toBeGreaterThan(0);
      expect(storeErrors.every(e => e.type === 'store-error' && e.operation === 'initSecret')).toBe(true);
      if (echo !== undefined && echo.length >= 8) expect(JSON.stringify(events)).not.toContain(echo);
    });
  }

  it('initSecret rejects: ready() rejects with a StoreError about the secret, credentials in the message redacted; requests answer 503', async () => {
    const core = createTessera({
      store: withInitSecret(() => Promise.reject(new Error('connect ECONNREFUSED redis://admin:hunter2@10.0.0.5:6379'))),
      clock: fakeClock(),
      verifyCredentials,
    });
    const err = await core.ready().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toBe('could not load the generated secret from the store: connect ECONNREFUSED redis://***@10.0.0.5:6379');
    expect((err as Error).message).not.toContain('hunter2');
    await expectAllUnavailable(core, 'hunter2');
  });

  it('initSecret hangs: ready() rejects after storeTimeout', async () => {
    const core = createTessera({ store: withInitSecret(() => new Promise(() => {})), storeTimeout: '50ms', clock: fakeClock() });
    await expect(core.ready()).rejects.toThrow('could not load the generated secret from the store: store initSecret timed out after 50 ms');
    expectUnavailable(await core.authenticate(req()));
  });

  it('a failed load is retried: once the store answers, the instance works', async () => {
    let calls = 0;
    const core = createTessera({
      store: withInitSecret(async candidate => (++calls === 1 ? Promise.reject(new Error('not yet')) : candidate)),
      clock: fakeClock(),
      verifyCredentials,
    });
    await expect(core.ready()).rejects.toThrow(StoreError);
    await expect(core.ready()).resolves.toBeUndefined();
    expect(calls).toBe(2);
    const { jar } = await login(core);
    expect(codeOf(await core.authenticate(req({ cookie: jar.header })))).toBe('ok');
  });

  async function expectAllUnavailable(core: ReturnType<typeof createTessera>, leak?: string): Promise<void> {
    const kit = adapterKit(core, () => new MemoryStore());
    const cookie = 'tessera=a.b.c';
    const replies: HttpReply[] = [];
    const fromAuth = (r: AuthResult) => (r.ok ? null : r.reply);
    for (const r of [
      await core.authenticate(req()),
      await core.authenticate(req({ cookie })),
      await kit.authenticate(req({ cookie }), x => x),
      await core.issue(req(), { id: 'alice' }),
    ]) {
      expect(r.ok).toBe(false);
      replies.push(fromAuth(r)!);
    }
    replies.push(await core.route('login', post('/auth/login', ALICE)));
    replies.push(await core.route('session', req({ cookie })));
    replies.push(await core.route('refresh', post('/auth/refresh', undefined, { cookie })));
    replies.push(await core.route('logout', post('/auth/logout', undefined, { cookie })));
    for (const reply of replies) {
      expectUnavailable(reply);
      if (leak) expect(JSON.stringify(reply)).not.toContain(leak);
    }
  }
});
