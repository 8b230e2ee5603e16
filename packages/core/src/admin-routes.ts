/**
 * Optional administration routes, framework-neutral. Mount them under a prefix of your choice
 * (adapters: `auth.adminRoutes({ isAdmin })`). Any signed-in user may manage their own sessions
 * and API tokens; acting on another user, or on everyone, needs `isAdmin(session)`.
 *
 *   GET    /sessions                   own sessions
 *   GET    /users/:subject/sessions    a user's sessions (self or admin)
 *   DELETE /sessions/:id               revoke one session (own or admin)
 *   POST   /users/:subject/revoke      revoke all of a user's sessions and API tokens (self or admin)
 *   POST   /revoke-all                 revoke everything (admin)
 *   GET    /api-tokens                 own API tokens (never the secret)
 *   POST   /api-tokens                 create one for yourself: { label?, ttl? } -> 201 { token, ... } (shown once)
 *   DELETE /api-tokens/:id             revoke one (own or admin)
 */
import { ERRORS, TesseraError, type ErrorCode } from './errors.js';
import type { Tessera } from './tessera.js';
import type { AuthResult, HttpReply, HttpRequest, HttpResponse, JsonObject, Session } from './types.js';

export interface AdminRouteOptions {
  /** Who may act on other users. Default: nobody (self-service only). */
  isAdmin?: (session: Session) => boolean | Promise<boolean>;
}

const HEADERS: [string, string][] = [
  ['content-type', 'application/json; charset=utf-8'],
  ['cache-control', 'no-store'],
];
const ID = /^[A-Za-z0-9_-]{1,200}$/;

function json(status: number, body: JsonObject): HttpReply {
  return { status, headers: [...HEADERS], body };
}

function error(code: ErrorCode): HttpReply {
  return json(ERRORS[code].status, { error: { code, message: ERRORS[code].message } });
}

function param(raw: string): string | null {
  try {
    const v = decodeURIComponent(raw);
    return v.length > 0 && v.length <= 256 ? v : null;
  } catch {
    return null;
  }
}

type Match = { action: string; arg?: string };

function match(method: string, rel: string): Match | null {
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

/** Whether a method + path (relative to the admin prefix) is an admin route. */
export function isAdminRoute(method: string, rel: string): boolean {
  return match(method, rel) !== null;
}

/** Handles an admin route; null when the path is not one. */
export async function adminRoute(
  t: Tessera,
  method: string,
  rel: string,
  req: HttpRequest,
  res: HttpResponse,
  prior: AuthResult | undefined,
  options: AdminRouteOptions = {},
): Promise<HttpReply | null> {
  const m = match(method, rel);
  if (!m) return null;
  const auth = prior ?? (await t.authenticate(req, res));
  if (!auth.ok) return auth.reply;
  const me = auth.session;
  const arg = m.arg === undefined ? undefined : param(m.arg);
  if (m.arg !== undefined && arg === null) return error('BAD_REQUEST');
  const admin = async () => (options.isAdmin ? Boolean(await options.isAdmin(me)) : false);
  try {
    switch (m.action) {
      case 'listOwn': {
        const { sessions, cursor } = await t.listSessions(me.subject);
        return json(200, { sessions: sessions as unknown as JsonObject[], cursor, current: me.id });
      }
      case 'listUser': {
        if (arg !== me.subject && !(await admin())) return error('FORBIDDEN');
        const { sessions, cursor } = await t.listSessions(arg!);
        return json(200, { sessions: sessions as unknown as JsonObject[], cursor });
      }
      case 'revokeSession':
      case 'revokeToken': {
        if (!ID.test(arg!)) return error('BAD_REQUEST');
        const info = await t.getRecordInfo(arg!);
        const kind = m.action === 'revokeSession' ? 'session' : 'api';
        if (!info || info.kind !== kind) return (await admin()) ? json(200, { revoked: 0 }) : error('FORBIDDEN');
        if (info.subject !== me.subject && !(await admin())) return error('FORBIDDEN');
        const revoked = kind === 'session' ? await t.revokeSession(arg!) : await t.revokeApiToken(arg!);
        return json(200, { revoked });
      }
      case 'revokeUser': {
        if (arg !== me.subject && !(await admin())) return error('FORBIDDEN');
        return json(200, { revoked: await t.revokeUser(arg!) });
      }
      case 'revokeAll': {
        if (!(await admin())) return error('FORBIDDEN');
        return json(200, { revoked: await t.revokeAll() });
      }
      case 'listTokens': {
        const { tokens, cursor } = await t.listApiTokens(me.subject);
        return json(200, { tokens: tokens as unknown as JsonObject[], cursor });
      }
      case 'createToken': {
        if (me.kind !== 'session') return error('FORBIDDEN');
        let body: unknown;
        try {
          body = await req.body();
          if (typeof body === 'string') body = body.trim() ? JSON.parse(body) : {};
        } catch {
          return error('BAD_REQUEST');
        }
        const b = (body ?? {}) as { label?: unknown; ttl?: unknown };
        if (typeof b !== 'object' || Array.isArray(b)) return error('BAD_REQUEST');
        if (b.label !== undefined && (typeof b.label !== 'string' || b.label.length > 200)) return error('BAD_REQUEST');
        if (b.ttl !== undefined && b.ttl !== null && typeof b.ttl !== 'number' && typeof b.ttl !== 'string') return error('BAD_REQUEST');
        let created;
        try {
          created = await t.createApiToken({ user: me.user, label: b.label as string | undefined, ttl: (b.ttl as number | string | null | undefined) ?? null, tenant: me.tenant });
        } catch (err) {
          if (err instanceof TypeError) return error('BAD_REQUEST');
          throw err;
        }
        return json(201, { token: created.token, ...(created.info as unknown as JsonObject) });
      }
    }
  } catch (err) {
    if (err instanceof TesseraError) return error(err.code);
    throw err;
  }
  return null;
}
