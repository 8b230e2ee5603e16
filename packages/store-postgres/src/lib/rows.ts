/** Mapping between `TokenRecord` and the typed columns of the records table. */
import { DATA_FIELDS, parseRecord, type TokenRecord } from '@tessera/core/store';

/** Column order used by every INSERT (and by the unnest arrays of `putMany`). */
export const COLUMNS = [
  'id',
  'kind',
  'subject',
  'family',
  'created_at',
  'last_seen_at',
  'expires_at',
  'revoked_at',
  'rotated_at',
  'replaced_by',
  'reuse_count',
  'data',
] as const;

/** SQL types of COLUMNS, in order (casts for parameters and unnest arrays). */
export const COLUMN_TYPES = ['text', 'text', 'text', 'text', 'int8', 'int8', 'int8', 'int8', 'int8', 'text', 'int4', 'jsonb'] as const;

/** Record fields kept in the `data` jsonb column. */
export const DATA_KEYS = DATA_FIELDS;

export type Param = string | number | null;

/**
 * Record fields that have their own column. A `data` object carrying any of them is a drifted
 * layout (e.g. a whole record serialised into `data`, possibly naming another id): unreadable.
 */
export const COLUMN_FIELDS = ['id', 'kind', 'subject', 'family', 'createdAt', 'lastSeenAt', 'expiresAt', 'revokedAt', 'rotatedAt', 'replacedBy', 'reuseCount'] as const;

/** Parameters for one record, in COLUMNS order. */
export function recordParams(r: TokenRecord): Param[] {
  const data: Record<string, unknown> = {};
  for (const k of DATA_KEYS) if (r[k] !== undefined) data[k] = r[k];
  return [
    r.id,
    r.kind,
    r.subject,
    r.family,
    r.createdAt,
    r.lastSeenAt,
    r.expiresAt ?? null,
    r.revokedAt ?? null,
    r.rotatedAt ?? null,
    r.replacedBy ?? null,
    r.reuseCount ?? null,
    JSON.stringify(data),
  ];
}

/** Short keys of the row objects `putMany` sends (in COLUMNS order): about half the JSON of full names. */
export const ROW_KEYS = 'abcdefghijkl';

/**
 * One record as a compact row object for `jsonb_to_recordset` in putMany and importRecords: keys
 * from ROW_KEYS, null columns left out (a missing key reads as NULL).
 */
export function recordRow(r: TokenRecord): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const k of DATA_KEYS) if (r[k] !== undefined) data[k] = r[k];
  const row: Record<string, unknown> = { a: r.id, b: r.kind, c: r.subject, d: r.family, e: r.createdAt, f: r.lastSeenAt, l: data };
  if (r.expiresAt != null) row.g = r.expiresAt;
  if (r.revokedAt != null) row.h = r.revokedAt;
  if (r.rotatedAt != null) row.i = r.rotatedAt;
  if (r.replacedBy != null) row.j = r.replacedBy;
  if (r.reuseCount != null) row.k = r.reuseCount;
  return row;
}

export interface Row {
  id: string;
  kind: string;
  subject: string;
  family: string;
  created_at: string | number | null;
  last_seen_at: string | number | null;
  expires_at: string | number | null;
  revoked_at: string | number | null;
  rotated_at: string | number | null;
  replaced_by: string | null;
  reuse_count: number | null;
  data: unknown;
}

/** int8 arrives as a string from node-postgres; anything not a plain integer becomes NaN (rejected by parseRecord). */
function int(v: string | number | null): number | null {
  if (v === null) return null;
  if (typeof v === 'number') return v;
  return /^-?\d+$/.test(v) ? Number(v) : Number.NaN;
}

/**
 * Rebuilds a record from a row and validates it with `parseRecord`: a drifted or garbage row
 * yields null (treated as absent) instead of an exception.
 */
export function rowToRecord(row: Row): TokenRecord | null {
  const data = row.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return null;
  for (const k of COLUMN_FIELDS) if (Object.prototype.hasOwnProperty.call(data, k)) return null;
  const raw: Record<string, unknown> = {};
  for (const k of DATA_KEYS) {
    if (Object.prototype.hasOwnProperty.call(data, k)) raw[k] = (data as Record<string, unknown>)[k];
  }
  raw.id = row.id;
  raw.kind = row.kind;
  raw.subject = row.subject;
  raw.family = row.family;
  raw.createdAt = int(row.created_at);
  raw.lastSeenAt = int(row.last_seen_at);
  raw.expiresAt = int(row.expires_at);
  raw.revokedAt = int(row.revoked_at);
  raw.rotatedAt = int(row.rotated_at);
  raw.replacedBy = row.replaced_by;
  raw.reuseCount = row.reuse_count;
  return parseRecord(raw);
}
