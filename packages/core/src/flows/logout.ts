/** Logout: ends every login the request presents (bearer, access cookie, refresh cookie), expired or not, and clears the cookies. */
import { isSecure } from '../client.js';
import type { Context } from '../context.js';
import { readCredentials } from '../credentials.js';

import { emptyReply } from '../reply.js';
import type { HttpReply, HttpRequest } from '../types.js';
import { endSessions, presentedSessions } from './presented.js';

export async function logout(ctx: Context, req: HttpRequest): Promise<HttpReply> {
  const codec = await ctx.keys.forRequest();
  const now = ctx.now();
  await endSessions(ctx, await presentedSessions(ctx, codec, readCredentials(req, ctx.jar), now), 'logout', now);
  return emptyReply(204, ctx.jar.clear('all', isSecure(ctx, req)));
}
