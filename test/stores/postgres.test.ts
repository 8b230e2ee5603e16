/**
 * PostgreSQL store: the shared conformance suite against a real server (skipped with a printed
 * reason when none answers, failing under CI), plus PostgreSQL-specific behaviour.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from '@jest/globals';
import { ConfigError, type User } from '@tessera/core';
import { isStoreError, type TokenRecord } from '@tessera/core/store';
import { PostgresStore, postgresStore, PURGE_BATCH } from '../../packages/store-postgres/src/index.js';
import { defineStoreSuite } from '../../packages/testkit/src/store-suite.js';
import { postgresAvailable, silentServer, timed } from '../../packages/testkit/src/services.js';

const URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const skip = await postgresAvailable(URL);

const prefix = `tt_pg_${process.pid}_${Date.now().toString(36)}`;
let tableCount = 0;
const tables: string[] = [];
function newTable(): string {
  const t = `${prefix}_${++tableCount}`;
  tables.push(t);
  return t;
}

async function dropAll(): Promise<void> {
  if (skip) return;
  const pool = new pg.Pool({ connectionString: URL, max: 1 });
  try {
    for (const t of tables) await pool.query(`DROP TABLE IF EXISTS "${t}", "${t}_meta", "${t}_counters"; DROP FUNCTION IF EXISTS "${t}_notify"()`);
  } finally {
    await pool.end();
  }
}

const COLUMN_FIELDS: Record<string, string> = {
  id: 'id',
  kind: 'kind',
  subject: 'subject',
  family: 'family',
  createdAt: 'created_at',
  lastSeenAt: 'last_seen_at',
  expiresAt: 'expires_at',
  revokedAt: 'revoked_at',
  rotatedAt: 'rotated_at',
  replacedBy: 'replaced_by',
  reuseCount: 'reuse_count',
};

/**
 * Writes `raw` as the row of `id` with plain SQL, the way a drifted schema or another writer
 * could have left it: fields map to their typed columns where the column can hold the value
 * (-1 for numbers an epoch column cannot mean), everything else lands in `data`; a raw value
 * that is not a JSON object becomes a `data` that is not an object.
 */
async function writeRaw(store: PostgresStore, id: string, raw: string): Promise<void> {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    v = undefined;
  }
  const obj = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  const text = (x: unknown, dflt: string): string => (x === undefined || x === null ? dflt : typeof x === 'string' ? x : JSON.stringify(x));
  const int = (x: unknown, nullable: boolean): number | null =>
    x === undefined || x === null ? (nullable ? null : -1) : typeof x === 'number' && Number.isSafeInteger(x) ? x : -1;
  let params: unknown[];
  if (!obj) {
    params = ['refresh', 'drift', 'drift', 0, 0, null, null, null, null, null, JSON.stringify(raw.replace(/\u0000/g, '\\0'))];
  } else {
    const data: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(obj)) if (!(k in COLUMN_FIELDS)) data[k] = x;
    if (obj.id !== id) data.id = obj.id; // the content names another record
    params = [
      text(obj.kind, ''),
      text(obj.subject, ''),
      text(obj.family, ''),
      int(obj.createdAt, false),
      int(obj.lastSeenAt, false),
      int(obj.expiresAt, true),
      int(obj.revokedAt, true),
      int(obj.rotatedAt, true),
      obj.replacedBy === undefined || obj.replacedBy === null ? null : text(obj.replacedBy, ''),
      int(obj.reuseCount, true),
      JSON.stringify(data),
    ];
  }
  await store.pool.query(
    `INSERT INTO "${store.table}" (id, kind, subject, family, created_at, last_seen_at, expires_at, revoked_at, rotated_at, replaced_by, reuse_count, data)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)
     ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, subject = EXCLUDED.subject, family = EXCLUDED.family,
       created_at = EXCLUDED.created_at, last_seen_at = EXCLUDED.last_seen_at, expires_at = EXCLUDED.expires_at,
       revoked_at = EXCLUDED.revoked_at, rotated_at = EXCLUDED.rotated_at, replaced_by = EXCLUDED.replaced_by,
       reuse_count = EXCLUDED.reuse_count, data = EXCLUDED.data`,
    [id, ...params],
  );
}

defineStoreSuite(
  'postgres',
  async () => {
    const store = postgresStore({ url: URL, table: newTable() });
    await store.setup();
    return store;
  },
  {
    skip,
    teardown: dropAll,
    // Another server on the same table (its own pool): the change-notice cases write through it.
    sibling: store => postgresStore({ url: URL, table: store.table }),
    writeRaw,
    // The whole row: its typed columns and its `data` document.
    readRaw: async (store, id) => (await store.pool.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${store.table}" t WHERE id = $1`, [id])).rows[0]?.row ?? null,
  },
);

const T = Math.floor(Date.now() / 1000);
function rec(id: string, over: Partial<TokenRecord> = {}): TokenRecord {
  return { id, kind: 'refresh', subject: 'u1', family: 'f1', createdAt: T - 10, lastSeenAt: T - 10, expiresAt: T + 3600, revokedAt: null, ...over };
}

describe('postgres store: unreachable server and options', () => {
  it('rejects with STORE_UNAVAILABLE within 3 s when nothing listens (and never echoes the password)', async () => {
    const store = postgresStore({ url: 'postgres://tessera:hunter2@127.0.0.1:1/test', table: 'nowhere' });
    try {
      const calls: Array<() => Promise<unknown>> = [() => store.get('x'), () => store.setup(), () => store.rotate('x', rec('y'), T)];
      for (const call of calls) {
        const r = await timed(call());
        expect(r.ms).toBeLessThan(3000);
        expect(isStoreError(r.error)).toBe(true);
        expect((r.error as { code?: string }).code).toBe('STORE_UNAVAILABLE');
        expect(String((r.error as Error).message)).not.toContain('hunter2');
      }
    } finally {
      await store.close();
    }
  });

  it('does not hang on a server that accepts connections but never answers', async () => {
    const silent = await silentServer();
    const port = silent.port;
    const store = postgresStore({ url: `postgres://postgres@127.0.0.1:${port}/test`, connectionTimeoutMs: 1000 });
    try {
      const r = await timed(store.get('x'));
      expect(isStoreError(r.error)).toBe(true);
      expect(r.ms).toBeLessThan(3000);
    } finally {
      await store.close();
      await silent.close();
    }
  });

  it('validates options at construction, redacting credentials', () => {
    expect(() => postgresStore({ url: URL, table: 'bad-name; DROP TABLE x' })).toThrow(ConfigError);
    expect(() => postgresStore({ url: URL, table: 'a.b.c' })).toThrow(ConfigError);
    expect(() => postgresStore({ url: URL, table: 'x'.repeat(41) })).toThrow(ConfigError);
    let err: unknown;
    try {
      postgresStore({ url: 'mysql://root:topsecret@db/app' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain('topsecret');
    expect((err as Error).message).toContain('***');
    const pool = new pg.Pool({ connectionString: URL });
    expect(() => postgresStore({ pool, url: URL })).toThrow(ConfigError);
    return pool.end();
  });
});

(skip ? describe.skip : describe)('postgres store: specifics', () => {
  afterAll(dropAll);

  it('creates nothing until setup(); setup() is idempotent and creates the indexes', async () => {
    const table = newTable();
    const store = postgresStore({ url: URL, table });
    try {
      const before = await timed(store.get('x'));
      expect(isStoreError(before.error)).toBe(true);
      expect((before.error as Error).message).toContain('setup()');
      const exists = async () => (await store.pool.query('SELECT to_regclass($1) AS t', [table])).rows[0].t as string | null;
      expect(await exists()).toBeNull(); // the failed query did not create anything
      await store.setup();
      await store.setup();
      await Promise.all([store.setup(), store.setup()]); // concurrent setups serialise on an advisory lock
      expect(await exists()).toBe(table);
      const idx = await store.pool.query<{ indexname: string }>('SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY indexname', [table]);
      expect(idx.rows.map(r => r.indexname)).toEqual(
        [`${table}_expires_idx`, `${table}_family_idx`, `${table}_pkey`, `${table}_revoked_idx`, `${table}_subject_idx`].sort(),
      );
      await store.put(rec('a'));
      await store.setup(); // keeps data
      expect((await store.get('a'))?.id).toBe('a');
    } finally {
      await store.close();
    }
  });

  it('a table set up before attempt counters existed: the first hit creates the counters table, and only beside a records table', async () => {
    const table = newTable();
    const store = postgresStore({ url: URL, table });
    try {
      const bare = await timed(store.hit('login-user:x', 60, 1000));
      expect(isStoreError(bare.error)).toBe(true); // no records table: setup() first, nothing created
      expect((await store.pool.query('SELECT to_regclass($1) AS t', [`${table}_counters`])).rows[0].t).toBeNull();
      await store.setup();
      await store.pool.query(`DROP TABLE "${table}_counters"`); // as an earlier version's setup() left it
      const hits = await Promise.all([1, 2, 3].map(() => store.hit('login-user:x', 60, 1000)));
      expect(hits.map(h => h.count).sort()).toEqual([1, 2, 3]);
      expect(await store.hit('login-user:x', 60, 1000, 0)).toEqual({ count: 3, resetAt: 1060 });
    } finally {
      await store.close();
    }
  });

  it('works with a schema-qualified table and a caller-owned pool, which close() leaves open', async () => {
    const pool = new pg.Pool({ connectionString: URL, max: 2 });
    const table = newTable();
    const store = postgresStore({ pool, table: `public.${table}` });
    try {
      await store.setup();
      await store.put(rec('p1'));
      expect((await store.get('p1'))?.subject).toBe('u1');
      await store.close();
      await expect(store.get('p1')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      const still = await pool.query(`SELECT count(*)::int AS n FROM "${table}"`);
      expect(still.rows[0].n).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('stores typed columns and jsonb, and reads bigint epochs back as numbers', async () => {
    const store = postgresStore({ url: URL, table: newTable() });
    try {
      await store.setup();
      await store.put(rec('t1', { kind: 'session', user: { id: 'u1', n: 1 } as User, ip: '192.0.2.1', binding: 'exact', absoluteExpiresAt: T + 9, tenant: 'acme' }));
      const row = (await store.pool.query(`SELECT * FROM "${store.table}" WHERE id = 't1'`)).rows[0];
      expect(row).toMatchObject({ kind: 'session', subject: 'u1', family: 'f1', created_at: String(T - 10), expires_at: String(T + 3600), revoked_at: null });
      expect(row.data).toEqual({ user: { id: 'u1', n: 1 }, ip: '192.0.2.1', binding: 'exact', absoluteExpiresAt: T + 9, tenant: 'acme' });
      const got = await store.get('t1');
      expect(got?.createdAt).toBe(T - 10);
      expect(typeof got?.expiresAt).toBe('number');
    } finally {
      await store.close();
    }
  });

  it('turns a query that outlives queryTimeoutMs into STORE_UNAVAILABLE', async () => {
    const store = postgresStore({ url: URL, table: newTable(), queryTimeoutMs: 300 });
    const blocker = new pg.Client({ connectionString: URL });
    await blocker.connect();
    try {
      await store.setup();
      await store.put(rec('locked'));
      await blocker.query('BEGIN');
      await blocker.query(`SELECT * FROM "${store.table}" WHERE id = 'locked' FOR UPDATE`);
      const r = await timed(store.touch('locked', T));
      expect(isStoreError(r.error)).toBe(true);
      expect(r.ms).toBeLessThan(2500);
    } finally {
      await blocker.query('ROLLBACK').catch(() => {});
      await blocker.end();
      await store.close();
    }
  });

  it('touch refuses an expired record instead of resurrecting it', async () => {
    const store = postgresStore({ url: URL, table: newTable() });
    try {
      await store.setup();
      await store.put(rec('old', { expiresAt: T - 1 }));
      await expect(store.touch('old', T, T + 3600)).resolves.toBe(false);
      expect((await store.get('old'))?.expiresAt).toBe(T - 1);
    } finally {
      await store.close();
    }
  });

  it('a family revoke racing rotations never leaves a live record in the family', async () => {
    const store = postgresStore({ url: URL, table: newTable() });
    try {
      await store.setup();
      const failures: string[] = [];
      for (let round = 0; round < 200; round++) {
        const family = `race${round}`;
        await store.put(rec(`u${round}`, { family }));
        const [rotated] = await Promise.all([store.rotate(`u${round}`, rec(`n${round}`, { family }), T), store.revoke({ family }, T)]);
        const live = await store.pool.query(`SELECT id FROM "${store.table}" WHERE family = $1 AND revoked_at IS NULL`, [family]);
        if (live.rowCount) failures.push(`round ${round}: ${live.rows.map(r => r.id).join(',')} live after revoke (rotate said ${rotated.status})`);
      }
      expect(failures).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('purgeExpired deletes across several batches and returns the exact total', async () => {
    const store = postgresStore({ url: URL, table: newTable() });
    try {
      await store.setup();
      const n = PURGE_BATCH * 2 + 123;
      const dead = Array.from({ length: n }, (_, i) => rec(`d${i}`, { expiresAt: T - 1 - (i % 50), family: `f${i}` }));
      const live = Array.from({ length: 10 }, (_, i) => rec(`l${i}`));
      await store.putMany([...dead, ...live]);
      await expect(store.purgeExpired(T)).resolves.toBe(n);
      const left = await store.pool.query(`SELECT count(*)::int AS n FROM "${store.table}"`);
      expect(left.rows[0].n).toBe(10);
      await expect(store.purgeExpired(T)).resolves.toBe(0);
    } finally {
      await store.close();
    }
  });

  it('putMany upserts 100,000 records (last duplicate wins) and reports its rate', async () => {
    const store = postgresStore({ url: URL, table: newTable() });
    try {
      await store.setup();
      const N = 100_000;
      const records = Array.from({ length: N }, (_, i) =>
        rec(`bulk_${i.toString(36).padStart(6, '0')}_${(i * 2654435761) % 1e9}`, {
          kind: 'session',
          subject: `user${i % 1000}`,
          family: `fam${i}`,
          user: { id: `user${i % 1000}`, name: `User ${i}` } as User,
          ip: '198.51.100.4',
          binding: 'exact',
        }),
      );
      const t0 = performance.now();
      await expect(store.putMany(records)).resolves.toBe(N);
      const ms = performance.now() - t0;
      const rate = Math.round((N / ms) * 1000);
      console.log(`postgres putMany: ${N} records in ${ms.toFixed(0)} ms = ${rate} records/s`);
      const count = await store.pool.query(`SELECT count(*)::int AS n FROM "${store.table}"`);
      expect(count.rows[0].n).toBe(N);
      const sample = records[31_337]!;
      expect(await store.get(sample.id)).toEqual({ ...sample });
      // upsert: same ids again, changed, with a duplicate whose last occurrence wins
      const changed = records.slice(0, 1000).map(r => ({ ...r, lastSeenAt: T }));
      await store.putMany([{ ...changed[0]!, lastSeenAt: T - 5 }, ...changed]);
      expect((await store.get(changed[0]!.id))?.lastSeenAt).toBe(T);
      expect(rate).toBeGreaterThan(5000); // sanity floor only; the measured rate is printed above
    } finally {
      await store.close();
    }
  }, 120_000);
});

/**
 * `importRecords` calls of 1,000 records or more go by COPY: straight into the table when no row
 * of the batch is there yet, else into a staging table, then one put-if-absent INSERT per batch;
 * smaller calls by one INSERT of a JSON parameter. All must store the same rows, refuse the same
 * records, and leave a present record as it is.
 */
(skip ? describe.skip : describe)('postgres store: importRecords by COPY (calls of 1,000 records or more)', () => {
  afterAll(dropAll);

  /** A caller-owned pool that records the statements its connections run. */
  function recordingPool(connectionString = URL): { pool: pg.Pool; statements: string[] } {
    const pool = new pg.Pool({ connectionString, max: 10 });
    pool.on('error', () => {}); // an idle connection dropped by the server: the next query reports it
    const statements: string[] = [];
    pool.on('connect', client => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const q = args[0] as string | { text?: string };
        statements.push(typeof q === 'string' ? q : String(q?.text ?? ''));
        return query(...args);
      };
    });
    return { pool, statements };
  }

  /** Records in every shape a column can take, with the characters COPY's text format reads specially. */
  function awkward(n: number, tag: string): TokenRecord[] {
    const strange = ['tab\there', 'line\nbreak', 'cr\rlf\r\n', 'back\\slash', '\\N', '\\.', 'ends with \\', 'quote " \' `', 'naïve 日本語 😀', ''];
    return Array.from({ length: n }, (_, i) => {
      const s = strange[i % strange.length]!;
      const id = `${tag}_${String(i).padStart(5, '0')}${i % 7 === 0 ? `_${s}` : ''}`;
      return rec(id, {
        kind: (['session', 'refresh', 'api'] as const)[i % 3],
        subject: i % 5 === 0 ? `user ${s}` : `user${i % 40}`,
        family: i % 3 === 0 ? id : `fam\t${i % 50}`,
        expiresAt: i % 11 === 0 ? null : T + 3600 + i,
        revokedAt: i % 13 === 0 ? T - 1 : null,
        ...(i % 17 === 0 ? { rotatedAt: T - 2, replacedBy: `next\\${i}`, reuseCount: i % 4 } : {}),
        user: { id: `user${i % 40}`, name: s, tags: [s, '', '\\'], nested: { deep: [[], {}], n: 0.1 } } as unknown as User,
        ...(i % 2 === 0 ? { ip: '198.51.100.7', binding: 'exact' as const, tenant: `t\n${i % 3}`, label: s } : {}),
      });
    });
  }

  it('writes every absent record exactly as given, keeps the present ones, counts what it wrote, by COPY', async () => {
    const { pool, statements } = recordingPool();
    const store = postgresStore({ pool, table: newTable() });
    try {
      await store.setup();
      const records = awkward(2600, 'cp');
      const present = records.filter((_, i) => i % 26 === 0);
      const mine = present.map(r => ({ ...r, lastSeenAt: T, revokedAt: T - 3 }));
      await expect(store.importRecords(mine)).resolves.toBe(mine.length); // a small call: one INSERT, no COPY
      expect(statements.some(s => s.startsWith('COPY'))).toBe(false);

      await expect(store.importRecords(records)).resolves.toBe(records.length - present.length);
      // A row of the batch was there: the direct COPY failed whole, the staging table took the batch.
      expect(statements.some(s => s.startsWith(`COPY "${store.table}"`))).toBe(true);
      expect(statements.some(s => s.startsWith('COPY pg_temp.tessera_import_stage'))).toBe(true);
      for (const r of records) {
        const want = present.includes(r) ? mine.find(m => m.id === r.id)! : r;
        expect(await store.get(r.id)).toEqual({ ...want });
      }
      // The same rows as the INSERT path writes (typed columns and data), record for record.
      const other = postgresStore({ pool, table: newTable() });
      await other.setup();
      for (let i = 0; i < records.length; i += 500) await other.importRecords(records.slice(i, i + 500));
      const rows = async (s: PostgresStore) =>
        (await pool.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${s.table}" t WHERE NOT (id = ANY($1)) ORDER BY id`, [present.map(r => r.id)])).rows.map(r => r.row);
      expect(await rows(store)).toEqual(await rows(other));

      await expect(store.importRecords(records)).resolves.toBe(0);
      await expect(store.importRecords([...records].reverse())).resolves.toBe(0);
    } finally {
      await store.close();
      await pool.end();
    }
  }, 60_000);

  it('a call whose records are all absent goes by direct COPY into the table, no staging table, and reads back whole', async () => {
    const { pool, statements } = recordingPool();
    const store = postgresStore({ pool, table: newTable() });
    try {
      await store.setup();
      const records = awkward(12_000, 'dc').reverse(); // not in id order: the COPY sends them sorted
      await expect(store.importRecords(records)).resolves.toBe(records.length);
      expect(statements.filter(s => s.startsWith(`COPY "${store.table}"`)).length).toBe(3); // 12,000 in batches of 4,000
      expect(statements.some(s => s.includes('tessera_import_stage'))).toBe(false);
      for (const r of records.filter((_, i) => i % 37 === 0)) expect(await store.get(r.id)).toEqual({ ...r });
      const n = await pool.query(`SELECT count(*)::int AS n FROM "${store.table}"`);
      expect(n.rows[0].n).toBe(records.length);
    } finally {
      await store.close();
      await pool.end();
    }
  }, 60_000);

  it('concurrent calls of overlapping records in different orders: each id written once, whole, no deadlock', async () => {
    const store = postgresStore({ url: URL, table: newTable() });
    try {
      await store.setup();
      const base = awkward(3000, 'cc');
      const calls = Array.from({ length: 4 }, (_, c) => {
        const mine = base.filter((_, i) => (i + c) % 4 !== 0).map(r => ({ ...r, lastSeenAt: T - c }));
        return c % 2 ? mine.reverse() : mine;
      });
      const counts = await Promise.all(calls.map(b => store.importRecords(b)));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(base.length);
      for (const r of base) {
        const got = await store.get(r.id);
        expect(got).not.toBeNull();
        expect([0, 1, 2, 3].map(c => ({ ...r, lastSeenAt: T - c }))).toContainEqual({ ...got });
      }
    } finally {
      await store.close();
    }
  }, 60_000);

  it('a record the server refuses fails its whole batch, nothing of it is written, and the store goes on', async () => {
    const store = postgresStore({ url: URL, table: newTable() });
    try {
      await store.setup();
      const records = awkward(1000, 'nul');
      const bad = [...records];
      bad[500] = { ...records[500]!, subject: 'has\u0000nul' };
      const err = await store.importRecords(bad).catch((e: unknown) => e);
      expect(isStoreError(err)).toBe(true);
      expect((err as { code?: string }).code).toBe('STORE_UNAVAILABLE');
      const n = await store.pool.query(`SELECT count(*)::int AS n FROM "${store.table}"`);
      expect(n.rows[0].n).toBe(0);
      await expect(store.importRecords(records)).resolves.toBe(1000);
    } finally {
      await store.close();
    }
  }, 60_000);

  it('a string that is not valid Unicode is refused, as by the INSERT path, rather than altered', async () => {
    const store = postgresStore({ url: URL, table: newTable() });
    try {
      await store.setup();
      const records = awkward(1000, 'sur');
      records[10] = { ...records[10]!, subject: 'lone \ud800 surrogate' };
      for (const call of [records, records.slice(0, 20)]) {
        const err = await store.importRecords(call).catch((e: unknown) => e);
        expect(isStoreError(err)).toBe(true);
      }
      const n = await store.pool.query(`SELECT count(*)::int AS n FROM "${store.table}" WHERE subject LIKE 'lone %'`);
      expect(n.rows[0].n).toBe(0);
    } finally {
      await store.close();
    }
  }, 60_000);

  it('a role that may not create temporary tables: direct COPY while it can, then INSERT (from the first refusal on), and nothing is lost', async () => {
    const tag = `tt_notemp_${process.pid}_${Date.now().toString(36)}`;
    const admin = new pg.Pool({ connectionString: URL, max: 1 });
    await admin.query(`CREATE DATABASE "${tag}"`);
    try {
      // TEMPORARY is granted to PUBLIC by default: this database takes it back, and the role is not its owner.
      await admin.query(`REVOKE TEMPORARY ON DATABASE "${tag}" FROM PUBLIC`);
      await admin.query(`CREATE ROLE "${tag}" LOGIN`);
      const dbUrl = new globalThis.URL(URL);
      dbUrl.pathname = `/${tag}`;
      const owner = postgresStore({ url: dbUrl.toString(), table: 'tokens' });
      await owner.setup();
      await owner.pool.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON tokens, tokens_meta TO "${tag}"`);
      await owner.close();
      dbUrl.username = tag;
      const { pool, statements } = recordingPool(dbUrl.toString());
      const limited = postgresStore({ pool, table: 'tokens' });
      try {
        const records = awkward(2500, 'nt');
        await expect(limited.importRecords(records.slice(0, 1500))).resolves.toBe(1500);
        expect(statements.some(s => s.startsWith('COPY "tokens"'))).toBe(true); // every row new: no staging table needed
        expect(statements.some(s => s.includes('CREATE TEMP TABLE'))).toBe(false);
        await expect(limited.importRecords(records)).resolves.toBe(1000); // 1,500 there: staging refused, then INSERT
        const refused = statements.filter(s => s.includes('CREATE TEMP TABLE')).length;
        expect(refused).toBeGreaterThan(0);
        await expect(limited.importRecords(records)).resolves.toBe(0);
        expect(statements.filter(s => s.includes('CREATE TEMP TABLE')).length).toBe(refused); // not tried again
        for (const r of records.filter((_, i) => i % 25 === 0)) expect(await limited.get(r.id)).toEqual({ ...r });
      } finally {
        await pool.end();
      }
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${tag}" WITH (FORCE)`).catch(() => {});
      await admin.query(`DROP ROLE IF EXISTS "${tag}"`).catch(() => {});
      await admin.end();
    }
  }, 60_000);
});
