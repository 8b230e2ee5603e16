/**
 * Optional administration routes, framework-neutral. Any signed-in user may manage their own
 * sessions and API tokens; acting on another user, or on everyone, needs `isAdmin(session)`.
 * Job tokens never get in, nor API tokens whose scopes lack `admin`.
 *
 *   GET    /sessions                   own sessions, then own job tokens
 *   GET    /users/:subject/sessions    a user's sessions and job tokens (self or admin)
 *   DELETE /sessions/:id               revoke one session or job token (own or admin)
 *   POST   /users/:subject/revoke      revoke all of a user's sessions, job and API tokens (self or admin)
 *   POST   /revoke-all                 revoke everything (admin)
 *   GET    /api-tokens                 own API tokens (never the secret)
 *   POST   /api-tokens                 create one for yourself: { label?, ttl?, scopes? } -> 201 { token, ... } (shown once)
 *   DELETE /api-tokens/:id             revoke one (own or admin)
 */
import type { Context } from './context.js';
import { adminRevoke, listLive, listLogins, recordInfo } from './flows/admin.js';
import { createApiToken } from './flows/api-tokens.js';
import { authenticate } from './flows/authenticate.js';
import { readJsonBody } from './flows/body.js';
import { checkScopes, requireScope } from './flows/scopes.js';
import { refuse, sendable } from './outcome.js';
import { reject } from './reject.js';
import { jsonReply } from './reply.js';
import type { AuthResult, HttpReply, HttpRequest, JsonObject, Session } from './types.js';

export interface AdminRouteOptions {
  /** Who may act on other users. Default: nobody (self-service only). */
  isAdmin?: (session: Session) => boolean | Promise<boolean>;
}

export interface AdminRequest {
  /** Path below the admin prefix, e.g. `/sessions`. */
  path: string;
  req: HttpRequest;
  /** The middleware's result for this request, when it ran. */
  prior?: AuthResult;
  options?: AdminRouteOptions;
}

const ID = /^[A-Za-z0-9_-]{1,200}$/;

type Action = 'listOwn' | 'listUser' | 'revokeSession' | 'revokeUser' | 'revokeAll' | 'listTokens' | 'createToken' | 'revokeToken';

function match(method: string, rel: string): { action: Action; arg?: string } | null {
  const path = rel.length > 1 && rel.endsWith('/') ? rel.slice(0, -1) : rel;
  const parts = path.split('/').slice(1);
  const [a, b, c] = parts;
  if (method === 'GET' && path === '/sessions') return { action: 'listOwn' };
  if (method === 'GET' && a === 'users' && c === 'sessions' && parts.length === 3) return { action: 'listUser', arg: b! };
  if (method === 'DELETE' && a === 'sessions' && parts.length === 2) return { action: 'revokeSession', arg: b! };
  if (method === 'POST' && a === 'users' && c === 'revoke' && parts.length === 3) return { action: 'revokeUser', arg: b! };
  if (method === 'POST' && path === '/revoke-all') return { action: 'revokeAll' };
  if (method === 'GET' && path === '/api-tokens') return { action: 'listTokens' };
  if (method === 'POST' && path === '/api-tokens') return { action: 'createToken' };
  if (method === 'DELETE' && a === 'api-tokens' && parts.length === 2) return { action: 'revokeToken', arg: b! };
  return null;
}

function param(raw: string): string | null {
  try {
    const v = decodeURIComponent(raw);
    return v.length > 0 && v.length <= 256 ? v : null;
  } catch {
    return null;
  }
}

/** Handles an admin route; null when the path is not one. */
export async function adminRoute(ctx: Context, { path, req, prior, options = {} }: AdminRequest): Promise<HttpReply | null> {
  const m = match(req.method, path);
  if (!m) return null;
  try {
    const auth = prior ?? (await authenticate(ctx, req));
    if (!auth.ok) return sendable(ctx, req, auth);
    const me = auth.session;
    requireScope(me, 'admin');
    const arg = m.arg === undefined ? undefined : param(m.arg);
    if (m.arg !== undefined && arg === null) throw reject('BAD_REQUEST', 'admin-param', 'none');
    const isAdmin = async () => (options.isAdmin ? Boolean(await options.isAdmin(me)) : false);
    const mayActOn = async (subject: string) => subject === me.subject || (await isAdmin());
    switch (m.action) {
      case 'listOwn': {
        const { items, cursor } = await listLogins(ctx, me.subject);
        return jsonReply(200, { sessions: items as unknown as JsonObject[], cursor, current: me.id });
      }
      case 'listUser': {
        if (!(await mayActOn(arg!))) throw reject('FORBIDDEN', 'not-admin', 'none');
        const { items, cursor } = await listLogins(ctx, arg!);
        return jsonReply(200, { sessions: items as unknown as JsonObject[], cursor });
      }
      case 'revokeSession':
      case 'revokeToken': {
        if (!ID.test(arg!)) throw reject('BAD_REQUEST', 'admin-param', 'none');
        const kinds = m.action === 'revokeSession' ? ['session', 'job'] : ['api'];
        const info = await recordInfo(ctx, arg!);
        if (!info || !kinds.includes(info.kind)) {
          if (await isAdmin()) return jsonReply(200, { revoked: 0 });
          throw reject('FORBIDDEN', 'not-admin', 'none');
        }
        if (!(await mayActOn(info.subject))) throw reject('FORBIDDEN', 'not-admin', 'none');
        // A session ends with its whole family; a job token alone (its family is its job's).
        return jsonReply(200, { revoked: await adminRevoke(ctx, info.kind === 'session' ? { family: arg! } : { id: arg! }) });
      }
      case 'revokeUser': {
        if (!(await mayActOn(arg!))) throw reject('FORBIDDEN', 'not-admin', 'none');
        return jsonReply(200, { revoked: await adminRevoke(ctx, { subject: arg! }) });
      }
      case 'revokeAll': {
        if (!(await isAdmin())) throw reject('FORBIDDEN', 'not-admin', 'none');
        return jsonReply(200, { revoked: await adminRevoke(ctx, { all: true }) });
      }
      case 'listTokens': {
        const { items, cursor } = await listLive(ctx, me.subject, 'api');
        return jsonReply(200, { tokens: items as unknown as JsonObject[], cursor });
      }
      case 'createToken':
        return await createTokenRoute(ctx, req, me);
    }
  } catch (err) {
    return sendable(ctx, req, refuse(ctx, req, err));
  }
}

async function createTokenRoute(ctx: Context, req: HttpRequest, me: Session): Promise<HttpReply> {
  if (me.kind !== 'session') throw reject('FORBIDDEN', 'not-admin', 'none');
  const b = ((await readJsonBody(req)) ?? {}) as { label?: unknown; ttl?: unknown; scopes?: unknown };
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw reject('BAD_REQUEST', 'body-shape', 'none');
  if (b.label !== undefined && (typeof b.label !== 'string' || b.label.length > 200)) throw reject('BAD_REQUEST', 'label', 'none');
  if (b.ttl !== undefined && b.ttl !== null && typeof b.ttl !== 'number' && typeof b.ttl !== 'string') throw reject('BAD_REQUEST', 'ttl', 'none');
  let scopes: string[] | null;
  try {
    scopes = checkScopes(b.scopes);
  } catch {
    throw reject('BAD_REQUEST', 'scopes', 'none');
  }
  let created;
  try {
    created = await createApiToken(ctx, { user: me.user, label: b.label as string | undefined, ttl: (b.ttl as number | string | null | undefined) ?? null, tenant: me.tenant, scopes });
  } catch (err) {
    if (err instanceof TypeError) throw reject('BAD_REQUEST', 'ttl', 'none');
    throw err;
  }
  return jsonReply(201, { token: created.token, ...(created.info as unknown as JsonObject) });
}
