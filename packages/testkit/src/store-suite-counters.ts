/**
 * Conformance cases for the optional attempt counter of the store seam (`hit`), which login and
 * refresh throttling count with. Registered by `defineStoreSuite` for every store; each case runs
 * only when the store has `hit` (without it the core counts in process).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { isBulkStore, isStoreError, type HitResult, type RecordKind, type TokenRecord, type TokenStore } from '@tessera/core/store';

/** What `defineStoreSuite` hands over: its store of the current test, its clock and its record maker. */
export interface CounterSuiteContext<S extends TokenStore> {
  store: () => S;
  now: () => number;
  rec: (kind: RecordKind, over?: Omit<Partial<TokenRecord>, 'user'> & { user?: object }) => TokenRecord;
}

/** A key as the core makes them: a purpose and a SHA-256 (base64url). */
function counterKey(purpose = 'login-user'): string {
  return `${purpose}:${randomBytes(32).toString('base64url')}`;
}

export function defineCounterCases<S extends TokenStore>(ctx: CounterSuiteContext<S>): void {
  /** The store's `hit`, or null (the case then does nothing). */
  function hitOf(): ((key: string, windowSeconds: number, now: number, by?: number) => Promise<HitResult>) | null {
    const store = ctx.store();
    return typeof store.hit === 'function' ? store.hit.bind(store) : null;
  }

  describe('counters: hit', () => {
    it('starts a window at the first hit, counts within it, and starts again once it has ended (resetAt <= now)', async () => {
      const hit = hitOf();
      if (!hit) return;
      const T = ctx.now();
      const k = counterKey();
      await expect(hit(k, 60, T)).resolves.toEqual({ count: 1, resetAt: T + 60 });
      await expect(hit(k, 60, T + 10)).resolves.toEqual({ count: 2, resetAt: T + 60 });
      // The window is the first hit's: a later one with another length does not move it.
      await expect(hit(k, 600, T + 59)).resolves.toEqual({ count: 3, resetAt: T + 60 });
      await expect(hit(k, 60, T + 60)).resolves.toEqual({ count: 1, resetAt: T + 120 });
      await expect(hit(k, 60, T + 61, 2)).resolves.toEqual({ count: 3, resetAt: T + 120 });
    });

    it('by 0 reads and by -1 takes one back: never below 0, and neither creates a counter; keys are independent', async () => {
      const hit = hitOf();
      if (!hit) return;
      const T = ctx.now();
      const [a, b] = [counterKey(), counterKey('login-address')];
      await expect(hit(a, 60, T, 0)).resolves.toEqual({ count: 0, resetAt: T });
      await expect(hit(a, 60, T, -1)).resolves.toEqual({ count: 0, resetAt: T });
      await expect(hit(a, 60, T + 1)).resolves.toEqual({ count: 1, resetAt: T + 61 }); // the take-back left nothing behind
      await hit(a, 60, T + 1);
      await hit(a, 60, T + 1);
      await expect(hit(a, 60, T + 2, -1)).resolves.toEqual({ count: 2, resetAt: T + 61 });
      await expect(hit(a, 60, T + 3, 0)).resolves.toEqual({ count: 2, resetAt: T + 61 });
      await expect(hit(b, 60, T + 3)).resolves.toEqual({ count: 1, resetAt: T + 63 });
      await expect(hit(a, 60, T + 3, 0)).resolves.toEqual({ count: 2, resetAt: T + 61 });
      for (let i = 0; i < 3; i++) await hit(a, 60, T + 4, -1);
      await expect(hit(a, 60, T + 4, 0)).resolves.toEqual({ count: 0, resetAt: T + 61 });
      await expect(hit(a, 60, T + 5)).resolves.toEqual({ count: 1, resetAt: T + 61 });
      // Once the window has ended, nothing is left to read or take back.
      await expect(hit(a, 60, T + 100, 0)).resolves.toEqual({ count: 0, resetAt: T + 100 });
      await expect(hit(a, 60, T + 100, -1)).resolves.toEqual({ count: 0, resetAt: T + 100 });
      await expect(hit(b, 60, T + 63, 0)).resolves.toEqual({ count: 0, resetAt: T + 63 });
    });

    it('N concurrent hits of one key get the counts 1..N exactly, in a new window and in a restarted one', async () => {
      const hit = hitOf();
      if (!hit) return;
      const T = ctx.now();
      const k = counterKey();
      const N = 40;
      const first = await Promise.all(Array.from({ length: N }, () => hit(k, 60, T)));
      expect(first.map(r => r.count).sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
      expect(new Set(first.map(r => r.resetAt))).toEqual(new Set([T + 60]));
      await expect(hit(k, 60, T, 0)).resolves.toEqual({ count: N, resetAt: T + 60 });
      // After the window: concurrent hits race to restart it; one does, the others count on it.
      const second = await Promise.all(Array.from({ length: N / 2 }, () => hit(k, 60, T + 60)));
      expect(second.map(r => r.count).sort((x, y) => x - y)).toEqual(Array.from({ length: N / 2 }, (_, i) => i + 1));
      expect(new Set(second.map(r => r.resetAt))).toEqual(new Set([T + 120]));
      // Take-backs racing hits: every one lands.
      await Promise.all([...Array.from({ length: 10 }, () => hit(k, 60, T + 61, -1)), ...Array.from({ length: 10 }, () => hit(k, 60, T + 61))]);
      await expect(hit(k, 60, T + 61, 0)).resolves.toEqual({ count: N / 2, resetAt: T + 120 });
    });

    it('lives apart from the records: never listed, exported, counted or revoked; purgeExpired does not count them', async () => {
      const hit = hitOf();
      if (!hit) return;
      const store = ctx.store();
      const T = ctx.now();
      const session = ctx.rec('session');
      await store.put(session);
      const keys = [counterKey(), counterKey('login-address'), counterKey('refresh-address')];
      for (const k of keys) await hit(k, 60, T);
      expect((await store.list({ limit: 100 })).records.map(r => r.id)).toEqual([session.id]);
      if (isBulkStore(store)) {
        expect((await store.exportRecords(null, 100)).records.map(r => r.id)).toEqual([session.id]);
      }
      if (store.countRecords) await expect(store.countRecords()).resolves.toBe(1);
      await expect(store.revoke({ all: true }, T)).resolves.toBe(1);
      // The revoked record goes; the counters neither count nor go while their window is open.
      await expect(store.purgeExpired(T + 1)).resolves.toBe(1);
      for (const k of keys) await expect(hit(k, 60, T + 1, 0)).resolves.toEqual({ count: 1, resetAt: T + 60 });
      // Ended counters may be dropped, but never counted as records.
      await expect(store.purgeExpired(T + 61)).resolves.toBe(0);
      await expect(hit(keys[0]!, 60, T + 61)).resolves.toEqual({ count: 1, resetAt: T + 121 });
      expect((await store.list({ limit: 100 })).records).toEqual([]);
    });

    it('a closed store rejects hit with STORE_UNAVAILABLE', async () => {
      const hit = hitOf();
      if (!hit) return;
      await ctx.store().close();
      const err = await hit(counterKey(), 60, ctx.now()).then(
        () => new Error('hit resolved on a closed store'),
        (e: unknown) => e,
      );
      expect((err as { code?: unknown }).code).toBe('STORE_UNAVAILABLE');
      expect(isStoreError(err)).toBe(true);
    });
  });
}
