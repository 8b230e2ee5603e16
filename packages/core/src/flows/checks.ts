/** The checks every authenticated request passes, written once for access, sliding, refresh, API and job tokens. */
import { clientIp } from '../client.js';
import type { Context } from '../context.js';
import type { Clear } from '../reject.js';
import { sameClient } from '../lib/ip.js';

import { reject } from '../reject.js';
import { openRecord } from '../seal.js';
import { recordIntact } from '../lib/at-rest.js';
import { SessionObject } from '../session.js';
import type { TokenRecord } from '../store.js';
import type { Claims } from '../token.js';
import type { HttpRequest, Session, User } from '../types.js';
import { JOB_SCOPES } from './scopes.js';

export function checkTenant(ctx: Context, req: HttpRequest, claims: Claims): void {
  const tenantOf = ctx.o.tenant;
  if (tenantOf && (claims.tnt ?? null) !== (tenantOf(req) ?? null)) throw reject('TOKEN_INVALID', 'tenant', 'access', claims.sid, claims.sub);
}

/** Revoked, expired, timeouts, tenant and binding, synchronously (the fast path runs it too). */
export function checkRecord(ctx: Context, req: HttpRequest, claims: Claims, record: TokenRecord | null, now: number): TokenRecord {
  const { sid, sub } = claims;
  if (record === null) throw reject('SESSION_ENDED', 'unknown-session', 'all', sid, sub);
  if (record.kind !== 'session') throw reject('TOKEN_INVALID', 'record-mismatch', 'access', sid, sub);
  // Before any field is believed: a changed seal (`safePassword`) does not open, and a record changed
  // in the store (its user, say) no longer matches its HMAC.
  openRecord(ctx, record);
  if (!recordIntact(record, claims.key)) throw tampered(ctx, 'all', sid, sub);
  if (record.subject !== sub) throw reject('TOKEN_INVALID', 'record-mismatch', 'access', sid, sub);
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

/** A record whose HMAC does not match: changed in the store, or written before records carried one. Logged at most once a minute per instance. */
export function tampered(ctx: Context, clear: Clear, id: string, sub?: string): Error {
  const now = ctx.now();
  if (now - (lastTamperWarning.get(ctx) ?? -Infinity) >= 60) {
    lastTamperWarning.set(ctx, now);
    ctx.o.logger.warn({ reason: 'record-tampered' }, 'a stored record does not match its HMAC (changed in the store, or written before records were signed): its token is refused with SESSION_ENDED');
  }
  return reject('SESSION_ENDED', 'record-tampered', clear, id, sub);
}
const lastTamperWarning = new WeakMap<Context, number>();

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

/** Claims for a token of `record`'s session; `key` is the session's secret `sid` (a presented token's `claims.key`, or the new one at login). */
export function claimsFor(record: Pick<TokenRecord, 'family' | 'subject' | 'tenant'>, key: string, jti: string, iat: number, exp: number): Claims {
  const c: Claims = { sub: record.subject, sid: record.family, key, jti, iat, exp };
  if (record.tenant != null) c.tnt = record.tenant;
  return c;
}

/** The session of a record, its user and credentials opened from the seal (`safePassword`). */
export function toSession(ctx: Context, record: TokenRecord, expiresAt: number | null): Session {
  const opened = openRecord(ctx, record);
  const kind = record.kind === 'api' || record.kind === 'job' ? record.kind : 'session';
  const session = new SessionObject(record, kind, expiresAt, opened ? opened.user : (record.user as User), opened ? opened.credentials : null);
  // Only tokens with a limited reach carry these: a login and an unscoped API token may do everything their user may.
  if (record.kind === 'job') Object.assign(session, { scopes: JOB_SCOPES, jobId: record.jobId ?? '' });
  else if (record.kind === 'api' && record.scopes != null) Object.assign(session, { scopes: Object.freeze([...record.scopes]) });
  return session;
}
