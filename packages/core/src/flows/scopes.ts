/** Scopes: which of Tessera's own powers an API or job token carries beyond the ordinary routes. */
import { reject } from '../reject.js';
import type { Session } from '../types.js';

/**
 * The scopes Tessera itself checks. `admin`: the administration routes (`/auth/admin/*`, with its
 * user's rights: `isAdmin` still decides about other users). `jobs`: creating and revoking job
 * tokens. Other names are the app's own: they are stored and shown as `session.scopes`.
 */
export type Scope = 'admin' | 'jobs';

/** A job token's scopes: none of Tessera's (no admin routes, no job tokens of its own, no logout). */
export const JOB_SCOPES: readonly string[] = Object.freeze([]);

const SCOPE = /^[A-Za-z0-9][A-Za-z0-9:._/-]{0,63}$/;
const MAX_SCOPES = 32;

/**
 * Whether a session may use `scope`. Sessions and unscoped API tokens carry no `scopes` and may do
 * everything their user may (the historical behaviour of API tokens).
 */
export function allows(session: Session, scope: Scope): boolean {
  return session.scopes === undefined || session.scopes.includes(scope);
}

/** FORBIDDEN unless the session may use `scope`. */
export function requireScope(session: Session, scope: Scope): void {
  if (!allows(session, scope)) throw reject('FORBIDDEN', `scope-${scope}`, 'none', session.id, session.subject);
}

/**
 * A scope list as given to `createApiToken` (or the token route): null/undefined = unscoped;
 * else up to 32 distinct names of 1 to 64 characters (letters, digits, `: . _ / -`), sorted.
 * Anything else is a TypeError naming the problem.
 */
export function checkScopes(value: unknown): string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) throw new TypeError('scopes must be an array of strings');
  if (value.length > MAX_SCOPES) throw new TypeError(`at most ${MAX_SCOPES} scopes`);
  for (const s of value) if (typeof s !== 'string' || !SCOPE.test(s)) throw new TypeError('a scope is 1 to 64 letters, digits or `: . _ / -`, starting with a letter or digit');
  return [...new Set(value as string[])].sort();
}
