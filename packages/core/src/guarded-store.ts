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
import { RecordCache } from './record-cache.js';

export interface RecordCacheOptions {
  /** Records kept (`recordCacheSize`); 0 = no cache. */
  size: number;
  /** For the configured store when it has no `watch`: how old a cached record may be, in ms (`recordCacheMaxStale`); 0 = not cached. */
  maxStaleMs: number;
}

export class GuardedStore {
  /**
   * Synchronous read for the fast path, else null: an in-process store's record (null = absent),
   * or the record cache's (undefined = not cached: take the full path).
   */
  peek: ((id: string) => TokenRecord | null | undefined) | null = null;
  /** Set when the store can announce a live switch: store calls then follow it (migrate/follower.ts). */
  follower: Follower | null = null;
  /** Records read from a store that pushes change notices (record-cache.ts); null when off. */
  readonly cache: RecordCache | null;
  /** Attempt counters for a store without `hit` (counted per process). */
  private readonly local = new WindowCounters();
  /** The store does no I/O (the memory store): no timer around its calls. */
  private inProcess = false;
  /** The watch in force: bumped by every `use`, so notices of a store no longer used are ignored. */
  private watchGen = 0;
  private stopWatch: (() => Promise<void>) | undefined;
  private retry: NodeJS.Timeout | undefined;
  private readonly configured: TokenStore;

  constructor(
    private raw: TokenStore,
    private readonly timeoutMs: number,
    private readonly emit: Emit,
    private readonly now: () => number,
    private readonly failed: (operation: string, message: string) => void = () => {},
    private readonly cacheOptions: RecordCacheOptions = { size: 0, maxStaleMs: 0 },
  ) {
    this.configured = raw;
    this.cache = cacheOptions.size > 0 ? new RecordCache(cacheOptions.size) : null;
    this.use(raw);
  }

  /** The store requests use from now on (a live switch moves it). */
  use(store: TokenStore): void {
    this.raw = store;
    const sync = syncReader(store);
    this.inProcess = sync !== null;
    const cache = this.cache;
    this.peek = sync !== null ? id => sync[SYNC_GET](id) : cache !== null ? id => cache.peek(id) : null;
    this.watch(sync === null ? store : null);
  }

  /** Stops watching for change notices (at `close()`). */
  async stop(): Promise<void> {
    this.watchGen++;
    clearTimeout(this.retry);
    this.cache?.setUp(false);
    const stop = this.stopWatch;
    this.stopWatch = undefined;
    await stop?.().catch(() => undefined);
  }

  /**
   * Follows `store`'s change notices into the cache. A store without `watch` is cached only when it
   * is the configured one and `recordCacheMaxStale` allows it (never a live switch's mirror).
   */
  private watch(store: TokenStore | null): void {
    void this.stop();
    const gen = this.watchGen;
    const cache = this.cache;
    if (cache === null || store === null) return;
    if (typeof store.watch !== 'function') {
      if (store === this.configured && this.cacheOptions.maxStaleMs > 0) cache.setUp(true, this.cacheOptions.maxStaleMs);
      return;
    }
    let delay = 5000;
    const start = (): void => {
      store.watch!({
        changed: ids => {
          if (gen === this.watchGen) cache.changed(ids);
        },
        state: up => {
          if (gen === this.watchGen) cache.setUp(up);
        },
      }).then(
        stop => {
          if (gen !== this.watchGen) return void stop().catch(() => undefined);
          this.stopWatch = stop;
          cache.setUp(true);
        },
        (err: unknown) => {
          if (gen !== this.watchGen) return;
          // No notices, no cache: every read goes to the store until a retry succeeds.
          this.failed('watch', redact(err instanceof Error ? err.message : String(err)));
          // 5 s, then doubling up to 5 minutes: a store that can't watch here (a network file
          // system) is tried again now and then, not logged every few seconds forever.
          this.retry = setTimeout(start, delay);
          this.retry.unref?.();
          delay = Math.min(delay * 2, 300_000);
        },
      );
    };
    start();
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
      return this.inProcess ? await fn() : await deadline(fn(), this.timeoutMs, op);
    } catch (err) {
      const message = redact(err instanceof Error ? err.message : String(err));
      this.failed(op, message);
      this.emit(() => ({ type: 'store-error', at: this.now(), operation: op, message }));
      throw reject('STORE_UNAVAILABLE', `store:${op}`, 'none');
    }
  }

  get(id: string): Promise<TokenRecord | null> {
    const cache = this.cache;
    if (cache === null || this.inProcess) return this.call('get', () => this.raw.get(id));
    const hit = cache.peek(id);
    if (hit !== undefined) return Promise.resolve(hit);
    const mark = cache.mark();
    return this.call('get', () => this.raw.get(id)).then(rec => {
      cache.fill(id, rec, mark);
      return rec;
    });
  }
  put(record: TokenRecord): Promise<void> {
    return this.writing({ id: record.id }, 'put', () => this.raw.put(record));
  }
  touch(id: string, lastSeenAt: number, expiresAt?: number | null): Promise<boolean> {
    return this.writing({ id }, 'touch', () => this.raw.touch(id, lastSeenAt, expiresAt));
  }
  rotate(usedId: string, next: TokenRecord, now: number): Promise<RotateResult> {
    this.cache?.writing({ id: next.id });
    return this.writing({ id: usedId }, 'rotate', () => this.raw.rotate(usedId, next, now));
  }
  countReuse(id: string, limit: number): Promise<boolean> {
    return this.writing({ id }, 'countReuse', () => this.raw.countReuse(id, limit));
  }
  /** A write: what it may change leaves this server's cache before the call and again once it is made (read-your-writes without waiting for the notice). */
  private writing<T>(where: RevokeWhere, op: string, fn: () => Promise<T>): Promise<T> {
    const cache = this.cache;
    if (cache === null) return this.call(op, fn);
    cache.writing(where);
    const after = (): void => cache.writing(where);
    const p = this.call(op, fn);
    p.then(after, after);
    return p;
  }
  /** The store's attempt counter, or this process's own when the store (or a switch's current one) has none. */
  hit(key: string, windowSeconds: number, now: number, by = 1): Promise<HitResult> {
    const raw = this.raw;
    if (typeof raw.hit !== 'function') return Promise.resolve(this.local.hit(key, windowSeconds, now, by));
    return this.call('hit', () => raw.hit!(key, windowSeconds, now, by));
  }
  revoke(where: RevokeWhere, now: number): Promise<number> {
    return this.writing(where, 'revoke', () => this.raw.revoke(where, now));
  }
  list(query: ListQuery): Promise<ListPage> {
    return this.call('list', () => this.raw.list(query));
  }
}
