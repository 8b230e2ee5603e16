/**
 * Pair mode: a short access token and a refresh token that rotates on every refresh. The reuse
 * rule lives here, once: a rotated-out refresh token presented again within `graceSeconds` of its
 * own rotation, at most `maxReuse` times, gets the family's current head (an honest client racing
 * itself, however many generations behind); any other reuse revokes the whole login (the token
 * was stolen, or the client is broken). A refresh that arrives with a fresh access token of the
 * same session does not rotate at all (`freshPair`).
 */
import { isSecure } from '../client.js';
import type { Context } from '../context.js';
import { randomId } from '../lib/random.js';
import { tokenIdOf } from '../lib/at-rest.js';
import { ok, type Ok } from '../outcome.js';
import { reject } from '../reject.js';
import type { TokenRecord } from '../store.js';
import type { Claims, TokenCodec } from '../token.js';
import type { Credentials } from '../credentials.js';
import type { HttpRequest } from '../types.js';
import { capExpiry, claimsFor, inWindow, loadSession, maybeTouch, toSession } from './checks.js';
import { API_PREFIX } from './api-tokens.js';
import { judgeRefreshFailure } from './throttle.js';

/** At most this many `replacedBy` links are followed from a rotated-out token to the head. */
const MAX_HOPS = 16;

/** Rotates (or judges) a presented refresh token; an unknown or forged one also counts towards its address's limit (throttle.ts). */
export async function rotatePair(ctx: Context, req: HttpRequest, codec: TokenCodec, refreshToken: string, now: number): Promise<Ok> {
  try {
    return await rotate(ctx, req, codec, refreshToken, now);
  } catch (err) {
    throw await judgeRefreshFailure(ctx, req, err, now);
  }
}

async function rotate(ctx: Context, req: HttpRequest, codec: TokenCodec, refreshToken: string, now: number): Promise<Ok> {
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
    current = await headWithinGrace(ctx, claims, session, result.current, now);
    grace = true;
  }

  const refreshExp = current.expiresAt ?? exp;
  const accessExp = Math.min(now + o.accessTtl, refreshExp);
  const accessToken = await codec.sign('access', claimsFor(session, claims.key, randomId(), now, accessExp));
  // Signing is deterministic, so a grace winner gets the very token the rotation winner got.
  const newRefresh = await codec.sign('refresh', claimsFor(session, claims.key, current.id, current.createdAt, refreshExp));
  const secure = isSecure(ctx, req);
  const cookies = [ctx.jar.access(accessToken, refreshExp - now, secure, now), ctx.jar.refresh(newRefresh, refreshExp - now, secure, now)];
  ctx.emit(() => ({ type: 'refreshed', at: now, mode: 'pair', sessionId: session.id, subject: session.subject, grace }));
  return ok(toSession(ctx, { ...session, expiresAt: sessionExp, lastSeenAt: now }, accessExp), cookies, { accessToken, refreshToken: newRefresh });
}

/**
 * The rotation lost: the presented token was already rotated (or is gone). Within grace of its
 * own rotation it gets the family's current head, found by following `replacedBy` links (every
 * hop a live refresh record of this family); anything else is reuse.
 */
async function headWithinGrace(ctx: Context, claims: Claims, session: TokenRecord, used: TokenRecord | null, now: number): Promise<TokenRecord> {
  if (used === null || (used.expiresAt !== null && used.expiresAt <= now)) throw reject('SESSION_ENDED', 'refresh-missing', 'all', claims.sid, claims.sub);
  if (used.revokedAt !== null) throw reject('SESSION_ENDED', 'refresh-revoked', 'all', claims.sid, claims.sub);
  if (used.kind !== 'refresh' || used.family !== session.id) throw reject('TOKEN_INVALID', 'refresh-record-mismatch', 'all', claims.sid, claims.sub);
  const policy = ctx.o.refreshReuse;
  if (policy !== undefined && withinGrace(used, policy.graceSeconds, now) && (await ctx.store.countReuse(used.id, policy.maxReuse))) {
    const head = await headOf(ctx, used, session.id, now);
    if (head !== null) return head;
  }
  return reuseDetected(ctx, claims, now);
}

/**
 * Inclusive at `graceSeconds`. Times are whole seconds, so a reuse in the very second of the
 * rotation is `now - rotatedAt === 0`: `graceSeconds: 0` must mean no grace at all, not that second.
 */
function withinGrace(used: TokenRecord, graceSeconds: number, now: number): boolean {
  return graceSeconds > 0 && used.rotatedAt != null && used.replacedBy != null && now - used.rotatedAt <= graceSeconds;
}

/** The unrotated record at the end of `used`'s `replacedBy` chain, or null (broken, foreign or too long a chain). */
async function headOf(ctx: Context, used: TokenRecord, family: string, now: number): Promise<TokenRecord | null> {
  let link = used.replacedBy;
  for (let hop = 0; hop < MAX_HOPS && link != null; hop++) {
    const rec = await ctx.store.get(link);
    if (rec === null || rec.kind !== 'refresh' || rec.family !== family || rec.revokedAt !== null) return null;
    if (rec.expiresAt !== null && rec.expiresAt <= now) return null;
    if (rec.rotatedAt == null) return rec;
    link = rec.replacedBy;
  }
  return null;
}

/**
 * The explicit refresh route, before rotating: when the request also carries an access token that
 * is still fresh (valid, not expired, outside its refresh window) for the same session as the
 * refresh token, and that refresh token is the family's head, nothing is rotated: the session is
 * answered as it stands, with no new cookies or tokens. Another tab got there first; a new
 * generation would only strand the requests still carrying the previous one. Returns null when
 * the request must be rotated (or judged: grace or reuse) by `rotatePair`.
 */
export async function freshPair(ctx: Context, req: HttpRequest, codec: TokenCodec, creds: Credentials, refreshToken: string, now: number): Promise<Ok | null> {
  const o = ctx.o;
  const bearer = o.bearerSessions && creds.bearer !== undefined && !creds.bearer.startsWith(API_PREFIX) ? creds.bearer : undefined;
  const access = creds.access.status === 'found' ? creds.access.value : bearer;
  if (access === undefined) return null;
  const a = await codec.verify('access', access, now);
  if (!a.ok || (o.refreshable && inWindow(ctx, a.claims, o.accessTtl, now))) return null;
  const r = await codec.verify('refresh', refreshToken, now);
  if (!r.ok || r.claims.sid !== a.claims.sid || r.claims.sub !== a.claims.sub || (r.claims.tnt ?? null) !== (a.claims.tnt ?? null)) return null;
  const record = await loadSession(ctx, req, a.claims, now);
  const used = await ctx.store.get(r.claims.jti);
  // Only the head: a rotated-out token goes to rotatePair, which hands out the head (grace) or revokes (reuse).
  if (used === null || used.kind !== 'refresh' || used.family !== record.id || used.revokedAt !== null || used.rotatedAt != null) return null;
  if (used.expiresAt !== null && used.expiresAt <= now) return null;
  await maybeTouch(ctx, record, now);
  return ok(toSession(ctx, record, a.claims.exp));
}

async function reuseDetected(ctx: Context, claims: Claims, now: number): Promise<never> {
  ctx.emit(() => ({ type: 'reuse-detected', at: now, sessionId: claims.sid, subject: claims.sub, tokenId: tokenIdOf(claims.jti) }));
  const count = await ctx.store.revoke({ family: claims.sid }, now);
  ctx.emit(() => ({ type: 'revoked', at: now, by: 'reuse', where: { family: claims.sid }, count }));
  throw reject('REFRESH_REUSED', 'refresh-reused', 'all', claims.sid, claims.sub);
}
