/**
 * PostgreSQL token store: typed columns, one conditional statement for each atomic step
 * (rotate, countReuse, touch, revoke), cursor paging by id and batched purges. The schema is
 * created only by an explicit `await store.setup()`.
 */
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { ConfigError } from '@tessera/core';
import {
  COUNTER_KEY_RE,
  StoreError,
  isLive,
  type ChangeListener,
  type HitResult,
  type ListPage,
  type ListQuery,
  type RevokeWhere,
  type RotateResult,
  type TokenRecord,
  type TokenStore,
} from '@tessera/core/store';
import { redactUrl, toStoreError } from './lib/errors.js';
import { resolveSsl, type PostgresTlsOptions } from './lib/tls.js';
import { recordParams, recordRow, rowToRecord, type Param, type Row } from './lib/rows.js';
import { copyText } from './lib/copy.js';
import { META_PREFIX, SECRET_KEY, parseTableName, statements, type Statements } from './lib/sql.js';
import { NoticeWatch, noticeNames, type ListenSource, type NoticeNames } from './lib/watch.js';

export type { PostgresTlsOptions, PemInput } from './lib/tls.js';

export interface PostgresStoreOptions {
  /**
   * An existing pool; the store uses it and never ends it. Exclusive with `url`. Each `watch`
   * (the record cache's change notices: one per store) holds one of its connections for as long
   * as it runs.
   */
  pool?: pg.Pool;
  /**
   * `postgres://user:password@host:port/database`; the store creates and owns a pool (ended by `close()`).
   * TLS from the URL: `?sslmode=verify-full&sslrootcert=/path/ca.pem&sslcert=/path/client.pem&sslkey=/path/client.key`
   * (`sslmode` as node-postgres reads it: `prefer`, `require` and `verify-ca` verify like `verify-full`;
   * `no-verify` encrypts without verifying; `disable` is plain text).
   */
  url?: string;
  /**
   * TLS settings for the owned pool: CA, client certificate and key, servername, rejectUnauthorized
   * (default true). Giving any turns TLS on (`verify-full` unless the URL's `sslmode` says
   * otherwise); fields given here win over the URL's. Default: no TLS unless the URL asks for it
   * (or PGSSLMODE is set). With `pool`, configure TLS on your pool instead.
   */
  tls?: PostgresTlsOptions;
  /** Records table, optionally schema-qualified (`schema.table`). Default `tessera_tokens`. */
  table?: string;
  /** Milliseconds before a query is abandoned (client side, and server side for an owned pool). Default 5000. */
  queryTimeoutMs?: number;
  /** Milliseconds to wait for a connection (owned pool only). Default 2000. */
  connectionTimeoutMs?: number;
  /** Size of the owned pool. Default 10. */
  maxConnections?: number;
}

interface CounterRow {
  count: string;
  reset_at: string;
}

/** Rows per DELETE in `purgeExpired`. */
export const PURGE_BATCH = 5000;
/** Rows per INSERT in `putMany`. */
export const PUT_MANY_BATCH = 2500;
/** Rows per INSERT in `importRecords` (at most): the server spends less CPU per row on batches of this size than of 2,500 (measured). */
const IMPORT_BATCH = 1000;
/** Batches of `putMany` and `importRecords` in flight at once. */
const PUT_MANY_PARALLEL = 4;
/** Smallest batch a call is split into (smaller ones cost more in per-statement overhead than they gain). */
const MIN_BATCH = 250;
/** `importRecords` calls of at least this many records go by COPY through a staging table (fewer: one INSERT). */
const COPY_MIN = 1000;
/**
 * Rows per COPY batch of `importRecords` (at most; a larger call is split evenly, PUT_MANY_PARALLEL
 * batches at once). Not split further: each batch creates its staging table, which costs the server
 * about as much as COPYing a thousand rows (measured), and the switch keeps several calls in flight.
 */
const COPY_BATCH = 5000;
const UNIQUE_VIOLATION = '23505';
const DEADLOCK = '40P01';
/** Batches sent through the staging table after a direct COPY found a row already there. */
const DIRECT_BACKOFF = 8;
/** Rows in id order (for the ASCII ids Tessera makes, PostgreSQL's "C" order: concurrent COPYs and server writes then take keys in one order). */
const byId = (a: TokenRecord, b: TokenRecord): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
/** Sends `text` to a `COPY … FROM STDIN` statement on `client`. */
function copyInto(client: pg.PoolClient, sql: string, text: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const stream = client.query(copyFrom(sql));
    stream.on('finish', resolve);
    stream.on('error', reject);
    stream.end(text);
  });
}
/** SQLSTATEs that mean this server or role can't take the COPY path (no TEMP privilege, a proxy without COPY): the INSERT path is used from then on. */
const NO_COPY = new Set(['42501', '0A000']);

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(name, 'must be a positive integer');
  return v;
}

export class PostgresStore implements TokenStore {
  /** The table as configured (`schema.table` or `table`). */
  readonly table: string;
  readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly sql: Statements;
  private readonly queryTimeoutMs: number;
  private closed = false;
  private ending: Promise<void> | undefined;
  /** Change notices (`watch`): the channel and names, where the listening connections come from, the watches running. */
  private readonly notices: NoticeNames;
  private readonly listenSource: ListenSource;
  private readonly connectionTimeoutMs: number;
  private readonly watches = new Set<NoticeWatch>();

  constructor(options: PostgresStoreOptions) {
    const opts = options ?? {};
    if (opts.pool && opts.url !== undefined) throw new ConfigError('store', 'give either `pool` or `url`, not both');
    this.table = opts.table ?? 'tessera_tokens';
    this.sql = statements(parseTableName(this.table));
    this.notices = noticeNames(parseTableName(this.table));
    this.queryTimeoutMs = positiveInt('queryTimeoutMs', opts.queryTimeoutMs, 5000);
    const connectionTimeoutMs = positiveInt('connectionTimeoutMs', opts.connectionTimeoutMs, 2000);
    this.connectionTimeoutMs = connectionTimeoutMs;
    const max = positiveInt('maxConnections', opts.maxConnections, 10);
    if (opts.pool) {
      if (opts.tls !== undefined) throw new ConfigError('tls', 'applies to a pool the store makes from `url`; configure TLS on your own pool');
      this.pool = opts.pool;
      this.ownsPool = false;
      this.listenSource = { pool: opts.pool };
    } else {
      if (typeof opts.url !== 'string' || !/^postgres(ql)?:\/\//i.test(opts.url)) {
        throw new ConfigError(
          'url',
          `expected a postgres:// or postgresql:// URL, got ${typeof opts.url === 'string' ? JSON.stringify(redactUrl(opts.url)) : typeof opts.url}`,
        );
      }
      const { connectionString, ssl, sslnegotiation } = resolveSsl(opts.url, opts.tls);
      this.pool = new pg.Pool({
        connectionString,
        ...(ssl !== undefined ? { ssl } : {}),
        ...(sslnegotiation !== undefined ? ({ sslnegotiation } as object) : {}),
        max,
        connectionTimeoutMillis: connectionTimeoutMs,
        statement_timeout: this.queryTimeoutMs,
        query_timeout: this.queryTimeoutMs + 1000,
        idleTimeoutMillis: 30_000,
      });
      // An idle client losing its connection emits 'error' on the pool; without a listener that
      // would crash the process. The broken client is discarded; the next query reports failures.
      this.pool.on('error', () => {});
      this.ownsPool = true;
      // Watches listen on connections of their own, made like the pool's (not counted in `max`).
      this.listenSource = {
        config: {
          connectionString,
          ...(ssl !== undefined ? { ssl } : {}),
          ...(sslnegotiation !== undefined ? ({ sslnegotiation } as object) : {}),
          connectionTimeoutMillis: connectionTimeoutMs,
        },
      };
    }
  }

  private async query<R extends pg.QueryResultRow>(op: string, text: string, values: Param[]): Promise<pg.QueryResult<R>> {
    if (this.closed) throw new StoreError('postgres store is closed');
    try {
      return await this.pool.query<R>({ text, values, query_timeout: this.queryTimeoutMs } as pg.QueryConfig);
    } catch (err) {
      throw toStoreError(op, err);
    }
  }

  /**
   * Creates the records table, its indexes, the meta table (instance secret) and the attempt
   * counters table if missing (run it again after upgrading: it adds what a newer version needs).
   * Idempotent and safe to run from several processes at once (serialised by an advisory lock).
   * Nothing else creates schema, except `hit`, which creates the counters table on first use when a
   * table set up by an earlier version lacks it.
   */
  async setup(): Promise<void> {
    if (this.closed) throw new StoreError('postgres store is closed');
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw toStoreError('setup', err);
    }
    let failed = false;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.sql.lockKey]);
      for (const stmt of this.sql.setup) await client.query(stmt);
      await client.query('COMMIT');
    } catch (err) {
      failed = true;
      await client.query('ROLLBACK').catch(() => {});
      throw toStoreError('setup', err);
    } finally {
      client.release(failed);
    }
  }

  async get(id: string): Promise<TokenRecord | null> {
    const res = await this.query<Row>('get', this.sql.get, [id]);
    const row = res.rows[0];
    return row ? rowToRecord(row) : null;
  }

  async put(record: TokenRecord): Promise<void> {
    await this.query('put', this.sql.put, recordParams(record));
  }

  /**
   * Upserts many records with multi-row `INSERT … SELECT FROM jsonb_to_recordset($1) ON CONFLICT (id) DO UPDATE`
   * in batches of PUT_MANY_BATCH, a few batches in parallel. When one id appears more than once,
   * the last occurrence wins. Not atomic as a whole: a failure may leave earlier batches written.
   */
  async putMany(records: Iterable<TokenRecord>): Promise<number> {
    const unique = new Map<string, TokenRecord>();
    for (const r of records) unique.set(r.id, r);
    const all = [...unique.values()];
    await this.batches(all, PUT_MANY_BATCH, batch => this.query('putMany', this.sql.putMany, [JSON.stringify(batch.map(recordRow))]).then(() => {}));
    return all.length;
  }

  /**
   * Runs `fn` over `records` in batches of at most `maxBatch`, PUT_MANY_PARALLEL at a time; a call
   * of a few thousand records is split across the connections too (batches of at least
   * MIN_BATCH), so one call already keeps several server processes busy.
   */
  private async batches(records: readonly TokenRecord[], maxBatch: number, fn: (batch: readonly TokenRecord[]) => Promise<void>): Promise<void> {
    const size = Math.min(maxBatch, Math.max(MIN_BATCH, Math.ceil(records.length / PUT_MANY_PARALLEL)));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < records.length) {
        const batch = records.slice(next, (next += size));
        await fn(batch);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUT_MANY_PARALLEL, Math.ceil(records.length / size)) }, worker));
  }

  async touch(id: string, lastSeenAt: number, expiresAt?: number | null): Promise<boolean> {
    const res = await this.query('touch', this.sql.touch, [id, lastSeenAt, expiresAt !== undefined ? 'true' : 'false', expiresAt ?? null]);
    return res.rowCount === 1;
  }

  async rotate(usedId: string, next: TokenRecord, now: number): Promise<RotateResult> {
    // A statement that claims nothing is answered by reading the row afterwards. Should that read
    // find the row claimable after all (it appeared, or was put again, between the two), the
    // claim is tried again: a conflict is only reported with a record that explains it.
    for (let attempt = 0; attempt < 5; attempt++) {
      const won = await this.query<{ claimed: number }>('rotate', this.sql.rotate, [usedId, now, ...recordParams(next)]);
      if (won.rows[0]?.claimed === 1) return { status: 'rotated' };
      const current = await this.get(usedId);
      if (current === null || !isLive(current, now) || current.rotatedAt != null) return { status: 'conflict', current };
    }
    throw new StoreError('postgres store: rotate did not settle (record changing under concurrent writes)');
  }

  async countReuse(id: string, limit: number): Promise<boolean> {
    const res = await this.query('countReuse', this.sql.countReuse, [id, limit]);
    return res.rowCount === 1;
  }

  private countersTable: Promise<void> | undefined;

  /** Attempt counters live in `<table>_counters` (created by `setup()`, or on first use after an upgrade): an upsert to count, an UPDATE to take back, a SELECT to read. */
  async hit(key: string, windowSeconds: number, now: number, by = 1): Promise<HitResult> {
    if (!COUNTER_KEY_RE.test(key)) throw new StoreError('postgres store: counter key must be [A-Za-z0-9:_-]');
    const run = () =>
      by > 0
        ? this.query<CounterRow>('hit', this.sql.counterHit, [key, windowSeconds, now, by])
        : by < 0
          ? this.query<CounterRow>('hit', this.sql.counterTake, [key, now, by])
          : this.query<CounterRow>('hit', this.sql.counterRead, [key, now]);
    let res: pg.QueryResult<CounterRow>;
    try {
      res = await run();
    } catch (err) {
      // A table set up by a version without counters: logins must not stop on upgrade, so the
      // counters table (and only it) is created here, once, then the hit is retried. Without
      // the right to create it, this stays a store failure naming the fix.
      if ((err as { cause?: { code?: unknown } }).cause?.code !== '42P01') throw err;
      // Only beside a records table: before setup() nothing is created (the records query fails first).
      await this.query('hit', this.sql.tableExists, []);
      this.countersTable ??= this.query('setup', this.sql.counterTable, []).then(
        () => undefined,
        (e: unknown) => {
          this.countersTable = undefined;
          throw new StoreError(`postgres store: the attempt counters table is missing and could not be created (run setup()): ${(e as Error).message}`);
        },
      );
      await this.countersTable;
      res = await run();
    }
    const row = res.rows[0];
    return row ? { count: Number(row.count), resetAt: Number(row.reset_at) } : { count: 0, resetAt: now };
  }

  /**
   * One UPDATE … WHERE revoked_at IS NULL. For subject / family / all it is repeated until it
   * changes nothing: under READ COMMITTED a statement that waited for a row lock (a concurrent
   * rotate claiming a record of the family) does not see rows committed meanwhile (that rotate's
   * successor); the next statement's snapshot does, so no successor outlives a family revoke.
   */
  async revoke(where: RevokeWhere, now: number): Promise<number> {
    let text: string;
    let params: Param[];
    if ('id' in where) {
      const res = await this.query('revoke', this.sql.revokeId, [where.id, now]);
      return res.rowCount ?? 0;
    }
    if ('subject' in where) [text, params] = [this.sql.revokeSubject, [where.subject, now]];
    else if ('family' in where) [text, params] = [this.sql.revokeFamily, [where.family, now]];
    else if ('all' in where && where.all === true) [text, params] = [this.sql.revokeAll, [now]];
    else throw new TypeError('revoke: where must be { id } | { subject } | { family } | { all: true }');
    let total = 0;
    for (let round = 0; round < 10; round++) {
      const n = (await this.query('revoke', text, params)).rowCount ?? 0;
      total += n;
      if (n === 0) break;
    }
    return total;
  }

  async list(query: ListQuery): Promise<ListPage> {
    const limit = query.limit;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('list: limit must be a positive integer');
    const params: Param[] = [];
    if (query.subject !== undefined) params.push(query.subject);
    if (query.kind !== undefined) params.push(query.kind);
    if (query.cursor) params.push(query.cursor);
    params.push(Math.min(limit, 2 ** 31 - 2) + 1);
    const text = this.sql.list({ subject: query.subject !== undefined, kind: query.kind !== undefined, cursor: !!query.cursor });
    const res = await this.query<Row>('list', text, params);
    const rows = res.rows;
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const records: TokenRecord[] = [];
    for (const row of page) {
      const rec = rowToRecord(row);
      if (rec) records.push(rec);
    }
    return { records, cursor: more ? page[page.length - 1]!.id : null };
  }

  /** Deletes revoked and expired records, PURGE_BATCH rows per statement, and ended attempt counters; returns the records deleted. */
  async purgeExpired(now: number): Promise<number> {
    let total = 0;
    for (;;) {
      const res = await this.query('purgeExpired', this.sql.purgeBatch, [now, PURGE_BATCH]);
      const n = res.rowCount ?? 0;
      total += n;
      if (n < PURGE_BATCH) break;
    }
    try {
      await this.query('purgeExpired', this.sql.counterPurge, [now]);
    } catch (err) {
      // A schema set up before counters existed: purging records must not depend on them.
      if ((err as { cause?: { code?: unknown } }).cause?.code !== '42P01') throw err;
    }
    return total;
  }

  async initSecret(candidate: string): Promise<string> {
    const ins = await this.query<{ value: string }>('initSecret', this.sql.secretInsert, [SECRET_KEY, candidate]);
    if (ins.rows[0]) return ins.rows[0].value;
    const sel = await this.query<{ value: string }>('initSecret', this.sql.secretSelect, [SECRET_KEY]);
    const value = sel.rows[0]?.value;
    if (typeof value !== 'string') throw new StoreError('postgres store: instance secret vanished after insert');
    return value;
  }

  /**
   * Keyset pagination in id order (the primary key): `list` without filters. Every row in any
   * state; a row that does not parse is skipped, and the cursor still moves past it.
   */
  exportRecords(cursor: string | null, limit: number): Promise<ListPage> {
    return this.list({ cursor, limit });
  }

  /**
   * Put-if-absent: one `INSERT … SELECT FROM jsonb_to_recordset($1) ON CONFLICT (id) DO NOTHING`
   * per batch of up to IMPORT_BATCH records, PUT_MANY_PARALLEL batches in flight; the row counts
   * are what was written. A batch is atomic; the whole call is not (after a failure, importing
   * again is harmless).
   */
  async importRecords(records: readonly TokenRecord[]): Promise<number> {
    if (this.closed) throw new StoreError('postgres store is closed'); // even with nothing to write
    return records.length >= COPY_MIN && this.copyImport ? this.importByCopy(records) : this.importByInsert(records);
  }

  /** The put-if-absent by INSERT of a JSON parameter, IMPORT_BATCH rows per statement. */
  private async importByInsert(records: readonly TokenRecord[]): Promise<number> {
    let total = 0;
    await this.batches(records, IMPORT_BATCH, async batch => {
      const res = await this.query('importRecords', this.sql.importMany, [JSON.stringify(batch.map(recordRow))]);
      total += res.rowCount ?? 0;
    });
    return total;
  }

  /** False once the server refused a COPY or its staging table (see NO_COPY): imports go by INSERT from then on. */
  private copyImport = true;

  /**
   * The put-if-absent of `importRecords` for large calls, per batch of up to COPY_BATCH rows: first
   * a `COPY` straight into the table (`copyDirect`: all or nothing), and when a row was already
   * there, in one transaction on one connection a staging table (temporary, dropped at commit),
   * `COPY` of the rows into it, then `INSERT … SELECT … ORDER BY id ON CONFLICT (id) DO NOTHING`.
   * The server spends a fifth to a quarter less CPU per row on the staging path than on the INSERT
   * path's JSON parameter, and about a third less again on the direct one (measured, see the
   * README). A batch that fails is rolled back whole (its connection is dropped).
   */
  private async importByCopy(records: readonly TokenRecord[]): Promise<number> {
    let total = 0;
    const size = Math.ceil(records.length / Math.ceil(records.length / COPY_BATCH));
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (next < records.length && !failed) {
        const batch = records.slice(next, (next += size));
        try {
          const n = await this.copyBatch(batch);
          total += n;
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    };
    // Settles only once no batch is in flight: nothing of this call is written after it fails.
    const results = await Promise.allSettled(Array.from({ length: Math.min(PUT_MANY_PARALLEL, Math.ceil(records.length / size)) }, worker));
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    return total;
  }

  /** One batch, encoded once (rows in id order): a direct COPY, else through the staging table, else (COPY refused) by INSERT. */
  private async copyBatch(batch: readonly TokenRecord[]): Promise<number> {
    if (this.closed) throw new StoreError('postgres store is closed');
    let text: string;
    try {
      text = copyText([...batch].sort(byId)); // before taking a connection: a record that can't be sent fails here
    } catch (err) {
      throw toStoreError('importRecords', err);
    }
    try {
      if (this.copyImport) {
        if (this.stagedCalls > 0) this.stagedCalls--;
        else if (await this.copyDirect(text)) return batch.length;
        return await this.copyStaged(text);
      }
    } catch (err) {
      const code = (err as { cause?: { code?: unknown } }).cause?.code;
      if (typeof code !== 'string' || !NO_COPY.has(code)) throw err;
      this.copyImport = false; // refused before anything of this batch was written
    }
    return this.importByInsert(batch);
  }

  /**
   * `fn` on a connection of its own. A connection whose work failed is dropped, not handed back:
   * that rolls back a transaction or COPY it was in, and a fresh one is cheaper than doubting it.
   */
  private async onConnection<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let failure: Error | undefined;
    try {
      return await fn(client);
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.release(failure);
    }
  }

  /** Put-if-absent of one batch through a staging table, in one transaction. */
  private async copyStaged(text: string): Promise<number> {
    try {
      return await this.onConnection(async client => {
        const timeout = this.queryTimeoutMs;
        await client.query({ text: `BEGIN; ${this.sql.importStage}`, query_timeout: timeout } as pg.QueryConfig);
        await copyInto(client, this.sql.importCopy, text);
        // Two statements in one round trip: the results come back as an array.
        const res = (await client.query({ text: `${this.sql.importFromStage}; COMMIT`, query_timeout: timeout } as pg.QueryConfig)) as unknown as pg.QueryResult[];
        return res[0]?.rowCount ?? 0;
      });
    } catch (err) {
      throw toStoreError('importRecords', err);
    }
  }

  /** Batches left to send through the staging table before a direct COPY is tried again (see `copyDirect`). */
  private stagedCalls = 0;

  /**
   * The batch COPYed straight into the table: true when every row was written (about a third less
   * server CPU per row than the staging table, measured). False, with nothing written, when a row
   * was already there (or the COPY lost a deadlock to a server's write): the caller then takes the
   * staging path, and so do the next DIRECT_BACKOFF batches, as a switch whose servers copy records
   * ahead of it would otherwise pay for a failed COPY every time.
   */
  private async copyDirect(text: string): Promise<boolean> {
    try {
      await this.onConnection(client => copyInto(client, this.sql.importCopyDirect, text));
      return true;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== UNIQUE_VIOLATION && code !== DEADLOCK) throw toStoreError('importRecords', err);
      this.stagedCalls = DIRECT_BACKOFF;
      return false;
    }
  }

  /** Exact (`count(*)`, which reads the whole table: fine for a progress bar, not for a request path). */
  async countRecords(): Promise<number> {
    const res = await this.query<{ n: string }>('countRecords', this.sql.count, []);
    return Number(res.rows[0]?.n ?? 0);
  }

  /** Meta values live in the `<table>_meta` table beside the instance secret, under `meta:<key>` (read by the same SELECT by key). */
  async getMeta(key: string): Promise<string | null> {
    const res = await this.query<{ value: string }>('getMeta', this.sql.secretSelect, [META_PREFIX + key]);
    return res.rows[0]?.value ?? null;
  }

  async setMeta(key: string, value: string | null): Promise<void> {
    if (value === null) await this.query('setMeta', this.sql.metaDelete, [META_PREFIX + key]);
    else await this.query('setMeta', this.sql.metaUpsert, [META_PREFIX + key, value]);
  }

  /**
   * Change notices for the record cache (lib/watch.ts): triggers that `setup()` installs on the
   * records table NOTIFY the ids of every committed change, whoever makes it, on a channel of this
   * table; this LISTENs on a connection of its own (with `pool`: one held out of it). Resolves once
   * notices reach it; rejects (StoreError) when the triggers are missing (run `setup()`) or the
   * server can't be reached. `state(false)` as soon as the connection fails, ends or fails its
   * check (every second), `state(true)` once a new one listens.
   */
  async watch(listener: ChangeListener): Promise<() => Promise<void>> {
    if (this.closed) throw new StoreError('postgres store is closed');
    const w = new NoticeWatch(this.notices, listener, this.listenSource, this.connectionTimeoutMs);
    this.watches.add(w);
    try {
      await w.start();
    } catch (err) {
      this.watches.delete(w);
      await w.stop();
      throw this.closed ? new StoreError('postgres store is closed') : toStoreError('watch', err);
    }
    return async () => {
      this.watches.delete(w);
      await w.stop();
    };
  }

  /** Stops every watch, and ends the pool when the store created it; a pool given in the options is left open. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const watches = [...this.watches];
    this.watches.clear();
    await Promise.all(watches.map(w => w.stop()));
    if (!this.ownsPool) return;
    this.ending ??= this.pool.end().catch(() => {});
    await this.ending;
  }
}

export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  return new PostgresStore(options);
}
