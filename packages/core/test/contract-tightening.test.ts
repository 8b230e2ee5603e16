/** Contract tightening, the points HTTP adds nothing to: option resolution, the lifetime bound on expired tokens, the session cap's counting. */
import { describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { kidOf } from '../src/index.js';
import { resolveOptions } from '../src/options.js';
import { ConfigError } from '../src/errors.js';
import { ALICE, BOB, SECRET, T0, codeOf, decodeJwt, failingStore, login, ok, post, req, setup } from './helpers.js';
import { sessionIdOf } from '../src/lib/at-rest.js';

const key = new TextEncoder().encode(SECRET);
const forge = (payload: Record<string, unknown>) => new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'tessera-session+jwt', kid: kidOf(SECRET) }).sign(key);

describe('options', () => {
  it('maxSessionsPerUser: off by default; false or 0 is off (0); 1 to 100000', () => {
    expect(resolveOptions({}).maxSessionsPerUser).toBe(0);
    expect(resolveOptions({ maxSessionsPerUser: false }).maxSessionsPerUser).toBe(0);
    expect(resolveOptions({ maxSessionsPerUser: 0 }).maxSessionsPerUser).toBe(0);
    expect(resolveOptions({ maxSessionsPerUser: 3 }).maxSessionsPerUser).toBe(3);
    for (const bad of [-1, 1.5, 100_001, '3', true]) {
      expect(() => resolveOptions({ maxSessionsPerUser: bad as never })).toThrow(ConfigError);
    }
  });

  it('bearerSessions: true by default', () => {
    expect(resolveOptions({}).bearerSessions).toBe(true);
    expect(resolveOptions({ bearerSessions: false }).bearerSessions).toBe(false);
    expect(() => resolveOptions({ bearerSessions: 'api-only' as never })).toThrow(/^bearerSessions: /);
  });
});

describe('token lifetime bound', () => {
  it('an expired token that also lived too long is TOKEN_INVALID (lifetime), not TOKEN_EXPIRED: logout does not take it as a login', async () => {
    const { core, clock, store, events } = setup({ ttl: 3600, clockTolerance: 0 });
    const { jar } = await login(core);
    const payload = decodeJwt(jar.get('tessera')!).payload;
    const longDead = await forge({ ...payload, iat: T0 - 100_000, exp: T0 - 10 });
    const plainDead = await forge({ ...payload, iat: T0 - 3610, exp: T0 - 10 });
    expect(codeOf(await core.authenticate(req({ cookie: `tessera=${plainDead}` })))).toBe('TOKEN_EXPIRED');
    expect(codeOf(await core.authenticate(req({ cookie: `tessera=${longDead}` })))).toBe('TOKEN_INVALID');
    expect(events.filter(e => e.type === 'rejected').map(e => (e as { reason: string }).reason)).toEqual(['exp', 'lifetime']);
    await core.route('logout', post('/auth/logout', undefined, { cookie: `tessera=${longDead}` }));
    expect((await store.get(sessionIdOf(payload.sid as string)))!.revokedAt).toBeNull();
    clock.advance(1);
    ok(await core.authenticate(req({ cookie: jar.header })));
  });
});

describe('maxSessionsPerUser', () => {
  it('a login that presents one of the sessions (fixation ends it) does not also end another one', async () => {
    const { core, clock, events } = setup({ maxSessionsPerUser: 2 });
    const a = await login(core);
    clock.advance(1);
    const b = await login(core);
    clock.advance(1);
    const again = await login(core, ALICE, { cookie: b.jar.header }); // the browser of b logs in again
    ok(await core.authenticate(req({ cookie: a.jar.header })));
    ok(await core.authenticate(req({ cookie: again.jar.header })));
    expect(codeOf(await core.authenticate(req({ cookie: b.jar.header })))).toBe('SESSION_ENDED');
    expect(events.filter(e => e.type === 'revoked').map(e => (e as { by: string }).by)).toEqual(['login']);
  });

  it('sessions already dead by the idle or absolute timeout do not count', async () => {
    const { core, clock, events } = setup({ maxSessionsPerUser: 1, idleTimeout: 100, touchInterval: 0 });
    await login(core); // idle from here on
    clock.advance(101);
    const b = await login(core);
    expect(events.filter(e => e.type === 'revoked')).toEqual([]);
    ok(await core.authenticate(req({ cookie: b.jar.header })));
    const c = await login(core, BOB); // another user: never counted
    ok(await core.authenticate(req({ cookie: c.jar.header })));

    const abs = setup({ maxSessionsPerUser: 1, absoluteTimeout: 100, ttl: 3600 });
    await login(abs.core);
    abs.clock.advance(100);
    await login(abs.core);
    expect(abs.events.filter(e => e.type === 'revoked')).toEqual([]);
  });

  it('a store failure while making room: 503, nothing stored, nothing consumed', async () => {
    const store = failingStore();
    const { core } = setup({ maxSessionsPerUser: 1, store, storeTimeout: '200ms', logger: false });
    const first = await login(core);
    store.modes.revoke = 'reject';
    const reply = await core.route('login', post('/auth/login', ALICE));
    expect(reply.status).toBe(503);
    store.modes.revoke = 'ok';
    ok(await core.authenticate(req({ cookie: first.jar.header })));
    expect((await store.list({ subject: 'alice', kind: 'session', limit: 100 })).records).toHaveLength(1);
  });
});
