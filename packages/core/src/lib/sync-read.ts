/**
 * The in-process read the core's synchronous fast path uses. A symbol, not a method name, so it
 * stays off the public store contract: only stores living in this process (the memory store)
 * carry it, and the core skips both the await and the timeout wrapper for them.
 */
import type { TokenRecord } from '../store.js';

export const SYNC_GET: unique symbol = Symbol('tessera.syncGet');

export interface SyncReadable {
  [SYNC_GET](id: string): TokenRecord | null;
}

export function syncReader(store: object): SyncReadable | null {
  return typeof (store as Partial<SyncReadable>)[SYNC_GET] === 'function' ? (store as SyncReadable) : null;
}
