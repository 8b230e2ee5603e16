/** Turning driver failures into `StoreError` without leaking credentials. */
import { StoreError } from '@tessera/core/store';

/** `postgres://user:secret@host/db` -> `postgres://user:***@host/db` (also hides `password=` parameters). */
export function redactUrl(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^@/?#\s]*@/gi, '$1:***@')
    .replace(/(password=)[^&\s]*/gi, '$1***');
}

/** SQLSTATE values worth a hint in the message. */
const HINTS: Record<string, string> = {
  '42P01': 'table missing: call `await store.setup()` once before use',
  '57014': 'query timed out or was cancelled',
  '53300': 'too many connections',
};

/**
 * Wraps any failure of a backend call into a `StoreError` (code STORE_UNAVAILABLE) so the core
 * answers 503 and fails closed. The message carries the SQLSTATE / errno and the driver's text,
 * never the query parameters, and URLs in it are redacted.
 */
export function toStoreError(op: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = e && typeof e.code === 'string' ? e.code : undefined;
  const text = e && typeof e.message === 'string' ? redactUrl(e.message).slice(0, 300) : String(err);
  const hint = code && HINTS[code] ? ` (${HINTS[code]})` : '';
  return new StoreError(`postgres store: ${op} failed${code ? ` [${code}]` : ''}: ${text}${hint}`, { cause: err });
}
