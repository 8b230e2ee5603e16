/** What flows return: a session with the cookies to set, or a refusal already written as a reply. */
import { clientIp, isSecure } from './client.js';
import type { Context } from './context.js';
import { Reject } from './reject.js';
import { errorReply, setCookiesOf } from './reply.js';
import type { AuthResult, HttpReply, HttpRequest, Rejection, Session } from './types.js';

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
      ip: clientIp(ctx, req),
      ...(err.sessionId !== undefined ? { sessionId: err.sessionId } : {}),
      ...(err.subject !== undefined ? { subject: err.subject } : {}),
    }));
  }
  return { ok: false, error, reply: errorReply(error.code, ctx.jar.clear(err.clear, isSecure(ctx, req)), error.retryAfter) };
}

/** The reply to send for a refusal: the app's global `onReject`, if it reshapes it, else the contract reply. */
export function sendable(ctx: Context, req: HttpRequest, r: Fail): HttpReply {
  return reshape(ctx.o.onReject, { error: r.error, reply: r.reply, request: req });
}

/**
 * The app's own reply for a refusal (the global `onReject`), or the contract reply when
 * it returns nothing. The cookies the refusal clears are cleared either way: the session is over.
 */
export function reshape(onReject: ((r: Rejection) => HttpReply | undefined | void) | undefined, rejection: Rejection): HttpReply {
  const custom = onReject?.(rejection);
  if (!custom) return rejection.reply;
  const clearing = setCookiesOf(rejection.reply).map((v): [string, string] => ['set-cookie', v]);
  return { status: custom.status, headers: [...custom.headers, ...clearing], body: custom.body };
}
