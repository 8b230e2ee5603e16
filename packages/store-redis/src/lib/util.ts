/** Helpers the single-node and the cluster store share. */
import { freezeRecord, StoreError, type TokenRecord } from '@tessera/core/store';
import { decodeRecord } from './codec.js';
import { NotConnectedError } from './conn.js';

export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

export function toArray(reply: unknown): unknown[] {
  if (Array.isArray(reply)) return reply;
  // A RESP3 set (node-redis maps it to a Set or an array depending on its type mapping).
  if (reply !== null && typeof reply === 'object' && Symbol.iterator in reply) return [...(reply as Iterable<unknown>)];
  return [];
}

export function toStrings(reply: unknown): string[] {
  return toArray(reply).map(v => String(v));
}

export function isNoScript(err: unknown): boolean {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message.startsWith('NOSCRIPT');
}

/** A short reason for logs: the error code or first line, with any URL credentials removed. */
export function reason(err: unknown): string {
  if (err instanceof NotConnectedError) return err.message;
  const e = err as { code?: unknown; message?: unknown };
  const text = typeof e?.message === 'string' ? e.message.split('\n')[0]! : String(err);
  const code = typeof e?.code === 'string' && !text.includes(e.code) ? `${e.code}: ` : '';
  return (code + text).replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1***@').slice(0, 200);
}

export function expiryArg(expiresAt: number | null): string {
  return expiresAt === null ? '' : String(expiresAt);
}

/** Ids whose last decoded value is remembered (oldest dropped first). */
const DECODED_CACHE = 10_000;

/**
 * Decoding a record costs two JSON.parse and a validation; a busy session is read back with the
 * same bytes on every request. Remembers the last decoded value per id and reuses it only when
 * the bytes Redis just returned are identical (so revocations and updates are always seen).
 */
export class DecodeCache {
  private readonly decoded = new Map<string, { raw: string; rec: TokenRecord | null }>();

  decode(raw: unknown, id: string): TokenRecord | null {
    if (typeof raw !== 'string') return decodeRecord(raw, id);
    const hit = this.decoded.get(id);
    if (hit !== undefined && hit.raw === raw) return hit.rec;
    const rec = decodeRecord(raw, id);
    if (rec !== null) freezeRecord(rec);
    if (this.decoded.size >= DECODED_CACHE) this.decoded.delete(this.decoded.keys().next().value as string);
    this.decoded.set(id, { raw, rec });
    return rec;
  }

  /** The last decoded value of `id`, if remembered (it may be out of date). */
  last(id: string): TokenRecord | null {
    return this.decoded.get(id)?.rec ?? null;
  }
}

/**
 * A store's `watch()` once its watch is made: starts it, keeps it in `watches` (stopped by the
 * store's `close()`) and resolves the function that stops it alone.
 */
export async function keepWatch<W extends { start(): Promise<void>; stop(): void }>(w: W, watches: Set<W>, closed: () => boolean): Promise<() => Promise<void>> {
  await w.start();
  if (closed()) {
    w.stop();
    throw new StoreError('redis store is closed');
  }
  watches.add(w);
  return async () => {
    w.stop();
    watches.delete(w);
  };
}
