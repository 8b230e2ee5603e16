/** Wraps a store so tests can make it fail or hang on demand. */
import { StoreError, isLive, type RotateResult, type TokenRecord, type TokenStore } from '@tessera/core/store';

export type FailMode = 'ok' | 'fail' | 'hang';

export interface FailingStore extends TokenStore {
  mode: FailMode;
  /** Calls made while failing or hanging. */
  readonly refused: number;
  /** Disables the atomic claim of `rotate` (read, then write), so tests can prove the race has teeth. */
  racyRotate: boolean;
}

export function failingStore(inner: TokenStore): FailingStore {
  let refused = 0;
  const wrapper = {
    mode: 'ok' as FailMode,
    racyRotate: false,
    get refused() {
      return refused;
    },
  } as unknown as FailingStore;
  const methods = ['get', 'put', 'touch', 'rotate', 'countReuse', 'revoke', 'list', 'purgeExpired', 'initSecret', 'hit'] as const;
  for (const m of methods) {
    const fn = (inner as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[m];
    if (typeof fn !== 'function') continue;
    (wrapper as unknown as Record<string, unknown>)[m] = (...args: unknown[]) => {
      if (wrapper.mode === 'fail') {
        refused++;
        return Promise.reject(new StoreError('injected store failure'));
      }
      if (wrapper.mode === 'hang') {
        refused++;
        return new Promise(() => {});
      }
      if (m === 'rotate' && wrapper.racyRotate) return racyRotate(inner, ...(args as Parameters<TokenStore['rotate']>));
      return fn.apply(inner, args);
    };
  }
  wrapper.close = () => inner.close();
  return wrapper;
}

/**
 * A deliberately broken rotate: read, yield, then write, answering `rotated` — what a store
 * without an atomic compare-and-set does. Concurrent callers all pass the check on the same
 * stale read, so several win.
 */
async function racyRotate(inner: TokenStore, usedId: string, next: TokenRecord, now: number): Promise<RotateResult> {
  const used = await inner.get(usedId);
  await new Promise(r => setTimeout(r, 5));
  if (used === null || !isLive(used, now) || used.rotatedAt != null) return { status: 'conflict', current: used };
  await inner.put({ ...used, rotatedAt: now, replacedBy: next.id, reuseCount: 0 });
  await inner.put(next);
  return { status: 'rotated' };
}
