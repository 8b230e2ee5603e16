/**
 * The memory store's own structure (issue 13: at most 300 B of heap a session at 1,000,000
 * sessions): CLOCK eviction over slots, the lazily pruned subject and family indexes, and the
 * records sharing equal user objects and repeated strings. The TokenStore contract itself is
 * the conformance suite's (memory.test.ts).
 */
import { describe, expect, it } from '@jest/globals';
import { MemoryStore, type TokenRecord } from '@tessera/core';

const T = 1_800_000_000;

function session(id: string, subject: string, over: Partial<TokenRecord> = {}): TokenRecord {
  return { id, kind: 'session', subject, family: id, createdAt: T, lastSeenAt: T, expiresAt: T + 3600, revokedAt: null, user: { id: subject }, ...over };
}

function refresh(id: string, subject: string, family: string, over: Partial<TokenRecord> = {}): TokenRecord {
  return { id, kind: 'refresh', subject, family, createdAt: T, lastSeenAt: T, expiresAt: T + 3600, revokedAt: null, rotatedAt: null, replacedBy: null, reuseCount: 0, ...over };
}

async function ids(store: MemoryStore, subject: string): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.list({ subject, cursor, limit: 7 });
    out.push(...page.records.map(r => r.id));
    cursor = page.cursor;
  } while (cursor !== null);
  return out;
}

/** The store's private index sizes, to check they stay bounded. */
function internals(store: MemoryStore): { bySubject: Map<string, { ids: string[]; live: number }>; byFamily: Map<string, { ids: string[]; live: number }> } {
  return store as unknown as ReturnType<typeof internals>;
}

describe('MemoryStore eviction (CLOCK)', () => {
  it('evicts the oldest record not read since the hand passed it, and forgets it everywhere', async () => {
    const store = new MemoryStore({ capacity: 3 });
    for (const id of ['a', 'b', 'c']) await store.put(session(id, 'u'));
    expect(await store.get('a')).not.toBeNull(); // read: a gets a second chance
    await store.put(session('d', 'u'));
    expect(store.size).toBe(3);
    expect(await store.get('b')).toBeNull();
    expect(await ids(store, 'u')).toEqual(['a', 'c', 'd']);
    await store.put(session('e', 'v'));
    expect(await store.get('c')).toBeNull(); // a's chance was used up passing it; c was next and cold
    expect(await ids(store, 'u')).toEqual(['a', 'd']);
    expect(await store.revoke({ subject: 'u' }, T)).toBe(2);
    expect(await store.revoke({ family: 'b' }, T)).toBe(0);
    expect(await store.countRecords()).toBe(3);
  });

  it('with capacity 1 keeps the record just written, even when the old one was read', async () => {
    const store = new MemoryStore({ capacity: 1 });
    await store.put(session('a', 'u'));
    await store.get('a');
    await store.put(session('b', 'u'));
    expect(await store.get('a')).toBeNull();
    expect((await store.get('b'))?.id).toBe('b');
    expect(await ids(store, 'u')).toEqual(['b']);
  });

  it('reuses the slots of purged records and stays within capacity', async () => {
    const store = new MemoryStore({ capacity: 50 });
    for (let i = 0; i < 50; i++) await store.put(session(`s${i}`, `u${i % 5}`, { expiresAt: i < 25 ? T - 1 : T + 3600 }));
    expect(await store.purgeExpired(T)).toBe(25);
    for (let i = 50; i < 75; i++) await store.put(session(`s${i}`, `u${i % 5}`));
    expect(store.size).toBe(50);
    for (let i = 75; i < 200; i++) await store.put(session(`s${i}`, `u${i % 5}`));
    expect(store.size).toBe(50);
    const all = (await store.exportRecords(null, 1000)).records.map(r => r.id);
    expect(new Set(all).size).toBe(50);
    for (let k = 0; k < 5; k++) expect((await ids(store, `u${k}`)).length).toBe(10);
  });

  it('keeps its indexes bounded by what it holds', async () => {
    const store = new MemoryStore({ capacity: 20 });
    for (let i = 0; i < 2000; i++) await store.put(refresh(`r${i}`, `user${i}`, `fam${i % 7}`));
    expect(internals(store).bySubject.size).toBe(20);
    expect([...internals(store).byFamily.values()].reduce((n, b) => n + b.live, 0)).toBe(20);
    for (const b of internals(store).byFamily.values()) expect(b.ids.length).toBeLessThanOrEqual(2 * b.live + 17);
  });
});

describe('MemoryStore indexes', () => {
  it('lists a subject once per record after records left and came back', async () => {
    const store = new MemoryStore();
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 10; i++) await store.put(session(`s${i}`, 'u'));
      const leaving = [...Array(10).keys()].filter(i => (i + round) % 3 === 0);
      for (const i of leaving) await store.put(session(`s${i}`, 'u', { expiresAt: T - 1 }));
      expect(await store.purgeExpired(T)).toBe(leaving.length);
    }
    for (let i = 0; i < 10; i++) await store.put(session(`s${i}`, 'u'));
    expect(await ids(store, 'u')).toEqual([...Array(10).keys()].map(i => `s${i}`).sort());
    expect(internals(store).bySubject.get('u')!.ids.length).toBeLessThanOrEqual(2 * 10 + 16);
    expect(await store.revoke({ subject: 'u' }, T)).toBe(10);
  });

  it('moves a record rewritten under another subject or family', async () => {
    const store = new MemoryStore();
    await store.put(session('s1', 'alice'));
    await store.put(refresh('r1', 'alice', 's1'));
    await store.put(refresh('r2', 'alice', 's1'));
    await store.put({ ...session('s1', 'bob'), family: 'other' }); // subject and family changed
    await store.put(refresh('r2', 'alice', 'f2'));
    expect(await ids(store, 'alice')).toEqual(['r1', 'r2']);
    expect(await ids(store, 'bob')).toEqual(['s1']);
    expect(await store.revoke({ family: 's1' }, T)).toBe(1); // r1 only: s1 now belongs to 'other', r2 to 'f2'
    expect((await store.get('r1'))?.revokedAt).toBe(T);
    expect(await store.revoke({ family: 'other' }, T)).toBe(1);
    expect(await store.revoke({ family: 'f2' }, T)).toBe(1);
    expect(await store.revoke({ subject: 'alice' }, T + 1)).toBe(0);
  });

  it("revokes a session's family: the session itself and its refresh tokens", async () => {
    const store = new MemoryStore();
    await store.put(session('s1', 'u'));
    await store.put(session('s2', 'u'));
    for (let i = 0; i < 5; i++) await store.put(refresh(`r${i}`, 'u', 's1'));
    expect(await store.revoke({ family: 's1' }, T)).toBe(6);
    expect((await store.get('s2'))?.revokedAt).toBeNull();
  });
});

describe('MemoryStore sharing', () => {
  it('shares an equal user object between records, and gives each the user it was written with', async () => {
    const store = new MemoryStore();
    const user = { id: 'u', name: 'U', roles: ['admin', 'member'], prefs: { theme: 'dark', n: [1, 2] } };
    await store.put(session('s1', 'u', { user: structuredClone(user) })); // objects of another realm (jest runs tests in a vm context)
    await store.put(session('s2', 'u', { user: JSON.parse(JSON.stringify(user)) as typeof user }));
    const changed = { ...user, roles: ['member'] };
    await store.put(session('s3', 'u', { user: changed }));
    const reordered = { name: 'U', id: 'u', roles: ['admin', 'member'], prefs: { theme: 'dark', n: [1, 2] } };
    await store.put(session('s4', 'u', { user: reordered })); // other key order
    const [r1, r2, r3, r4] = await Promise.all(['s1', 's2', 's3', 's4'].map(id => store.get(id)));
    expect(r1!.user).toEqual(user);
    expect(r2!.user).toBe(r1!.user);
    expect(r3!.user).toEqual(changed);
    expect(r3!.user).not.toBe(r1!.user);
    expect(Object.keys(r4!.user!)).toEqual(['name', 'id', 'roles', 'prefs']);
    expect(r4!.user).not.toBe(r1!.user);
    expect(Object.isFrozen(r1!.user) && Object.isFrozen((r1!.user as unknown as typeof user).prefs)).toBe(true);
  });

  it('does not take a user with a Date, -0 or an extra undefined field for an equal one', async () => {
    const store = new MemoryStore();
    await store.put(session('s1', 'u', { user: { id: 'u', at: new Date(0), n: 0 } as never }));
    await store.put(session('s2', 'u', { user: { id: 'u', at: new Date(0), n: -0 } as never }));
    await store.put(session('s3', 'u', { user: { id: 'u', at: new Date(0), n: -0, x: undefined } as never }));
    const [r1, r2, r3] = await Promise.all(['s1', 's2', 's3'].map(id => store.get(id)));
    expect(r2!.user).not.toBe(r1!.user);
    expect(Object.is((r2!.user as unknown as { n: number }).n, -0)).toBe(true);
    expect(Object.keys(r3!.user!)).toEqual(['id', 'at', 'n', 'x']);
  });

  it('hands back the same frozen record until it changes, with the fields it was given', async () => {
    const store = new MemoryStore();
    const input = session('abcdefghijklmnopqrstuv', 'user-with-a-long-name', { ip: '203.0.113.200', tenant: 'acme-corporation' });
    await store.put(input);
    const a = await store.get('abcdefghijklmnopqrstuv'.slice(0)); // an equal string, not the same one
    const b = await store.get(['abcdefghijk', 'lmnopqrstuv'].join(''));
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
    expect(a).toEqual(input);
    expect(Object.keys(a!)).toEqual(Object.keys(input));
    expect(await store.touch(input.id, T + 10)).toBe(true);
    const c = await store.get(input.id);
    expect(c).not.toBe(a);
    expect(c).toEqual({ ...input, lastSeenAt: T + 10 });
  });

  it('keeps every field of a record with many optional ones, in order, and each shape apart', async () => {
    const store = new MemoryStore();
    const many = session('m', 'u', { tenant: 't', absoluteExpiresAt: T + 9, binding: 'exact', ip: '198.51.100.7', sealed: 'v1.x', mac: 'abc', label: 'l' });
    const few = session('f', 'u', { ip: '198.51.100.7' });
    await store.put(many);
    await store.put(few);
    for (const r of [many, few]) {
      const got = await store.get(r.id);
      expect(got).toEqual(r);
      expect(Object.keys(got!)).toEqual(Object.keys(r));
    }
  });

  it('keeps a record whose core fields are missing as it was given (no field added)', async () => {
    const store = new MemoryStore();
    const odd = { id: 'x', kind: 'session', subject: 'u', family: 'x', createdAt: T, lastSeenAt: T, expiresAt: T + 1 } as unknown as TokenRecord;
    await store.put(odd);
    expect(Object.keys((await store.get('x'))!)).toEqual(Object.keys(odd));
  });
});
