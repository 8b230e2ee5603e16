/** The per-user session cap (`maxSessionsPerUser`): a new login ends the user's oldest sessions beyond it. */
import type { Context } from '../context.js';
import { isLive, type TokenRecord } from '../store.js';

const PAGE = 1000;

/**
 * Before a login of `subject` (in `tenant`) is stored: ends its oldest live sessions so that
 * `cap - 1` remain, and exactly `cap` with the new one. Only sessions count; API and job tokens
 * are not logins. Run before the new record is written, so a failed store call leaves no
 * unusable session behind (and the login can be retried).
 *
 * Not atomic: concurrent logins of one user each count before the others are stored, so the
 * user may briefly hold more than the cap; the next login brings it back down.
 */
export async function makeRoomForLogin(ctx: Context, subject: string, tenant: string | null, now: number): Promise<void> {
  const cap = ctx.o.maxSessionsPerUser;
  if (cap === 0) return;
  const live: TokenRecord[] = [];
  let cursor: string | null = null;
  do {
    const page = await ctx.store.list({ subject, kind: 'session', cursor, limit: PAGE });
    for (const r of page.records) if (stillCounts(ctx, r, subject, tenant, now)) live.push(r);
    cursor = page.cursor;
  } while (cursor !== null);
  const excess = live.length - (cap - 1);
  if (excess <= 0) return;
  // Oldest login first; within one second the order is arbitrary but stable.
  live.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const r of live.slice(0, excess)) {
    const count = await ctx.store.revoke({ family: r.id }, now);
    ctx.emit(() => ({ type: 'revoked', at: now, by: 'session-cap', where: { family: r.id }, count }));
  }
}

/**
 * A session of this user and tenant that could still authenticate (what `checkRecord` decides
 * without a request): a session already dead by a timeout is not worth ending a live one for.
 */
function stillCounts(ctx: Context, r: TokenRecord, subject: string, tenant: string | null, now: number): boolean {
  if (r.kind !== 'session' || r.subject !== subject || (r.tenant ?? null) !== tenant || !isLive(r, now)) return false;
  if (r.absoluteExpiresAt != null && r.absoluteExpiresAt <= now) return false;
  const idle = ctx.o.idleTimeout;
  return !(idle > 0 && now - r.lastSeenAt > idle);
}
