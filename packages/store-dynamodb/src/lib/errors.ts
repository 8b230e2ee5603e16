/** Mapping AWS SDK failures: failed conditions are decisions, everything else is a `StoreError`. */
import { StoreError } from '@tessera/core/store';

export function isConditionFailure(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'ConditionalCheckFailedException';
}

export function errorName(err: unknown): string | undefined {
  const e = err as { name?: unknown; code?: unknown } | null;
  if (e && typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return e.code;
  return e && typeof e.name === 'string' ? e.name : undefined;
}

export function redactUrl(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^@/?#\s]*@/gi, '$1:***@');
}

const HINTS: Record<string, string> = {
  ResourceNotFoundException: 'table missing: call `await store.setup()` once, or create it as the README describes',
  AccessDeniedException: 'the credentials lack a permission listed in the README',
};

/** Any SDK or network failure -> StoreError (code STORE_UNAVAILABLE); never includes credentials. */
export function toStoreError(op: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const name = errorName(err);
  const msg = err instanceof Error ? redactUrl(err.message).slice(0, 300) : String(err);
  const hint = name && HINTS[name] ? ` (${HINTS[name]})` : '';
  return new StoreError(`dynamodb store: ${op} failed${name ? ` [${name}]` : ''}: ${msg}${hint}`, { cause: err });
}
