/**
 * Abuse controls: failed logins counted per username and per client address, unknown or forged
 * refresh tokens per address, in fixed windows kept by the store (`hit`); over a limit the request
 * is refused with 429 TOO_MANY_ATTEMPTS and `Retry-After`, and sets no cookie.
 */
import { isIPv6 } from 'node:net';
import { clientIp } from '../client.js';
import type { Context } from '../context.js';
import { TesseraError } from '../errors.js';
import { subnetOf } from '../lib/ip.js';
import { sha256 } from '../lib/random.js';
import { Reject } from '../reject.js';
import type { Rate } from '../lib/rate.js';
import type { HttpRequest } from '../types.js';
import type { TokenStore } from '../store.js';
import { describeStore } from '../logger.js';

/**
 * An address may fail this many times more logins than one username. Higher than 2: a locked-out
 * user's attempts are refused before the address is counted, so one user adds at most `limit`
 * failures per window of theirs, at most two of which overlap one window of the address: throttling
 * one user never throttles the others behind the same address (a NAT, an office).
 */
export const ADDRESS_FACTOR = 10;

/** A counter key: what it counts and a SHA-256 of whom, so the store never holds a username or an address. */
function key(purpose: string, value: string): string {
  return `${purpose}:${sha256(`tessera:${purpose}\0${value}`)}`;
}

/** The address as counted: IPv4 as it is, IPv6 by its /64 (one host usually holds a whole /64). */
function addressOf(ip: string): string {
  return isIPv6(ip) ? subnetOf(ip) : ip;
}

function tooMany(ctx: Context, req: HttpRequest, what: 'login' | 'refresh', by: 'user' | 'address', resetAt: number, now: number): Reject {
  const retryAfter = Math.max(1, resetAt - now);
  ctx.emit(() => ({ type: 'throttled', at: now, what, by, ip: clientIp(ctx, req), retryAfter }));
  return new Reject(new TesseraError('TOO_MANY_ATTEMPTS', `${what}-throttled-${by}`, retryAfter), 'none');
}

/**
 * Before `verifyCredentials` runs: one attempt is reserved on the username's counter, then on the
 * address's; over either limit the request is refused here, before any password check, and the
 * same way whether or not the user exists. Reserving first (rather than reading, then counting
 * failures) keeps a burst of concurrent guesses from all passing one read. Returns the release to
 * call when the credentials were right (successful logins never count), or null when off.
 */
export async function reserveLogin(ctx: Context, req: HttpRequest, username: string, peer: string | null, now: number): Promise<(() => Promise<void>) | null> {
  const rate = ctx.o.loginThrottle;
  if (!rate) return null;
  // Case and Unicode variants of a name count as one; per tenant, as the same name there is another user.
  const tenant = ctx.o.tenant ? (ctx.o.tenant(req) ?? '') : '';
  const userKey = key('login-user', `${tenant}\0${username.normalize('NFKC').toLowerCase()}`);
  const u = await ctx.store.hit(userKey, rate.window, now);
  // Refused on the user: the address is not counted (and the user's excess changes nothing: the window is fixed).
  if (u.count > rate.limit) throw tooMany(ctx, req, 'login', 'user', u.resetAt, now);
  const addrKey = peer === null ? null : key('login-address', addressOf(peer));
  if (addrKey !== null) {
    try {
      const a = await ctx.store.hit(addrKey, rate.window, now);
      if (a.count > rate.limit * ADDRESS_FACTOR) throw tooMany(ctx, req, 'login', 'address', a.resetAt, now);
    } catch (err) {
      // The address is over its limit (429) or the store failed counting it (503): no password is
      // tried for this user, so the reservation is handed back.
      await ctx.store.hit(userKey, rate.window, now, -1).catch(() => {});
      throw err;
    }
  }
  return async () => {
    const back = [ctx.store.hit(userKey, rate.window, now, -1)];
    if (addrKey !== null) back.push(ctx.store.hit(addrKey, rate.window, now, -1));
    // A failed hand-back only leaves one attempt counted; the login itself succeeded.
    await Promise.allSettled(back);
  };
}

/**
 * Refresh-token verdicts of `rotatePair` that count: a token failing verification (`TOKEN_INVALID`
 * `refresh-<why>`: garbage, forged, unknown key, …; whatever the client chose to send, so none is
 * exempt), and a genuine one naming no record of its login. A genuine token refused for what an
 * honest client meets (expired, revoked, ended, reused, another tenant's) never counts.
 */
const NO_RECORD = new Set(['unknown-session', 'record-mismatch', 'refresh-missing']);

function isUnknownRefresh(err: Reject): boolean {
  const { code, reason } = err.error;
  return NO_RECORD.has(reason) || (code === 'TOKEN_INVALID' && reason.startsWith('refresh-'));
}

/** Refusals already counted against their address: the refresh route must not judge (and count) the same token again. */
const counted = new WeakSet<TesseraError>();

/** Whether `error` is a refresh refusal the middleware already counted (or throttled) on this request. */
export function countedRefusal(error: TesseraError): boolean {
  return counted.has(error);
}

/**
 * After a refresh failed with `err`: an unknown or forged refresh token is counted against the
 * client's address; over the limit the answer becomes 429. Returns the error to throw.
 */
export async function judgeRefreshFailure(ctx: Context, req: HttpRequest, err: unknown, now: number): Promise<unknown> {
  const rate: Rate | false = ctx.o.refreshThrottle;
  if (!rate || !(err instanceof Reject) || !isUnknownRefresh(err)) return err;
  const peer = clientIp(ctx, req);
  if (peer === null) return err;
  let verdict: Reject = err;
  try {
    const a = await ctx.store.hit(key('refresh-address', addressOf(peer)), rate.window, now);
    if (a.count > rate.limit) verdict = tooMany(ctx, req, 'refresh', 'address', a.resetAt, now);
  } catch {
    return err; // the counter failed (already logged as a store error): the verdict stands, a refusal either way
  }
  counted.add(verdict.error);
  return verdict;
}

/** Start-up: said once, as a store without `hit` leaves each server counting on its own. */
export function warnWithoutCounters(ctx: Context, store: TokenStore): void {
  if (typeof store.hit === 'function' || (!ctx.o.loginThrottle && !ctx.o.refreshThrottle)) return;
  ctx.o.logger.warn(
    { store: describeStore(store) },
    'the store keeps no attempt counters (no hit()): login and refresh throttling count in this process only, not across servers',
  );
}
