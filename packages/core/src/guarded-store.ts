/**
 * Every store call the flows make goes through here: bounded in time, and any failure becomes a
 * 503 STORE_UNAVAILABLE refusal (fail closed; nothing is consumed). The flows never see a raw
 * store error, so no store answer can turn into a 500.
 */
import { redact } from './events.js';
import { SYNC_GET, syncReader } from './lib/sync-read.js';
import { reject } from './reject.js';
import type { HitResult, ListPage, ListQuery, RevokeWhere, RotateResult, TokenRecord, TokenStore } from './store.js';
import { WindowCounters } from './lib/window-counter.js';
import type { Emit } from './context.js';
import { deadline } from './lib/deadline.js';
import type { Follower } from './migrate/follower.js';

export class GuardedStore {
  /** Synchronous read for in-process stores (the fast path), else null. */
  getSync: ((id: string) => TokenRecord | null) | null = null;
  /** Set when the store can announce a live switch: store calls then follow it (migrate/follower.ts). */
  follower: Follower | null = null;
  /** Attempt counters for a store without `hit` (counted per process). */
  private readonly local = new WindowCounters();

  constructor(
    private raw: TokenStore,
    private readonly timeoutMs: number,
    private readonly emit: Emit,
    private readonly now: () => number,
    private readonly failed: (operation: string, message: string) => void = () => {},
  ) {
    this.use(raw);
  }

  /** The store requests use from now on (a live switch moves it). */
  use(store: TokenStore): void {
    this.raw = store;
    const sync = syncReader(store);
    this.getSync = sync === null ? null : id => sync[SYNC_GET](id);
  }

  /** Store calls in flight, so a switch in this process can wait for those made under the previous store. */
  private readonly pending = new Set<Promise<unknown>>();

  /** Resolves once every store call started before now has settled. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    // The store's own promise is tracked, not the guarded one: a call that timed out may still land.
    return this.guarded(op, () => {
      const p = fn();
      this.pending.add(p);
      const done = () => void this.pending.delete(p);
      p.then(done, done);
      return p;
    });
  }

  private async guarded<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      if (this.follower?.due(Date.now())) await deadline(this.follower.refresh(), this.timeoutMs, 'getMeta');
      // In-process stores do no I/O: no timer for them.
      return this.getSync !== null ? await fn() : await deadline(fn(), this.timeoutMs, op);
    } catch (err) {
      const message = redact(err instanceof Error ? err.message : String(err));
      this.failed(op, message);
      this.emit(() => ({ type: 'store-error', at: this.now(), operation: op, message }));
      throw reject('STORE_UNAVAILABLE', `store:${op}`, 'none');
    }
  }

  get(id: string): Promise<TokenRecord | null> {
    return this.call('get', () => this.raw.get(id));
  }
  put(record: TokenRecord): Promise<void> {
    return this.call('put', () => this.raw.put(record));
  }
  touch(id: string, lastSeenAt: number, expiresAt?: number | null): Promise<boolean> {
    return this.call('touch', () => this.raw.touch(id, lastSeenAt, expiresAt));
  }
  rotate(usedId: string, next: TokenRecord, now: number): Promise<RotateResult> {
    return this.call('rotate', () => this.raw.rotate(usedId, next, now));
  }
  countReuse(id: string, limit: number): Promise<boolean> {
    return this.call('countReuse', () => this.raw.countReuse(id, limit));
  }
  /** The store's attempt counter, or this process's own when the store (or a switch's current one) has none. */
  hit(key: string, windowSeconds: number, now: number, by = 1): Promise<HitResult> {
    const raw = this.raw;
    if (typeof raw.hit !== 'function') return Promise.resolve(this.local.hit(key, windowSeconds, now, by));
    return this.call('hit', () => raw.hit!(key, windowSeconds, now, by));
  }
  revoke(where: RevokeWhere, now: number): Promise<number> {
    return this.call('revoke', () => this.raw.revoke(where, now));
  }
  list(query: ListQuery): Promise<ListPage> {
    return this.call('list', () => this.raw.list(query));
  }
}
