/**
 * Change notices for the PostgreSQL store (`watch`): LISTEN/NOTIFY, fed by triggers on the records
 * table, so every committed change of a row notifies, whoever makes it (this store, another
 * server, an import, an admin's SQL).
 *
 * The triggers (created by `setup()`, see `notifySetup`):
 * - AFTER INSERT / UPDATE / DELETE, FOR EACH STATEMENT, with the statement's rows as a transition
 *   table: one `pg_notify` per statement carrying the ids, comma-separated. A statement whose ids
 *   do not fit one payload (under 8000 bytes) sends several, about 7 kB each (a revoke of 10,000
 *   sessions: about 60 notifications, not 10,000). An id that can't be sent that way (empty,
 *   holding a comma, longer than MAX_ID_BYTES) makes the statement's notice `*` (unknown which).
 * - AFTER TRUNCATE, and AFTER UPDATE OF id for a row whose id changes: `*`.
 * They are ENABLE ALWAYS, so they fire under `session_replication_role = replica` too (logical
 * replication applying changes). NOTIFY is sent at commit, once per distinct payload per
 * transaction; a rolled-back change sends nothing.
 *
 * The listening side (`NoticeWatch`, one connection per watch, never a pool connection in use by
 * queries): connect, `LISTEN`, check that the triggers are in place and enabled, and receive its
 * own empty `pg_notify` (notices reach this connection) before `watch` resolves. A connection whose
 * backend key is not its backend's pid goes through a pooler (PgBouncer, any mode) or proxy, where
 * LISTEN may stay on a server connection that other clients then use: refused. Then every CHECK_MS
 * the same check runs on that connection (it proves the connection alive, the triggers still
 * there, and the backend still the same one). The connection's 'error' or 'end', or a check
 * failing or taking over CHECK_TIMEOUT_MS, is `state(false)` at once; a new connection is tried
 * with backoff (`Backoff`: 100 ms doubling to 5 s) and `state(true)` once it listens again.
 * A changed backend is `state(false)` until the watch is stopped.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { Backoff, NoticeReporter, StoreError, type ChangeListener } from '@tessera/core/store';
import { toStoreError } from './errors.js';
import type { TableName } from './sql.js';

/** How often the listening connection is checked (one small catalog query on it). */
export const CHECK_MS = 1000;
/** A check (or a setup query of the listening connection) taking longer than this is a lost connection. */
export const CHECK_TIMEOUT_MS = 1500;
/** Ids longer than this make a statement's notice `*`, so a chunk of CHUNK_BYTES plus one id stays under 8000 bytes. */
export const MAX_ID_BYTES = 900;
/** Target payload size of a statement whose ids do not fit one notification. */
const CHUNK_BYTES = 7000;
/** The triggers `setup()` creates; `watch` refuses to start (and a running watch goes down) unless all are there and ENABLE ALWAYS. */
export const TRIGGERS = ['tessera_notify_insert', 'tessera_notify_update', 'tessera_notify_delete', 'tessera_notify_truncate', 'tessera_notify_id'] as const;

/** The names the notices use for one records table. */
export interface NoticeNames {
  /** The NOTIFY channel, per table: `tessera:<schema.>table` (hashed when that would pass 63 bytes). */
  channel: string;
  /** `application_name` of the listening connections (to find them in `pg_stat_activity`). */
  applicationName: string;
  /** The records table, quoted (and qualified when configured so). */
  table: string;
  /** The trigger function, `<table>_notify`, in the table's schema. */
  fn: string;
}

const q = (ident: string): string => `"${ident}"`;
const lit = (text: string): string => `'${text.replace(/'/g, "''")}'`;

export function noticeNames(t: TableName): NoticeNames {
  const prefix = t.schema === null ? '' : `${q(t.schema)}.`;
  const qualified = t.schema === null ? t.name : `${t.schema}.${t.name}`;
  let channel = `tessera:${qualified}`;
  // Identifiers are ASCII (parseTableName), so length is bytes; PostgreSQL's limit is 63.
  if (channel.length > 63) channel = `tessera:${createHash('sha256').update(qualified).digest('hex').slice(0, 12)}:${t.name}`;
  return {
    channel,
    applicationName: `tessera-watch ${qualified}`.slice(0, 63),
    table: prefix + q(t.name),
    fn: prefix + q(`${t.name}_notify`),
  };
}

/**
 * The statements `setup()` runs for the notices: the trigger function (replaced every time, so an
 * upgrade installs the current one) and the triggers, each created only when missing and set to
 * ENABLE ALWAYS only when it is not (so a `setup()` at every boot takes no lock on the table once
 * they are in place). Works on tables created by earlier versions. PostgreSQL 11 or later
 * (transition tables, EXECUTE FUNCTION).
 */
export function notifySetup(t: TableName): string[] {
  const { channel, table, fn } = noticeNames(t);
  const ch = lit(channel);
  const statement = (event: string, ref: string) => `AFTER ${event} ON ${table} REFERENCING ${ref} TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`;
  const defs: Record<(typeof TRIGGERS)[number], string> = {
    tessera_notify_insert: statement('INSERT', 'NEW'),
    tessera_notify_update: statement('UPDATE', 'NEW'),
    tessera_notify_delete: statement('DELETE', 'OLD'),
    tessera_notify_truncate: `AFTER TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
    tessera_notify_id: `AFTER UPDATE OF id ON ${table} FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION ${fn}()`,
  };
  const create = Object.entries(defs)
    .map(
      ([name, def]) => `
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = rel AND tgname = ${lit(name)}) THEN
    CREATE TRIGGER ${name} ${def};
  END IF;`,
    )
    .join('');
  return [
    // The statement's ids, as few notifications as fit; `*` for TRUNCATE and id changes (row level).
    `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $tessera$
DECLARE
  ids text;
  bad boolean;
BEGIN
  IF TG_LEVEL = 'ROW' OR TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify(${ch}, '*');
    RETURN NULL;
  END IF;
  SELECT string_agg(id, ','), bool_or(id = '' OR strpos(id, ',') > 0 OR octet_length(id) > ${MAX_ID_BYTES}) INTO ids, bad FROM changed;
  IF ids IS NULL THEN
    RETURN NULL;
  ELSIF bad THEN
    PERFORM pg_notify(${ch}, '*');
  ELSIF octet_length(ids) < 8000 THEN
    PERFORM pg_notify(${ch}, ids);
  ELSE
    -- Chunks by running byte count: each at most ${CHUNK_BYTES} + ${MAX_ID_BYTES} bytes.
    FOR ids IN
      SELECT string_agg(id, ',') FROM (
        SELECT id, sum(octet_length(id) + 1) OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) AS at FROM changed
      ) c GROUP BY (at - 1) / ${CHUNK_BYTES}
    LOOP
      PERFORM pg_notify(${ch}, ids);
    END LOOP;
  END IF;
  RETURN NULL;
END
$tessera$`,
    `DO $tessera$
DECLARE
  rel regclass := ${lit(table)}::regclass;
  trg name;
BEGIN${create}
  FOR trg IN SELECT tgname FROM pg_catalog.pg_trigger WHERE tgrelid = rel AND tgname = ANY (${lit(`{${TRIGGERS.join(',')}}`)}::name[]) AND tgenabled <> 'A' LOOP
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', rel, trg);
  END LOOP;
END
$tessera$`,
  ];
}

/**
 * Run on the listening connection at start and every CHECK_MS: its backend, and how many of the
 * triggers are there, ENABLE ALWAYS, and calling a function that notifies this channel.
 * $1 the table (quoted), $2 the trigger names, $3 the channel as a SQL literal.
 */
const CHECK = `SELECT pg_backend_pid() AS pid, (
    SELECT count(*)::int FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
    WHERE t.tgrelid = to_regclass($1) AND t.tgname = ANY ($2::name[]) AND t.tgenabled = 'A' AND strpos(p.prosrc, $3) > 0
  ) AS triggers`;

/** Where a watch gets its connection: a dedicated client (owned pool) or one held out of the caller's pool. */
export type ListenSource = { config: pg.ClientConfig } | { pool: pg.Pool };

interface Conn {
  client: pg.Client | pg.PoolClient;
  /** Gives the connection up (pool: released as broken; owned: ended), bounded, then destroys its socket. */
  dispose(graceful: boolean): Promise<void>;
  dead: boolean;
  /** `pg_backend_pid()` of its backend once checked. */
  pid: number | null;
  pinged: boolean;
}

const sleep = (ms: number, box?: { timer?: NodeJS.Timeout }): Promise<void> =>
  new Promise(r => {
    const timer = setTimeout(r, ms);
    if (box) box.timer = timer;
  });

/** `p`, or a StoreError after `ms` (the timer cleared either way). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const box: { timer?: NodeJS.Timeout } = {};
  try {
    return await Promise.race([p, sleep(ms, box).then(() => Promise.reject(new StoreError(`postgres store: watch: ${what} took over ${ms} ms`)))]);
  } finally {
    clearTimeout(box.timer);
  }
}

export class NoticeWatch {
  private conn: Conn | null = null;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private readonly notices: NoticeReporter;
  /** A new connection after one is lost. */
  private readonly retry = new Backoff(
    () => this.reconnect(),
    () => !this.notices.stopped && !this.broken,
  );
  /** The backend changed under the connection (a pooler): down until stopped. */
  private broken = false;
  /** Connections being opened or given up, so `stop` can wait for them. */
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly names: NoticeNames,
    listener: ChangeListener,
    private readonly source: ListenSource,
    /** Bound on getting a connection (`connectionTimeoutMs`). */
    private readonly connectTimeoutMs: number,
  ) {
    this.notices = new NoticeReporter(listener);
  }

  /** The backend pid of the listening connection (null while down); for tests. */
  get pid(): number | null {
    return this.conn?.pid ?? null;
  }

  /** Listens; resolves once notices reach this watch, rejects (StoreError) when they can't. */
  async start(): Promise<void> {
    const conn = await this.track(this.open());
    if (this.notices.stopped) {
      await this.track(conn.dispose(true));
      throw new StoreError('postgres store is closed');
    }
    this.conn = conn;
    this.notices.started();
    this.timer = setInterval(() => void this.check(), CHECK_MS);
    this.timer.unref();
  }

  /** Stops for good: no listener call after it is called; resolves once the connection is given up. Idempotent. */
  async stop(): Promise<void> {
    this.notices.stop();
    clearInterval(this.timer);
    this.retry.cancel();
    this.timer = undefined;
    const conn = this.conn;
    this.conn = null;
    if (conn) this.track(conn.dispose(true));
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    const done = () => void this.pending.delete(p);
    p.then(done, done);
    return p;
  }

  private async connect(): Promise<Conn> {
    let client: pg.Client | pg.PoolClient;
    let end: () => Promise<unknown>;
    if ('pool' in this.source) {
      const pool = this.source.pool;
      const taking = pool.connect();
      try {
        client = await within(taking, this.connectTimeoutMs, 'taking a connection from the pool');
      } catch (err) {
        taking.then(c => c.release(true), () => {});
        throw err;
      }
      const held = client as pg.PoolClient;
      // Released as broken: the pool ends it rather than handing out a connection that listens.
      end = async () => held.release(true);
    } else {
      const own = new pg.Client({ ...this.source.config, keepAlive: true });
      own.on('error', () => {}); // connect failures reject connect(); later ones are handled below
      try {
        await own.connect();
      } catch (err) {
        own.end().catch(() => {});
        throw err;
      }
      client = own;
      end = () => own.end();
    }
    const socket = (client as pg.Client).connection.stream;
    let disposed: Promise<void> | undefined;
    const conn: Conn = {
      client,
      dead: false,
      pid: null,
      pinged: false,
      dispose: graceful => (disposed ??= dispose(graceful)),
    };
    const dispose = async (graceful: boolean): Promise<void> => {
      conn.dead = true;
      client.removeAllListeners('notification');
      if (graceful && !socket.destroyed) {
        const ended = new Promise<void>(r => client.once('end', () => r()));
        end().catch(() => {});
        await within(ended, 1000, 'closing the listening connection').catch(() => {});
      } else {
        end().catch(() => {});
      }
      socket.destroy();
    };
    client.on('error', () => {}); // never unhandled, also once this watch has let it go
    client.on('error', () => this.lost(conn));
    client.on('end', () => this.lost(conn));
    client.on('notification', msg => this.onNotice(conn, msg));
    return conn;
  }

  private async open(): Promise<Conn> {
    const conn = await this.connect();
    try {
      const query = <R extends pg.QueryResultRow>(text: string, values?: unknown[]) =>
        conn.client.query<R>({ text, values, query_timeout: CHECK_TIMEOUT_MS } as pg.QueryConfig);
      // Names are validated identifiers: no quoting issue in the literal and the channel identifier.
      await query(`SET application_name = ${lit(this.names.applicationName)}; LISTEN ${q(this.names.channel)}`);
      conn.pid = (await this.verify(conn, query)).pid;
      // The backend key the server sent at connect names the backend, unless a pooler (PgBouncer,
      // any mode) or proxy made up its own: in transaction mode LISTEN stays on a server
      // connection that other clients then use, and its notices go to them. Refused, whatever the mode.
      if ((conn.client as unknown as { processID: unknown }).processID !== conn.pid) {
        throw new StoreError(
          'postgres store: watch: the connection goes through a pooler or proxy (its backend key is not the backend it reached), where notices are not reliable: ' +
            'connect the store to PostgreSQL directly for the record cache, or set recordCacheSize: 0',
        );
      }
      // End to end: our own notification comes back on this connection (not so behind a pooler in
      // transaction mode, or a proxy that drops asynchronous messages).
      await query('SELECT pg_notify($1, $2)', [this.names.channel, '']);
      const start = performance.now();
      while (!conn.pinged && !conn.dead) {
        if (performance.now() - start > CHECK_TIMEOUT_MS) {
          throw new StoreError('postgres store: watch: a notification sent on the listening connection did not come back (a pooler in transaction mode?)');
        }
        await sleep(2);
      }
      if (conn.dead) throw new StoreError('postgres store: watch: the listening connection was lost while it started');
      return conn;
    } catch (err) {
      await conn.dispose(false);
      throw toStoreError('watch', err);
    }
  }

  /** Runs the check; throws unless every trigger is in place. */
  private async verify(
    conn: Conn,
    query: <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<pg.QueryResult<R>>,
  ): Promise<{ pid: number; triggers: number }> {
    const res = await query<{ pid: number; triggers: number }>(CHECK, [this.names.table, TRIGGERS, lit(this.names.channel)]);
    const row = res.rows[0]!;
    if (row.triggers !== TRIGGERS.length) {
      throw new StoreError(
        `postgres store: watch: the change-notice triggers of ${this.names.table} are missing, disabled or not ENABLE ALWAYS ` +
          `(${row.triggers} of ${TRIGGERS.length} in place): run setup() once with a role that may create them`,
      );
    }
    if (conn.pid !== null && row.pid !== conn.pid) {
      this.broken = true;
      throw new StoreError('postgres store: watch: the listening connection changed backend (a pooler in transaction mode?): notices cannot be trusted');
    }
    return row;
  }

  private async check(): Promise<void> {
    const conn = this.conn;
    if (conn === null || this.checking || this.notices.stopped) return;
    this.checking = true;
    try {
      await this.verify(conn, (text, values) => conn.client.query({ text, values, query_timeout: CHECK_TIMEOUT_MS } as pg.QueryConfig));
    } catch {
      this.lost(conn);
    } finally {
      this.checking = false;
    }
  }

  private onNotice(conn: Conn, msg: pg.Notification): void {
    if (msg.channel !== this.names.channel) return;
    const payload = msg.payload ?? '';
    if (payload === '') {
      // A watch's own end-to-end ping (ours, or another server's: nothing changed).
      if (conn.pid !== null && msg.processId === conn.pid) conn.pinged = true;
      return;
    }
    if (conn.dead || this.notices.stopped) return;
    this.notices.changed(payload === '*' ? null : payload.split(','));
  }

  /** The connection failed, ended or failed its check: down at once, and a new one is tried. */
  private lost(conn: Conn): void {
    if (conn.dead) return;
    conn.dead = true;
    if (this.conn !== conn || this.notices.stopped) return;
    this.conn = null;
    this.notices.state(false);
    this.track(conn.dispose(false));
    this.retry.schedule();
  }

  private async reconnect(): Promise<void> {
    const conn = await this.track(this.open());
    if (this.notices.stopped) return void this.track(conn.dispose(true));
    if (conn.dead) {
      this.track(conn.dispose(false));
      throw new Error('lost again while it opened');
    }
    this.conn = conn;
    this.notices.state(true);
  }
}
