/** Table naming and the SQL text of every statement the store runs. */
import { ConfigError } from '@tessera/core';
import { COLUMNS, COLUMN_TYPES, ROW_KEYS } from './rows.js';
import { notifySetup } from './watch.js';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface TableName {
  schema: string | null;
  name: string;
}

/**
 * Validates `table` (`name` or `schema.name`, letters, digits and underscores). The table part
 * is limited to 40 characters so the derived index and meta-table names stay within
 * PostgreSQL's 63-byte identifier limit (and are never truncated into each other).
 */
export function parseTableName(table: string): TableName {
  const parts = table.split('.');
  const ok =
    parts.length <= 2 &&
    parts.every(p => IDENT.test(p) && p.length <= 63) &&
    parts[parts.length - 1]!.length <= 40;
  if (!ok) {
    throw new ConfigError(
      'table',
      'must be an identifier (letters, digits, underscore; at most 40 characters), optionally schema-qualified as schema.table',
    );
  }
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { schema: null, name: parts[0]! };
}

function q(ident: string): string {
  return `"${ident}"`;
}

export interface Statements {
  setup: string[];
  lockKey: string;
  get: string;
  put: string;
  putMany: string;
  importMany: string;
  /** importRecords by COPY: the staging table (dropped at commit), the COPY into it, the put-if-absent from it. */
  importStage: string;
  importCopy: string;
  importCopyDirect: string;
  importFromStage: string;
  count: string;
  touch: string;
  rotate: string;
  countReuse: string;
  revokeId: string;
  revokeSubject: string;
  revokeFamily: string;
  revokeAll: string;
  purgeBatch: string;
  secretInsert: string;
  secretSelect: string;
  metaUpsert: string;
  metaDelete: string;
  counterHit: string;
  counterTake: string;
  counterRead: string;
  counterPurge: string;
  tableExists: string;
  counterTable: string;
  list(filters: { subject: boolean; kind: boolean; cursor: boolean }): string;
}

export const SECRET_KEY = 'secret';
/** getMeta / setMeta keys are stored as `meta:<key>` in the meta table, so none can be the secret's row. */
export const META_PREFIX = 'meta:';

export function statements(t: TableName): Statements {
  const prefix = t.schema === null ? '' : `${q(t.schema)}.`;
  const table = prefix + q(t.name);
  const meta = prefix + q(`${t.name}_meta`);
  const counters = prefix + q(`${t.name}_counters`);
  const cols = COLUMNS.join(', ');
  const values = COLUMNS.map((_, i) => `$${i + 1}::${COLUMN_TYPES[i]}`).join(', ');
  const upsert = COLUMNS.filter(c => c !== 'id')
    .map(c => `${c} = EXCLUDED.${c}`)
    .join(', ');
  // The guards the atomic steps need, and only those: records are validated once, in TypeScript
  // (the core's parseRecord, on every row read back), never mirrored here.
  const live = (p: string): string => `revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ${p})`;
  // The rows of putMany / importRecords: $1 is a JSON array of compact row objects (see `recordRow`),
  // one parameter, parsed server-side. As jsonb, not json: json_to_recordset re-parses its input
  // (about 5 times the server CPU per row, measured), while jsonb is parsed once, at bind.
  const fromRows = `SELECT ${[...ROW_KEYS].join(', ')} FROM jsonb_to_recordset($1::jsonb)
      AS x(${COLUMNS.map((_, i) => `${ROW_KEYS[i]} ${COLUMN_TYPES[i]}`).join(', ')})`;
  // $1 = used id, $2 = now, $3.. = the successor's columns
  const nextValues = COLUMNS.map((_, i) => `$${i + 3}::${COLUMN_TYPES[i]}`).join(', ');

  return {
    lockKey: `tessera:${t.schema ?? ''}.${t.name}`,
    setup: [
      `CREATE TABLE IF NOT EXISTS ${table} (
        id text COLLATE "C" PRIMARY KEY,
        kind text NOT NULL,
        subject text COLLATE "C" NOT NULL,
        family text COLLATE "C" NOT NULL,
        created_at bigint NOT NULL,
        last_seen_at bigint NOT NULL,
        expires_at bigint NULL,
        revoked_at bigint NULL,
        rotated_at bigint NULL,
        replaced_by text NULL,
        reuse_count integer NULL,
        data jsonb NOT NULL DEFAULT '{}'::jsonb
      )`,
      `CREATE INDEX IF NOT EXISTS ${q(`${t.name}_subject_idx`)} ON ${table} (subject, id)`,
      `CREATE INDEX IF NOT EXISTS ${q(`${t.name}_family_idx`)} ON ${table} (family)`,
      `CREATE INDEX IF NOT EXISTS ${q(`${t.name}_expires_idx`)} ON ${table} (expires_at) WHERE expires_at IS NOT NULL`,
      `CREATE INDEX IF NOT EXISTS ${q(`${t.name}_revoked_idx`)} ON ${table} (revoked_at) WHERE revoked_at IS NOT NULL`,
      `CREATE TABLE IF NOT EXISTS ${meta} (key text PRIMARY KEY, value text NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${counters} (key text COLLATE "C" PRIMARY KEY, count bigint NOT NULL, reset_at bigint NOT NULL)`,
      // Change notices (watch): the trigger function and the triggers on the records table.
      ...notifySetup(t),
    ],
    get: `SELECT ${cols} FROM ${table} WHERE id = $1`,
    put: `INSERT INTO ${table} (${cols}) VALUES (${values}) ON CONFLICT (id) DO UPDATE SET ${upsert}`,
    putMany: `INSERT INTO ${table} (${cols}) ${fromRows} ON CONFLICT (id) DO UPDATE SET ${upsert}`,
    // Put-if-absent, the same rows as putMany. Rows go in id order, so concurrent imports of
    // overlapping batches wait on each other's keys in one order and cannot deadlock.
    importMany: `INSERT INTO ${table} (${cols}) ${fromRows} ORDER BY a COLLATE "C" ON CONFLICT (id) DO NOTHING`,
    // The same put-if-absent for large calls: COPY parses rows for less server CPU than
    // jsonb_to_recordset. The staging table lives in one transaction (no session state, so
    // transaction pooling still works) and has no index; its rows go in id order like importMany's.
    importStage: `CREATE TEMP TABLE tessera_import_stage (${COLUMNS.map((c, i) => `${c} ${COLUMN_TYPES[i]}${c === 'id' ? ' COLLATE "C"' : ''}`).join(', ')}) ON COMMIT DROP`,
    importCopy: `COPY pg_temp.tessera_import_stage (${cols}) FROM STDIN`,
    // The cheaper try first: COPY straight into the table. One statement, so all or nothing: a row
    // already there fails it whole (unique_violation) and the batch goes through the staging table.
    importCopyDirect: `COPY ${table} (${cols}) FROM STDIN`,
    importFromStage: `INSERT INTO ${table} (${cols}) SELECT ${cols} FROM pg_temp.tessera_import_stage ORDER BY id ON CONFLICT (id) DO NOTHING`,
    count: `SELECT count(*)::int8 AS n FROM ${table}`,
    // $1 id, $2 lastSeenAt, $3 set expiresAt?, $4 expiresAt
    touch: `UPDATE ${table} SET last_seen_at = GREATEST(last_seen_at, $2::int8),
        expires_at = CASE WHEN $3::boolean THEN $4::int8 ELSE expires_at END
      WHERE id = $1 AND ${live('$2::int8')}`,
    // The compare-and-set in one statement: claim the used record, insert the successor only if claimed.
    rotate: `WITH claimed AS (
        UPDATE ${table} SET rotated_at = $2::int8, replaced_by = $3::text, reuse_count = 0
        WHERE id = $1 AND rotated_at IS NULL AND ${live('$2::int8')}
        RETURNING id
      ), successor AS (
        INSERT INTO ${table} (${cols}) SELECT ${nextValues} FROM claimed
        ON CONFLICT (id) DO UPDATE SET ${upsert}
        RETURNING id
      )
      SELECT (SELECT count(*) FROM claimed)::int AS claimed`,
    // $1 id, $2 limit. Concurrent calls serialise on the row lock and re-check the count.
    countReuse: `UPDATE ${table} SET reuse_count = COALESCE(reuse_count, 0) + 1
      WHERE id = $1 AND COALESCE(reuse_count, 0) < $2::int8`,
    revokeId: `UPDATE ${table} SET revoked_at = $2::int8 WHERE id = $1 AND revoked_at IS NULL`,
    revokeSubject: `UPDATE ${table} SET revoked_at = $2::int8 WHERE subject = $1 AND revoked_at IS NULL`,
    revokeFamily: `UPDATE ${table} SET revoked_at = $2::int8 WHERE family = $1 AND revoked_at IS NULL`,
    revokeAll: `UPDATE ${table} SET revoked_at = $1::int8 WHERE revoked_at IS NULL`,
    // $1 now, $2 batch size
    purgeBatch: `DELETE FROM ${table} WHERE id IN (
        SELECT id FROM ${table} WHERE revoked_at IS NOT NULL OR expires_at <= $1::int8
        LIMIT $2::int4 FOR UPDATE SKIP LOCKED)`,
    secretInsert: `INSERT INTO ${meta} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value`,
    secretSelect: `SELECT value FROM ${meta} WHERE key = $1`,
    metaUpsert: `INSERT INTO ${meta} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
    metaDelete: `DELETE FROM ${meta} WHERE key = $1`,
    // Attempt counters, one upsert: concurrent hits of one key serialise on its row (or on the
    // insert of it) and each sees the count before it. $1 key, $2 window, $3 now, $4 by (> 0).
    counterHit: `INSERT INTO ${counters} AS c (key, count, reset_at) VALUES ($1, $4::int8, $3::int8 + $2::int8)
      ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN c.reset_at <= $3::int8 THEN $4::int8 ELSE c.count + $4::int8 END,
        reset_at = CASE WHEN c.reset_at <= $3::int8 THEN $3::int8 + $2::int8 ELSE c.reset_at END
      RETURNING count, reset_at`,
    // $1 key, $2 now, $3 by (< 0): only a window still open, never below 0.
    counterTake: `UPDATE ${counters} SET count = GREATEST(count + $3::int8, 0) WHERE key = $1 AND reset_at > $2::int8 RETURNING count, reset_at`,
    counterRead: `SELECT count, reset_at FROM ${counters} WHERE key = $1 AND reset_at > $2::int8`,
    counterPurge: `DELETE FROM ${counters} WHERE reset_at <= $1::int8`,
    /** The one piece of schema created outside setup(): the counters table a deployment set up before it existed lacks. */
    tableExists: `SELECT 1 FROM ${table} LIMIT 0`,
    counterTable: `CREATE TABLE IF NOT EXISTS ${counters} (key text COLLATE "C" PRIMARY KEY, count bigint NOT NULL, reset_at bigint NOT NULL)`,
    list({ subject, kind, cursor }) {
      const where: string[] = [];
      const params: string[] = [];
      const next = (): string => `$${params.push('x')}`;
      if (subject) where.push(`subject = ${next()}`);
      if (kind) where.push(`kind = ${next()}`);
      if (cursor) where.push(`id > ${next()}`);
      const limit = next();
      return `SELECT ${cols} FROM ${table}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ${limit}::int4`;
    },
  };
}
