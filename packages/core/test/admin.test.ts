import { describe, expect, it } from '@jest/globals';
import { adapterKit, type AdminRouteOptions } from '../src/adapter.js';
import { MemoryStore, type HttpReply, type Session } from '../src/index.js';
import { ALICE, BOB, T0, codeOf, decodeJwt, expectErrorReply, login, ok, req, setup, type ReqInit } from './helpers.js';
import { sessionIdOf } from '../src/lib/at-rest.js';

const isAdmin: AdminRouteOptions['isAdmin'] = (s: Session) => s.subject === 'root';

/** Alice (two sessions), Bob (one) and root (an admin) signed in; `as(who)` calls an admin route with their cookie. */
async function world(options: Parameters<typeof setup>[0] = {}) {
  const s = setup({
    verifyCredentials: ({ username, password }) =>
      username === 'root' && password === 'toor' ? { id: 'root' } : username === 'alice' && password === 'wonderland' ? { id: 'alice' } : username === 'bob' && password === 'builder' ? { id: 'bob' } : null,
    ...options,
  });
  const kit = adapterKit(s.core, () => new MemoryStore());
  const alice = (await login(s.core, ALICE)).jar;
  const alice2 = (await login(s.core, ALICE)).jar;
  const bob = (await login(s.core, BOB)).jar;
  const root = (await login(s.core, { username: 'root', password: 'toor' })).jar;
  const sidOf = (j: typeof alice) => sessionIdOf(decodeJwt(j.get('tessera')!).payload.sid as string);
  const call = (cookie: string | undefined, method: string, path: string, init: ReqInit = {}) =>
    kit.admin({ path, req: req({ method, path: `/admin${path}`, cookie, ...init }), options: { isAdmin } });
  return { ...s, kit, alice, alice2, bob, root, sidOf, call };
}

const body = (r: HttpReply | null) => r!.body as Record<string, any>;

describe('admin routes: matching and authentication', () => {
  it('a path that is not an admin route is null (the app handles it)', async () => {
    const { call, alice } = await world();
    expect(await call(alice.header, 'GET', '/nope')).toBeNull();
    expect(await call(alice.header, 'POST', '/sessions')).toBeNull();
    expect(await call(alice.header, 'GET', '/users/bob')).toBeNull();
    expect(await call(alice.header, 'PUT', '/api-tokens')).toBeNull();
  });

  it('no credentials: 401 TOKEN_MISSING; a revoked session: SESSION_ENDED', async () => {
    const { call, alice, core, sidOf } = await world();
    expectErrorReply((await call(undefined, 'GET', '/sessions'))!, 'TOKEN_MISSING');
    await core.revokeSession(sidOf(alice));
    expectErrorReply((await call(alice.header, 'GET', '/sessions'))!, 'SESSION_ENDED');
  });

  it("the middleware's result (prior) is used as is", async () => {
    const { kit, alice, core } = await world();
    const prior = ok(await core.authenticate(req({ cookie: alice.header })));
    // no cookie on the request: only `prior` can authenticate it
    const r = await kit.admin({ path: '/sessions', req: req({ path: '/admin/sessions' }), prior });
    expect(r!.status).toBe(200);
    expect(body(r).current).toBe(prior.session.id);
    const refused = await core.authenticate(req({ cookie: 'tessera=garbage' }));
    if (refused.ok) throw new Error('unreachable');
    expect(await kit.admin({ path: '/sessions', req: req({ cookie: alice.header }), prior: refused })).toBe(refused.reply);
  });

  it('unsafe admin requests authenticated by cookie are CSRF-checked', async () => {
    const { call, alice, sidOf, store } = await world();
    const r = await call(alice.header, 'DELETE', `/sessions/${sidOf(alice)}`, { headers: { origin: 'https://evil.example', host: 'app.example' } });
    expectErrorReply(r!, 'CSRF_FAILED');
    expect((await store.get(sidOf(alice)))!.revokedAt).toBeNull();
  });
});

describe('admin routes: self-service', () => {
  it('GET /sessions: own live sessions, the current one named, no one else', async () => {
    const { call, alice, alice2, sidOf, core } = await world();
    const r = await call(alice.header, 'GET', '/sessions');
    expect(r!.status).toBe(200);
    expect(body(r).current).toBe(sidOf(alice));
    expect(body(r).cursor).toBeNull();
    expect(body(r).sessions.map((s: { id: string }) => s.id).sort()).toEqual([sidOf(alice), sidOf(alice2)].sort());
    expect(body(r).sessions[0]).toMatchObject({ kind: 'session', subject: 'alice', createdAt: T0, revokedAt: null, label: null });
    await core.revokeSession(sidOf(alice2));
    expect(body(await call(alice.header, 'GET', '/sessions')).sessions.map((s: { id: string }) => s.id)).toEqual([sidOf(alice)]);
  });

  it('GET /users/:subject/sessions: yourself yes, another user FORBIDDEN', async () => {
    const { call, alice } = await world();
    expect((await call(alice.header, 'GET', '/users/alice/sessions'))!.status).toBe(200);
    expectErrorReply((await call(alice.header, 'GET', '/users/bob/sessions'))!, 'FORBIDDEN');
  });

  it('DELETE /sessions/:id: your own session yes; another user’s, or an unknown id, FORBIDDEN (nothing revoked)', async () => {
    const { call, alice, alice2, bob, sidOf, store, core } = await world();
    expect(body(await call(alice.header, 'DELETE', `/sessions/${sidOf(alice2)}`))).toEqual({ revoked: 1 });
    expect(codeOf(await core.authenticate(req({ cookie: alice2.header })))).toBe('SESSION_ENDED');
    expectErrorReply((await call(alice.header, 'DELETE', `/sessions/${sidOf(bob)}`))!, 'FORBIDDEN');
    expect((await store.get(sidOf(bob)))!.revokedAt).toBeNull();
    expectErrorReply((await call(alice.header, 'DELETE', '/sessions/does-not-exist'))!, 'FORBIDDEN');
    expectErrorReply((await call(alice.header, 'DELETE', '/sessions/a%20b'))!, 'BAD_REQUEST');
    expectErrorReply((await call(alice.header, 'DELETE', '/sessions/%E0%A4%A'))!, 'BAD_REQUEST');
  });

  it('POST /users/:subject/revoke: yourself (every session), not another user', async () => {
    const { call, alice, bob, sidOf, store } = await world();
    expectErrorReply((await call(alice.header, 'POST', '/users/bob/revoke'))!, 'FORBIDDEN');
    expect((await store.get(sidOf(bob)))!.revokedAt).toBeNull();
    expect(body(await call(alice.header, 'POST', '/users/alice/revoke'))).toEqual({ revoked: 2 });
  });

  it('POST /revoke-all: FORBIDDEN without isAdmin, and for everyone when no isAdmin is configured', async () => {
    const { call, kit, alice, root, store, sidOf } = await world();
    expectErrorReply((await call(alice.header, 'POST', '/revoke-all'))!, 'FORBIDDEN');
    const noAdmins = await kit.admin({ path: '/revoke-all', req: req({ method: 'POST', cookie: root.header }) });
    expectErrorReply(noAdmins!, 'FORBIDDEN');
    expect((await store.get(sidOf(alice)))!.revokedAt).toBeNull();
  });

  it('API tokens: create (201, shown once), list (no secret), revoke your own; not another user’s', async () => {
    const { call, alice, bob, core } = await world();
    const created = await call(alice.header, 'POST', '/api-tokens', { body: { label: 'ci', ttl: '1d' } });
    expect(created!.status).toBe(201);
    const { token, ...info } = body(created);
    expect(token).toMatch(/^tsr_/);
    expect(info).toMatchObject({ kind: 'api', subject: 'alice', label: 'ci', createdAt: T0, expiresAt: T0 + 86400, revokedAt: null });
    expect(ok(await core.authenticate(req({ headers: { authorization: `Bearer ${token}` } }))).session.subject).toBe('alice');
    const listed = body(await call(alice.header, 'GET', '/api-tokens'));
    expect(listed).toEqual({ tokens: [info], cursor: null });
    expect(JSON.stringify(listed)).not.toContain(token.split('.')[1]);
    expect(body(await call(bob.header, 'GET', '/api-tokens'))).toEqual({ tokens: [], cursor: null });
    expectErrorReply((await call(bob.header, 'DELETE', `/api-tokens/${info.id}`))!, 'FORBIDDEN');
    // an API token is not a session: DELETE /sessions/:id does not reach it
    expectErrorReply((await call(alice.header, 'DELETE', `/sessions/${info.id}`))!, 'FORBIDDEN');
    expect(body(await call(alice.header, 'DELETE', `/api-tokens/${info.id}`))).toEqual({ revoked: 1 });
    expect(codeOf(await core.authenticate(req({ headers: { authorization: `Bearer ${token}` } })))).toBe('SESSION_ENDED');
  });

  it('POST /api-tokens: bad label or ttl is 400; an API token cannot mint API tokens', async () => {
    const { call, alice, core, store } = await world();
    const before = store.size;
    expectErrorReply((await call(alice.header, 'POST', '/api-tokens', { body: { label: 42 } }))!, 'BAD_REQUEST');
    expectErrorReply((await call(alice.header, 'POST', '/api-tokens', { body: { label: 'x'.repeat(201) } }))!, 'BAD_REQUEST');
    expectErrorReply((await call(alice.header, 'POST', '/api-tokens', { body: { ttl: 'forever' } }))!, 'BAD_REQUEST');
    expectErrorReply((await call(alice.header, 'POST', '/api-tokens', { body: { ttl: true } }))!, 'BAD_REQUEST');
    expectErrorReply((await call(alice.header, 'POST', '/api-tokens', { body: [1] }))!, 'BAD_REQUEST');
    expectErrorReply((await call(alice.header, 'POST', '/api-tokens', { body: 'label=x', headers: { 'content-type': 'text/plain' } }))!, 'BAD_REQUEST');
    expect(store.size).toBe(before);
    const { token } = await core.createApiToken({ user: { id: 'alice' } });
    expectErrorReply((await call(undefined, 'POST', '/api-tokens', { headers: { authorization: `Bearer ${token}` }, body: {} }))!, 'FORBIDDEN');
    // no body at all is fine: a token without label or expiry
    const plain = await call(alice.header, 'POST', '/api-tokens');
    expect(plain!.status).toBe(201);
    expect(body(plain)).toMatchObject({ label: null, expiresAt: null });
  });
});

describe('admin routes: an admin (isAdmin)', () => {
  it('lists and revokes another user’s sessions; revokes a user; revokes everything', async () => {
    const { call, root, bob, alice, sidOf, core, events } = await world();
    const listed = await call(root.header, 'GET', '/users/bob/sessions');
    expect(body(listed).sessions.map((s: { id: string }) => s.id)).toEqual([sidOf(bob)]);
    expect(body(await call(root.header, 'DELETE', `/sessions/${sidOf(bob)}`))).toEqual({ revoked: 1 });
    expect(codeOf(await core.authenticate(req({ cookie: bob.header })))).toBe('SESSION_ENDED');
    expect(body(await call(root.header, 'DELETE', '/sessions/does-not-exist'))).toEqual({ revoked: 0 });
    expect(body(await call(root.header, 'POST', '/users/alice/revoke'))).toEqual({ revoked: 2 });
    expect(codeOf(await core.authenticate(req({ cookie: alice.header })))).toBe('SESSION_ENDED');
    expect(body(await call(root.header, 'POST', '/revoke-all'))).toEqual({ revoked: 1 }); // root's own session is all that was left
    expect(codeOf(await core.authenticate(req({ cookie: root.header })))).toBe('SESSION_ENDED');
    expect(events.filter(e => e.type === 'revoked').map(e => (e.type === 'revoked' ? [e.by, e.where, e.count] : null))).toEqual([
      ['admin', { family: sidOf(bob) }, 1],
      ['admin', { subject: 'alice' }, 2],
      ['admin', { all: true }, 1],
    ]);
  });

  it('isAdmin may be async, and is asked only when acting on someone else', async () => {
    const { kit, alice, bob, sidOf } = await world();
    const asked: string[] = [];
    const options: AdminRouteOptions = {
      isAdmin: async s => {
        asked.push(s.subject);
        return s.subject === 'alice';
      },
    };
    const own = await kit.admin({ path: '/users/alice/sessions', req: req({ cookie: alice.header }), options });
    expect(own!.status).toBe(200);
    expect(asked).toEqual([]);
    const other = await kit.admin({ path: '/users/bob/sessions', req: req({ cookie: alice.header }), options });
    expect(body(other).sessions.map((s: { id: string }) => s.id)).toEqual([sidOf(bob)]);
    expect(asked).toEqual(['alice']);
  });
});

describe('the admin API on the instance', () => {
  it('listSessions pages with limit and cursor', async () => {
    const { core } = setup();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(ok(await core.issue(req(), { id: 'dana' })).session.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { sessions: { id: string }[]; cursor: string | null } = await core.listSessions('dana', { limit: 2, cursor });
      expect(page.sessions.length).toBeLessThanOrEqual(2);
      seen.push(...page.sessions.map(s => s.id));
      cursor = page.cursor;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual([...ids].sort());
  });

  it('getRecordInfo: a session or an API token; a refresh record or an unknown id is null', async () => {
    const { core } = setup({ mode: 'pair' });
    const issued = ok(await core.issue(req(), { id: 'alice' }));
    expect(await core.getRecordInfo(issued.session.id)).toMatchObject({ id: issued.session.id, kind: 'session', subject: 'alice', ip: '203.0.113.7' });
    const refreshId = decodeJwt(issued.cookies[1]!.split(';')[0]!.split('=')[1]!).payload.jti as string;
    expect(await core.getRecordInfo(refreshId)).toBeNull();
    expect(await core.getRecordInfo('nope')).toBeNull();
    const { info } = await core.createApiToken({ user: { id: 'alice' } });
    expect(await core.getRecordInfo(info.id)).toEqual(info);
  });
});
