/**
 * The store seam, for store authors (`@tessera/core/store`). Stores hold records keyed by id
 * (session id, refresh-token id or API-token id), never raw tokens. Times are epoch seconds and
 * `now` is always passed in, so tests drive time without sleeping.
 */
import type { User } from './types.js';

export type RecordKind = 'session' | 'refresh' | 'api' | 'job';
export type Binding = 'exact' | 'subnet';

export interface TokenRecord {
  id: string;
  kind: RecordKind;
  /** The user id (token `sub`). */
  subject: string;
  /** The login this record descends from: a session's own id, a refresh token's session id. */
  family: string;
  createdAt: number;
  lastSeenAt: number;
  /** Epoch seconds after which the record is dead; null = never expires (API tokens). */
  expiresAt: number | null;
  revokedAt: number | null;
  /** Session records: the user object returned at login. */
  user?: User;
  tenant?: string | null;
  /** Hard end of the session whatever refreshes happen (absoluteTimeout). */
  absoluteExpiresAt?: number | null;
  /** How the session was bound to the client when it was created, and to what. */
  binding?: Binding | null;
  ip?: string | null;
  /** Refresh records: rotation state. */
  rotatedAt?: number | null;
  replacedBy?: string | null;
  reuseCount?: number;
  /** API tokens: SHA-256 (base64url) of the secret part; the raw token is never stored. */
  secretHash?: string;
  label?: string | null;
  /** Job tokens: the job the token was made for (unique per user). */
  jobId?: string | null;
  /** API and job tokens: what the token may do; absent or null = everything its user may (API tokens' historical behaviour). */
  scopes?: string[] | null;
  /** With `safePassword`: the user object and credentials, encrypted and bound to this record; `user` then holds only `{ id }`. */
  sealed?: string | null;
  /**
   * HMAC-SHA256 of the identity fields (kind, ids, subject, user, seal, tenant, binding, scopes...) keyed
   * with the token's own secret, which no store holds: a changed record is detected. Opaque to stores.
   */
  mac?: string | null;
}

/**
 * The optional record fields a store keeps as opaque data (beside the indexed ones: id, kind,
 * subject, family, the times, the rotation state). Stores with typed columns or attributes read
 * this list instead of keeping their own, so a new field reaches every store at once.
 */
export const DATA_FIELDS = ['user', 'tenant', 'ip', 'binding', 'absoluteExpiresAt', 'secretHash', 'label', 'jobId', 'scopes', 'sealed', 'mac'] as const satisfies readonly (keyof TokenRecord)[];

export type RevokeWhere = { id: string } | { subject: string } | { family: string } | { all: true };

export type RotateResult =
  /** `usedId` was live and unrotated: it is now marked rotated (`rotatedAt = now`, `replacedBy = next.id`) and `next` is stored. */
  | { status: 'rotated' }
  /**
   * Nothing was written: `usedId` is absent, revoked, expired at `now` or already rotated.
   * `current` is the record as stored (null when absent); the core decides what that means
   * (a reuse within grace, reuse detected, an ended session).
   */
  | { status: 'conflict'; current: TokenRecord | null };

export interface ListQuery {
  subject?: string;
  kind?: RecordKind;
  cursor?: string | null;
  limit: number;
}

export interface ListPage {
  records: TokenRecord[];
  /** Pass back to get the next page; null when there are no more. */
  cursor: string | null;
}

/**
 * What a store must do. Stores do storage and atomicity; every rule (grace windows, reuse
 * limits, timeouts, validity) is decided by the core, once.
 */
export interface TokenStore {
  /**
   * Optional: true for a store kept in this process or on this machine's own disk (the memory and file
   * stores). A signing secret generated into any other store is logged as a warning (see `secret`).
   */
  readonly local?: boolean;
  /** null = absent (or unreadable); throws when the store failed (the core answers 503). */
  get(id: string): Promise<TokenRecord | null>;
  put(record: TokenRecord): Promise<void>;
  /**
   * Partial update of a present, unrevoked record not yet expired at `lastSeenAt`: lastSeenAt becomes the larger of the stored and
   * the given value and, when given, expiresAt is set. Never resurrects a revoked record. Returns
   * false when nothing was updated. (The core only touches records it has just checked to be live.)
   */
  touch(id: string, lastSeenAt: number, expiresAt?: number | null): Promise<boolean>;
  /**
   * The compare-and-set rotation: when `usedId` is present, unrevoked, unexpired at `now` and not yet
   * rotated, mark it rotated and store `next`, atomically. Under N concurrent calls for one `usedId`,
   * exactly one returns `rotated`; the others get `conflict` with the record as it then stands.
   */
  rotate(usedId: string, next: TokenRecord, now: number): Promise<RotateResult>;
  /**
   * Counted reuse, atomically: when the record exists and its `reuseCount` (absent = 0) is below
   * `limit`, increment it and return true; otherwise change nothing and return false. Under N
   * concurrent calls at most `limit - reuseCount` return true.
   */
  countReuse(id: string, limit: number): Promise<boolean>;
  /** Marks matching unrevoked records revoked (expired ones included); returns how many were newly revoked. */
  revoke(where: RevokeWhere, now: number): Promise<number>;
  list(query: ListQuery): Promise<ListPage>;
  /** Deletes records expired (or revoked) before `now`; returns how many. */
  purgeExpired(now: number): Promise<number>;
  /**
   * Optional. Stores `candidate` as the instance secret unless one exists; returns the stored one.
   * Atomic across processes sharing the store, so a cluster agrees on one secret.
   */
  initSecret?(candidate: string): Promise<string>;
  /**
   * Bulk export (optional; every first-party store has it, live store switching needs it): every
   * record in any state (revoked, expired, rotated), a page of at most `limit` at a time, in no
   * particular order. Pass the returned cursor back; null = done. A record present for the whole
   * scan appears at least once; one written during the scan may or may not appear.
   */
  exportRecords?(cursor: string | null, limit: number): Promise<ListPage>;
  /**
   * Batched import (optional, see `exportRecords`): writes every record whose id is absent, leaves records
   * already present untouched (put-if-absent, per record, atomically), and returns how many it
   * wrote. Bounded by the store, not by round trips (one pipeline, statement or batch per call).
   */
  importRecords?(records: readonly TokenRecord[]): Promise<number>;
  /** How many records the store holds, for progress bars (optional; an estimate is fine). */
  countRecords?(): Promise<number>;
  /**
   * Small named values kept beside the records, apart from them (optional, see `exportRecords`): the live
   * switch announces itself here. `getMeta` of an absent key is null; `setMeta(key, null)`
   * deletes. Keys are short ASCII names; values are strings of at most 64 KiB.
   */
  getMeta?(key: string): Promise<string | null>;
  setMeta?(key: string, value: string | null): Promise<void>;
  /**
   * Optional (without it the core counts in process, per server): a fixed-window attempt counter for throttling, atomic across the processes sharing the store. Adds `by` (default 1; 0 reads, -1 takes one back, never below 0) to counter `key` (ASCII `[A-Za-z0-9:_-]`, at most 128 characters) and returns it; a counter that is absent or whose window ended at `now` starts a window ending at `now + windowSeconds` when `by` > 0, else is left absent (`{ count: 0, resetAt: now }`). Under N concurrent hits of one key the counts returned are 1..N. Counters live apart from the records: never listed, exported, counted, revoked or imported; `purgeExpired` may drop ended ones.
   */
  hit?(key: string, windowSeconds: number, now: number, by?: number): Promise<HitResult>;
  /**
   * Optional: change notices pushed by the store, so servers can keep a record cache that is never
   * stale (`recordCache`). Starts watching every record of this store, whichever process changes it,
   * and resolves once notices flow. Call `listener.changed(ids)` with the ids of records written,
   * touched, rotated, revoked or deleted (null: unknown which, drop everything), and `listener.state(false)`
   * as soon as notices may be missed (connection lost, watcher error), `state(true)` once they flow again
   * (the core then drops everything it cached). Its own writes are notified too. The returned function
   * stops watching; `close()` stops every watch.
   */
  watch?(listener: ChangeListener): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** What `watch` reports to. */
export interface ChangeListener {
  changed(ids: readonly string[] | null): void;
  state(up: boolean): void;
}

/** A counter as `hit` left it. */
export interface HitResult {
  /** Hits counted in the current window (0: none). */
  count: number;
  /** Epoch seconds at which the window ends (and the count starts again from 0). */
  resetAt: number;
}

/** For `hit`: what a counter key may be (the core's keys are a purpose and a SHA-256, base64url). */
export const COUNTER_KEY_RE = /^[A-Za-z0-9:_-]{1,128}$/;

/** The optional members a store needs for the live switch. */
export const BULK_MEMBERS = ['exportRecords', 'importRecords', 'getMeta', 'setMeta'] as const;

export type BulkStore = TokenStore & Required<Pick<TokenStore, (typeof BULK_MEMBERS)[number]>>;

/** Whether `store` has every member the live switch needs. */
export function isBulkStore(store: TokenStore): store is BulkStore {
  return BULK_MEMBERS.every(m => typeof store[m] === 'function');
}

/** For paged reads over sorted ids: the index of the first id after `cursor` (0 without one), by binary search. */
export function indexAfter(sortedIds: readonly string[], cursor: string | null | undefined): number {
  let i = 0;
  if (!cursor) return i;
  let hi = sortedIds.length;
  while (i < hi) {
    const mid = (i + hi) >>> 1;
    if (sortedIds[mid]! <= cursor) i = mid + 1;
    else hi = mid;
  }
  return i;
}

/** For `exportRecords` (and paged reads): a page size must be a positive integer. */
export function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
}

const KINDS: ReadonlySet<string> = new Set(['session', 'refresh', 'api', 'job']);

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
function optInt(v: unknown): boolean {
  return v === undefined || v === null || isInt(v);
}
function optStr(v: unknown): boolean {
  return v === undefined || v === null || typeof v === 'string';
}

/**
 * Validates a record read back from a backend. Garbage or schema-drifted data yields null
 * (that record is treated as absent) instead of throwing, so one bad record never crashes a request.
 */
export function parseRecord(raw: unknown): TokenRecord | null {
  let v = raw;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return null;
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const r = v as Record<string, unknown>;
  if (typeof r.id !== 'string' || r.id.length === 0 || r.id.length > 256) return null;
  if (typeof r.kind !== 'string' || !KINDS.has(r.kind)) return null;
  if (typeof r.subject !== 'string' || typeof r.family !== 'string') return null;
  if (!isInt(r.createdAt) || !isInt(r.lastSeenAt)) return null;
  if (!(r.expiresAt === null || isInt(r.expiresAt))) return null;
  if (!(r.revokedAt === null || r.revokedAt === undefined || isInt(r.revokedAt))) return null;
  if (!optInt(r.absoluteExpiresAt) || !optInt(r.rotatedAt) || !optInt(r.reuseCount)) return null;
  if (!optStr(r.replacedBy) || !optStr(r.tenant) || !optStr(r.ip) || !optStr(r.secretHash) || !optStr(r.label)) return null;
  if (!optStr(r.jobId) || !optStr(r.sealed) || !optStr(r.mac)) return null;
  if (!(r.scopes === undefined || r.scopes === null || (Array.isArray(r.scopes) && r.scopes.length <= 64 && r.scopes.every(x => typeof x === 'string')))) return null;
  if (!(r.binding === undefined || r.binding === null || r.binding === 'exact' || r.binding === 'subnet')) return null;
  if (r.user !== undefined) {
    const u = r.user as Record<string, unknown>;
    if (typeof u !== 'object' || u === null || Array.isArray(u) || typeof u.id !== 'string') return null;
  }
  if (r.kind === 'session' && r.user === undefined) return null;
  const rec: TokenRecord = {
    id: r.id,
    kind: r.kind as TokenRecord['kind'],
    subject: r.subject,
    family: r.family,
    createdAt: r.createdAt,
    lastSeenAt: r.lastSeenAt,
    expiresAt: r.expiresAt as number | null,
    revokedAt: (r.revokedAt as number | null | undefined) ?? null,
  };
  if (r.user !== undefined) rec.user = r.user as User;
  if (r.tenant != null) rec.tenant = r.tenant as string;
  if (r.absoluteExpiresAt != null) rec.absoluteExpiresAt = r.absoluteExpiresAt as number;
  if (r.binding != null) rec.binding = r.binding as Binding;
  if (r.ip != null) rec.ip = r.ip as string;
  if (r.rotatedAt != null) rec.rotatedAt = r.rotatedAt as number;
  if (r.replacedBy != null) rec.replacedBy = r.replacedBy as string;
  if (r.reuseCount != null) rec.reuseCount = r.reuseCount as number;
  if (r.secretHash != null) rec.secretHash = r.secretHash as string;
  if (r.label != null) rec.label = r.label as string;
  if (r.jobId != null) rec.jobId = r.jobId as string;
  if (r.scopes != null) rec.scopes = [...(r.scopes as string[])];
  if (r.sealed != null) rec.sealed = r.sealed as string;
  if (r.mac != null) rec.mac = r.mac as string;
  return rec;
}

/** True when the record can still authenticate at `now` (not revoked, not expired). */
export function isLive(record: TokenRecord, now: number): boolean {
  return record.revokedAt === null && (record.expiresAt === null || record.expiresAt > now);
}

/** Whether a record belongs in a `list` page for this query's subject and kind filters. */
export function matchesQuery(record: TokenRecord, query: Pick<ListQuery, 'subject' | 'kind'>): boolean {
  return (query.subject === undefined || record.subject === query.subject) && (query.kind === undefined || record.kind === query.kind);
}

export function matchesWhere(record: TokenRecord, where: RevokeWhere): boolean {
  if ('all' in where) return true;
  if ('id' in where) return record.id === where.id;
  if ('subject' in where) return record.subject === where.subject;
  return record.family === where.family;
}

/**
 * Freezes a record and everything in it. In-process stores and caches hand the same record object
 * to many requests, so `session.user` must be read-only: a mutation throws instead of leaking
 * into other requests.
 */
export function freezeRecord<T extends object>(value: T): T {
  for (const v of Object.values(value)) if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) freezeRecord(v);
  return Object.freeze(value);
}

export { StoreError, isStoreError } from './errors.js';
export { readPem } from './lib/pem.js';
export { NoticeReporter } from './lib/notice-reporter.js';
export { Backoff } from './lib/backoff.js';
