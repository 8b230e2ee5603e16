/**
 * Store conformance suite: every TokenStore runs the same cases.
 *
 *   defineStoreSuite('redis', () => new RedisStore({ client, prefix: uniquePrefix() }), {
 *     skip: await redisAvailable(),
 *     writeRaw: (store, id, raw) => client.set(`${store.prefix}r:${id}`, raw).then(() => {}),
 *   });
 *
 * `makeStore` is called before every test and must return an empty, isolated store (a fresh
 * directory, key prefix, table or schema): the suite revokes `{ all: true }`, purges, and
 * counts what it changed. Ids are random, and times are epoch seconds near the real clock
 * (stores such as Redis expire keys by wall time), always passed explicitly: nothing sleeps.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { isLive, isStoreError, type RecordKind, type RotateResult, type TokenRecord, type TokenStore } from '@tessera/core/store';
import { failingStore } from './failing-store.js';
import { defineBulkCases } from './store-suite-bulk.js';
import { defineSealedCases } from './store-suite-sealed.js';
import { defineCounterCases } from './store-suite-counters.js';
import { defineWatchCases } from './store-suite-watch.js';

export interface StoreSuiteOptions<S extends TokenStore = TokenStore> {
  /**
   * A reason to skip (the service is absent), or false to run. When skipped, the reason is printed
   * loudly; when `CI` is set, a failing test is registered instead, because CI must run every store.
   */
  skip?: string | false;
  /** Runs once after all the cases (drop test keys, close shared clients). */
  teardown?: () => Promise<void>;
  /**
   * Writes `raw` as the stored value of record `id`, bypassing the store: enables the garbage cases.
   * Resolve `false` when the backend cannot hold that value at all (e.g. invalid JSON in a jsonb
   * column): that case is then left out.
   */
  writeRaw?: (store: S, id: string, raw: string) => Promise<void | false>;
  /**
   * The bytes the backend keeps for record `id` (a file, a key's value, a row, an item as JSON),
   * read bypassing the store; null when absent. Lets the sealed case check that no field of a
   * sealed user reaches them; without it, the record as the store hands it back is checked.
   */
  readRaw?: (store: S, id: string) => Promise<string | null>;
  /**
   * Another instance on the same backing (what a second server sees): the same directory, key
   * prefix or table, its own connections. The change-notice cases (`watch`) make their changes
   * through it and close it after each case; without it they use the store itself.
   */
  sibling?: (store: S) => Promise<S> | S;
}

const OPTIONAL_FIELDS = new Set(['tenant', 'absoluteExpiresAt', 'binding', 'ip', 'rotatedAt', 'replacedBy', 'secretHash', 'label', 'jobId', 'scopes', 'sealed', 'mac']);

/** A record as `parseRecord` returns it: optional fields that are null are left out. */
function normalize(rec: TokenRecord | null): Record<string, unknown> | null {
  if (rec === null) return null;
  return Object.fromEntries(Object.entries(rec).filter(([k, v]) => v !== undefined && !(v === null && OPTIONAL_FIELDS.has(k))));
}

type Conflict = Extract<RotateResult, { status: 'conflict' }>;

function rid(tag: string): string {
  return `${tag}_${randomBytes(12).toString('base64url')}`;
}

/** Fails (instead of hanging until the jest timeout) when `p` does not settle within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function inChunks<T>(items: readonly T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

export function defineStoreSuite<S extends TokenStore>(name: string, makeStore: () => Promise<S> | S, options: StoreSuiteOptions<S> = {}): void {
  const title = `store conformance: ${name}`;
  if (typeof options.skip === 'string') {
    const why = options.skip;
    const ci = process.env.CI;
    if (ci && ci !== 'false' && ci !== '0') {
      describe(title, () => {
        it('has its service available (required under CI)', () => {
          throw new Error(`The ${name} store suite needs its service under CI, but: ${why}`);
        });
      });
      return;
    }
    console.warn(
      `\n${'!'.repeat(78)}\n!! SKIPPING the ${name} store conformance suite: ${why}\n!! These tests did not run. Under CI (CI set) they fail instead.\n${'!'.repeat(78)}\n`,
    );
    describe.skip(title, () => registerCases(name, makeStore, options));
    return;
  }
  describe(title, () => registerCases(name, makeStore, options));
}

function registerCases<S extends TokenStore>(name: string, makeStore: () => Promise<S> | S, options: StoreSuiteOptions<S>): void {
  let store: S;
  /** "Now" for the test: the real clock, so wall-clock expiry in the backend agrees with the records. */
  let T: number;

  beforeEach(async () => {
    store = await makeStore();
    T = Math.floor(Date.now() / 1000);
  });
  afterEach(async () => {
    await store.close();
  });
  if (options.teardown) afterAll(options.teardown);

  /** Overrides for a test record; `user` is any JSON object with an id (stores keep it as JSON). */
  function rec(kind: RecordKind, over: Omit<Partial<TokenRecord>, 'user'> & { user?: object } = {}): TokenRecord {
    const id = over.id ?? rid(kind.slice(0, 3));
    const subject = over.subject ?? rid('user');
    const base: TokenRecord = {
      id,
      kind,
      subject,
      family: kind === 'refresh' ? rid('fam') : id,
      createdAt: T - 100,
      lastSeenAt: T - 50,
      expiresAt: kind === 'api' ? null : T + 3600,
      revokedAt: null,
    };
    if (kind === 'session') base.user = { id: subject };
    if (kind === 'refresh') Object.assign(base, { rotatedAt: null, replacedBy: null, reuseCount: 0 });
    if (kind === 'api') Object.assign(base, { secretHash: randomBytes(32).toString('base64url'), label: 'ci' });
    return { ...base, ...(over as Partial<TokenRecord>) };
  }

  async function mustGet(id: string): Promise<TokenRecord> {
    const r = await store.get(id);
    if (r === null) throw new Error(`${name}: record ${id} is missing`);
    return r;
  }

  describe('put / get', () => {
    it('round-trips every field, including optional ones and the user object', async () => {
      const full = rec('session', {
        family: rid('fam'),
        user: {
          id: 'u-1',
          name: 'Zoë "Q" O\'Brien / ünïcødé ✓',
          roles: [],
          empty: {},
          prefs: { ratio: 0.30000000000000004, big: 9007199254740991, neg: -3, flag: false, none: null, list: [1, 'two', [3], {}] },
        },
        tenant: 'acme',
        absoluteExpiresAt: T + 86_400,
        binding: 'subnet',
        ip: '203.0.113.0/24',
        rotatedAt: T - 5,
        replacedBy: rid('next'),
        reuseCount: 1,
        secretHash: 'aGFzaA',
        label: 'laptop',
      });
      const minimal = rec('refresh', { rotatedAt: undefined, replacedBy: undefined, reuseCount: undefined });
      const nulls = rec('api', { tenant: null, binding: null, ip: null, label: null, absoluteExpiresAt: null, jobId: null, scopes: null, sealed: null });
      const job = rec('job', { expiresAt: T + 60, user: { id: 'u-2' }, jobId: 'import-42', scopes: ['read', 'jobs:import'], sealed: 'v1.kid.iv.ct.tag' });
      for (const r of [full, minimal, nulls, job]) await store.put(r);
      expect(normalize(await store.get(job.id))).toEqual(normalize(job));
      expect(normalize(await store.get(full.id))).toEqual(normalize(full));
      expect(normalize(await store.get(minimal.id))).toEqual(normalize(minimal));
      expect(normalize(await store.get(nulls.id))).toEqual(normalize(nulls));
      expect((await mustGet(full.id)).user).toStrictEqual(full.user);
    });

    it('overwrites a record on put with the same id', async () => {
      const a = rec('session');
      await store.put(a);
      const moved = rid('user');
      await store.put({ ...a, lastSeenAt: T, subject: moved, user: { id: moved } });
      const got = await mustGet(a.id);
      expect(got.lastSeenAt).toBe(T);
      expect(got.subject).toBe(moved);
      const byOld = await store.list({ subject: a.subject, limit: 10 });
      expect(byOld.records.map(r => r.id)).not.toContain(a.id);
      const byNew = await store.list({ subject: moved, limit: 10 });
      expect(byNew.records.map(r => r.id)).toContain(a.id);
    });

    it('returns null for an absent id', async () => {
      await store.put(rec('session'));
      await expect(store.get(rid('absent'))).resolves.toBeNull();
    });
  });

  describe('touch', () => {
    it('updates lastSeenAt, and expiresAt when given, leaving everything else intact', async () => {
      const a = rec('session', { user: { id: 'u', roles: [], meta: { n: 0.1, deep: [[]] } }, tenant: 't', ip: '198.51.100.7', binding: 'exact' });
      await store.put(a);
      await expect(store.touch(a.id, T)).resolves.toBe(true);
      expect(normalize(await store.get(a.id))).toEqual(normalize({ ...a, lastSeenAt: T }));
      await expect(store.touch(a.id, T + 10, T + 7200)).resolves.toBe(true);
      expect(normalize(await store.get(a.id))).toEqual(normalize({ ...a, lastSeenAt: T + 10, expiresAt: T + 7200 }));
      await expect(store.touch(a.id, T + 20, null)).resolves.toBe(true);
      const forever = await mustGet(a.id);
      expect(forever.expiresAt).toBeNull();
      expect(forever.lastSeenAt).toBe(T + 20);
      expect(forever.user).toStrictEqual(a.user);
    });

    it('returns false for an absent record and creates nothing', async () => {
      const id = rid('absent');
      await expect(store.touch(id, T, T + 60)).resolves.toBe(false);
      await expect(store.get(id)).resolves.toBeNull();
    });

    it('returns false for a revoked record and never un-revokes it', async () => {
      const a = rec('session');
      await store.put(a);
      await expect(store.revoke({ id: a.id }, T - 1)).resolves.toBe(1);
      await expect(store.touch(a.id, T, T + 9999)).resolves.toBe(false);
      const got = await mustGet(a.id);
      expect(got.revokedAt).toBe(T - 1);
      expect(got.lastSeenAt).toBe(a.lastSeenAt);
      expect(got.expiresAt).toBe(a.expiresAt);
    });
  });

  describe('revoke', () => {
    it('by id: counts only newly revoked records and keeps them readable', async () => {
      const a = rec('session');
      const b = rec('session', { subject: a.subject });
      await store.put(a);
      await store.put(b);
      await expect(store.revoke({ id: a.id }, T)).resolves.toBe(1);
      await expect(store.revoke({ id: a.id }, T + 5)).resolves.toBe(0);
      await expect(store.revoke({ id: rid('absent') }, T)).resolves.toBe(0);
      expect(normalize(await store.get(a.id))).toEqual(normalize({ ...a, revokedAt: T }));
      expect(normalize(await store.get(b.id))).toEqual(normalize(b));
    });

    it('by subject: every record of that user, nobody else', async () => {
      const subject = rid('user');
      const mine = [rec('session', { subject }), rec('refresh', { subject }), rec('api', { subject })];
      const already = rec('session', { subject, revokedAt: T - 30 });
      const other = rec('session');
      for (const r of [...mine, already, other]) await store.put(r);
      await expect(store.revoke({ subject }, T)).resolves.toBe(3);
      for (const r of mine) expect((await mustGet(r.id)).revokedAt).toBe(T);
      expect((await mustGet(already.id)).revokedAt).toBe(T - 30);
      expect((await mustGet(other.id)).revokedAt).toBeNull();
      await expect(store.revoke({ subject }, T + 1)).resolves.toBe(0);
    });

    it('by family: one login, not the other logins of the same user', async () => {
      const subject = rid('user');
      const family = rid('fam');
      const inFamily = [rec('session', { subject, id: family, family }), rec('refresh', { subject, family }), rec('refresh', { subject, family })];
      const otherLogin = rec('refresh', { subject });
      for (const r of [...inFamily, otherLogin]) await store.put(r);
      await expect(store.revoke({ family }, T)).resolves.toBe(3);
      for (const r of inFamily) expect((await mustGet(r.id)).revokedAt).toBe(T);
      expect((await mustGet(otherLogin.id)).revokedAt).toBeNull();
    });

    it('{ all: true }: every live record', async () => {
      const live = [rec('session'), rec('refresh'), rec('api'), rec('session')];
      const already = rec('refresh', { revokedAt: T - 9 });
      for (const r of [...live, already]) await store.put(r);
      await expect(store.revoke({ all: true }, T)).resolves.toBe(live.length);
      for (const r of live) expect((await mustGet(r.id)).revokedAt).toBe(T);
      expect((await mustGet(already.id)).revokedAt).toBe(T - 9);
      await expect(store.revoke({ all: true }, T + 1)).resolves.toBe(0);
    });
  });

  describe('list', () => {
    it('pages through 2500 records of one subject with limit 100: none missing, no duplicates, kind filter', async () => {
      const subject = rid('user');
      const mine = Array.from({ length: 2500 }, (_, i) => rec(i % 5 === 0 ? 'api' : 'refresh', { subject }));
      const others = Array.from({ length: 40 }, () => rec('refresh'));
      await inChunks([...mine, ...others], 250, r => store.put(r));

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await store.list({ subject, cursor, limit: 100 });
        expect(page.records.length).toBeLessThanOrEqual(100);
        for (const r of page.records) expect(r.subject).toBe(subject);
        seen.push(...page.records.map(r => r.id));
        cursor = page.cursor;
        expect(++pages).toBeLessThanOrEqual(30);
      } while (cursor !== null);
      expect(seen.length).toBe(new Set(seen).size);
      expect(new Set(seen)).toEqual(new Set(mine.map(r => r.id)));

      const apiIds: string[] = [];
      cursor = null;
      pages = 0;
      do {
        const page = await store.list({ subject, kind: 'api', cursor, limit: 100 });
        for (const r of page.records) expect(r.kind).toBe('api');
        apiIds.push(...page.records.map(r => r.id));
        cursor = page.cursor;
        expect(++pages).toBeLessThanOrEqual(30);
      } while (cursor !== null);
      expect(apiIds.length).toBe(new Set(apiIds).size);
      expect(new Set(apiIds)).toEqual(new Set(mine.filter(r => r.kind === 'api').map(r => r.id)));
      // 2,540 writes: a durable store (the file store flushes each put) on a CI machine busy with other suites
      // took over 30 s once (2.5 s alone); the bulk suite's 2,500-record cases have the same allowance.
    }, 120_000);

    it('lists the whole store without a subject, paging with a small limit', async () => {
      const all = Array.from({ length: 25 }, (_, i) => rec((['session', 'refresh', 'api'] as const)[i % 3]));
      await inChunks(all, 25, r => store.put(r));
      const seen: TokenRecord[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await store.list({ cursor, limit: 7 });
        expect(page.records.length).toBeLessThanOrEqual(7);
        seen.push(...page.records);
        cursor = page.cursor;
        expect(++pages).toBeLessThanOrEqual(10);
      } while (cursor !== null);
      const ids = seen.map(r => r.id);
      expect(ids.length).toBe(new Set(ids).size);
      expect(new Set(ids)).toEqual(new Set(all.map(r => r.id)));
      const sessions = await store.list({ kind: 'session', limit: 100 });
      expect(new Set(sessions.records.map(r => r.id))).toEqual(new Set(all.filter(r => r.kind === 'session').map(r => r.id)));
      expect(sessions.cursor).toBeNull();
    });

    it('returns an empty page for an unknown subject', async () => {
      await store.put(rec('session'));
      await expect(store.list({ subject: rid('nobody'), limit: 10 })).resolves.toEqual({ records: [], cursor: null });
    });
  });

  describe('expiry', () => {
    it('never treats a record whose expiresAt <= now as valid', async () => {
      const past = rec('refresh', { expiresAt: T - 10 });
      await store.put(past);
      const got = await store.get(past.id);
      // A backend may drop it once well past its expiry (a TTL, see below) or keep it until purged; it is never live.
      expect(got === null || !isLive(got, T)).toBe(true);
      const next = rec('refresh', { subject: past.subject, family: past.family });
      const res = await store.rotate(past.id, next, T);
      expect(res.status).toBe('conflict');
      const current = (res as Conflict).current;
      expect(current === null || (current.id === past.id && !isLive(current, T))).toBe(true);
      await expect(store.get(next.id)).resolves.toBeNull();
    });

    it('treats expiresAt == now as expired (boundary), and expiresAt == now + 1 as live', async () => {
      const r = rec('refresh', { expiresAt: T + 100 });
      await store.put(r);
      const got = await mustGet(r.id);
      expect(isLive(got, T + 99)).toBe(true);
      expect(isLive(got, T + 100)).toBe(false);
      const late = rec('refresh', { subject: r.subject, family: r.family });
      const res = await store.rotate(r.id, late, T + 100);
      expect(res.status).toBe('conflict');
      expect(normalize((res as Conflict).current)).toEqual(normalize(r));
      await expect(store.get(late.id)).resolves.toBeNull();
      expect((await mustGet(r.id)).rotatedAt ?? null).toBeNull();
      const inTime = rec('refresh', { subject: r.subject, family: r.family });
      await expect(store.rotate(r.id, inTime, T + 99)).resolves.toEqual({ status: 'rotated' });
    });

    it("is judged by the caller's now, not the backend's clock: a record live at now is read, touched and rotated after the wall clock passed its expiresAt", async () => {
      // A call that lands a moment after the `now` its request was judged at (whole-second clocks,
      // a loaded server), or a server whose clock lags the backend's: by its `now` the record is
      // live. A backend's own expiry (a TTL) may only collect records well after their expiresAt.
      const now = T - 4;
      const session = rec('session', { lastSeenAt: now - 10, expiresAt: T - 1 });
      await store.put(session);
      expect(normalize(await store.get(session.id))).toEqual(normalize(session));
      await expect(store.touch(session.id, now, now + 8)).resolves.toBe(true);
      expect(await mustGet(session.id)).toMatchObject({ lastSeenAt: now, expiresAt: now + 8 });
      const used = rec('refresh', { expiresAt: T - 1 });
      await store.put(used);
      const next = rec('refresh', { subject: used.subject, family: used.family, expiresAt: now + 60 });
      await expect(store.rotate(used.id, next, now)).resolves.toEqual({ status: 'rotated' });
      expect(normalize(await store.get(next.id))).toEqual(normalize(next));
    });
  });

  describe('purgeExpired', () => {
    it('removes expired and revoked records, returns the count, keeps live ones', async () => {
      const subject = rid('user');
      const live = rec('session', { subject });
      const forever = rec('api', { subject });
      const expiring = rec('refresh', { subject, expiresAt: T + 60 });
      const revoked = rec('session', { subject, revokedAt: T - 1 });
      const revokedForever = rec('api', { subject, revokedAt: T - 1 });
      for (const r of [live, forever, expiring, revoked, revokedForever]) await store.put(r);
      await expect(store.purgeExpired(T + 120)).resolves.toBe(3);
      expect(normalize(await store.get(live.id))).toEqual(normalize(live));
      expect(normalize(await store.get(forever.id))).toEqual(normalize(forever));
      for (const r of [expiring, revoked, revokedForever]) await expect(store.get(r.id)).resolves.toBeNull();
      const listed = await store.list({ subject, limit: 10 });
      expect(new Set(listed.records.map(r => r.id))).toEqual(new Set([live.id, forever.id]));
      await expect(store.purgeExpired(T + 120)).resolves.toBe(0);
    });
  });

  if (options.writeRaw) {
    const writeRaw = options.writeRaw;
    describe('garbage', () => {
      it('reads unparsable or schema-drifted records as absent; writes on them settle and never hand them out', async () => {
        const good = rec('session');
        await store.put(good);
        const shape = (id: string) => ({ id, kind: 'refresh', subject: good.subject, family: rid('fam'), createdAt: T, lastSeenAt: T, expiresAt: T + 3600, revokedAt: null });
        const garbage: Array<[string, (id: string) => string]> = [
          [rid('bad'), () => '{"id": "not json'],
          [rid('bad'), () => '\u0007\u00ff binary'],
          [rid('bad'), () => '[1,2,3]'],
          [rid('bad'), id => JSON.stringify({ ...shape(id), createdAt: '2024-01-01T00:00:00Z' })],
          [rid('bad'), id => JSON.stringify({ ...shape(id), kind: 'telepathy' })],
          [rid('bad'), id => JSON.stringify({ ...shape(id), expiresAt: 1.5 })],
          [rid('bad'), id => JSON.stringify({ ...shape(id), id: 'someone-else' })],
          [rid('bad'), id => JSON.stringify({ ...shape(id), kind: 'session' })], // a session without its user
        ];
        const written: string[] = [];
        for (const [id, raw] of garbage) if ((await writeRaw(store, id, raw(id))) !== false) written.push(id);
        expect(written.length).toBeGreaterThan(0);
        for (const id of written) {
          await expect(store.get(id)).resolves.toBeNull();
          // Validation is parseRecord's, on the way out; a backend guards each write only with the
          // fields that step needs. So a drifted value that still carries them may be written to,
          // but no call throws, none hands the value out as a record, and it stays unreadable.
          await expect(store.touch(id, T)).resolves.toEqual(expect.any(Boolean));
          const rotated = await store.rotate(id, rec('refresh'), T);
          if (rotated.status === 'conflict') expect(rotated.current).toBeNull();
          else expect(rotated).toEqual({ status: 'rotated' });
          await expect(store.countReuse(id, 5)).resolves.toEqual(expect.any(Boolean));
          await expect(store.revoke({ id }, T)).resolves.toEqual(expect.any(Number));
          await expect(store.get(id)).resolves.toBeNull();
        }
        expect(normalize(await store.get(good.id))).toEqual(normalize(good));
        const listed = (await store.list({ limit: 100 })).records.map(r => r.id);
        expect(listed).toContain(good.id);
        for (const id of written) expect(listed).not.toContain(id);
        await expect(store.purgeExpired(T)).resolves.toEqual(expect.any(Number));
        expect(normalize(await store.get(good.id))).toEqual(normalize(good));
      });
    });
  }

  describe('rotate', () => {
    async function used(over: Partial<TokenRecord> = {}): Promise<TokenRecord> {
      const r = rec('refresh', over);
      await store.put(r);
      return r;
    }
    const successor = (u: TokenRecord) => rec('refresh', { subject: u.subject, family: u.family });

    /** Rotates `id` expecting a conflict that wrote nothing: the successor absent, the record unchanged. */
    async function conflicts(id: string, now: number): Promise<TokenRecord | null> {
      const before = await store.get(id);
      const next = rec('refresh');
      const res = await store.rotate(id, next, now);
      expect(res.status).toBe('conflict');
      await expect(store.get(next.id)).resolves.toBeNull();
      expect(normalize(await store.get(id))).toEqual(normalize(before));
      return (res as Conflict).current;
    }

    it('rotates a live record: successor stored, used record marked rotated with its reuse count reset', async () => {
      const u = await used({ reuseCount: 2 });
      const next = successor(u);
      await expect(store.rotate(u.id, next, T)).resolves.toEqual({ status: 'rotated' });
      expect(normalize(await store.get(next.id))).toEqual(normalize(next));
      const marked = await mustGet(u.id);
      expect(marked.rotatedAt).toBe(T);
      expect(marked.replacedBy).toBe(next.id);
      expect(marked.reuseCount).toBe(0);
      expect(marked.revokedAt).toBeNull();
      expect(normalize({ ...marked, rotatedAt: null, replacedBy: null, reuseCount: 2 })).toEqual(normalize(u));
    });

    it('an already rotated record: conflict with the record as stored (rotatedAt, replacedBy), nothing written', async () => {
      const u = await used();
      const next = successor(u);
      await store.rotate(u.id, next, T);
      const current = await conflicts(u.id, T + 1);
      expect(current).not.toBeNull();
      expect(normalize(current)).toEqual(normalize(await store.get(u.id)));
      expect(current!.rotatedAt).toBe(T);
      expect(current!.replacedBy).toBe(next.id);
      expect(current!.revokedAt).toBeNull();
    });

    it('a record put already rotated (rotatedAt set) is a conflict too', async () => {
      const earlier = rid('ref');
      const u = await used({ rotatedAt: T - 30, replacedBy: earlier, reuseCount: 1 });
      const current = await conflicts(u.id, T);
      expect(normalize(current)).toEqual(normalize(u));
    });

    it('a revoked record: conflict with the revoked record, nothing written', async () => {
      const u = await used();
      await store.revoke({ id: u.id }, T);
      const current = await conflicts(u.id, T + 1);
      expect(normalize(current)).toEqual(normalize({ ...u, revokedAt: T }));
    });

    it('an expired record: conflict with that record, nothing written', async () => {
      const u = await used({ expiresAt: T + 60 });
      const current = await conflicts(u.id, T + 60);
      expect(normalize(current)).toEqual(normalize(u));
    });

    it('an absent record: conflict with current null, nothing written', async () => {
      const id = rid('absent');
      await expect(conflicts(id, T)).resolves.toBeNull();
      await expect(store.get(id)).resolves.toBeNull();
    });

    it('THE RACE: 100 rounds of 10 concurrent rotations of one id: exactly one winner each', async () => {
      const failures: string[] = [];
      const round = async (n: number): Promise<void> => {
        const u = await used();
        const nexts = Array.from({ length: 10 }, () => successor(u));
        const results = await Promise.all(nexts.map(next => store.rotate(u.id, next, T)));
        const winners = nexts.filter((_, i) => results[i]!.status === 'rotated');
        const winner = winners[0]?.id;
        const lost = results.filter((r): r is Conflict => r.status === 'conflict');
        // Each loser sees the record as the winner left it.
        const explained = lost.filter(r => r.current?.id === u.id && r.current.replacedBy === winner).length;
        const stored = await mustGet(u.id);
        const committed = (await Promise.all(nexts.map(next => store.get(next.id)))).filter(r => r !== null).map(r => r!.id);
        if (winners.length !== 1 || lost.length !== 9 || explained !== 9 || stored.replacedBy !== winner || committed.length !== 1 || committed[0] !== winner) {
          failures.push(
            `round ${n}: ${results.map(r => r.status).join(',')}; ${explained} of ${lost.length} conflicts show the winner; ` +
              `replacedBy is ${stored.replacedBy === winner ? 'the winner' : 'NOT the winner'}; ${committed.length} successors stored`,
          );
        }
      };
      // Rounds on different ids run 10 at a time (stores with lock back-off spend a round mostly waiting).
      for (let wave = 0; wave < 10; wave++) await Promise.all(Array.from({ length: 10 }, (_, i) => round(wave * 10 + i)));
      expect(failures).toEqual([]);
      // 1,000 rotations: 13-15 s for the file and DynamoDB stores on a busy CI machine (1.2 s alone).
    }, 90_000);

    it('the race has teeth: a rotate that reads, yields, then writes lets several win', async () => {
      const racy = failingStore(store);
      racy.racyRotate = true;
      let forked = false;
      for (let n = 0; n < 5 && !forked; n++) {
        const u = await used();
        const results = await Promise.all(Array.from({ length: 10 }, () => racy.rotate(u.id, successor(u), T)));
        forked = results.filter(r => r.status === 'rotated').length > 1;
      }
      expect(forked).toBe(true);
    });
  });

  describe('countReuse', () => {
    it('counts up to the limit, then refuses without changing anything else', async () => {
      const r = rec('refresh', { rotatedAt: T - 5, replacedBy: rid('ref'), reuseCount: 0 });
      await store.put(r);
      await expect(store.countReuse(r.id, 2)).resolves.toBe(true);
      await expect(store.countReuse(r.id, 2)).resolves.toBe(true);
      await expect(store.countReuse(r.id, 2)).resolves.toBe(false);
      expect(normalize(await store.get(r.id))).toEqual(normalize({ ...r, reuseCount: 2 }));
      await expect(store.countReuse(r.id, 3)).resolves.toBe(true); // the limit is the caller's, per call
      expect((await mustGet(r.id)).reuseCount).toBe(3);
    });

    it('treats an absent reuseCount as 0', async () => {
      const r = rec('refresh', { reuseCount: undefined });
      await store.put(r);
      await expect(store.countReuse(r.id, 1)).resolves.toBe(true);
      await expect(store.countReuse(r.id, 1)).resolves.toBe(false);
      expect((await mustGet(r.id)).reuseCount).toBe(1);
      const none = rec('refresh', { reuseCount: undefined });
      await store.put(none);
      await expect(store.countReuse(none.id, 0)).resolves.toBe(false);
      expect((await mustGet(none.id)).reuseCount ?? 0).toBe(0);
    });

    it('returns false for an absent record and creates nothing', async () => {
      const id = rid('absent');
      await expect(store.countReuse(id, 5)).resolves.toBe(false);
      await expect(store.get(id)).resolves.toBeNull();
    });

    it('under 10 concurrent calls with limit 3, exactly 3 - reuseCount are counted (20 rounds, some starting at 1)', async () => {
      const failures: string[] = [];
      const round = async (n: number): Promise<void> => {
        const start = n % 3 === 2 ? 1 : 0;
        const r = rec('refresh', { rotatedAt: T - 1, replacedBy: rid('ref'), reuseCount: start });
        await store.put(r);
        const results = await Promise.all(Array.from({ length: 10 }, () => store.countReuse(r.id, 3)));
        const counted = results.filter(Boolean).length;
        const stored = (await mustGet(r.id)).reuseCount;
        if (counted !== 3 - start || stored !== 3) failures.push(`round ${n}: ${counted} counted from ${start}, reuseCount ${stored}`);
      };
      for (let wave = 0; wave < 4; wave++) await Promise.all(Array.from({ length: 5 }, (_, i) => round(wave * 5 + i)));
      expect(failures).toEqual([]);
    });
  });

  describe('initSecret', () => {
    it('keeps the first secret: a later candidate gets the stored one', async () => {
      if (!store.initSecret) return; // optional capability
      const a = randomBytes(32).toString('base64url');
      const b = randomBytes(32).toString('base64url');
      const first = await store.initSecret(a);
      expect(first).toBe(a); // a fresh store has no secret yet
      await expect(store.initSecret(b)).resolves.toBe(a);
    });

    it('agrees under concurrent first calls', async () => {
      if (!store.initSecret) return;
      const candidates = Array.from({ length: 8 }, () => randomBytes(32).toString('base64url'));
      const got = await Promise.all(candidates.map(c => store.initSecret!(c)));
      expect(new Set(got).size).toBe(1);
      expect(candidates).toContain(got[0]);
      await expect(store.initSecret(randomBytes(32).toString('base64url'))).resolves.toBe(got[0]);
    });
  });

  describe('closed store', () => {
    it('rejects every call with STORE_UNAVAILABLE instead of hanging', async () => {
      const r = rec('session');
      await store.put(r);
      await store.close();
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['get', () => store.get(r.id)],
        ['put', () => store.put(rec('session'))],
        ['touch', () => store.touch(r.id, T)],
        ['rotate', () => store.rotate(r.id, rec('refresh'), T)],
        ['countReuse', () => store.countReuse(r.id, 1)],
        ['revoke', () => store.revoke({ id: r.id }, T)],
        ['list', () => store.list({ limit: 10 })],
        ['purgeExpired', () => store.purgeExpired(T)],
      ];
      if (store.initSecret) calls.push(['initSecret', () => store.initSecret!('x')]);
      for (const [what, call] of calls) {
        const err = await within(
          call().then(
            () => new Error(`${what} resolved on a closed store`),
            (e: unknown) => e,
          ),
          3000,
          `${what} on a closed store`,
        );
        expect({ what, code: (err as { code?: unknown }).code }).toEqual({ what, code: 'STORE_UNAVAILABLE' });
        expect(isStoreError(err)).toBe(true);
      }
      await expect(store.close()).resolves.toBeUndefined(); // closing twice is fine
    });
  });

  defineBulkCases({ name, makeStore, store: () => store, now: () => T, rec, normalize, rid, options });
  defineSealedCases({ store: () => store, rid, options });
  defineCounterCases({ store: () => store, now: () => T, rec });
  defineWatchCases({ name, store: () => store, now: () => T, rec, rid, sibling: options.sibling });
}
