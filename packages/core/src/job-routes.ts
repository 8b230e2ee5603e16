/**
 * The job-token routes, part of the drop-in routes under the prefix (off with `jobs: false`):
 *
 *   POST   /jobs           { jobId, ttl? } -> 201 { token, jobId, expiresAt } (the token shown once)
 *   DELETE /jobs/:jobId    -> 204, also when the job has no live token (idempotent)
 *
 * Both act on the caller's own jobs and need the `jobs` scope: sessions and unscoped API tokens
 * have it, job tokens never do.
 */
import type { Context } from './context.js';
import { authenticate } from './flows/authenticate.js';
import { readJsonBody } from './flows/body.js';
import { createJobToken, isJobId, revokeJob } from './flows/jobs.js';
import { requireScope } from './flows/scopes.js';
import { sendable } from './outcome.js';
import { reject } from './reject.js';
import { emptyReply, jsonReply } from './reply.js';
import type { AuthResult, HttpReply, HttpRequest, RouteName } from './types.js';

export type JobRouteName = Extract<RouteName, 'createJob' | 'revokeJob'>;

/** Which job route a method and a path below the prefix (trailing slash trimmed) name, if any. */
export function matchJobRoute(ctx: Context, method: string, path: string): JobRouteName | null {
  if (ctx.o.jobs === undefined) return null;
  if (path === '/jobs') return method === 'POST' ? 'createJob' : null;
  if (path.startsWith('/jobs/') && path.indexOf('/', 6) === -1) return method === 'DELETE' ? 'revokeJob' : null;
  return null;
}

/** Runs a job route; refusals are thrown, for `runRoute` to answer. */
export async function runJobRoute(ctx: Context, name: JobRouteName, req: HttpRequest, prior: AuthResult | undefined): Promise<HttpReply> {
  const r = prior ?? (await authenticate(ctx, req));
  if (!r.ok) return sendable(ctx, req, r);
  const me = r.session;
  requireScope(me, 'jobs');
  // Without the middleware, a token reissued on the way in still reaches the client.
  const cookies = prior ? [] : r.cookies;
  if (name === 'revokeJob') {
    const jobId = jobIdOf(req.path);
    if (jobId === null) throw reject('BAD_REQUEST', 'job-id', 'none');
    await revokeJob(ctx, me.subject, jobId, me.tenant);
    return emptyReply(204, cookies);
  }
  const b = (await readJsonBody(req)) as { jobId?: unknown; ttl?: unknown } | undefined;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw reject('BAD_REQUEST', 'body-shape', 'none');
  if (!isJobId(b.jobId)) throw reject('BAD_REQUEST', 'job-id', 'none');
  if (b.ttl !== undefined && b.ttl !== null && typeof b.ttl !== 'number' && typeof b.ttl !== 'string') throw reject('BAD_REQUEST', 'ttl', 'none');
  let created;
  try {
    created = await createJobToken(ctx, { user: me.user, jobId: b.jobId, ttl: b.ttl as number | string | null | undefined, tenant: me.tenant });
  } catch (err) {
    if (err instanceof TypeError) throw reject('BAD_REQUEST', 'ttl', 'none');
    throw err;
  }
  return jsonReply(201, { token: created.token, jobId: created.jobId, expiresAt: created.expiresAt }, cookies);
}

/** The job id, the last path segment, decoded; null when it is not a valid one. */
function jobIdOf(path: string): string | null {
  const segments = path.split('/').filter(s => s !== '');
  try {
    const id = decodeURIComponent(segments[segments.length - 1] ?? '');
    return isJobId(id) ? id : null;
  } catch {
    return null;
  }
}
