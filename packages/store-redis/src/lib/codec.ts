/**
 * Record <-> stored JSON. The stored form is the record's JSON with `user` (when present)
 * replaced by its own JSON text, so the Lua scripts can decode and re-encode records with
 * cjson without touching user data (cjson turns `[]` into `{}` and rounds numbers).
 */
import { parseRecord, type TokenRecord } from '@tessera/core/store';

export function encodeRecord(record: TokenRecord): string {
  if (record.user === undefined) return JSON.stringify(record);
  return JSON.stringify({ ...record, user: JSON.stringify(record.user) });
}

/** The record, or null when the stored value is garbage, schema-drifted, or not the record `id`. */
export function decodeRecord(raw: unknown, id: string): TokenRecord | null {
  if (typeof raw !== 'string') return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const obj = value as Record<string, unknown>;
  if (obj.user !== undefined) {
    if (typeof obj.user !== 'string') return null;
    try {
      obj.user = JSON.parse(obj.user);
    } catch {
      return null;
    }
  }
  const rec = parseRecord(obj);
  return rec !== null && rec.id === id ? rec : null;
}
