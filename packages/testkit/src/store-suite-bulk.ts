/**
 * Conformance cases for the bulk members of the store seam (`exportRecords`, `importRecords`,
 * `countRecords`, `getMeta`, `setMeta`), which the live store switch relies on. Registered by
 * `defineStoreSuite` for every store; each case runs only when the store is a `BulkStore`
 * (wrappers such as `failingStore` are not), and the `countRecords` ones only when it has it.
 */
import { describe, expect, it } from '@jest/globals';
import { MemoryStore } from '@tessera/core';
import { isBulkStore, isStoreError, type BulkStore, type ListPage, type RecordKind, type TokenRecord, type TokenStore } from '@tessera/core/store';

type RecordOverrides = Omit<Partial<TokenRecord>, 'user'> & { user?: object };

/** What `defineStoreSuite` hands over: its store of the current test, its clock and its helpers. */
export interface BulkSuiteContext<S extends TokenStore> {
  name: string;
  /** Another empty, isolated store (the caller closes it). */
  makeStore: () => Promise<S> | S;
  store: () => S;
  now: () => number;
  rec: (kind: RecordKind, over?: RecordOverrides) => TokenRecord;
  normalize: (rec: TokenRecord | null) => Record<string, unknown> | null;
  rid: (tag: string) => string;
  options: { writeRaw?: (store: S, id: string, raw: string) => Promise<void | false> };
}

/** Relative slack allowed for a `countRecords` that documents itself as an estimate (Redis SCAN may repeat a key). */
const COUNT_SLACK = 0.02;

/** JSON with object keys sorted at every level: equal for deeply equal records whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** Every record of `store`, by id, paging with `limit`; fails on an oversized page, a repeated cursor or too many pages. */
async function exportAll(store: BulkStore, limit: number, maxPages: number): Promise<{ byId: Map<string, TokenRecord[]>; pages: number }> {
  const byId = new Map<string, TokenRecord[]>();
  const cursors = new Set<string>();
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await store.exportRecords(cursor, limit);
    expect(page.records.length).toBeLessThanOrEqual(limit);
    for (const r of page.records) byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
    cursor = page.cursor;
    if (cursor !== null) {
      expect(cursors.has(cursor)).toBe(false); // a repeated cursor would loop for ever
      cursors.add(cursor);
    }
    expect(++pages).toBeLessThanOrEqual(maxPages);
  } while (cursor !== null);
  return { byId, pages };
}

/** Copies every record of `from` into `to` a page at a time; returns the sum of importRecords' counts. */
async function copy(from: BulkStore, to: BulkStore, limit: number): Promise<number> {
  let written = 0;
  let cursor: string | null = null;
  do {
    const page = await from.exportRecords(cursor, limit);
    written += await to.importRecords(page.records);
    cursor = page.cursor;
  } while (cursor !== null);
  return written;
}

export function defineBulkCases<S extends TokenStore>(ctx: BulkSuiteContext<S>): void {
  const { rec, normalize, rid } = ctx;

  /** The suite's store when it has the bulk members, else null (the case then does nothing). */
  function bulk(): (S & BulkStore) | null {
    const store = ctx.store();
    return isBulkStore(store) ? store : null;
  }

  async function putAll(store: TokenStore, records: readonly TokenRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += 250) await Promise.all(records.slice(i, i + 250).map(r => store.put(r)));
  }

  async function importAll(store: BulkStore, records: readonly TokenRecord[], batch = 1000): Promise<number> {
    let n = 0;
    for (let i = 0; i < records.length; i += batch) n += await store.importRecords(records.slice(i, i + batch));
    return n;
  }

  function expectCount(count: number, n: number): void {
    expect(Number.isSafeInteger(count)).toBe(true);
    expect(Math.abs(count - n)).toBeLessThanOrEqual(Math.floor(n * COUNT_SLACK));
  }

  /** A mix of every state a record can be in at `T` (expired ones may be dropped by the store at once: compare with get). */
  function variety(T: number, i: number): TokenRecord {
    switch (i % 8) {
      case 0:
        return rec('session', { user: { id: `u${i}`, roles: [], prefs: { n: 0.1, deep: [[], {}] } }, tenant: 'acme', binding: 'subnet', ip: '203.0.113.0/24', absoluteExpiresAt: T + 86_400 });
      case 1:
        return rec('refresh');
      case 2:
        return rec('api'); // expiresAt null
      case 3:
        return rec('session', { revokedAt: T - 5 });
      case 4:
        return rec('refresh', { rotatedAt: T - 3, replacedBy: rid('ref'), reuseCount: 2 });
      case 5:
        return rec('api', { revokedAt: T - 1, label: null });
      case 6:
        return rec('refresh', { expiresAt: T - 10 - (i % 50) }); // expired
      default:
        return rec('refresh', { revokedAt: T - 2, expiresAt: T + 60, reuseCount: undefined, rotatedAt: undefined, replacedBy: undefined });
    }
  }

  describe('bulk: exportRecords', () => {
    it('pages through 2,500 records in every state (limit 100): each exactly as get returns it, nothing else, and ends', async () => {
      const store = bulk();
      if (!store) return;
      const T = ctx.now();
      const records = Array.from({ length: 2500 }, (_, i) => variety(T, i));
      await putAll(store, records);
      // States reached through the store's own steps, too.
      const rotated = records[1]!;
      const successor = rec('refresh', { subject: rotated.subject, family: rotated.family });
      await expect(store.rotate(rotated.id, successor, T)).resolves.toEqual({ status: 'rotated' });
      await store.revoke({ id: records[9]!.id }, T);
      await store.touch(records[17]!.id, T, null);
      await store.countReuse(records[25]!.id, 5);

      const expected = new Map<string, Record<string, unknown>>();
      for (const id of [...records.map(r => r.id), successor.id]) {
        const got = await store.get(id);
        if (got !== null) expected.set(id, normalize(got)!);
      }
      // Only expired records may be missing from get (a store may drop them at their expiry).
      for (const r of records) if (r.expiresAt === null || r.expiresAt > T) expect(expected.has(r.id)).toBe(true);

      const { byId } = await exportAll(store, 100, (2600 / 100) * 4 + 10);
      expect([...expected.keys()].filter(id => !byId.has(id))).toEqual([]);
      expect([...byId.keys()].filter(id => !expected.has(id))).toEqual([]);
      // A store may repeat a record across pages (Redis SCAN can), but every copy is the record as stored.
      for (const [id, copies] of byId) for (const r of copies) expect(normalize(r)).toEqual(expected.get(id));
    }, 120_000);

    it('yields every record present throughout a scan while others are written, revoked and purged', async () => {
      const store = bulk();
      if (!store) return;
      const T = ctx.now();
      const base = Array.from({ length: 600 }, (_, i) => rec((['session', 'refresh', 'api'] as const)[i % 3]));
      // The first half gets revoked (and purged) during the scan; the second half is only rewritten, so it is present throughout.
      const doomed = base.slice(0, 300);
      const kept = base.slice(300);
      await putAll(store, base);
      const seen = new Map<string, TokenRecord>();
      let cursor: string | null = null;
      let pages = 0;
      let round = 0;
      const churn = async (): Promise<void> => {
        const r = round++;
        const fresh = Array.from({ length: 40 }, () => rec('refresh'));
        const dead = Array.from({ length: 5 }, () => rec('session', { revokedAt: T - 1 }));
        await Promise.all([
          ...fresh.map(x => store.put(x)),
          ...dead.map(x => store.put(x)),
          store.revoke({ id: doomed[(r * 7) % doomed.length]!.id }, T),
          store.touch(kept[(r * 11 + 3) % kept.length]!.id, T, T + 7200),
          store.put({ ...kept[(r * 13 + 5) % kept.length]! }), // rewritten in place
        ]);
        if (r % 4 === 3) await store.purgeExpired(T); // deletes the revoked churn and revoked base records
      };
      do {
        // Writes race the export call itself, and run between pages.
        const [page]: [ListPage, void] = await Promise.all([store.exportRecords(cursor, 50), churn()]);
        expect(page.records.length).toBeLessThanOrEqual(50);
        for (const r of page.records) seen.set(r.id, r);
        cursor = page.cursor;
        expect(++pages).toBeLessThanOrEqual(1000);
      } while (cursor !== null);
      // Base records purged during the scan were not present throughout: only the others must appear.
      expect(kept.filter(r => !seen.has(r.id)).map(r => r.id)).toEqual([]);
      for (const b of kept) {
        const r = seen.get(b.id)!;
        expect({ id: r.id, kind: r.kind, subject: r.subject, family: r.family }).toEqual({ id: b.id, kind: b.kind, subject: b.subject, family: b.family });
      }
      // Doomed records that were never revoked were present throughout too.
      for (const b of doomed) if ((await store.get(b.id))?.revokedAt === null) expect(seen.has(b.id)).toBe(true);
    }, 120_000);

    it('skips unreadable stored values instead of failing', async () => {
      const store = bulk();
      const writeRaw = ctx.options.writeRaw;
      if (!store || !writeRaw) return;
      const good = Array.from({ length: 30 }, () => rec('session'));
      await putAll(store, good);
      const T = ctx.now();
      const bad: string[] = [];
      const raws = [
        () => '{"id": "not json',
        () => '[1,2,3]',
        (id: string) => JSON.stringify({ id, kind: 'telepathy', subject: 's', family: id, createdAt: T, lastSeenAt: T, expiresAt: T + 60, revokedAt: null }),
        (id: string) => JSON.stringify({ id, kind: 'refresh', subject: 's', family: id, createdAt: 'yesterday', lastSeenAt: T, expiresAt: T + 60, revokedAt: null }),
      ];
      for (const raw of raws) {
        const id = rid('bad');
        if ((await writeRaw(store, id, raw(id))) !== false) bad.push(id);
      }
      const { byId } = await exportAll(store, 7, 100);
      expect(new Set(byId.keys())).toEqual(new Set(good.map(r => r.id)));
      if (store.countRecords) await expect(store.countRecords()).resolves.toEqual(expect.any(Number));
    });
  });

  describe('bulk: importRecords', () => {
    it('writes the absent records and counts them; a present one stays as it is, and a second import writes nothing', async () => {
      const store = bulk();
      if (!store) return;
      const T = ctx.now();
      const present = rec('session');
      await store.put(present);
      const moved = rid('user');
      const otherVersion: TokenRecord = { ...present, lastSeenAt: T, subject: moved, user: { id: moved }, revokedAt: T - 1 };
      const fresh = Array.from({ length: 16 }, (_, i) => variety(T, i)).filter(r => r.expiresAt === null || r.expiresAt > T);
      const batch = [otherVersion, ...fresh];
      await expect(store.importRecords(batch)).resolves.toBe(fresh.length);
      expect(normalize(await store.get(present.id))).toEqual(normalize(present));
      expect((await store.list({ subject: moved, limit: 10 })).records).toEqual([]);
      expect((await store.list({ subject: present.subject, limit: 10 })).records.map(r => r.id)).toEqual([present.id]);
      for (const r of fresh) expect(normalize(await store.get(r.id))).toEqual(normalize(r));
      await expect(store.importRecords(batch)).resolves.toBe(0);
      await expect(store.importRecords([...batch].reverse())).resolves.toBe(0);
      await expect(store.importRecords([])).resolves.toBe(0);
      expect(normalize(await store.get(present.id))).toEqual(normalize(present));
    });

    it('10 concurrent imports of overlapping batches: each id written once, whole, and indexed as the version stored', async () => {
      const store = bulk();
      if (!store) return;
      const T = ctx.now();
      const callers = 10;
      const ids = Array.from({ length: 300 }, () => rid('imp'));
      const families = ids.map(() => rid('fam'));
      const subjectOf = (c: number): string => `${ids[0]}-caller${c}`;
      // Caller c sends its own version (subject, user, lastSeenAt, label) of about two thirds of the ids, each in its own order.
      const batches = Array.from({ length: callers }, (_, c) => {
        const mine = ids.map((id, i) => ({ id, i })).filter(({ i }) => (i + c) % 3 !== 0);
        if (c % 2) mine.reverse();
        return mine.map(({ id, i }) =>
          i % 2
            ? rec('refresh', { id, subject: subjectOf(c), family: families[i], lastSeenAt: T - c, reuseCount: c })
            : rec('session', { id, subject: subjectOf(c), family: id, user: { id: subjectOf(c), caller: c, roles: [] }, lastSeenAt: T - c }),
        );
      });
      const counts = await Promise.all(batches.map(b => store.importRecords(b)));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(ids.length);

      const versions = new Map<string, Array<{ caller: number; rec: TokenRecord }>>();
      batches.forEach((b, caller) => {
        for (const r of b) versions.set(r.id, [...(versions.get(r.id) ?? []), { caller, rec: r }]);
      });
      const winners = new Map<number, string[]>();
      for (const id of ids) {
        const got = canonical(normalize(await store.get(id)));
        const winner = versions.get(id)!.find(v => canonical(normalize(v.rec)) === got);
        expect({ id, whole: winner !== undefined }).toEqual({ id, whole: true });
        winners.set(winner!.caller, [...(winners.get(winner!.caller) ?? []), id]);
      }
      // Each subject index holds exactly the records stored with that subject.
      for (let c = 0; c < callers; c++) {
        const listed = (await store.list({ subject: subjectOf(c), limit: 1000 })).records.map(r => r.id);
        expect(new Set(listed)).toEqual(new Set(winners.get(c) ?? []));
      }
    }, 60_000);

    it('imported records behave as put ones: get, touch, rotate, countReuse, revoke, list, purgeExpired', async () => {
      const store = bulk();
      if (!store) return;
      const T = ctx.now();
      const subject = rid('user');
      const family = rid('fam');
      const root = rec('session', { id: family, family, subject, user: { id: subject } });
      const r1 = rec('refresh', { subject, family });
      const r2 = rec('refresh', { subject, family, reuseCount: undefined });
      const api = rec('api', { subject });
      const other = rec('session', { subject });
      const soon = rec('refresh', { subject, expiresAt: T + 60 });
      const stranger = rec('session');
      const all = [root, r1, r2, api, other, soon, stranger];
      await expect(store.importRecords(all)).resolves.toBe(all.length);
      for (const r of all) expect(normalize(await store.get(r.id))).toEqual(normalize(r));

      await expect(store.touch(other.id, T, T + 7200)).resolves.toBe(true);
      expect(normalize(await store.get(other.id))).toEqual(normalize({ ...other, lastSeenAt: T, expiresAt: T + 7200 }));

      const nexts = Array.from({ length: 10 }, () => rec('refresh', { subject, family }));
      const results = await Promise.all(nexts.map(n => store.rotate(r1.id, n, T)));
      const won = nexts.filter((_, i) => results[i]!.status === 'rotated');
      expect(won.length).toBe(1);
      const marked = await store.get(r1.id);
      expect(marked?.replacedBy).toBe(won[0]!.id);
      expect(normalize(await store.get(won[0]!.id))).toEqual(normalize(won[0]!));

      await expect(store.countReuse(r2.id, 2)).resolves.toBe(true);
      await expect(store.countReuse(r2.id, 2)).resolves.toBe(true);
      await expect(store.countReuse(r2.id, 2)).resolves.toBe(false);

      const listed = async (kind?: RecordKind): Promise<string[]> =>
        (await store.list({ subject, limit: 100, ...(kind ? { kind } : {}) })).records.map(r => r.id).sort();
      expect(await listed()).toEqual([root, r1, r2, api, other, soon, won[0]!].map(r => r.id).sort());
      expect(await listed('api')).toEqual([api.id]);
      expect(await listed('session')).toEqual([root.id, other.id].sort());

      await expect(store.revoke({ id: other.id }, T)).resolves.toBe(1);
      await expect(store.revoke({ family }, T)).resolves.toBe(4); // root, r1, r2 and the successor
      await expect(store.revoke({ subject }, T)).resolves.toBe(2); // api, soon
      await expect(store.revoke({ all: true }, T)).resolves.toBe(1); // stranger
      await expect(store.purgeExpired(T + 1)).resolves.toBe(all.length + 1);
      for (const r of [...all, won[0]!]) await expect(store.get(r.id)).resolves.toBeNull();
      expect(await listed()).toEqual([]);

      // An imported record past its expiry is purged like a put one.
      const late = rec('refresh', { expiresAt: T + 60 });
      await expect(store.importRecords([late])).resolves.toBe(1);
      await expect(store.purgeExpired(T + 120)).resolves.toBe(1);
      await expect(store.get(late.id)).resolves.toBeNull();
    }, 60_000);
  });

  describe('bulk: meta values', () => {
    it('get / set / overwrite / delete, up to 64 KiB, each key on its own', async () => {
      const store = bulk();
      if (!store) return;
      await expect(store.getMeta('migration')).resolves.toBeNull();
      await store.setMeta('migration', 'a');
      await expect(store.getMeta('migration')).resolves.toBe('a');
      await store.setMeta('migration', '{"phase":"copy"}');
      await expect(store.getMeta('migration')).resolves.toBe('{"phase":"copy"}');
      const big = `{"blob":"${'x'.repeat(64_000)}","text":"Zoë ✓ \\n ${'é'.repeat(200)}"}`.slice(0, 65_536);
      await store.setMeta('switch.v1:state_2', big);
      await expect(store.getMeta('switch.v1:state_2')).resolves.toBe(big);
      await expect(store.getMeta('migration')).resolves.toBe('{"phase":"copy"}');
      await store.setMeta('migration', null);
      await expect(store.getMeta('migration')).resolves.toBeNull();
      await store.setMeta('migration', null); // deleting an absent key is fine
      await expect(store.getMeta('switch.v1:state_2')).resolves.toBe(big);
      await store.setMeta('empty', '');
      await expect(store.getMeta('empty')).resolves.toBe('');
    });

    it('is apart from the records (export, list, count, revoke all, purge) and from the instance secret', async () => {
      const store = bulk();
      if (!store) return;
      const T = ctx.now();
      const records = [rec('session'), rec('refresh'), rec('api')];
      await putAll(store, records);
      const meta: Array<[string, string]> = [
        ['migration', JSON.stringify({ phase: 'mirror', id: records[0]!.id })],
        ['secret', 'not-the-instance-secret'],
        ['r', 'short'],
      ];
      for (const [k, v] of meta) await store.setMeta(k, v);
      const ids = new Set(records.map(r => r.id));
      expect(new Set((await exportAll(store, 2, 50)).byId.keys())).toEqual(ids);
      expect(new Set((await store.list({ limit: 100 })).records.map(r => r.id))).toEqual(ids);
      if (store.countRecords) expectCount(await store.countRecords(), records.length);
      await expect(store.revoke({ all: true }, T)).resolves.toBe(records.length);
      await expect(store.purgeExpired(T + 1)).resolves.toBe(records.length);
      for (const [k, v] of meta) await expect(store.getMeta(k)).resolves.toBe(v);
      expect((await exportAll(store, 10, 10)).byId.size).toBe(0);
      if (store.countRecords) await expect(store.countRecords()).resolves.toBe(0);

      if (store.initSecret) {
        await expect(store.initSecret('candidate-one')).resolves.toBe('candidate-one'); // a meta key named "secret" is not the secret
        await store.setMeta('secret', null);
        await expect(store.initSecret('candidate-two')).resolves.toBe('candidate-one');
        await store.setMeta('secret', 'again');
        await expect(store.initSecret('candidate-three')).resolves.toBe('candidate-one');
        await expect(store.getMeta('secret')).resolves.toBe('again');
      }
    });
  });

  describe('bulk: countRecords', () => {
    it('counts the records in every state (within 2% when the store documents an estimate)', async () => {
      const store = bulk();
      if (!store?.countRecords) return;
      const T = ctx.now();
      await expect(store.countRecords()).resolves.toBe(0);
      const records = Array.from({ length: 400 }, (_, i) => variety(T, i)).filter(r => r.expiresAt === null || r.expiresAt > T);
      await expect(importAll(store, records, 150)).resolves.toBe(records.length);
      expectCount(await store.countRecords(), records.length);
      const dead = records.filter(r => r.revokedAt !== null).length;
      await expect(store.purgeExpired(T)).resolves.toBe(dead);
      expectCount(await store.countRecords(), records.length - dead);
    });
  });

  describe('bulk: round trip', () => {
    it('copies 10,000 records into a MemoryStore and on into a fresh store: every record identical', async () => {
      const source = bulk();
      if (!source) return;
      const T = ctx.now();
      const records = Array.from({ length: 11_500 }, (_, i) => variety(T, i))
        .filter(r => r.expiresAt === null || r.expiresAt > T)
        .slice(0, 10_000);
      await expect(importAll(source, records)).resolves.toBe(records.length);
      const memory = new MemoryStore({ capacity: 20_000 });
      const target = await ctx.makeStore();
      try {
        if (!isBulkStore(target)) throw new Error(`${ctx.name}: makeStore() gave a store without the bulk members`);
        await expect(copy(source, memory, 500)).resolves.toBe(records.length);
        await expect(copy(memory, target, 700)).resolves.toBe(records.length);
        const want = new Map(records.map(r => [r.id, canonical(normalize(r))]));
        const got = (await exportAll(target, 1000, 100)).byId;
        expect(got.size).toBe(want.size);
        const differing = [...want].filter(([id, r]) => !got.has(id) || got.get(id)!.some(x => canonical(normalize(x)) !== r));
        expect(differing.map(([id]) => id)).toEqual([]);
        // The copy is a working store: spot-check the indexes.
        const sample = records[123]!;
        expect((await target.list({ subject: sample.subject, limit: 10 })).records.map(r => r.id)).toEqual([sample.id]);
      } finally {
        await target.close();
        await memory.close();
      }
    }, 300_000);
  });

  describe('bulk: closed store', () => {
    it('rejects the bulk calls with STORE_UNAVAILABLE', async () => {
      const store = bulk();
      if (!store) return;
      await store.close();
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['exportRecords', () => store.exportRecords(null, 10)],
        ['importRecords', () => store.importRecords([rec('session')])],
        ['getMeta', () => store.getMeta('migration')],
        ['setMeta', () => store.setMeta('migration', 'x')],
      ];
      if (store.countRecords) calls.push(['countRecords', () => store.countRecords!()]);
      for (const [what, call] of calls) {
        const err = await call().then(
          () => new Error(`${what} resolved on a closed store`),
          (e: unknown) => e,
        );
        expect({ what, code: (err as { code?: unknown }).code }).toEqual({ what, code: 'STORE_UNAVAILABLE' });
        expect(isStoreError(err)).toBe(true);
      }
    });
  });
}
