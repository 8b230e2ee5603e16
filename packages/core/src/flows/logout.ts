/** Logout: ends every login the request presents (bearer, access cookie, refresh cookie), expired or not, and clears the cookies. */
import { isSecure } from '../client.js';
import type { Context } from '../context.js';
import { readCredentials } from '../credentials.js';

import { emptyReply } from '../reply.js';
import type { HttpReply, HttpRequest } from '../types.js';
import { reject } from '../reject.js';
import { JOB_PREFIX } from './jobs.js';
import { endSessions, presentedSessions } from './presented.js';

export async function logout(ctx: Context, req: HttpRequest): Promise<HttpReply> {
  const creds = readCredentials(req, ctx.jar);
  // A job token is not a login to end: it ends by revocation or at the end of its lifetime.
  if (creds.bearer !== undefined && creds.bearer.startsWith(JOB_PREFIX)) throw reject('FORBIDDEN', 'job-logout', 'none');
  const codec = await ctx.keys.forRequest();
  const now = ctx.now();
  await endSessions(ctx, await presentedSessions(ctx, codec, creds, now), 'logout', now);
  return emptyReply(204, ctx.jar.clear('all', isSecure(ctx, req)));
}
