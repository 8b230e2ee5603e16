/** Freshness for sensitive actions: a session whose login is older than `freshAge` must log in again. */
import type { Context } from '../context.js';
import { refuse } from '../outcome.js';
import { reject } from '../reject.js';
import type { AuthResult, HttpRequest } from '../types.js';

/** The result as is when the login is recent enough; else REAUTH_REQUIRED (FORBIDDEN for API tokens, which are never a fresh login). */
export function requireFresh(ctx: Context, req: HttpRequest, r: AuthResult, maxAge: number = ctx.o.freshAge): AuthResult {
  if (!r.ok) return r;
  const { session } = r;
  if (session.kind !== 'session') return refuse(ctx, req, reject('FORBIDDEN', 'not-a-login', 'none', session.id, session.subject));
  if (ctx.now() - session.createdAt > maxAge) return refuse(ctx, req, reject('REAUTH_REQUIRED', 'stale-login', 'none', session.id, session.subject));
  return r;
}
