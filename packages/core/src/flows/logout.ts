/** Logout: ends every login the request presents (bearer, access cookie, refresh cookie), expired or not, and clears the cookies. */
import type { Context } from '../context.js';
import { readCredentials } from '../credentials.js';
import { secureOf } from '../outcome.js';
import { emptyReply } from '../reply.js';
import type { TokenType } from '../token.js';
import type { HttpReply, HttpRequest } from '../types.js';
import { API_PREFIX } from './api-tokens.js';

export async function logout(ctx: Context, req: HttpRequest): Promise<HttpReply> {
  const codec = await ctx.keys.forRequest();
  const now = ctx.now();
  const c = readCredentials(req, ctx.jar);
  const accessType: TokenType = ctx.o.mode === 'pair' ? 'access' : 'session';
  const presented: [TokenType, string | undefined][] = [
    [accessType, c.bearer !== undefined && !c.bearer.startsWith(API_PREFIX) ? c.bearer : undefined],
    [accessType, c.access.status === 'found' ? c.access.value : undefined],
    ['refresh', c.refresh.status === 'found' ? c.refresh.value : undefined],
  ];
  const sessionIds = new Set<string>();
  for (const [type, token] of presented) {
    if (token === undefined) continue;
    const claims = await codec.claimsEvenIfExpired(type, token, now);
    if (claims) sessionIds.add(claims.sid);
  }
  for (const sid of sessionIds) {
    const count = await ctx.store.revoke({ family: sid }, now);
    ctx.emit(() => ({ type: 'revoked', at: now, by: 'logout', where: { family: sid }, count }));
  }
  return emptyReply(204, ctx.jar.clear('all', secureOf(req)));
}
