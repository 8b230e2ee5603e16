/**
 * Authenticating a request: the bearer or the access cookie, checked against its signature and
 * its store record; inside the refresh window a sliding token is reissued, and in pair mode an
 * expired access token with a refresh cookie at hand is refreshed transparently.
 */
import type { Context } from '../context.js';
import { readCredentials, refreshTokenOf, type Credentials } from '../credentials.js';
import { isCrossOrigin, isSafeMethod } from '../lib/csrf.js';
import { ok, refuse, type Ok } from '../outcome.js';
import { reject } from '../reject.js';
import type { TokenRecord } from '../store.js';
import type { TokenCodec } from '../token.js';
import type { AuthResult, HttpRequest } from '../types.js';
import { API_PREFIX, authenticateApiToken } from './api-tokens.js';
import { JOB_PREFIX, authenticateJobToken } from './jobs.js';
import { checkRecord, checkTenant, inWindow, loadSession, maybeTouch, toSession, touchDue } from './checks.js';
import { rotatePair } from './pair.js';
import { reissue } from './sliding.js';

/**
 * `refresh: false` authenticates without reissuing or rotating: on the login route, where the
 * presented session is about to end, a fresh token for it would only be sent and thrown away.
 */
export async function authenticate(ctx: Context, req: HttpRequest, creds: Credentials = readCredentials(req, ctx.jar), refresh = true): Promise<AuthResult> {
  try {
    return await run(ctx, req, creds, refresh);
  } catch (err) {
    return refuse(ctx, req, err);
  }
}

/**
 * The common case without a single await: a cookie whose signature is already verified, an
 * in-process store or a record in the record cache, outside the refresh window and with no touch due. The checks are the same
 * ones the full path makes; anything else returns null and the caller takes the full path.
 */
export function authenticateSync(ctx: Context, req: HttpRequest): AuthResult | null {
  const codec = ctx.keys.codec;
  const peek = ctx.store.peek;
  if (codec === undefined || peek === null) return null;
  try {
    if (ctx.o.csrf && !isSafeMethod(req.method)) return null;
    const creds = readCredentials(req, ctx.jar);
    if (creds.bearer !== undefined || creds.access.status !== 'found') return null;
    const o = ctx.o;
    const pair = o.mode === 'pair';
    const now = ctx.now();
    const v = codec.verifyCached(pair ? 'access' : 'session', creds.access.value, now);
    if (v === undefined || !v.ok) return null;
    const claims = v.claims;
    if (o.refreshable && inWindow(ctx, claims, pair ? o.accessTtl : o.ttl, now)) return null;
    checkTenant(ctx, req, claims);
    let record: TokenRecord | null | undefined;
    try {
      record = peek(claims.sid);
    } catch {
      return null; // the full path reports the store failure
    }
    if (record === undefined) return null; // not in the record cache: the full path reads the store
    const checked = checkRecord(ctx, req, claims, record, now);
    if (touchDue(ctx, checked, now)) return null; // the full path writes lastSeenAt
    return ok(toSession(ctx, checked, claims.exp));
  } catch (err) {
    return refuse(ctx, req, err);
  }
}

async function run(ctx: Context, req: HttpRequest, c: Credentials, refresh: boolean): Promise<Ok> {
  const codec = ctx.keys.codec ?? (await ctx.keys.forRequest());
  const now = ctx.now();
  if (c.bearer !== undefined) {
    if (c.bearer.startsWith(API_PREFIX)) return authenticateApiToken(ctx, req, c.bearer, now);
    if (c.bearer.startsWith(JOB_PREFIX)) return authenticateJobToken(ctx, req, c.bearer, now);
    // Refused, not skipped for the cookie: the client meant this header as its credential.
    if (!ctx.o.bearerSessions) throw reject('TOKEN_INVALID', 'bearer-session', 'none');
    return authenticateToken(ctx, req, c, codec, c.bearer, false, refresh, now);
  }
  if (c.access.status === 'duplicate') throw reject('TOKEN_INVALID', 'duplicate-cookie', 'access');
  const csrf = ctx.o.csrf;
  if (csrf && !isSafeMethod(req.method) && (c.access.status === 'found' || c.refresh.status !== 'absent') && isCrossOrigin(req, csrf.trustedOrigins)) {
    throw reject('CSRF_FAILED', 'cross-origin', 'none');
  }
  if (c.access.status === 'found') return authenticateToken(ctx, req, c, codec, c.access.value, true, refresh, now);
  const refreshToken = refreshTokenOf(c);
  if (refreshToken !== undefined && refresh) return rotatePair(ctx, req, codec, refreshToken, now);
  throw reject('TOKEN_MISSING', 'no-token', 'none');
}

async function authenticateToken(ctx: Context, req: HttpRequest, c: Credentials, codec: TokenCodec, token: string, viaCookie: boolean, refresh: boolean, now: number): Promise<Ok> {
  const o = ctx.o;
  const pair = o.mode === 'pair';
  const v = await codec.verify(pair ? 'access' : 'session', token, now);
  if (!v.ok) {
    if (v.code === 'TOKEN_EXPIRED' && viaCookie && refresh) {
      const refreshToken = refreshTokenOf(c);
      if (refreshToken !== undefined) return rotatePair(ctx, req, codec, refreshToken, now);
    }
    throw reject(v.code, v.reason, v.code === 'TOKEN_EXPIRED' ? 'none' : 'access');
  }
  const claims = v.claims;
  const record = await loadSession(ctx, req, claims, now);
  if (viaCookie && refresh && o.refreshable && inWindow(ctx, claims, pair ? o.accessTtl : o.ttl, now)) {
    if (pair) {
      const refreshToken = refreshTokenOf(c);
      if (refreshToken !== undefined) return rotatePair(ctx, req, codec, refreshToken, now);
    } else {
      const reissued = await reissue(ctx, req, codec, record, claims, now);
      if (reissued !== null) return reissued;
    }
  }
  await maybeTouch(ctx, record, now);
  return ok(toSession(ctx, record, claims.exp));
}
