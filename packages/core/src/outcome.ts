/** What flows return: a session with the cookies to set, or a refusal already written as a reply. */
import type { Context } from './context.js';
import { normalizeIp } from './lib/ip.js';
import { Reject } from './reject.js';
import { errorReply } from './reply.js';
import type { AuthResult, HttpRequest, Session } from './types.js';

/** Tokens a flow issued, echoed in route bodies when `tokenInLoginBody` is on. */
export interface Issued {
  token?: string;
  accessToken?: string;
  refreshToken?: string;
}

export type Ok = Extract<AuthResult, { ok: true }> & { issued?: Issued };
export type Fail = Extract<AuthResult, { ok: false }>;

export const NO_COOKIES: readonly string[] = Object.freeze([]);

export function ok(session: Session, cookies: readonly string[] = NO_COOKIES, issued?: Issued): Ok {
  return issued === undefined
    ? { ok: true, session, refreshed: cookies.length > 0, cookies }
    : { ok: true, session, refreshed: true, cookies, issued };
}

/** The client's address, or null; never throws (a destroyed request stream may no longer know it). */
export function peerOf(req: HttpRequest): string | null {
  try {
    return normalizeIp(req.ip);
  } catch {
    return null;
  }
}

/** Turns a refusal into the contract reply (and a `rejected` event); anything else is not a refusal and is rethrown. */
export function refuse(ctx: Context, req: HttpRequest, err: unknown): Fail {
  if (!(err instanceof Reject)) throw err;
  const { error } = err;
  if (error.code !== 'TOKEN_MISSING' && error.code !== 'STORE_UNAVAILABLE') {
    ctx.emit(() => ({
      type: 'rejected',
      at: ctx.now(),
      code: error.code,
      reason: error.reason,
      path: req.path,
      ip: peerOf(req),
      ...(err.sessionId !== undefined ? { sessionId: err.sessionId } : {}),
      ...(err.subject !== undefined ? { subject: err.subject } : {}),
    }));
  }
  return { ok: false, error, reply: errorReply(error.code, ctx.jar.clear(err.clear, secureOf(req))) };
}

export function secureOf(req: HttpRequest): boolean {
  try {
    return req.secure;
  } catch {
    return false;
  }
}
