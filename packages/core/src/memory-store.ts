/**
 * In-process store: a bounded LRU of records. Fast, but sessions die with the process and
 * are not shared between servers; use it for tests, single-process apps and benchmarks.
 */
import { StoreError } from './errors.js';
import { SYNC_GET, type SyncReadable } from './lib/sync-read.js';
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
  /** Most records kept; the least recently used is evicted beyond it (its session ends). Default 100000. Attempt counters (`hit`) are bounded by it too, apart. */
  capacity?: number;
}

/** Export scans remembered at once; an older scan's next page takes a fresh snapshot (still correct, see exportRecords). */
const MAX_SCANS = 8;

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


export class MemoryStore implements TokenStore, SyncReadable {
  /** In this process: a secret generated into it is as safe as the server itself. */
  readonly local = true;
  readonly capacity: number;
  /** id -> entry; `hot` is the CLOCK reference bit (reads set it, eviction clears it once). */
  private readonly records = new Map<string, { rec: TokenRecord; hot: boolean }>();
  private readonly bySubject = new Map<string, Set<string>>();
  private readonly byFamily = new Map<string, Set<string>>();
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
    return this.records.size;
  }

  private check(): void {
    if (this.closed) throw new StoreError('memory store is closed');
  }

  [SYNC_GET](id: string): TokenRecord | null {
    if (this.closed) throw new StoreError('memory store is closed');
    const entry = this.records.get(id);
    if (entry === undefined) return null;
    entry.hot = true;
    return entry.rec;
  }

  get(id: string): Promise<TokenRecord | null> {
    try {
      return Promise.resolve(this[SYNC_GET](id));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private rec(id: string): TokenRecord | undefined {
    return this.records.get(id)?.rec;
  }

  async put(record: TokenRecord): Promise<void> {
    this.check();
    this.write({ ...record });
  }

  private write(record: TokenRecord): void {
    const old = this.rec(record.id);
    if (old) {
      this.records.delete(record.id);
      if (old.subject !== record.subject) this.unindex(this.bySubject, old.subject, old.id);
      if (old.family !== record.family) this.unindex(this.byFamily, old.family, old.id);
    }
    this.records.set(record.id, { rec: freezeRecord(record), hot: false });
    this.index(this.bySubject, record.subject, record.id);
    this.index(this.byFamily, record.family, record.id);
    // CLOCK eviction: the oldest entry not read since it was last passed over goes.
    while (this.records.size > this.capacity) {
      const [id, entry] = this.records.entries().next().value as [string, { rec: TokenRecord; hot: boolean }];
      this.records.delete(id);
      if (entry.hot) {
        entry.hot = false;
        this.records.set(id, entry);
      } else {
        this.unindex(this.bySubject, entry.rec.subject, id);
        this.unindex(this.byFamily, entry.rec.family, id);
      }
    }
  }

  /** Replaces a record in place (same id, subject, family), keeping its position and flag. */
  private replace(id: string, record: TokenRecord): void {
    const entry = this.records.get(id);
    if (entry) entry.rec = freezeRecord(record);
  }

  private delete(id: string): void {
    const rec = this.rec(id);
    if (!rec) return;
    this.records.delete(id);
    this.unindex(this.bySubject, rec.subject, id);
    this.unindex(this.byFamily, rec.family, id);
  }

  private index(map: Map<string, Set<string>>, key: string, id: string): void {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(id);
  }

  private unindex(map: Map<string, Set<string>>, key: string, id: string): void {
    const set = map.get(key);
    if (!set) return;
    set.delete(id);
    if (set.size === 0) map.delete(key);
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
    this.write({ ...next });
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
    else if ('subject' in where) ids = [...(this.bySubject.get(where.subject) ?? [])];
    else if ('family' in where) ids = [...(this.byFamily.get(where.family) ?? [])];
    else ids = [...this.records.keys()];
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
    const ids = query.subject !== undefined ? [...(this.bySubject.get(query.subject) ?? [])] : [...this.records.keys()];
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
    for (const [id, { rec }] of [...this.records]) {
      if (!isLive(rec, now)) {
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
      ids = [...this.records.keys()].sort();
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
      if (this.records.has(record.id)) continue;
      this.write({ ...record });
      n++;
    }
    return n;
  }

  /** Exact. */
  async countRecords(): Promise<number> {
    this.check();
    return this.records.size;
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
