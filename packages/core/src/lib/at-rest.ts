/**
 * Nothing usable at rest. A session token carries a random 128-bit `sid` that only the token's
 * holder knows; the store keys the session by a one-way hash of it (`sessionIdOf`) and keeps an
 * HMAC of the record's identity fields keyed with it (`mac`). So a full copy of a store, even with
 * the signing key, names no `sid` a forged token could carry, and a write to a record (its user,
 * roles, subject, scopes) is detected by the next request that presents the record's token: the
 * key that would sign the change is in no store. API and job tokens key the same HMAC with the
 * secret part of the token, of which the store keeps only a SHA-256.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { TokenRecord } from '../store.js';

/**
 * The public id of a session: the store key, the id in session lists, admin routes and events.
 * A hash of the `sid` claim of its tokens (22 base64url characters, 128 bits), which no store holds.
 */
export function sessionIdOf(sid: string): string {
  // 16 bytes encoded on their own: a slice of the whole digest's text would keep all of it alive.
  return createHash('sha256').update('tessera-session-id\0').update(sid).digest().subarray(0, 16).toString('base64url');
}

/** Refresh-token ids (`jti`) as events name them: a hash, like session ids, never the raw claim. */
export function tokenIdOf(jti: string): string {
  return createHash('sha256').update('tessera-token-id\0').update(jti).digest().subarray(0, 16).toString('base64url');
}

/** JSON with object keys sorted at every level: stores that reorder keys (PostgreSQL jsonb) give back the same text. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter(k => o[k] !== undefined)
    .sort();
  return `{${keys.map(k => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** What the MAC covers: who the record authenticates as and what it may do. Times and rotation state change legitimately. */
function macInput(r: TokenRecord): string {
  return canonicalJson([
    'tessera-record-v1',
    r.kind,
    r.id,
    r.subject,
    r.family,
    r.createdAt,
    r.tenant ?? null,
    r.user ?? null,
    r.sealed ?? null,
    r.binding ?? null,
    r.ip ?? null,
    r.absoluteExpiresAt ?? null,
    r.secretHash ?? null,
    r.jobId ?? null,
    r.scopes ?? null,
  ]);
}

function macOf(r: TokenRecord, key: string): string {
  return createHmac('sha256', key).update(macInput(r)).digest('base64url');
}

/** Sets `record.mac`, keyed with the token secret (a session's `sid`, an API or job token's secret part). Call after every other field is set. */
export function signRecord(record: TokenRecord, key: string): TokenRecord {
  record.mac = macOf(record, key);
  return record;
}

/**
 * Records already checked with a key, by object: an in-process store hands back the same object
 * until the record changes, so its hot path computes the HMAC once per record version.
 */
const checked = new WeakMap<TokenRecord, string>();

/** Whether `record.mac` is the HMAC of its fields under `key` (constant-time). A record without one fails. */
export function recordIntact(record: TokenRecord, key: string): boolean {
  if (checked.get(record) === key) return true;
  const stored = record.mac;
  if (typeof stored !== 'string') return false;
  const a = Buffer.from(stored);
  const b = Buffer.from(macOf(record, key));
  if (a.length !== b.length || !timingSafeEqual(a, b)) return false;
  checked.set(record, key);
  return true;
}
