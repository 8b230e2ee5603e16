/** Sliding mode: one token, reissued with a later expiry when a request arrives inside the refresh window. */
import { isSecure } from '../client.js';
import type { Context } from '../context.js';
import { randomId } from '../lib/random.js';
import { ok, type Ok } from '../outcome.js';
import { reject } from '../reject.js';
import type { TokenRecord } from '../store.js';
import type { Claims, TokenCodec } from '../token.js';
import type { HttpRequest } from '../types.js';
import { capExpiry, claimsFor, toSession } from './checks.js';

/**
 * Reissues the session token, extending the record's expiry with a partial `touch` (never a
 * read-modify-write `put`, which could overwrite a concurrent revocation). Null when the new
 * token would not outlive the presented one (an absolute timeout caps it).
 */
export async function reissue(ctx: Context, req: HttpRequest, codec: TokenCodec, record: TokenRecord, claims: Claims, now: number, always = false): Promise<Ok | null> {
  const exp = capExpiry(now, ctx.o.ttl, record);
  if (!always && exp <= claims.exp) return null;
  if (!(await ctx.store.touch(record.id, now, exp))) throw reject('SESSION_ENDED', 'revoked', 'all', record.id, record.subject);
  const token = await codec.sign('session', claimsFor(record, claims.key, randomId(), now, exp));
  ctx.emit(() => ({ type: 'refreshed', at: now, mode: 'sliding', sessionId: record.id, subject: record.subject, grace: false }));
  const cookie = ctx.jar.access(token, exp - now, isSecure(ctx, req), now);
  return ok(toSession(ctx, { ...record, expiresAt: exp, lastSeenAt: now }, exp), [cookie], { token });
}

/** The refresh route in sliding mode: reissue for the session the presented token authenticated, whatever the window. */
export async function refreshSliding(ctx: Context, req: HttpRequest, codec: TokenCodec, claims: Claims, now: number): Promise<Ok> {
  const record = await ctx.store.get(claims.sid);
  if (!record || record.revokedAt !== null) throw reject('SESSION_ENDED', 'revoked', 'all', claims.sid, claims.sub);
  return (await reissue(ctx, req, codec, record, claims, now, true))!;
}
