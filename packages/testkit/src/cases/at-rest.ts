/**
 * Nothing usable at rest: everything the store holds, together with the signing secret, signs no
 * token the server accepts; a change written into the store is detected by the next request.
 */
import { describe, expect, it } from '@jest/globals';
import { sessionIdOf, type TokenRecord, type TokenStore } from '@tessera/core';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import type { SuiteContext } from '../adapter-suite.js';
import { SECRET, USERS } from '../fixtures.js';
import { expectError } from './helpers.js';

const PAIR = { mode: 'pair', accessTtl: 60, refreshTtl: 3600 } as const;
const key = new TextEncoder().encode(SECRET);

/** Every record the store holds, in any state, and its meta values: what a read-only copy of it shows. */
async function dump(store: TokenStore): Promise<{ records: TokenRecord[]; text: string }> {
  const records: TokenRecord[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.exportRecords!(cursor, 500);
    records.push(...page.records);
    cursor = page.cursor;
  } while (cursor !== null);
  const meta = await Promise.all(['secret', 'keyring', 'migration'].map(k => store.getMeta?.(k) ?? null));
  return { records, text: JSON.stringify([records, meta]) };
}

/** Every id-like string of the dump: the candidates an attacker would put in a token. */
const idsIn = (text: string): string[] => [...new Set(text.match(/[A-Za-z0-9_-]{16,}/g) ?? [])];

/** The genuine token's header and payload, re-signed with `sid` (and `jti`) replaced: a forgery with the real key. */
async function forge(genuine: string, change: Record<string, unknown>): Promise<string> {
  const header = decodeProtectedHeader(genuine);
  return new SignJWT({ ...decodeJwt(genuine), ...change }).setProtectedHeader(header as never).sign(key);
}

export default function atRest(ctx: SuiteContext): void {
  describe('nothing usable at rest', () => {
    it('a copy of the store holds no session key, and with the signing secret its ids forge nothing (sliding, pair, API and job tokens)', async () => {
      for (const options of [{}, PAIR]) {
        // Forged refresh tokens are unknown ones: not throttled here, so each is answered on its merits.
        const store = ctx.newStore();
        const app = await ctx.app({ ...options, store, jobs: {}, refreshThrottle: false });
        const alice = await app.login();
        const bob = await app.login('bob', 'builder');
        const access = alice.jar[app.cookieName]!;
        const refresh = alice.jar[`${app.cookieName}-refresh`];
        const api = await app.core.createApiToken({ user: USERS.alice!.user });
        const job = await app.core.createJobToken({ user: USERS.alice!.user, jobId: 'import-1' });
        const { records, text } = await dump(store);
        expect(records.filter(r => r.kind === 'session')).toHaveLength(2);
        // The secrets the tokens carry are nowhere in the store.
        for (const t of [access, bob.jar[app.cookieName]!, refresh].filter((x): x is string => x !== undefined)) {
          const sid = decodeJwt(t).sid as string;
          expect(text).not.toContain(sid);
          expect(records.some(r => r.id === sessionIdOf(sid))).toBe(true);
        }
        for (const t of [api.token, job.token]) expect(text).not.toContain(t.split('.')[1]!);

        // Every id of the dump as the `sid` (and `jti`) of a token signed with the real key: refused.
        const ids = idsIn(text);
        expect(ids.length).toBeGreaterThan(5);
        for (const id of ids) {
          const res = await app.http().get('/api/me').set('Cookie', `${app.cookieName}=${await forge(access, { sid: id })}`);
          expect(res.status).toBe(401);
          if (refresh !== undefined) {
            const r = await app.http().post('/auth/refresh').set('Cookie', `${app.cookieName}-refresh=${await forge(refresh, { sid: id, jti: id })}`);
            expect(r.status).toBe(401);
          }
          for (const prefix of ['tsr_', 'tsj_']) {
            const record = records.find(x => x.kind === (prefix === 'tsr_' ? 'api' : 'job'))!;
            const b = await app.http().get('/api/me').set('Authorization', `Bearer ${prefix}${record.id}.${id.padEnd(32, 'A').slice(0, 43)}`);
            expect(b.status).toBe(401);
          }
        }
        // The genuine credentials still work.
        expect((await app.http().get('/api/me').set('Cookie', alice.cookie)).status).toBe(200);
        expect((await app.http().get('/api/me').set('Authorization', `Bearer ${api.token}`)).status).toBe(200);
        expect((await app.http().get('/api/me').set('Authorization', `Bearer ${job.token}`)).status).toBe(200);
      }
    });

    it('a record changed in the store (roles, subject, another session\'s fields, an API token\'s scopes) ends its token: 401 SESSION_ENDED', async () => {
      const app = await ctx.app({ verifyCredentials: async ({ username, password }) => (USERS[username]?.password === password ? { ...USERS[username]!.user, roles: ['user'] } : null) });
      const me = async (cookie: string) => app.http().get('/api/me').set('Cookie', cookie);
      const idOf = (login: { jar: Record<string, string> }) => sessionIdOf(decodeJwt(login.jar[app.cookieName]!).sid as string);
      const bob = await app.login('bob', 'builder');
      const bobRecord = (await app.store.get(idOf(bob)))!;
      const changes: [string, (r: TokenRecord) => TokenRecord][] = [
        ['roles', r => ({ ...r, user: { ...r.user!, roles: ['admin'] } })],
        ['subject', r => ({ ...r, subject: 'bob', user: { ...r.user!, id: 'bob' } })],
        ["bob's identity and MAC", r => ({ ...r, subject: bobRecord.subject, user: bobRecord.user!, mac: bobRecord.mac! })],
        ['the MAC taken away', r => ({ ...r, mac: null })],
        ['the binding taken away', r => ({ ...r, binding: null, ip: null })],
      ];
      for (const [what, change] of changes) {
        const alice = await app.login();
        expect((await me(alice.cookie)).body.user.roles).toEqual(['user']);
        const id = idOf(alice);
        await app.store.put(change((await app.store.get(id))!));
        const res = await me(alice.cookie);
        expectError(res, 'SESSION_ENDED');
        expect(JSON.stringify(res.body)).not.toContain('admin');
        expect(what).toBeTruthy();
        expect(app.events.filter(e => e.type === 'rejected' && e.sessionId === id).map(e => (e as { reason: string }).reason)).toContain('record-tampered');
      }
      // API tokens: a scope widened, or the user changed, in the store.
      for (const change of [(r: TokenRecord) => ({ ...r, scopes: null }), (r: TokenRecord) => ({ ...r, user: { id: 'alice', roles: ['admin'] } })]) {
        const { token, info } = await app.core.createApiToken({ user: USERS.alice!.user, scopes: ['read'] });
        expect((await app.http().get('/api/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
        await app.store.put(change((await app.store.get(info.id))!));
        expectError(await app.http().get('/api/me').set('Authorization', `Bearer ${token}`), 'SESSION_ENDED');
      }
      // Bob's untouched session still works.
      expect((await me(bob.cookie)).body.user).toMatchObject({ id: 'bob' });
    });
  });
}
