/**
 * In-process store: a bounded set of records, the ones not read lately evicted first (CLOCK, an
 * approximation of LRU). Fast, but sessions die with the process and are not shared between
 * servers; use it for tests, single-process apps and benchmarks.
 */
import { StoreError } from './errors.js';
import { SYNC_GET, type SyncReadable } from './lib/sync-read.js';
import type { User } from './types.js';
import { WindowCounters } from './lib/window-counter.js';
import { checkLimit,
  freezeRecord,
  isLive,
  matchesQuery,
  matchesWhere,
  type HitResult,
  type ListPage,
  type ListQuery,
  type RevokeWhere,
  type RotateResult,
  type TokenRecord,
  type TokenStore,
} from './store.js';

export interface MemoryStoreOptions {
  /** Most records kept; beyond it a record not read lately is evicted (its session ends; CLOCK, close to least recently used). Default 100000. Attempt counters (`hit`) are bounded by it too, apart. */
  capacity?: number;
}

/** Export scans remembered at once; an older scan's next page takes a fresh snapshot (still correct, see exportRecords). */
const MAX_SCANS = 8;
/** Distinct client addresses and tenants kept for sharing (see `intern`); beyond it the table starts again. */
const MAX_INTERNED = 4096;
/** Strings shorter than this are always flat in V8 (no slice or rope of them exists), so copying them is pointless. */
const MIN_SLICE = 13;

/** Index of the first id in sorted `ids` strictly greater than `after`. */
function firstAfter(ids: readonly string[], after: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A flat copy of `s`. An id cut from a longer string (a hash's prefix, a header) is a V8 slice that
 * keeps the whole original alive for as long as the record lives; the copy holds only its own characters.
 */
function flat(s: string): string {
  return s.length < MIN_SLICE ? s : (JSON.parse(JSON.stringify(s)) as string);
}

/** The fields every record has, in the order the core writes them. */
const CORE_FIELDS: ReadonlySet<string> = new Set(['id', 'kind', 'subject', 'family', 'createdAt', 'lastSeenAt', 'expiresAt', 'revokedAt']);

/**
 * A copy of `r` the store owns, always built the same way: one object literal holding the core
 * fields and up to four others (in `r`'s order) as computed keys, so all of them sit inside the
 * object (a property added later goes to a separate backing array: 40 more bytes a record), any
 * further ones added after. Records of one shape then share a V8 hidden class; a plain spread of a
 * record that went through several call sites can give each copy (and its frozen version) a hidden
 * class and descriptor array of its own, some 350 bytes a record.
 */
function copyRecord(r: TokenRecord): TokenRecord {
  const src = r as unknown as Record<string, unknown>;
  const keys = Object.keys(r);
  if (!('id' in r && 'kind' in r && 'subject' in r && 'family' in r && 'createdAt' in r && 'lastSeenAt' in r && 'expiresAt' in r && 'revokedAt' in r)) {
    const out: Record<string, unknown> = {};
    for (const k of keys) define(out, k, src[k]);
    return out as unknown as TokenRecord;
  }
  const x = keys.filter(k => !CORE_FIELDS.has(k));
  const { id, kind, subject, family, createdAt, lastSeenAt, expiresAt, revokedAt } = r;
  switch (x.length) {
    case 0:
      return { id, kind, subject, family, createdAt, lastSeenAt, expiresAt, revokedAt };
    case 1:
      return { id, kind, subject, family, createdAt, lastSeenAt, expiresAt, revokedAt, [x[0]!]: src[x[0]!] } as unknown as TokenRecord;
    case 2:
      return { id, kind, subject, family, createdAt, lastSeenAt, expiresAt, revokedAt, [x[0]!]: src[x[0]!], [x[1]!]: src[x[1]!] } as unknown as TokenRecord;
    case 3:
      return { id, kind, subject, family, createdAt, lastSeenAt, expiresAt, revokedAt, [x[0]!]: src[x[0]!], [x[1]!]: src[x[1]!], [x[2]!]: src[x[2]!] } as unknown as TokenRecord;
    default: {
      const out: Record<string, unknown> = { id, kind, subject, family, createdAt, lastSeenAt, expiresAt, revokedAt, [x[0]!]: src[x[0]!], [x[1]!]: src[x[1]!], [x[2]!]: src[x[2]!], [x[3]!]: src[x[3]!] };
      for (let i = 4; i < x.length; i++) define(out, x[i]!, src[x[i]!]);
      return out as unknown as TokenRecord;
    }
  }
}

/** `out[k] = v` as an own data property, even for `__proto__` (which an assignment would take for the prototype). */
function define(out: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(out, k, { value: v, writable: true, enumerable: true, configurable: true });
  else out[k] = v;
}

/** An object literal's kind (of any realm: a vm context's objects too), or a null-prototype object. */
function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as object | null;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/**
 * Whether two values are the same JSON data (same keys in the same order, same values): a stored
 * user object can then stand for the other. Anything but plain objects, arrays and primitives is
 * the same only as itself; past a few levels the answer is "no" (the record just keeps its own copy).
 */
function sameData(a: unknown, b: unknown, depth: number): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || depth > 6) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i], depth + 1)) return false;
    return true;
  }
  if (Array.isArray(b) || !isPlainObject(a) || !isPlainObject(b)) return false;
  const ka = Reflect.ownKeys(a);
  const kb = Reflect.ownKeys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (k !== kb[i] || !sameData((a as Record<PropertyKey, unknown>)[k], (b as Record<PropertyKey, unknown>)[k], depth + 1)) return false;
  }
  return true;
}

/**
 * The ids of the records under one subject (or family). Append-only with lazy removal: a record
 * that leaves stays in `ids` until the array is more than half stale, then the array is rebuilt
 * (amortised O(1) per change, one pointer per record instead of a Set entry). Readers check every id
 * against the store and drop duplicates (an id removed and written again appears twice).
 */
interface Bucket {
  /** The key as stored: records of this subject share this one string. */
  readonly key: string;
  ids: string[];
  /** Records in the store under this key: `ids.length - live` entries are stale. */
  live: number;
  /** Subjects: the last user object stored, which equal user objects of later records share. */
  user: User | undefined;
}

type IndexedField = 'subject' | 'family';

/**
 * Laid out for memory (issue 13: at most 300 B of heap a session at 1,000,000 sessions; `node
 * bench/run.mjs --heap` measures it): per record, the frozen record itself (hidden classes shared,
 * see copyRecord), one Map entry id -> slot (a small integer), a slot in `recs`, a byte of `hot`
 * and a pointer in its subject's bucket. Equal user objects, client addresses, tenants and
 * subjects are held once; a session is its own family, so only refresh tokens enter `byFamily`.
 * Reads (`SYNC_GET`, every authenticated request) are one Map lookup and a byte store.
 */
export class MemoryStore implements TokenStore, SyncReadable {
  /** In this process: a secret generated into it is as safe as the server itself. */
  readonly local = true;
  readonly capacity: number;
  /** id -> slot in `recs` (a small integer: no object per record beside the record). A slot is free when `recs[slot]` is undefined. */
  private readonly slots = new Map<string, number>();
  private readonly recs: (TokenRecord | undefined)[] = [];
  /** CLOCK reference bits, one byte per slot (reads set it, the hand clears it once before evicting); grown by doubling up to `capacity`. */
  private hot = new Uint8Array(64);
  private readonly free: number[] = [];
  /** The CLOCK hand: the next slot eviction looks at. */
  private hand = 0;
  private readonly bySubject = new Map<string, Bucket>();
  /** Only records whose family is not their own id (refresh tokens); a session is found as its own family by id. */
  private readonly byFamily = new Map<string, Bucket>();
  /** Client addresses and tenants, one string per distinct value (thousands of records share a few). */
  private interned = new Map<string, string>();
  private secret: string | undefined;
  /** getMeta / setMeta values: apart from the records and from the secret. */
  private readonly meta = new Map<string, string>();
  /** Export scans in progress: token -> the ids held when the scan began, sorted. */
  private readonly scans = new Map<string, string[]>();
  private scanSeq = 0;
  private closed = false;
  private readonly counters: WindowCounters;

  constructor(options: MemoryStoreOptions = {}) {
    const capacity = options.capacity ?? 100_000;
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('MemoryStore capacity must be a positive integer');
    this.capacity = capacity;
    this.counters = new WindowCounters(capacity);
  }

  get size(): number {
    return this.slots.size;
  }

  private check(): void {
    if (this.closed) throw new StoreError('memory store is closed');
  }

  [SYNC_GET](id: string): TokenRecord | null {
    if (this.closed) throw new StoreError('memory store is closed');
    const slot = this.slots.get(id);
    if (slot === undefined) return null;
    this.hot[slot] = 1;
    return this.recs[slot]!;
  }

  get(id: string): Promise<TokenRecord | null> {
    try {
      return Promise.resolve(this[SYNC_GET](id));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private rec(id: string): TokenRecord | undefined {
    const slot = this.slots.get(id);
    return slot === undefined ? undefined : this.recs[slot];
  }

  async put(record: TokenRecord): Promise<void> {
    this.check();
    this.write(record);
  }

  /** One string per distinct value of a field many records repeat. */
  private intern(s: string): string {
    const known = this.interned.get(s);
    if (known !== undefined) return known;
    if (this.interned.size >= MAX_INTERNED) this.interned = new Map();
    const copy = flat(s);
    this.interned.set(copy, copy);
    return copy;
  }

  /** Stores a copy of `record`, sharing what it repeats of other records, frozen. */
  private write(record: TokenRecord): void {
    let slot = this.slots.get(record.id);
    const old = slot === undefined ? undefined : this.recs[slot];
    // A new record's slot first: an eviction now can't remove what the lines below share.
    let reused = false;
    if (old === undefined) {
      reused = this.free.length > 0;
      slot = this.freeSlot();
    }
    let rec: TokenRecord;
    try {
      rec = this.shared(copyRecord(record), old);
    } catch (err) {
      if (old === undefined) this.free.push(slot!);
      throw err;
    }
    const id = rec.id;
    const subject = this.bySubject.get(rec.subject)!;
    if (old !== undefined) {
      this.recs[slot!] = rec;
      this.hot[slot!] = 1; // written: as recent as a read
      if (old.subject !== rec.subject) {
        subject.ids.push(id);
        subject.live++;
        this.unindex(this.bySubject, old.subject, 'subject');
      }
      const wasIndexed = old.family !== id;
      const isIndexed = rec.family !== id;
      if (wasIndexed && isIndexed && old.family === rec.family) return;
      if (isIndexed) this.index(this.byFamily, rec.family, id);
      if (wasIndexed) this.unindex(this.byFamily, old.family, 'family');
      return;
    }
    this.recs[slot!] = rec;
    // A slot a purge freed may lie just ahead of the hand: one pass of grace, or the newest record
    // would go before older ones. Else the slot is new or was just evicted (the hand is past it).
    this.hot[slot!] = reused ? 1 : 0;
    this.slots.set(id, slot!);
    subject.ids.push(id);
    subject.live++;
    if (rec.family !== id) this.index(this.byFamily, rec.family, id);
  }

  /**
   * `record`, frozen, with what other records already hold replaced by their copy: the id of the
   * record it replaces, its family's record id, the subject's string and last user object (when
   * equal), the client address and tenant. Creates the subject's bucket (empty) if needed.
   */
  private shared(record: TokenRecord, old: TokenRecord | undefined): TokenRecord {
    const id = old !== undefined ? old.id : flat(record.id);
    record.id = id;
    if (record.family === id) record.family = id;
    else record.family = this.rec(record.family)?.id ?? flat(record.family);
    const subject = this.bucket(this.bySubject, record.subject);
    record.subject = subject.key;
    const user = record.user;
    if (user !== undefined && user !== null && typeof user === 'object') {
      if (subject.user !== undefined && sameData(subject.user, user, 0)) record.user = subject.user;
      else subject.user = freezeRecord(user);
    }
    if (typeof record.ip === 'string') record.ip = this.intern(record.ip);
    if (typeof record.tenant === 'string') record.tenant = this.intern(record.tenant);
    return freezeRecord(record);
  }

  /** A slot for a new record: a free one, a new one below capacity, or the one CLOCK evicts. */
  private freeSlot(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    const n = this.recs.length;
    if (n < this.capacity) {
      if (n >= this.hot.length) {
        const grown = new Uint8Array(Math.min(this.capacity, this.hot.length * 2));
        grown.set(this.hot);
        this.hot = grown;
      }
      this.recs.push(undefined);
      return n;
    }
    // Full (every slot is taken): the first record not read since the hand last passed it goes.
    for (;;) {
      if (this.hand >= n) this.hand = 0;
      const s = this.hand++;
      if (this.hot[s] === 1) this.hot[s] = 0;
      else {
        this.remove(this.recs[s]!, s);
        this.free.pop(); // the slot remove() freed: it is this one
        return s;
      }
    }
  }

  /** Replaces a record in place (same id, subject, family), keeping its slot and flag. */
  private replace(id: string, record: TokenRecord): void {
    const slot = this.slots.get(id);
    if (slot !== undefined) this.recs[slot] = freezeRecord(copyRecord(record));
  }

  private delete(id: string): void {
    const slot = this.slots.get(id);
    if (slot !== undefined) this.remove(this.recs[slot]!, slot);
  }

  private remove(rec: TokenRecord, slot: number): void {
    this.slots.delete(rec.id);
    this.recs[slot] = undefined;
    this.hot[slot] = 0;
    this.free.push(slot);
    this.unindex(this.bySubject, rec.subject, 'subject');
    if (rec.family !== rec.id) this.unindex(this.byFamily, rec.family, 'family');
  }

  private bucket(map: Map<string, Bucket>, key: string): Bucket {
    let b = map.get(key);
    if (b === undefined) {
      const k = flat(key);
      map.set(k, (b = { key: k, ids: [], live: 0, user: undefined }));
    }
    return b;
  }

  private index(map: Map<string, Bucket>, key: string, id: string): void {
    const b = this.bucket(map, key);
    b.ids.push(id);
    b.live++;
  }

  /** After a record left `key` (it is gone from the store, or now has another value in `field`). */
  private unindex(map: Map<string, Bucket>, key: string, field: IndexedField): void {
    const b = map.get(key);
    if (b === undefined) return;
    if (--b.live <= 0) map.delete(key);
    else if (b.ids.length > 2 * b.live + 16) b.ids = this.members(b, field);
  }

  /** The ids of the records now in the store under `b`'s key, each once. */
  private members(b: Bucket, field: IndexedField): string[] {
    const out: string[] = [];
    const seen = b.ids.length === b.live ? undefined : new Set<string>();
    for (const id of b.ids) {
      if (this.rec(id)?.[field] !== b.key) continue;
      if (seen !== undefined) {
        if (seen.has(id)) continue;
        seen.add(id);
      }
      out.push(id);
    }
    return out;
  }

  private subjectIds(subject: string): string[] {
    const b = this.bySubject.get(subject);
    return b === undefined ? [] : this.members(b, 'subject');
  }

  /** The record whose id is the family (a session) and those indexed under it (its refresh tokens). */
  private familyIds(family: string): string[] {
    const own = this.rec(family)?.family === family ? [family] : [];
    const b = this.byFamily.get(family);
    return b === undefined ? own : [...own, ...this.members(b, 'family')];
  }

  async touch(id: string, lastSeenAt: number, expiresAt?: number | null): Promise<boolean> {
    this.check();
    const rec = this.rec(id);
    if (!rec || rec.revokedAt !== null || (rec.expiresAt !== null && rec.expiresAt <= lastSeenAt)) return false;
    const next = { ...rec, lastSeenAt: Math.max(rec.lastSeenAt, lastSeenAt) };
    if (expiresAt !== undefined) next.expiresAt = expiresAt;
    this.replace(id, next);
    return true;
  }

  async rotate(usedId: string, next: TokenRecord, now: number): Promise<RotateResult> {
    this.check();
    // Single-threaded: no await between the read and the writes, so this is atomic.
    const used = this.rec(usedId) ?? null;
    if (used === null || !isLive(used, now) || used.rotatedAt != null) return { status: 'conflict', current: used };
    this.write({ ...used, rotatedAt: now, replacedBy: next.id, reuseCount: 0 });
    this.write(next);
    return { status: 'rotated' };
  }

  /** Attempt counters, apart from the records (bounded by `capacity` too). */
  async hit(key: string, windowSeconds: number, now: number, by = 1): Promise<HitResult> {
    this.check();
    return this.counters.hit(key, windowSeconds, now, by);
  }

  async countReuse(id: string, limit: number): Promise<boolean> {
    this.check();
    const rec = this.rec(id);
    if (!rec || (rec.reuseCount ?? 0) >= limit) return false;
    this.replace(id, { ...rec, reuseCount: (rec.reuseCount ?? 0) + 1 });
    return true;
  }

  async revoke(where: RevokeWhere, now: number): Promise<number> {
    this.check();
    let ids: Iterable<string>;
    if ('id' in where) ids = [where.id];
    else if ('subject' in where) ids = this.subjectIds(where.subject);
    else if ('family' in where) ids = this.familyIds(where.family);
    else ids = [...this.slots.keys()];
    let n = 0;
    for (const id of ids) {
      const rec = this.rec(id);
      if (!rec || rec.revokedAt !== null || !matchesWhere(rec, where)) continue;
      this.replace(id, { ...rec, revokedAt: now });
      n++;
    }
    return n;
  }

  async list(query: ListQuery): Promise<ListPage> {
    this.check();
    const ids = query.subject !== undefined ? this.subjectIds(query.subject) : [...this.slots.keys()];
    ids.sort();
    const records: TokenRecord[] = [];
    let i = query.cursor ? firstAfter(ids, query.cursor) : 0;
    for (; i < ids.length && records.length < query.limit; i++) {
      const rec = this.rec(ids[i]!);
      if (rec && matchesQuery(rec, query)) records.push({ ...rec });
    }
    return { records, cursor: i < ids.length && i > 0 ? ids[i - 1]! : null };
  }

  async purgeExpired(now: number): Promise<number> {
    this.check();
    this.counters.purge(now);
    let n = 0;
    for (const [id, slot] of [...this.slots]) {
      if (!isLive(this.recs[slot]!, now)) {
        this.delete(id);
        n++;
      }
    }
    return n;
  }

  /**
   * Pages through the records in id order. The cursor is `<scan>:<last id>`: a scan keeps the
   * sorted ids of its start, so a record present throughout appears exactly once. Should that
   * snapshot be gone (more than MAX_SCANS scans at once), a fresh one is taken and the scan goes on
   * after the last id, which misses no record present throughout either.
   */
  async exportRecords(cursor: string | null, limit: number): Promise<ListPage> {
    this.check();
    checkLimit(limit);
    let token = '';
    let after: string | null = null;
    if (cursor !== null) {
      const m = /^(\d+):([^]*)$/.exec(cursor);
      if (m === null) throw new RangeError('exportRecords: not a cursor of this store');
      [token, after] = [m[1]!, m[2]!];
    }
    let ids = this.scans.get(token);
    if (ids === undefined) {
      ids = [...this.slots.keys()].sort();
      token = String(++this.scanSeq);
      this.scans.set(token, ids);
      if (this.scans.size > MAX_SCANS) this.scans.delete(this.scans.keys().next().value as string);
    }
    const records: TokenRecord[] = [];
    let i = after === null ? 0 : firstAfter(ids, after);
    for (; i < ids.length && records.length < limit; i++) {
      const rec = this.rec(ids[i]!);
      if (rec) records.push({ ...rec });
    }
    if (i < ids.length) return { records, cursor: `${token}:${ids[i - 1]!}` };
    this.scans.delete(token);
    return { records, cursor: null };
  }

  /** Put-if-absent per record (no await in between, so nothing can slip in); returns how many were written. */
  async importRecords(records: readonly TokenRecord[]): Promise<number> {
    this.check();
    let n = 0;
    for (const record of records) {
      if (this.slots.has(record.id)) continue;
      this.write(record);
      n++;
    }
    return n;
  }

  /** Exact. */
  async countRecords(): Promise<number> {
    this.check();
    return this.slots.size;
  }

  async getMeta(key: string): Promise<string | null> {
    this.check();
    return this.meta.get(key) ?? null;
  }

  async setMeta(key: string, value: string | null): Promise<void> {
    this.check();
    if (value === null) this.meta.delete(key);
    else this.meta.set(key, value);
  }

  async initSecret(candidate: string): Promise<string> {
    this.check();
    if (this.secret === undefined) this.secret = candidate;
    return this.secret;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
