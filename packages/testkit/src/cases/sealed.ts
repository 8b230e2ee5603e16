/** `safePassword`: the store holds only user ids, sealed blobs bound to their records, and credentials readable server-side only. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { HttpRequest, Logger, TesseraOptions, TokenRecord, TokenStore, Verified } from '@tessera/core';
import { cookieHeader, type SuiteContext, type TestApp } from '../adapter-suite.js';
import { USERS } from '../fixtures.js';
import { basic, basicLoginRequest, cookiesOf, expectError } from './helpers.js';

const PASSWORD = 'sealed-suite-password-0123456789-abcdef';
const NEXT = 'sealed-suite-next-password-9876543210-zyx';
const PAIR = { mode: 'pair', accessTtl: 60, refreshTtl: 3600 } as const;

/** What an upstream identity provider handed over at login: must never be readable outside the server. */
const upstreamToken = (user: string) => `upstream-${user}-oauth-token-QmFzZTY0VmFsdWU`;
const digestOf = (c: object) => createHash('sha256').update(JSON.stringify(c)).digest('base64url');

/** The suite's users, and credentials beside them. */
async function withCredentials(input: { username: string; password: string }): Promise<Verified | null> {
  const u = USERS[input.username];
  return u && u.password === input.password ? { user: u.user, credentials: { upstreamToken: upstreamToken(input.username) } } : null;
}

/** Every plaintext that must stay out of the store: the fixture users' own fields and the credentials. */
const SECRETS_AT_REST = ['Alice', 'Bob', 'Root', '"role"', '"name"', 'admin', 'upstream-'];

function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (obj: object, msg?: string) => void lines.push(`${msg ?? ''} ${JSON.stringify(obj)}`);
  return { lines, info: push, warn: push, error: push };
}

/** A session's record id (the `sid` of its cookie). */
async function sessionId(app: TestApp, cookie: string): Promise<string> {
  const res = await app.http().get('/auth/session').set('Cookie', cookie);
  expect(res.status).toBe(200);
  return res.body.id as string;
}

export default function sealed(ctx: SuiteContext): void {
  /** The stored bytes of every record: the files of the file store; the memory store's records as JSON. */
  async function rawStore(store: TokenStore): Promise<string> {
    if (ctx.storeKind === 'file') {
      const dir = join((store as unknown as { dir: string }).dir, 'records');
      return readdirSync(dir)
        .map(f => readFileSync(join(dir, f), 'utf8'))
        .join('\n');
    }
    const out: TokenRecord[] = [];
    for (const subject of Object.keys(USERS)) out.push(...(await store.list({ subject, limit: 1000 })).records);
    return JSON.stringify(out);
  }

  async function sealedApp(over: Partial<TesseraOptions> = {}) {
    const store = (over.store as TokenStore | undefined) ?? ctx.newStore();
    const app = await ctx.app({ safePassword: PASSWORD, verifyCredentials: withCredentials, ...over, store });
    return { app, store };
  }

  async function replaceRecord(app: TestApp, id: string, change: (r: TokenRecord) => TokenRecord): Promise<void> {
    const r = await app.store.get(id);
    expect(r).not.toBeNull();
    await app.store.put(change({ ...r! }));
  }

  describe('sealed users and credentials (safePassword)', () => {
    it('the store holds the user id only; the session, /api/me and /auth/session show the whole user', async () => {
      for (const options of [{}, PAIR]) {
        const { app, store } = await sealedApp(options);
        const login = await app.login('root');
        expect(login.status).toBe(200);
        expect(login.body.user).toEqual({ id: 'root', name: 'Root', role: 'admin' });
        const id = await sessionId(app, login.cookie);
        const record = (await app.store.get(id))!;
        expect(record.user).toEqual({ id: 'root' });
        expect(record.sealed).toMatch(/^v1\.[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
        const raw = await rawStore(store);
        expect(raw).toContain(record.sealed!);
        for (const s of SECRETS_AT_REST) expect([s, raw.includes(s)]).toEqual([s, false]);
        const me = await app.http().get('/api/me').set('Cookie', login.cookie);
        expect(me.body).toEqual({ user: { id: 'root', name: 'Root', role: 'admin' } });
        const session = await app.http().get('/auth/session').set('Cookie', login.cookie);
        expect(session.body.user).toEqual({ id: 'root', name: 'Root', role: 'admin' });
        // The admin routes decide on the opened user: root is an admin, alice is not.
        expect((await app.http().get('/auth/admin/users/bob/sessions').set('Cookie', login.cookie)).status).toBe(200);
        const alice = await app.login('alice');
        expect((await app.http().get('/auth/admin/users/bob/sessions').set('Cookie', alice.cookie)).status).toBe(403);
      }
    });

    it('credentials: readable server-side only, never in a cookie, a reply body, an event or a log', async () => {
      for (const options of [{}, PAIR, { tokenInLoginBody: true }]) {
        const logger = captureLogger();
        const { app } = await sealedApp({ ...options, logger });
        const login = await app.login('alice');
        const token = upstreamToken('alice');
        const creds = await app.http().get('/api/credentials').set('Cookie', login.cookie);
        expect(creds.status).toBe(200);
        expect(creds.body).toEqual({ digest: digestOf({ upstreamToken: token }) });
        const seen: string[] = [JSON.stringify(login.body), ...login.cookies.map(c => c.raw), ...login.cookies.map(c => Buffer.from(c.value.split('.')[1] ?? '', 'base64url').toString())];
        for (const req of [app.http().get('/api/me'), app.http().get('/auth/session'), app.http().post('/auth/refresh'), app.http().get('/public')]) {
          const res = await req.set('Cookie', login.cookie);
          expect(res.status).toBe(200);
          seen.push(res.text, JSON.stringify(res.headers));
        }
        // After a refresh (pair mode: a rotation), the credentials are still there.
        const refreshed = await app.http().post('/auth/refresh').set('Cookie', login.cookie);
        const { cookie } = cookieHeader(cookiesOf(refreshed), login.jar);
        expect((await app.http().get('/api/credentials').set('Cookie', cookie)).body).toEqual({ digest: digestOf({ upstreamToken: token }) });
        seen.push(refreshed.text, JSON.stringify(refreshed.headers), JSON.stringify(app.events), ...logger.lines);
        for (const text of seen) expect(text).not.toContain(token);
        expect(seen.join('\n')).not.toContain('upstreamToken');
      }
    });

    it('issue() with { credentials } in each framework; a session without credentials reads null', async () => {
      const { app, store } = await sealedApp();
      const token = upstreamToken('bob-via-basic');
      const res = await basicLoginRequest(app, basic('bob', 'builder')).set('X-Upstream-Token', token);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ user: { id: 'bob', name: 'Bob' } });
      const { cookie } = cookieHeader(cookiesOf(res));
      expect((await app.http().get('/api/credentials').set('Cookie', cookie)).body).toEqual({ digest: digestOf({ upstreamToken: token }) });
      expect(JSON.stringify(res.headers) + res.text).not.toContain(token);
      expect(await rawStore(store)).not.toContain(token);
      const plain = await basicLoginRequest(app, basic('alice', 'wonderland'));
      expect((await app.http().get('/api/credentials').set('Cookie', cookieHeader(cookiesOf(plain)).cookie)).body).toEqual({ digest: null });
    });

    it('a changed seal, a changed subject, a seal copied to another record or taken away: 401 SESSION_ENDED, a warning without values', async () => {
      const logger = captureLogger();
      const { app } = await sealedApp({ logger });
      const alice = await app.login('alice');
      const bob = await app.login('bob');
      const aliceId = await sessionId(app, alice.cookie);
      const bobId = await sessionId(app, bob.cookie);
      const aliceRecord = (await app.store.get(aliceId))!;

      const flip = (s: string) => {
        const parts = s.split('.');
        const body = Buffer.from(parts[3]!, 'base64url');
        body[0]! ^= 1;
        parts[3] = body.toString('base64url');
        return parts.join('.');
      };
      const tampered: [string, (r: TokenRecord) => TokenRecord, string][] = [
        ['a flipped bit of the ciphertext', r => ({ ...r, sealed: flip(r.sealed!) }), 'seal-failed'],
        ['another subject', r => ({ ...r, subject: 'root', user: { id: 'root' } }), 'seal-failed'],
        ["alice's seal copied onto bob's record", r => ({ ...r, sealed: aliceRecord.sealed!, user: aliceRecord.user! }), 'seal-failed'],
        ['the seal taken away, a plaintext user put back', r => ({ ...r, sealed: null, user: { id: r.subject, role: 'admin' } as TokenRecord['user'] }), 'seal-missing'],
        ['garbage', r => ({ ...r, sealed: 'v1.nope' }), 'seal-malformed'],
      ];
      for (const [what, change, reason] of tampered) {
        const victim = await app.login('bob');
        const id = await sessionId(app, victim.cookie);
        await replaceRecord(app, id, change);
        for (const path of ['/api/me', '/auth/session', '/api/credentials']) {
          const res = await app.http().get(path).set('Cookie', victim.cookie);
          expect([what, path, res.status, res.body.error?.code]).toEqual([what, path, 401, 'SESSION_ENDED']);
          expectError(res, 'SESSION_ENDED');
          expect(res.text).not.toContain('admin');
        }
        expect(app.events.filter(e => e.type === 'rejected' && e.sessionId === id).map(e => (e as { reason: string }).reason)).toContain(reason);
      }
      // The untouched sessions still work.
      expect((await app.http().get('/api/me').set('Cookie', alice.cookie)).body).toEqual({ user: { id: 'alice', name: 'Alice' } });
      expect((await app.http().get('/api/me').set('Cookie', bob.cookie)).body).toEqual({ user: { id: 'bob', name: 'Bob' } });
      expect(bobId).not.toBe(aliceId);
      // Warned (throttled), never with a value: no seal, no user field, no credential.
      const warnings = logger.lines.filter(l => l.includes('seal did not open'));
      expect(warnings.length).toBeGreaterThan(0);
      for (const l of warnings) for (const s of [aliceRecord.sealed!, 'Alice', 'Bob', 'upstream-']) expect(l).not.toContain(s);
    });

    it('API tokens are sealed too: a changed seal is SESSION_ENDED, cookies untouched', async () => {
      const { app, store } = await sealedApp();
      const { token, info } = await app.core.createApiToken({ user: USERS.root!.user, label: 'ci' });
      const record = (await app.store.get(info.id))!;
      expect(record.user).toEqual({ id: 'root' });
      expect(record.sealed).toBeTruthy();
      const raw = await rawStore(store);
      for (const s of SECRETS_AT_REST) expect([s, raw.includes(s)]).toEqual([s, false]);
      const me = await app.http().get('/api/me').set('Authorization', `Bearer ${token}`);
      expect(me.body).toEqual({ user: { id: 'root', name: 'Root', role: 'admin' } });
      await replaceRecord(app, info.id, r => ({ ...r, subject: 'bob', user: { id: 'bob' } }));
      const after = await app.http().get('/api/me').set('Authorization', `Bearer ${token}`);
      expectError(after, 'SESSION_ENDED');
      expect(after.headers['set-cookie']).toBeUndefined();
    });

    it('rotation: a seal of an older password of the keyring opens, new ones use the first; a password taken out ends its sessions', async () => {
      const store = ctx.newStore();
      const before = await ctx.app({ safePassword: PASSWORD, verifyCredentials: withCredentials, store });
      const old = await before.login('alice');
      const oldId = await sessionId(before, old.cookie);
      const oldKid = (await before.store.get(oldId))!.sealed!.split('.')[1];

      const rotated = await ctx.app({ safePassword: [NEXT, PASSWORD], verifyCredentials: withCredentials, store });
      expect((await rotated.http().get('/api/me').set('Cookie', old.cookie)).body).toEqual({ user: { id: 'alice', name: 'Alice' } });
      expect((await rotated.http().get('/api/credentials').set('Cookie', old.cookie)).body).toEqual({ digest: digestOf({ upstreamToken: upstreamToken('alice') }) });
      const fresh = await rotated.login('bob');
      const freshKid = (await rotated.store.get(await sessionId(rotated, fresh.cookie)))!.sealed!.split('.')[1];
      expect(freshKid).not.toBe(oldKid);

      const after = await ctx.app({ safePassword: NEXT, verifyCredentials: withCredentials, store });
      expectError(await after.http().get('/api/me').set('Cookie', old.cookie), 'SESSION_ENDED');
      expect(after.events.some(e => e.type === 'rejected' && (e as { reason: string }).reason === 'seal-unknown-key')).toBe(true);
      expect((await after.http().get('/api/me').set('Cookie', fresh.cookie)).body).toEqual({ user: { id: 'bob', name: 'Bob' } });

      // Sealing turned off: a sealed record cannot be read any more (SESSION_ENDED, never the bare id).
      const off = await ctx.app({ verifyCredentials: withCredentials, store });
      expectError(await off.http().get('/api/me').set('Cookie', fresh.cookie), 'SESSION_ENDED');
    });

    it('credentials without safePassword are refused before anything is written: never kept in plaintext', async () => {
      const store = ctx.newStore();
      const app = await ctx.app({ verifyCredentials: withCredentials, store });
      const res = await app.login('alice');
      expect(res.status).toBe(500); // a programming error, for the framework's error handling
      expect(res.cookies).toEqual([]);
      expect(JSON.stringify(res.body)).not.toContain(upstreamToken('alice'));
      const viaBasic = await basicLoginRequest(app, basic('bob', 'builder')).set('X-Upstream-Token', upstreamToken('bob'));
      expect(viaBasic.status).toBe(500);
      expect(viaBasic.headers['set-cookie']).toBeUndefined();
      const req: HttpRequest = { method: 'POST', path: '/sso', header: () => undefined, ip: '127.0.0.1', secure: false, body: async () => undefined };
      await expect(app.core.issue(req, USERS.alice!.user, { credentials: { upstreamToken: 'x' } })).rejects.toMatchObject({ code: 'CONFIG_INVALID', option: 'safePassword' });
      expect(await rawStore(store).catch(() => '')).not.toContain('upstream-');
      expect((await app.store.list({ subject: 'alice', limit: 10 })).records).toEqual([]);
      expect((await app.store.list({ subject: 'bob', limit: 10 })).records).toEqual([]);
      // Without credentials, sealing off: the user is stored as plain JSON (the default).
      const plain = await ctx.app({ store });
      const login = await plain.login('alice');
      const record = (await plain.store.get(await sessionId(plain, login.cookie)))!;
      expect(record.user).toEqual({ id: 'alice', name: 'Alice' });
      expect(record.sealed ?? null).toBeNull();
    });
  });
}
