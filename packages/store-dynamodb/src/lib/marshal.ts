/**
 * Hand marshalling between JSON-like values and DynamoDB AttributeValues, and the item layout
 * of one record (see README "Key design").
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { DATA_FIELDS, parseRecord, type TokenRecord } from '@tessera/core/store';

export type Item = Record<string, AttributeValue>;

/** Record items: pk = R#<id>, sk = R. */
export const RECORD_SK = 'R';
export const recordKey = (id: string): Item => ({ pk: { S: `R#${id}` }, sk: { S: RECORD_SK } });
/** Subject index items: pk = S#<subject>, sk = <id>. */
export const subjectKey = (subject: string, id: string): Item => ({ pk: { S: `S#${subject}` }, sk: { S: id } });
/** Family index items: pk = F#<family>, sk = <id>. */
export const familyKey = (family: string, id: string): Item => ({ pk: { S: `F#${family}` }, sk: { S: id } });
/** The instance secret. */
export const SECRET_KEY: Item = { pk: { S: 'M#secret' }, sk: { S: 'M' } };
/** Meta values (getMeta / setMeta): pk = M#meta, sk = <key>; never the secret's key. */
export const metaKey = (key: string): Item => ({ pk: { S: 'M#meta' }, sk: { S: key } });
/** Attempt counters (hit): pk = C#<key>, sk = C; attributes `hits`, `resetAt` and `ttl`. */
export const COUNTER_SK = 'C';
export const counterKey = (key: string): Item => ({ pk: { S: `C#${key}` }, sk: { S: COUNTER_SK } });

class Unsupported extends Error {}

/** JSON value -> AttributeValue. `undefined` members of objects are left out, as JSON does. */
export function toAttr(v: unknown): AttributeValue {
  if (v === null) return { NULL: true };
  switch (typeof v) {
    case 'string':
      return { S: v };
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError('dynamodb store: numbers must be finite');
      return { N: String(v) };
    case 'boolean':
      return { BOOL: v };
    case 'object': {
      if (Array.isArray(v)) return { L: v.map(x => (x === undefined ? { NULL: true } : toAttr(x))) };
      const m: Record<string, AttributeValue> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined) m[k] = toAttr(x);
      return { M: m };
    }
    default:
      throw new TypeError(`dynamodb store: cannot store a ${typeof v}`);
  }
}

/** AttributeValue -> JSON value; binary and unknown types throw `Unsupported` (the record is unreadable). */
export function fromAttr(a: AttributeValue): unknown {
  if (a.S !== undefined) return a.S;
  if (a.N !== undefined) return Number(a.N);
  if (a.BOOL !== undefined) return a.BOOL;
  if (a.NULL !== undefined) return null;
  if (a.M !== undefined) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(a.M)) o[k] = fromAttr(x);
    return o;
  }
  if (a.L !== undefined) return a.L.map(fromAttr);
  if (a.SS !== undefined) return [...a.SS];
  if (a.NS !== undefined) return a.NS.map(Number);
  throw new Unsupported();
}

/** Record fields stored as top-level attributes (nulls are left out: absent means null). */
const FIELDS = ['kind', 'subject', 'family', 'createdAt', 'lastSeenAt', 'expiresAt', 'revokedAt', 'rotatedAt', 'replacedBy', 'reuseCount', ...DATA_FIELDS] as const;

/** The `ttl` attribute (epoch seconds) DynamoDB TTL deletes by: expiresAt + margin; none when it never expires. */
export function ttlOf(expiresAt: number | null | undefined, marginSeconds: number): number | null {
  return expiresAt == null ? null : expiresAt + marginSeconds;
}

export function recordToItem(r: TokenRecord, ttlMarginSeconds: number): Item {
  const item: Item = { ...recordKey(r.id), id: { S: r.id } };
  for (const k of FIELDS) {
    const v = r[k];
    if (v !== undefined && v !== null) item[k] = toAttr(v);
  }
  const ttl = ttlOf(r.expiresAt, ttlMarginSeconds);
  if (ttl !== null) item.ttl = { N: String(ttl) };
  return item;
}

/** Index items carry the record's expiresAt so `purgeExpired` can tell a stale orphan from a put in flight. */
export function indexItems(r: TokenRecord): Item[] {
  const extra: Item = r.expiresAt == null ? {} : { expiresAt: { N: String(r.expiresAt) } };
  return [
    { ...subjectKey(r.subject, r.id), ...extra },
    { ...familyKey(r.family, r.id), ...extra },
  ];
}

/** The record id of a record item's key, or null when `pk` is not a record key. */
export function idOfKey(item: Item): string | null {
  const pk = item.pk?.S;
  return pk !== undefined && pk.startsWith('R#') && item.sk?.S === RECORD_SK ? pk.slice(2) : null;
}

/**
 * Rebuilds and validates a record item. Anything unreadable (an `id` attribute that is not the
 * key's, drifted types, binary values) yields null, never an exception.
 */
export function itemToRecord(item: Item | undefined): TokenRecord | null {
  if (!item) return null;
  const id = idOfKey(item);
  if (id === null) return null;
  const raw: Record<string, unknown> = {};
  try {
    for (const [k, a] of Object.entries(item)) {
      if (k === 'pk' || k === 'sk' || k === 'ttl') continue;
      raw[k] = fromAttr(a);
    }
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
  if (raw.id !== id) return null;
  if (!('expiresAt' in raw)) raw.expiresAt = null;
  return parseRecord(raw);
}
