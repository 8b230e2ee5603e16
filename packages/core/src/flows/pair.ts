/**
 * Pair mode: a short access token and a refresh token that rotates on every refresh. The reuse
 * rule lives here, once: a rotated-out refresh token presented again within `graceSeconds` of its
 * rotation, at most `maxReuse` times, gets the successor (an honest client racing itself);
 * any other reuse revokes the whole login (the token was stolen, or the client is broken).
 */
import { isSecure } from '../client.js';
import type { Context } from '../context.js';
import { randomId } from '../lib/random.js';
import { ok, type Ok } from '../outcome.js';
import { reject } from '../reject.js';
import type { TokenRecord } from '../store.js';
import type { Claims, TokenCodec } from '../token.js';
import type { HttpRequest } from '../types.js';
import { capExpiry, claimsFor, loadSession, toSession } from './checks.js';

export async function rotatePair(ctx: Context, req: HttpRequest, codec: TokenCodec, refreshToken: string, now: number): Promise<Ok> {
  const o = ctx.o;
  if (!o.refreshable) throw reject('TOKEN_EXPIRED', 'refresh-disabled', 'none');
  const v = await codec.verify('refresh', refreshToken, now);
  if (!v.ok) {
    throw v.code === 'TOKEN_EXPIRED' ? reject('SESSION_ENDED', 'refresh-expired', 'all') : reject('TOKEN_INVALID', `refresh-${v.reason}`, 'all');
  }
  const claims = v.claims;
  const session = await loadSession(ctx, req, claims, now);
  const exp = capExpiry(now, o.refreshTtl, session);
  if (exp <= now) throw reject('SESSION_ENDED', 'absolute-timeout', 'all', claims.sid, claims.sub);
  const next: TokenRecord = { id: randomId(), kind: 'refresh', subject: session.subject, family: session.id, createdAt: now, lastSeenAt: now, expiresAt: exp, revokedAt: null };
  if (session.tenant != null) next.tenant = session.tenant;

  // The session record first: if this write fails, nothing is consumed and the client may retry
  // with the same refresh token (after the rotation it would be a reuse).
  const sessionExp = Math.max(session.expiresAt ?? 0, exp);
  if (!(await ctx.store.touch(session.id, now, sessionExp))) throw reject('SESSION_ENDED', 'revoked', 'all', claims.sid, claims.sub);

  const result = await ctx.store.rotate(claims.jti, next, now);
  let current = next;
  let grace = false;
  if (result.status === 'conflict') {
    current = await successorWithinGrace(ctx, claims, session, result.current, now);
    grace = true;
  }

  const refreshExp = current.expiresAt ?? exp;
  const accessExp = Math.min(now + o.accessTtl, refreshExp);
  const accessToken = await codec.sign('access', claimsFor(session, randomId(), now, accessExp));
  // Signing is deterministic, so a grace winner gets the very token the rotation winner got.
  const newRefresh = await codec.sign('refresh', claimsFor(session, current.id, current.createdAt, refreshExp));
  const secure = isSecure(ctx, req);
  const cookies = [ctx.jar.access(accessToken, refreshExp - now, secure, now), ctx.jar.refresh(newRefresh, refreshExp - now, secure, now)];
  ctx.emit(() => ({ type: 'refreshed', at: now, mode: 'pair', sessionId: session.id, subject: session.subject, grace }));
  return ok(toSession({ ...session, expiresAt: sessionExp, lastSeenAt: now }, accessExp), cookies, { accessToken, refreshToken: newRefresh });
}

/** The rotation lost: the presented token was already rotated (or is gone). Grace, or reuse detected. */
async function successorWithinGrace(ctx: Context, claims: Claims, session: TokenRecord, used: TokenRecord | null, now: number): Promise<TokenRecord> {
  if (used === null || (used.expiresAt !== null && used.expiresAt <= now)) throw reject('SESSION_ENDED', 'refresh-missing', 'all', claims.sid, claims.sub);
  if (used.revokedAt !== null) throw reject('SESSION_ENDED', 'refresh-revoked', 'all', claims.sid, claims.sub);
  if (used.kind !== 'refresh' || used.family !== session.id) throw reject('TOKEN_INVALID', 'refresh-record-mismatch', 'all', claims.sid, claims.sub);
  const policy = ctx.o.refreshReuse;
  const inGrace = policy !== undefined && used.rotatedAt != null && used.replacedBy != null && now - used.rotatedAt <= policy.graceSeconds;
  if (inGrace && (await ctx.store.countReuse(used.id, policy.maxReuse))) {
    const successor = await ctx.store.get(used.replacedBy!);
    if (successor && successor.kind === 'refresh' && successor.family === session.id && successor.revokedAt === null && successor.rotatedAt == null) {
      return successor;
    }
  }
  return reuseDetected(ctx, claims, now);
}

async function reuseDetected(ctx: Context, claims: Claims, now: number): Promise<never> {
  ctx.emit(() => ({ type: 'reuse-detected', at: now, sessionId: claims.sid, subject: claims.sub, tokenId: claims.jti }));
  const count = await ctx.store.revoke({ family: claims.sid }, now);
  ctx.emit(() => ({ type: 'revoked', at: now, by: 'reuse', where: { family: claims.sid }, count }));
  throw reject('REFRESH_REUSED', 'refresh-reused', 'all', claims.sid, claims.sub);
}
