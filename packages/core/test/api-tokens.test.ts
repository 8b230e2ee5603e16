import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { adapterKit } from '../src/adapter.js';
import { MemoryStore, type HttpRequest, type TesseraEvent } from '../src/index.js';
import { PEER, T0, codeOf, ok, req, setCookiesOf, setup } from './helpers.js';

const bearer = (token: string, init: Parameters<typeof req>[0] = {}) => req({ ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } });
const rejected = (events: TesseraEvent[]) => events.flatMap(e => (e.type === 'rejected' ? [`${e.code}:${e.reason}`] : []));

describe('API tokens: creation', () => {
  it('tsr_<id>.<secret>, shown once: the store keeps only a SHA-256 of the secret', async () => {
    const { core, store, events } = setup();
    const { token, info } = await core.createApiToken({ user: { id: 'alice', name: 'Alice' }, label: 'ci' });
    const m = /^tsr_([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/.exec(token);
    expect(m).not.toBeNull();
    const [, id, secret] = m!;
    expect(info).toEqual({ id, kind: 'api', subject: 'alice', tenant: null, createdAt: T0, lastSeenAt: T0, expiresAt: null, revokedAt: null, ip: null, label: 'ci' });
    const rec = (await store.get(id!))!;
    expect(rec).toEqual({
      id,
      kind: 'api',
      subject: 'alice',
      family: id,
      createdAt: T0,
      lastSeenAt: T0,
      expiresAt: null,
      revokedAt: null,
      user: { id: 'alice', name: 'Alice' },
      secretHash: createHash('sha256').update(secret!).digest('base64url'),
      label: 'ci',
      mac: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    expect(JSON.stringify(rec)).not.toContain(secret);
    expect(events).toEqual([{ type: 'issued', at: T0, kind: 'api', sessionId: id, subject: 'alice', tenant: null }]);
  });

  it('a ttl sets the expiry; a label is cut to 200 characters; a tenant is kept', async () => {
    const { core } = setup();
    const { info } = await core.createApiToken({ user: { id: 'alice' }, ttl: '1h', label: 'x'.repeat(300), tenant: 't1' });
    expect(info).toMatchObject({ expiresAt: T0 + 3600, tenant: 't1' });
    expect(info.label).toHaveLength(200);
  });

  it('bad input is a TypeError, and nothing is stored', async () => {
    const { core, store } = setup();
    await expect(core.createApiToken({ user: { id: '' } })).rejects.toThrow(TypeError);
    await expect(core.createApiToken({ user: undefined as never })).rejects.toThrow(TypeError);
    await expect(core.createApiToken({ user: { id: 'alice' }, ttl: 'forever' })).rejects.toThrow(TypeError);
    await expect(core.createApiToken({ user: { id: 'alice' }, ttl: 0 })).rejects.toThrow(TypeError);
    expect(store.size).toBe(0);
  });
});

describe('API tokens: authentication', () => {
  it('a Bearer API token authenticates to an api session that never expires', async () => {
    const { core } = setup();
    const { token, info } = await core.createApiToken({ user: { id: 'alice', name: 'Alice' } });
    const r = ok(await core.authenticate(bearer(token)));
    expect(r.session).toEqual({ id: info.id, kind: 'api', user: { id: 'alice', name: 'Alice' }, subject: 'alice', tenant: null, createdAt: T0, expiresAt: null, sessionExpiresAt: null });
    expect(r.cookies).toEqual([]);
  });

  it('the adapter kit authenticates it too (always the full path: no cookie)', async () => {
    const { core } = setup();
    const { token } = await core.createApiToken({ user: { id: 'alice' } });
    const kit = adapterKit(core, () => new MemoryStore());
    const p = kit.authenticate(bearer(token), r => r);
    expect(p).toBeInstanceOf(Promise);
    expect(ok(await p).session.kind).toBe('api');
  });

  it('a wrong secret, an unknown id or a malformed token: TOKEN_INVALID, no cookie touched', async () => {
    const { core, events } = setup();
    const { token } = await core.createApiToken({ user: { id: 'alice' } });
    const [idPart, secret] = token.split('.');
    const wrongSecret = `${idPart}.${secret!.slice(0, -1)}${secret!.endsWith('A') ? 'B' : 'A'}`;
    const unknownId = `tsr_${'Z'.repeat(22)}.${secret}`;
    for (const t of [wrongSecret, unknownId, 'tsr_short.x', `${token}x!`]) {
      const r = await core.authenticate(bearer(t));
      expect(codeOf(r)).toBe('TOKEN_INVALID');
      expect(setCookiesOf(r)).toEqual([]);
    }
    expect(rejected(events)).toEqual(['TOKEN_INVALID:api-unknown', 'TOKEN_INVALID:api-unknown', 'TOKEN_INVALID:api-malformed', 'TOKEN_INVALID:api-malformed']);
  });

  it('an expiring token ends at its expiry', async () => {
    const { core, clock, events } = setup();
    const { token } = await core.createApiToken({ user: { id: 'alice' }, ttl: 60 });
    clock.set(T0 + 59);
    expect(ok(await core.authenticate(bearer(token))).session.expiresAt).toBe(T0 + 60);
    clock.set(T0 + 60);
    expect(codeOf(await core.authenticate(bearer(token)))).toBe('SESSION_ENDED');
    expect(rejected(events)).toEqual(['SESSION_ENDED:api-expired']);
  });

  it('lastSeenAt is written once touchInterval has passed', async () => {
    const { core, clock, store } = setup({ touchInterval: 30 });
    const { token, info } = await core.createApiToken({ user: { id: 'alice' } });
    clock.set(T0 + 29);
    ok(await core.authenticate(bearer(token)));
    expect((await store.get(info.id))!.lastSeenAt).toBe(T0);
    clock.set(T0 + 30);
    ok(await core.authenticate(bearer(token)));
    expect((await store.get(info.id))!.lastSeenAt).toBe(T0 + 30);
  });

  it('tenant: a token of tenant t1 is refused on t2', async () => {
    const tenant = (r: HttpRequest) => r.header('x-tenant');
    const { core, events } = setup({ tenant });
    const { token } = await core.createApiToken({ user: { id: 'alice' }, tenant: 't1' });
    expect(ok(await core.authenticate(bearer(token, { headers: { 'x-tenant': 't1' } }))).session.tenant).toBe('t1');
    expect(codeOf(await core.authenticate(bearer(token, { headers: { 'x-tenant': 't2' } })))).toBe('TOKEN_INVALID');
    expect(rejected(events)).toEqual(['TOKEN_INVALID:tenant']);
  });

  it('binding does not apply to API tokens (they have no login address)', async () => {
    const { core } = setup({ bindClientIp: 'exact' });
    const { token } = await core.createApiToken({ user: { id: 'alice' } });
    ok(await core.authenticate(bearer(token, { ip: '198.51.100.1' })));
    ok(await core.authenticate(bearer(token, { ip: PEER })));
  });
});

describe('API tokens: listing and revocation', () => {
  it('revokeApiToken ends it: SESSION_ENDED; revoking again counts 0', async () => {
    const { core, events } = setup();
    const { token, info } = await core.createApiToken({ user: { id: 'alice' } });
    expect(await core.revokeApiToken(info.id)).toBe(1);
    expect(await core.revokeApiToken(info.id)).toBe(0);
    expect(codeOf(await core.authenticate(bearer(token)))).toBe('SESSION_ENDED');
    expect(events.filter(e => e.type === 'revoked')).toEqual([
      { type: 'revoked', at: T0, by: 'admin', where: { id: info.id }, count: 1 },
      { type: 'revoked', at: T0, by: 'admin', where: { id: info.id }, count: 0 },
    ]);
    expect(rejected(events)).toEqual(['SESSION_ENDED:api-revoked']);
  });

  it('listApiTokens: live tokens of the subject only, never a secret; sessions are not API tokens', async () => {
    const { core, clock } = setup();
    const a1 = await core.createApiToken({ user: { id: 'alice' }, label: 'one' });
    const a2 = await core.createApiToken({ user: { id: 'alice' }, label: 'two', ttl: 10 });
    const a3 = await core.createApiToken({ user: { id: 'alice' }, label: 'three' });
    await core.createApiToken({ user: { id: 'bob' } });
    await core.issue(req(), { id: 'alice' });
    await core.revokeApiToken(a3.info.id);
    expect((await core.listApiTokens('alice')).tokens.map(t => t.label).sort()).toEqual(['one', 'two']);
    clock.set(T0 + 10);
    const { tokens, cursor } = await core.listApiTokens('alice');
    expect(tokens).toEqual([a1.info]);
    expect(cursor).toBeNull();
    expect(JSON.stringify(tokens)).not.toContain('secretHash');
    expect((await core.listSessions('alice')).sessions).toHaveLength(1);
    expect(a2.info.expiresAt).toBe(T0 + 10);
  });

  it('revokeUser ends the API tokens of the user too', async () => {
    const { core } = setup();
    const { token } = await core.createApiToken({ user: { id: 'alice' } });
    const bob = await core.createApiToken({ user: { id: 'bob' } });
    expect(await core.revokeUser('alice')).toBe(1);
    expect(codeOf(await core.authenticate(bearer(token)))).toBe('SESSION_ENDED');
    ok(await core.authenticate(bearer(bob.token)));
  });
});
