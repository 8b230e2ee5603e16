/** Starting a session: the login route (JSON username/password) and the programmatic `issue` it is built on. */
import { clientIp, isSecure } from '../client.js';
import type { Context } from '../context.js';
import { randomId } from '../lib/random.js';
import { ok, type Ok } from '../outcome.js';
import { reject } from '../reject.js';
import type { TokenRecord } from '../store.js';
import type { HttpRequest, JsonObject, User } from '../types.js';
import { claimsFor, toSession } from './checks.js';
import { readJsonBody } from './body.js';
import { endSessions, presentedSessions } from './presented.js';
import { readCredentials } from '../credentials.js';
import { storableUser } from '../lib/json-user.js';

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
  const user = await verify(input, req);
  if (user === null || user === undefined) throw reject('LOGIN_FAILED', 'credentials', 'none');
  return issue(ctx, req, user, peer);
}

/**
 * Starts a session for a user the app authenticated (the login route, or an SSO callback, HTTP
 * Basic, a sign-up: anything). Stores the record, signs the token(s) and returns the cookies.
 */
export async function issue(ctx: Context, req: HttpRequest, user: User, peer: string | null = clientIp(ctx, req)): Promise<Ok & { body: JsonObject }> {
  const stored = storableUser(user);
  const codec = await ctx.keys.forRequest();
  const o = ctx.o;
  const now = ctx.now();
  // Fixation: a login (any way) ends the session the request presented, so a token planted
  // before the victim logs in does not become the victim's session.
  await endSessions(ctx, await presentedSessions(ctx, codec, readCredentials(req, ctx.jar), now), 'login', now);
  const sid = randomId();
  const absolute = o.absoluteTimeout > 0 ? now + o.absoluteTimeout : null;
  const lifetime = o.mode === 'pair' ? o.refreshTtl : o.ttl;
  const sessionExp = absolute !== null ? Math.min(now + lifetime, absolute) : now + lifetime;
  const tenant = o.tenant ? (o.tenant(req) ?? null) : null;
  const record: TokenRecord = {
    id: sid,
    kind: 'session',
    subject: user.id,
    family: sid,
    createdAt: now,
    lastSeenAt: now,
    expiresAt: sessionExp,
    revokedAt: null,
    user: stored,
  };
  if (tenant !== null) record.tenant = tenant;
  if (absolute !== null) record.absoluteExpiresAt = absolute;
  if (peer !== null) {
    record.ip = peer;
    if (o.bindClientIp) record.binding = o.bindClientIp;
  }
  const secure = isSecure(ctx, req);
  const body: JsonObject = { user: stored as unknown as JsonObject, expiresAt: sessionExp };
  if (o.mode === 'sliding') {
    await ctx.store.put(record);
    const token = await codec.sign('session', claimsFor(record, randomId(), now, sessionExp));
    ctx.emit(() => ({ type: 'issued', at: now, kind: 'session', sessionId: sid, subject: user.id, tenant }));
    if (o.tokenInLoginBody) body.token = token;
    return { ...ok(toSession(record, sessionExp), [ctx.jar.access(token, sessionExp - now, secure, now)], { token }), body };
  }
  const refresh: TokenRecord = { id: randomId(), kind: 'refresh', subject: user.id, family: sid, createdAt: now, lastSeenAt: now, expiresAt: sessionExp, revokedAt: null };
  if (tenant !== null) refresh.tenant = tenant;
  // The refresh record first: if the session write then fails, no listed session is left behind.
  await ctx.store.put(refresh);
  await ctx.store.put(record);
  const accessExp = Math.min(now + o.accessTtl, sessionExp);
  const accessToken = await codec.sign('access', claimsFor(record, randomId(), now, accessExp));
  const refreshToken = await codec.sign('refresh', claimsFor(record, refresh.id, now, sessionExp));
  ctx.emit(() => ({ type: 'issued', at: now, kind: 'access', sessionId: sid, subject: user.id, tenant }));
  ctx.emit(() => ({ type: 'issued', at: now, kind: 'refresh', sessionId: sid, subject: user.id, tenant }));
  body.expiresAt = accessExp;
  body.sessionExpiresAt = sessionExp;
  if (o.tokenInLoginBody) {
    body.accessToken = accessToken;
    body.refreshToken = refreshToken;
  }
  const cookies = [ctx.jar.access(accessToken, sessionExp - now, secure, now), ctx.jar.refresh(refreshToken, sessionExp - now, secure, now)];
  return { ...ok(toSession(record, accessExp), cookies, { accessToken, refreshToken }), body };
}
