/**
 * API tokens: `tsr_<id>.<secret>`, non-expiring unless given a ttl, revocable. The store keeps a
 * SHA-256 of the secret part, compared in constant time; the raw token is shown once, at creation.
 */
import type { Context } from '../context.js';
import { parseDuration } from '../lib/duration.js';
import { randomId, safeEqual, sha256 } from '../lib/random.js';
import { ok, type Ok } from '../outcome.js';
import { reject } from '../reject.js';
import type { TokenRecord } from '../store.js';
import type { Duration } from '../options.js';
import { storableUser } from '../lib/json-user.js';
import type { HttpRequest, User } from '../types.js';
import { maybeTouch, toSession } from './checks.js';
import { infoOf, type SessionInfo } from './admin.js';

export const API_PREFIX = 'tsr_';
const API_TOKEN = /^tsr_([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{32,128})$/;

export interface CreateApiTokenInput<U extends User = User> {
  user: U;
  label?: string;
  /** Lifetime; omitted or null = never expires (revocable). */
  ttl?: Duration | null;
  tenant?: string | null;
}

export async function authenticateApiToken(ctx: Context, req: HttpRequest, bearer: string, now: number): Promise<Ok> {
  const m = API_TOKEN.exec(bearer);
  if (!m) throw reject('TOKEN_INVALID', 'api-malformed', 'none');
  const id = m[1]!;
  const record = await ctx.store.get(id);
  if (!record || record.kind !== 'api' || !record.secretHash || !safeEqual(sha256(m[2]!), record.secretHash)) {
    throw reject('TOKEN_INVALID', 'api-unknown', 'none', id);
  }
  if (record.revokedAt !== null) throw reject('SESSION_ENDED', 'api-revoked', 'none', id, record.subject);
  if (record.expiresAt !== null && record.expiresAt <= now) throw reject('SESSION_ENDED', 'api-expired', 'none', id, record.subject);
  const tenantOf = ctx.o.tenant;
  if (tenantOf && (record.tenant ?? null) !== (tenantOf(req) ?? null)) throw reject('TOKEN_INVALID', 'tenant', 'none', id, record.subject);
  await maybeTouch(ctx, record, now);
  return ok(toSession(record, record.expiresAt));
}

export async function createApiToken(ctx: Context, input: CreateApiTokenInput): Promise<{ token: string; info: SessionInfo }> {
  const user = storableUser(input?.user);
  const now = ctx.now();
  let expiresAt: number | null = null;
  if (input.ttl !== undefined && input.ttl !== null) {
    const ttl = parseDuration(input.ttl);
    if (ttl === null || ttl < 1) throw new TypeError('createApiToken: ttl must be a positive duration');
    expiresAt = now + ttl;
  }
  const id = randomId();
  const secret = randomId(32);
  const record: TokenRecord = {
    id,
    kind: 'api',
    subject: user.id,
    family: id,
    createdAt: now,
    lastSeenAt: now,
    expiresAt,
    revokedAt: null,
    user,
    secretHash: sha256(secret),
  };
  if (input.label) record.label = String(input.label).slice(0, 200);
  if (input.tenant != null) record.tenant = input.tenant;
  await ctx.store.put(record);
  ctx.emit(() => ({ type: 'issued', at: now, kind: 'api', sessionId: id, subject: user.id, tenant: record.tenant ?? null }));
  return { token: `${API_PREFIX}${id}.${secret}`, info: infoOf(record) };
}
