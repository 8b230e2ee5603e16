/** The logins a request presents (bearer, access cookie, refresh cookie), genuine tokens expired or not: logout and every new login end them. */
import type { Context } from '../context.js';
import type { Credentials } from '../credentials.js';
import type { TokenCodec, TokenType } from '../token.js';
import { API_PREFIX } from './api-tokens.js';

export async function presentedSessions(ctx: Context, codec: TokenCodec, c: Credentials, now: number): Promise<Set<string>> {
  const accessType: TokenType = ctx.o.mode === 'pair' ? 'access' : 'session';
  const presented: [TokenType, string | undefined][] = [
    [accessType, c.bearer !== undefined && !c.bearer.startsWith(API_PREFIX) ? c.bearer : undefined],
    [accessType, c.access.status === 'found' ? c.access.value : undefined],
    ['refresh', c.refresh.status === 'found' ? c.refresh.value : undefined],
  ];
  const ids = new Set<string>();
  for (const [type, token] of presented) {
    if (token === undefined) continue;
    const claims = await codec.claimsEvenIfExpired(type, token, now);
    if (claims) ids.add(claims.sid);
  }
  return ids;
}

/** Revokes each login; `by` says why (for the `revoked` event). */
export async function endSessions(ctx: Context, ids: Iterable<string>, by: 'logout' | 'login', now: number): Promise<void> {
  for (const sid of ids) {
    const count = await ctx.store.revoke({ family: sid }, now);
    ctx.emit(() => ({ type: 'revoked', at: now, by, where: { family: sid }, count }));
  }
}
