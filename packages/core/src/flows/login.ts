/** Starting a session: the login route (JSON username/password) and the programmatic `issue` it is built on. */
import { clientIp, isSecure } from '../client.js';
import type { Context } from '../context.js';
import { randomId } from '../lib/random.js';
import { sessionIdOf, signRecord } from '../lib/at-rest.js';
import { ok, type Ok } from '../outcome.js';
import { reject } from '../reject.js';
import type { TokenRecord } from '../store.js';
import type { Credentials, HttpRequest, JsonObject, User } from '../types.js';
import { claimsFor, toSession } from './checks.js';
import { readJsonBody } from './body.js';
import { endSessions, presentedSessions } from './presented.js';
import { reserveLogin } from './throttle.js';
import { makeRoomForLogin } from './session-cap.js';
import { readCredentials } from '../credentials.js';
import { sealable, sealUser, splitVerified } from '../seal.js';

const MAX_CREDENTIAL_LENGTH = 1024;

async function readLoginInput(req: HttpRequest): Promise<{ username: string; password: string }> {
  const body = await readJsonBody(req);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw reject('BAD_REQUEST', 'body-shape', 'none');
  const { username, password } = body as Record<string, unknown>;
  if (typeof username !== 'string' || typeof password !== 'string') throw reject('BAD_REQUEST', 'credentials-shape', 'none');
  if (!username || !password || username.length > MAX_CREDENTIAL_LENGTH || password.length > MAX_CREDENTIAL_LENGTH) {
    throw reject('BAD_REQUEST', 'credentials-length', 'none');
  }
  return { username, password };
}

/** POST <prefix>/login: `verifyCredentials`, then `issue`. */
export async function login(ctx: Context, req: HttpRequest): Promise<Ok & { body: JsonObject }> {
  const peer = clientIp(ctx, req); // before the body is read: a destroyed stream no longer knows its peer
  const input = await readLoginInput(req);
  const verify = ctx.o.verifyCredentials;
  if (!verify) throw reject('LOGIN_FAILED', 'no-verifyCredentials', 'none');
  // Throttled (429) before any password check; only a wrong password keeps its reserved attempt.
  const release = await reserveLogin(ctx, req, input.username, peer, ctx.now());
  let verified: ReturnType<typeof splitVerified>;
  try {
    verified = splitVerified(await verify(input, req));
  } catch (err) {
    // No verdict on the password (the user database down, a bug): counting it would lock users out
    // for the window after an outage. Their wrong passwords still count, so no guess goes uncounted.
    await release?.();
    throw err;
  }
  const { user, credentials } = verified;
  if (user === null || user === undefined) throw reject('LOGIN_FAILED', 'credentials', 'none');
  await release?.();
  return issue(ctx, req, user, peer, credentials);
}

/**
 * Starts a session for a user the app authenticated (the login route, or an SSO callback, HTTP
 * Basic, a sign-up: anything). Stores the record, signs the token(s) and returns the cookies.
 */
export async function issue(ctx: Context, req: HttpRequest, user: User, peer: string | null = clientIp(ctx, req), credentials: Credentials | null = null): Promise<Ok & { body: JsonObject }> {
  const stored = sealable(ctx, user, credentials).user; // a bad user (or credentials without safePassword) fails before anything is written
  const codec = await ctx.keys.forRequest();
  const o = ctx.o;
  const now = ctx.now();
  // Fixation: a login (any way) ends the session the request presented, so a token planted
  // before the victim logs in does not become the victim's session.
  await endSessions(ctx, await presentedSessions(ctx, codec, readCredentials(req, ctx.jar), now), 'login', now);
  // The token carries `key`; the store knows the session only by its hash (lib/at-rest.ts).
  const key = randomId();
  const sid = sessionIdOf(key);
  const absolute = o.absoluteTimeout > 0 ? now + o.absoluteTimeout : null;
  const lifetime = o.mode === 'pair' ? o.refreshTtl : o.ttl;
  const sessionExp = absolute !== null ? Math.min(now + lifetime, absolute) : now + lifetime;
  const tenant = o.tenant ? (o.tenant(req) ?? null) : null;
  await makeRoomForLogin(ctx, user.id, tenant, now);
  const record: TokenRecord = {
    id: sid,
    kind: 'session',
    subject: user.id,
    family: sid,
    createdAt: now,
    lastSeenAt: now,
    expiresAt: sessionExp,
    revokedAt: null,
  };
  if (tenant !== null) record.tenant = tenant;
  if (absolute !== null) record.absoluteExpiresAt = absolute;
  if (peer !== null) {
    record.ip = peer;
    if (o.bindClientIp) record.binding = o.bindClientIp;
  }
  sealUser(ctx, record, stored, credentials);
  signRecord(record, key);
  const secure = isSecure(ctx, req);
  const body: JsonObject = { user: stored as unknown as JsonObject, expiresAt: sessionExp };
  if (o.mode === 'sliding') {
    await ctx.store.put(record);
    const token = await codec.sign('session', claimsFor(record, key, randomId(), now, sessionExp));
    ctx.emit(() => ({ type: 'issued', at: now, kind: 'session', sessionId: sid, subject: user.id, tenant }));
    if (o.tokenInLoginBody) body.token = token;
    return { ...ok(toSession(ctx, record, sessionExp), [ctx.jar.access(token, sessionExp - now, secure, now)], { token }), body };
  }
  const refresh: TokenRecord = { id: randomId(), kind: 'refresh', subject: user.id, family: sid, createdAt: now, lastSeenAt: now, expiresAt: sessionExp, revokedAt: null };
  if (tenant !== null) refresh.tenant = tenant;
  // The refresh record first: if the session write then fails, no listed session is left behind.
  await ctx.store.put(refresh);
  await ctx.store.put(record);
  const accessExp = Math.min(now + o.accessTtl, sessionExp);
  const accessToken = await codec.sign('access', claimsFor(record, key, randomId(), now, accessExp));
  const refreshToken = await codec.sign('refresh', claimsFor(record, key, refresh.id, now, sessionExp));
  ctx.emit(() => ({ type: 'issued', at: now, kind: 'access', sessionId: sid, subject: user.id, tenant }));
  ctx.emit(() => ({ type: 'issued', at: now, kind: 'refresh', sessionId: sid, subject: user.id, tenant }));
  body.expiresAt = accessExp;
  body.sessionExpiresAt = sessionExp;
  if (o.tokenInLoginBody) {
    body.accessToken = accessToken;
    body.refreshToken = refreshToken;
  }
  const cookies = [ctx.jar.access(accessToken, sessionExp - now, secure, now), ctx.jar.refresh(refreshToken, sessionExp - now, secure, now)];
  return { ...ok(toSession(ctx, record, accessExp), cookies, { accessToken, refreshToken }), body };
}
