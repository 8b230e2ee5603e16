/** The checks every authenticated request passes, written once for access, sliding, refresh and API tokens. */
import { clientIp } from '../client.js';
import type { Context } from '../context.js';
import { sameClient } from '../lib/ip.js';

import { reject } from '../reject.js';
import type { TokenRecord } from '../store.js';
import type { Claims } from '../token.js';
import type { HttpRequest, Session, User } from '../types.js';

export function checkTenant(ctx: Context, req: HttpRequest, claims: Claims): void {
  const tenantOf = ctx.o.tenant;
  if (tenantOf && (claims.tnt ?? null) !== (tenantOf(req) ?? null)) throw reject('TOKEN_INVALID', 'tenant', 'access', claims.sid, claims.sub);
}

/** Revoked, expired, timeouts, tenant and binding, synchronously (the fast path runs it too). */
export function checkRecord(ctx: Context, req: HttpRequest, claims: Claims, record: TokenRecord | null, now: number): TokenRecord {
  const { sid, sub } = claims;
  if (record === null) throw reject('SESSION_ENDED', 'unknown-session', 'all', sid, sub);
  if (record.kind !== 'session' || record.subject !== sub) throw reject('TOKEN_INVALID', 'record-mismatch', 'access', sid, sub);
  if ((record.tenant ?? null) !== (claims.tnt ?? null)) throw reject('TOKEN_INVALID', 'tenant', 'access', sid, sub);
  if (record.revokedAt !== null) throw reject('SESSION_ENDED', 'revoked', 'all', sid, sub);
  if (record.expiresAt !== null && record.expiresAt <= now) throw reject('SESSION_ENDED', 'expired', 'all', sid, sub);
  if (record.absoluteExpiresAt != null && record.absoluteExpiresAt <= now) throw reject('SESSION_ENDED', 'absolute-timeout', 'all', sid, sub);
  const idle = ctx.o.idleTimeout;
  if (idle > 0 && now - record.lastSeenAt > idle) throw reject('SESSION_ENDED', 'idle-timeout', 'all', sid, sub);
  if (record.binding && !sameClient(record.ip ?? '', record.binding, clientIp(ctx, req))) {
    throw reject('BINDING_MISMATCH', `ip-${record.binding}`, 'all', sid, sub);
  }
  return record;
}

/** Tenant, then the session record read from the store, then `checkRecord`. */
export async function loadSession(ctx: Context, req: HttpRequest, claims: Claims, now: number): Promise<TokenRecord> {
  checkTenant(ctx, req, claims);
  return checkRecord(ctx, req, claims, await ctx.store.get(claims.sid), now);
}

/** Whether lastSeenAt is due for a write (at most once per touchInterval per session). */
export function touchDue(ctx: Context, record: TokenRecord, now: number): boolean {
  return now - record.lastSeenAt >= ctx.o.touchInterval;
}

/**
 * Writes lastSeenAt when due. With an idle timeout the write is awaited (the next request must
 * see it); without one, lastSeenAt is informational and the write happens off the request path.
 * A failed touch never fails the request: the session was authenticated by a successful read.
 */
export async function maybeTouch(ctx: Context, record: TokenRecord, now: number): Promise<void> {
  if (!touchDue(ctx, record, now)) return;
  const write = ctx.store.touch(record.id, now).then(
    () => undefined,
    () => undefined,
  );
  if (ctx.o.idleTimeout > 0) await write;
}

/** Inside the reissue window (`refreshBefore`) of a token of this lifetime. */
export function inWindow(ctx: Context, claims: Claims, lifetime: number, now: number): boolean {
  const rb = ctx.o.refreshBefore;
  // Rounded up: a client measuring in milliseconds (`@tessera/client`) asks at 20 % exactly, which a
  // whole-second clock may still see as a second short of the window.
  const window = 'share' in rb ? Math.ceil(lifetime * rb.share) : rb.seconds;
  return claims.exp - now <= window;
}

/** `now + lifetime`, capped by the session's absolute timeout. */
export function capExpiry(now: number, lifetime: number, record: Pick<TokenRecord, 'absoluteExpiresAt'>): number {
  const exp = now + lifetime;
  return record.absoluteExpiresAt != null ? Math.min(exp, record.absoluteExpiresAt) : exp;
}

export function claimsFor(record: Pick<TokenRecord, 'family' | 'subject' | 'tenant'>, jti: string, iat: number, exp: number): Claims {
  const c: Claims = { sub: record.subject, sid: record.family, jti, iat, exp };
  if (record.tenant != null) c.tnt = record.tenant;
  return c;
}

export function toSession(record: TokenRecord, expiresAt: number | null): Session {
  return {
    id: record.family,
    kind: record.kind === 'api' ? 'api' : 'session',
    user: record.user as User,
    subject: record.subject,
    tenant: record.tenant ?? null,
    createdAt: record.createdAt,
    expiresAt,
    sessionExpiresAt: record.expiresAt,
  };
}
