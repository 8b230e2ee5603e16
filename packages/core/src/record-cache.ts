/**
 * The record cache (`recordCacheSize`): records read from a store that pushes change notices
 * (`watch`), kept in this process and answered without a store round trip until a notice drops
 * them. A notice comes from every server's writes, this one's included. Never stale by construction:
 *
 * - It answers only while notices flow (`up`). A store that may have missed one says so
 *   (`state(false)`): everything is dropped and every read goes to the store until notices flow
 *   again, when everything is dropped once more (what changed in between is unknown).
 * - A read fills it only when no notice arrived while the read was in flight (`seq`), so a notice
 *   that overtakes the store's answer cannot leave the older record behind.
 * - This server's own writes drop what they touch, before and after the store call, so the next
 *   request here sees them without waiting for the notice.
 *
 * Without `watch` (DynamoDB, custom stores) nothing is cached unless `recordCacheMaxStale` allows
 * records that many seconds old. Refresh records are never cached: they are read only to rotate.
 */
import { freezeRecord, type RevokeWhere, type TokenRecord } from './store.js';

interface Entry {
  readonly rec: TokenRecord;
  /** `performance.now()` when it was read from the store. */
  readonly at: number;
}

/** Even with notices flowing, an entry is read again after this long: a safety net for a notice lost without a `state(false)`. */
const WATCHED_MAX_AGE_MS = 60_000;

export class RecordCache {
  private readonly map = new Map<string, Entry>();
  private readonly byFamily = new Map<string, Set<string>>();
  private readonly bySubject = new Map<string, Set<string>>();
  /** Bumped by every notice and every local write: a read that started before it does not fill. */
  private seq = 0;
  private isUp = false;
  private maxAgeMs: number;

  constructor(private readonly size: number) {
    this.maxAgeMs = WATCHED_MAX_AGE_MS;
  }

  /** Notices flow (true) or may be missed (false); either way, nothing cached before is trusted. */
  setUp(up: boolean, maxAgeMs: number = WATCHED_MAX_AGE_MS): void {
    this.clear();
    this.maxAgeMs = maxAgeMs;
    this.isUp = up && this.size > 0;
  }

  /** The cached record, or undefined: not cached (or not answering): read the store. */
  peek(id: string): TokenRecord | undefined {
    if (!this.isUp) return undefined;
    const e = this.map.get(id);
    if (e === undefined) return undefined;
    if (performance.now() - e.at > this.maxAgeMs) {
      this.drop(id);
      return undefined;
    }
    return e.rec;
  }

  /** What `fill` needs to know that no notice arrived meanwhile: take it before the store read. */
  mark(): number {
    return this.seq;
  }

  /** Keeps a record read from the store, unless a notice or a local write came in since `mark`. */
  fill(id: string, rec: TokenRecord | null, mark: number): void {
    if (!this.isUp || mark !== this.seq || rec === null || rec.kind === 'refresh' || rec.id !== id) return;
    this.drop(id);
    if (this.map.size >= this.size) {
      const oldest = this.map.keys().next().value as string | undefined;
      if (oldest !== undefined) this.drop(oldest);
    }
    const frozen = freezeRecord(rec);
    this.map.set(id, { rec: frozen, at: performance.now() });
    index(this.byFamily, frozen.family, id);
    index(this.bySubject, frozen.subject, id);
  }

  /** A change notice: these records changed (null: unknown which). */
  changed(ids: readonly string[] | null): void {
    this.seq++;
    if (ids === null) this.clear();
    else for (const id of ids) this.drop(id);
  }

  /** A local write about to be made, or just made: drops what it may change. */
  writing(where: RevokeWhere): void {
    this.seq++;
    if (this.map.size === 0) return;
    if ('all' in where) this.clear();
    else if ('id' in where) this.drop(where.id);
    else if ('family' in where) this.dropAll(this.byFamily.get(where.family));
    else this.dropAll(this.bySubject.get(where.subject));
  }

  private dropAll(ids: Set<string> | undefined): void {
    if (ids !== undefined) for (const id of [...ids]) this.drop(id);
  }

  private drop(id: string): void {
    const e = this.map.get(id);
    if (e === undefined) return;
    this.map.delete(id);
    unindex(this.byFamily, e.rec.family, id);
    unindex(this.bySubject, e.rec.subject, id);
  }

  private clear(): void {
    this.seq++;
    this.map.clear();
    this.byFamily.clear();
    this.bySubject.clear();
  }
}

function index(m: Map<string, Set<string>>, key: string, id: string): void {
  const s = m.get(key);
  if (s === undefined) m.set(key, new Set([id]));
  else s.add(id);
}

function unindex(m: Map<string, Set<string>>, key: string, id: string): void {
  const s = m.get(key);
  if (s === undefined) return;
  s.delete(id);
  if (s.size === 0) m.delete(key);
}
