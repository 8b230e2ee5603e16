/** The drop-in routes: which one a method and path name, and running it to a reply. */
import type { Context } from './context.js';
import type { ErrorCode } from './errors.js';
import { authenticate } from './flows/authenticate.js';
import { readJsonBody } from './flows/body.js';
import { login } from './flows/login.js';
import { jwksReply } from './flows/jwks.js';
import { logout } from './flows/logout.js';
import { freshPair, rotatePair } from './flows/pair.js';
import { refreshSliding } from './flows/sliding.js';
import { countedRefusal } from './flows/throttle.js';
import { isCrossOrigin } from './lib/csrf.js';
import { readCredentials, refreshTokenOf } from './credentials.js';
import { refuse, sendable, type Ok } from './outcome.js';
import { reject } from './reject.js';
import { jsonReply } from './reply.js';
import { matchJobRoute, runJobRoute } from './job-routes.js';
import type { AuthResult, HttpReply, HttpRequest, JsonObject, RouteName, Session } from './types.js';

/**
 * A verdict the middleware already reached on this request stands in the refresh route:
 * re-running it would report a revoked family as SESSION_ENDED instead of REFRESH_REUSED,
 * or hit a failing store twice.
 */
const FINAL: ReadonlySet<ErrorCode> = new Set(['SESSION_ENDED', 'REFRESH_REUSED', 'BINDING_MISMATCH', 'CSRF_FAILED', 'STORE_UNAVAILABLE']);

export function matchRoute(ctx: Context, method: string, rel: string): RouteName | null {
  const path = rel.length > 1 && rel.endsWith('/') ? rel.slice(0, -1) : rel;
  switch (path) {
    case '/login':
      return method === 'POST' ? 'login' : null;
    case '/refresh':
      return method === 'POST' && ctx.o.refreshable ? 'refresh' : null;
    case '/logout':
      return method === 'POST' ? 'logout' : null;
    case '/session':
      return method === 'GET' || method === 'HEAD' ? 'session' : null;
    case '/jwks':
      // HMAC keys are secret: nothing to publish, so no such route.
      return (method === 'GET' || method === 'HEAD') && ctx.keys.asymmetric ? 'jwks' : null;
    default:
      return matchJobRoute(ctx, method, path);
  }
}

/** Runs a route to its reply. `prior` is the middleware's result for this request, when it ran. */
export async function runRoute(ctx: Context, name: RouteName, req: HttpRequest, prior?: AuthResult): Promise<HttpReply> {
  try {
    if (name === 'jwks') return await jwksReply(ctx);
    if (name === 'session') {
      const r = prior ?? (await authenticate(ctx, req));
      return r.ok ? jsonReply(200, sessionBody(ctx, r.session)) : sendable(ctx, req, r);
    }
    const csrf = ctx.o.csrf;
    if (csrf && isCrossOrigin(req, csrf.trustedOrigins)) throw reject('CSRF_FAILED', 'cross-origin', 'none');
    if (name === 'login') {
      const r = await login(ctx, req);
      return jsonReply(200, r.body, r.cookies);
    }
    if (name === 'logout') return await logout(ctx, req);
    if (name === 'createJob' || name === 'revokeJob') return await runJobRoute(ctx, name, req, prior);
    return await refresh(ctx, req, prior);
  } catch (err) {
    return sendable(ctx, req, refuse(ctx, req, err));
  }
}

async function refresh(ctx: Context, req: HttpRequest, prior: AuthResult | undefined): Promise<HttpReply> {
  if (prior?.ok && prior.refreshed) return issuedReply(ctx, prior as Ok, []); // the middleware already set the cookies
  if (prior && !prior.ok && (FINAL.has(prior.error.code) || countedRefusal(prior.error))) return sendable(ctx, req, prior);
  const codec = await ctx.keys.forRequest();
  const now = ctx.now();
  if (ctx.o.mode === 'pair') {
    const creds = readCredentials(req, ctx.jar);
    let token = refreshTokenOf(creds);
    if (token === undefined && ctx.o.tokenInLoginBody) token = await bodyRefreshToken(req);
    if (token === undefined) throw reject('TOKEN_MISSING', 'no-refresh-token', 'none');
    // A still-fresh access token of the same session: another tab refreshed already; no new generation.
    const fresh = await freshPair(ctx, req, codec, creds, token, now);
    if (fresh !== null) return issuedReply(ctx, fresh, []);
    const r = await rotatePair(ctx, req, codec, token, now);
    return issuedReply(ctx, r, r.cookies);
  }
  const r = prior ?? (await authenticate(ctx, req));
  if (!r.ok) return sendable(ctx, req, r);
  if (r.refreshed) return issuedReply(ctx, r as Ok, r.cookies); // reissued on the way in (refresh window)
  if (r.session.kind !== 'session') throw reject('TOKEN_INVALID', 'not-refreshable', 'none');
  // The token that authenticated it (its verification is cached): the reissue signs with its session key.
  const c = readCredentials(req, ctx.jar);
  const token = c.bearer ?? (c.access.status === 'found' ? c.access.value : undefined);
  const v = token === undefined ? null : await codec.verify('session', token, now);
  if (v === null || !v.ok || v.claims.sid !== r.session.id) throw reject('TOKEN_INVALID', 'not-refreshable', 'none');
  const reissued = await refreshSliding(ctx, req, codec, v.claims, now);
  return issuedReply(ctx, reissued, reissued.cookies);
}

function sessionBody(ctx: Context, s: Session): JsonObject {
  const body: JsonObject = { user: s.user as unknown as JsonObject, id: s.id, kind: s.kind, mode: ctx.o.mode, createdAt: s.createdAt, expiresAt: s.expiresAt, sessionExpiresAt: s.sessionExpiresAt };
  if (s.jobId !== undefined) body.jobId = s.jobId;
  if (s.scopes !== undefined) body.scopes = [...s.scopes];
  return body;
}

function issuedReply(ctx: Context, r: Ok, cookies: readonly string[]): HttpReply {
  const body = sessionBody(ctx, r.session);
  if (ctx.o.tokenInLoginBody && r.issued) Object.assign(body, r.issued);
  return jsonReply(200, body, cookies);
}

async function bodyRefreshToken(req: HttpRequest): Promise<string | undefined> {
  const body = await readJsonBody(req);
  const t = (body as { refreshToken?: unknown } | undefined)?.refreshToken;
  if (t === undefined) return undefined;
  if (typeof t !== 'string') throw reject('BAD_REQUEST', 'refresh-token-shape', 'none');
  return t;
}
