/** Fixed-window attempt counters in process memory: the memory store's `hit`, and the core's fallback for a store without one. */
import type { HitResult } from '../store.js';

export class WindowCounters {
  private readonly counters = new Map<string, { count: number; resetAt: number }>();

  /**
   * `capacity` bounds the memory an attacker can make this take (one counter per username or
   * address tried): beyond it the oldest windows are dropped first, which are the first to end.
   */
  constructor(readonly capacity = 100_000) {}

  get size(): number {
    return this.counters.size;
  }

  /** `TokenStore.hit`, synchronously: nothing can interleave, so it is atomic within the process. */
  hit(key: string, windowSeconds: number, now: number, by = 1): HitResult {
    const c = this.counters.get(key);
    if (c !== undefined && c.resetAt > now) {
      c.count = Math.max(0, c.count + by);
      return { count: c.count, resetAt: c.resetAt };
    }
    if (c !== undefined) this.counters.delete(key);
    if (by <= 0) return { count: 0, resetAt: now };
    const fresh = { count: by, resetAt: now + windowSeconds };
    this.counters.set(key, fresh); // last in insertion order: evicted last
    while (this.counters.size > this.capacity) this.counters.delete(this.counters.keys().next().value as string);
    return { ...fresh };
  }

  /** Drops the counters whose window ended at `now`. */
  purge(now: number): void {
    for (const [key, c] of this.counters) if (c.resetAt <= now) this.counters.delete(key);
  }
}
