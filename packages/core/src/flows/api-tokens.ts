/**
 * API tokens: `tsr_<id>.<secret>`, non-expiring unless given a ttl, revocable, optionally scoped.
 * The store keeps a SHA-256 of the secret part, compared in constant time; the raw token is shown
 * once, at creation.
 */
import type { Context } from '../context.js';
import { parseDuration } from '../lib/duration.js';
import { randomId, safeEqual, sha256 } from '../lib/random.js';
import { ok, type Ok } from '../outcome.js';
import { reject } from '../reject.js';
import type { TokenRecord } from '../store.js';
import type { Duration } from '../options.js';
import { recordIntact, signRecord } from '../lib/at-rest.js';
import { storableUser } from '../lib/json-user.js';
import { sealUser } from '../seal.js';
import type { HttpRequest, User } from '../types.js';
import { maybeTouch, tampered, toSession } from './checks.js';
import { infoOf, type SessionInfo } from './admin.js';
import { checkScopes } from './scopes.js';

export const API_PREFIX = 'tsr_';
const API_TOKEN = /^tsr_([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{32,128})$/;

export interface CreateApiTokenInput<U extends User = User> {
  user: U;
  label?: string;
  /** Lifetime; omitted or null = never expires (revocable). */
  ttl?: Duration | null;
  tenant?: string | null;
  /**
   * What the token may do of Tessera's own powers (`'admin'`: the administration routes, `'jobs'`:
   * job tokens) and of the app's (any other name, read back as `session.scopes`). Omitted or null:
   * unscoped, everything its user may do.
   */
  scopes?: readonly string[] | null;
}

export async function authenticateApiToken(ctx: Context, req: HttpRequest, bearer: string, now: number): Promise<Ok> {
  const m = API_TOKEN.exec(bearer);
  if (!m) throw reject('TOKEN_INVALID', 'api-malformed', 'none');
  const record = await checkStoredToken(ctx, req, 'api', m[1]!, m[2]!, now);
  await maybeTouch(ctx, record, now);
  return ok(toSession(ctx, record, record.expiresAt));
}

/**
 * The checks an API or job token passes: its record of that kind, the secret against the stored
 * hash (constant time), revocation, expiry and tenant. No idle timeout and no IP binding: these
 * tokens are for machines, not browsers.
 */
export async function checkStoredToken(ctx: Context, req: HttpRequest, kind: 'api' | 'job', id: string, secret: string, now: number): Promise<TokenRecord> {
  const record = await ctx.store.get(id);
  if (!record || record.kind !== kind || !record.secretHash || !safeEqual(sha256(secret), record.secretHash)) {
    throw reject('TOKEN_INVALID', `${kind}-unknown`, 'none', id);
  }
  if (!recordIntact(record, secret)) throw tampered(ctx, 'none', id, record.subject);
  if (record.revokedAt !== null) throw reject('SESSION_ENDED', `${kind}-revoked`, 'none', id, record.subject);
  if (record.expiresAt !== null && record.expiresAt <= now) throw reject('SESSION_ENDED', `${kind}-expired`, 'none', id, record.subject);
  const tenantOf = ctx.o.tenant;
  if (tenantOf && (record.tenant ?? null) !== (tenantOf(req) ?? null)) throw reject('TOKEN_INVALID', 'tenant', 'none', id, record.subject);
  return record;
}

export async function createApiToken(ctx: Context, input: CreateApiTokenInput): Promise<{ token: string; info: SessionInfo }> {
  const user = storableUser(input?.user);
  const scopes = checkScopes(input.scopes);
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
    secretHash: sha256(secret),
  };
  if (input.label) record.label = String(input.label).slice(0, 200);
  if (input.tenant != null) record.tenant = input.tenant;
  if (scopes !== null) record.scopes = scopes;
  sealUser(ctx, record, user);
  signRecord(record, secret);
  await ctx.store.put(record);
  ctx.emit(() => ({ type: 'issued', at: now, kind: 'api', sessionId: id, subject: user.id, tenant: record.tenant ?? null }));
  return { token: `${API_PREFIX}${id}.${secret}`, info: infoOf(record) };
}
