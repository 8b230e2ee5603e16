/**
 * Store conformance: with `safePassword`, the bytes a store keeps for a session or API-token
 * record carry no field of the user object and no credential, only the user id and the seal; and
 * the seal comes back intact (the session opens). Registered by `defineStoreSuite` for every
 * store; the stored bytes are read with the suite's `readRaw` when given, else as the store
 * hands the record back.
 */
import { describe, expect, it } from '@jest/globals';
import { createTessera, type HttpRequest, type TokenStore, type User } from '@tessera/core';
import { failingStore } from './failing-store.js';
import { SECRET } from './fixtures.js';

export interface SealedSuiteContext<S extends TokenStore> {
  store: () => S;
  rid: (tag: string) => string;
  options: { readRaw?: (store: S, id: string) => Promise<string | null> };
}

const PASSWORD = 'store-suite-safe-password-0123456789-abc';

function request(cookie?: string, authorization?: string): HttpRequest {
  const headers: Record<string, string | undefined> = { cookie, authorization };
  return { method: 'GET', path: '/api/me', header: name => headers[name], ip: '127.0.0.1', secure: false, body: async () => undefined };
}

export function defineSealedCases<S extends TokenStore>(c: SealedSuiteContext<S>): void {
  describe('sealed records (safePassword)', () => {
    it('stores no field of the user and no credential in plaintext, and hands the seal back intact', async () => {
      const store = c.store();
      // Wrapped: a plain TokenStore, so the instance starts no live-switch follower on the suite's store.
      const core = createTessera({ store: failingStore(store), secret: SECRET, safePassword: PASSWORD, logger: false });
      const subject = c.rid('user');
      const user = { id: subject, name: 'Plaintext Name Field', roles: ['plaintext-role-field'], email: 'plaintext@example.invalid' } as User;
      const credentials = { upstreamToken: 'plaintext-upstream-credential-value' };
      const issued = await core.issue(request(), user, { credentials });
      if (!issued.ok) throw new Error(`issue failed: ${issued.error.code}`);
      const { token, info } = await core.createApiToken({ user, label: 'sealed' });
      const cookie = issued.cookies[0]!.split(';')[0]!;

      const leaks = ['Plaintext Name Field', 'plaintext-role-field', 'plaintext@example.invalid', 'plaintext-upstream-credential-value', 'upstreamToken', '"roles"', '"email"'];
      for (const id of [issued.session.id, info.id]) {
        const raw = c.options.readRaw ? await c.options.readRaw(store, id) : JSON.stringify(await store.get(id));
        expect(raw).not.toBeNull();
        expect(raw).toContain(subject);
        for (const s of leaks) expect([id, s, raw!.includes(s)]).toEqual([id, s, false]);
        const rec = await store.get(id);
        expect(rec?.user).toEqual({ id: subject });
        expect(rec?.sealed).toMatch(/^v1\./);
        expect(raw).toContain(rec!.sealed!);
      }
      const listed = JSON.stringify(await store.list({ subject, limit: 10 }));
      for (const s of leaks) expect(listed).not.toContain(s);

      // What the store hands back opens: the whole user, and the credentials server-side.
      const viaCookie = await core.authenticate(request(cookie));
      if (!viaCookie.ok) throw new Error(`authenticate failed: ${viaCookie.error.code}`);
      expect(viaCookie.session.user).toEqual(user);
      expect(viaCookie.session.credentials()).toEqual(credentials);
      const viaApi = await core.authenticate(request(undefined, `Bearer ${token}`));
      if (!viaApi.ok) throw new Error(`authenticate failed: ${viaApi.error.code}`);
      expect(viaApi.session.user).toEqual(user);
    });
  });
}
