/**
 * Job tokens: `tsj_<id>.<secret>`, a bearer credential a user hands to long-running work (a
 * report, an import, a batch of workers). Stored hashed like API tokens, but with a lifetime
 * (`jobs.ttl`, at most `jobs.maxTtl`) and the fixed scopes `JOB_SCOPES`; they outlive the login
 * that made them (logout, refresh, expiry of the access token) and end by revocation (the job,
 * the user, an admin) or at the end of their lifetime.
 */
import type { Context } from '../context.js';
import { parseDuration } from '../lib/duration.js';
import { storableUser } from '../lib/json-user.js';
import { randomId, sha256 } from '../lib/random.js';
import { signRecord } from '../lib/at-rest.js';
import type { Duration } from '../options.js';
import { ok, type Ok } from '../outcome.js';
import { reject } from '../reject.js';
import { sealUser } from '../seal.js';
import type { TokenRecord } from '../store.js';
import type { HttpRequest, User } from '../types.js';
import { infoOf, type SessionInfo } from './admin.js';
import { checkStoredToken } from './api-tokens.js';
import { maybeTouch, toSession } from './checks.js';

export const JOB_PREFIX = 'tsj_';
const JOB_TOKEN = /^tsj_([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{32,128})$/;
/**
 * A job id: 1 to 64 letters, digits or `. _ : -`, starting with a letter or digit. Short enough
 * for a path segment every framework routes (Fastify's default parameter limit is 100), with no
 * character a client would percent-encode.
 */
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export interface CreateJobTokenInput<U extends User = User> {
  user: U;
  /** The job's own id, unique per user (and tenant): a new token for a live job replaces the old one. */
  jobId: string;
  /** Lifetime; default the `jobs.ttl` option (24 h), at most `jobs.maxTtl` (7 days). */
  ttl?: Duration | null;
  tenant?: string | null;
}

export interface CreatedJobToken {
  /** Shown once: send it as `Authorization: Bearer <token>`. */
  token: string;
  jobId: string;
  expiresAt: number;
  info: SessionInfo;
}

export function isJobId(value: unknown): value is string {
  return typeof value === 'string' && JOB_ID.test(value);
}

/**
 * The family of every token of one job: a digest of tenant, user and job id. Replacing or
 * revoking a job is then one store revoke by family, on every server at once, however many
 * tokens the user holds.
 */
export function jobFamily(tenant: string | null, subject: string, jobId: string): string {
  return sha256(JSON.stringify(['job', tenant, subject, jobId]));
}

/** The lifetime to use, or a TypeError (`createJobToken`) the route turns into 400. */
function lifetime(ctx: Context, ttl: Duration | null | undefined): number {
  const jobs = ctx.o.jobs!;
  if (ttl === undefined || ttl === null) return jobs.ttl;
  const seconds = parseDuration(ttl);
  if (seconds === null || seconds < 1 || seconds > jobs.maxTtl) throw new TypeError(`createJobToken: ttl must be a duration of 1 s to jobs.maxTtl (${jobs.maxTtl} s)`);
  return seconds;
}

/**
 * Creates a job token. A live token of the same job (user, tenant, job id) is revoked first: a
 * restarted job asks again and the old token ends (`SESSION_ENDED`) instead of failing the restart.
 */
export async function createJobToken(ctx: Context, input: CreateJobTokenInput): Promise<CreatedJobToken> {
  if (ctx.o.jobs === undefined) throw new TypeError('createJobToken: job tokens are off (`jobs: false`)');
  const user = storableUser(input?.user);
  if (!isJobId(input.jobId)) throw new TypeError('createJobToken: jobId must be 1 to 64 letters, digits or `. _ : -`, starting with a letter or digit');
  const ttl = lifetime(ctx, input.ttl);
  const tenant = input.tenant ?? null;
  const now = ctx.now();
  const id = randomId();
  const secret = randomId(32);
  const family = jobFamily(tenant, user.id, input.jobId);
  const record: TokenRecord = {
    id,
    kind: 'job',
    subject: user.id,
    family,
    createdAt: now,
    lastSeenAt: now,
    expiresAt: now + ttl,
    revokedAt: null,
    secretHash: sha256(secret),
    jobId: input.jobId,
  };
  if (tenant !== null) record.tenant = tenant;
  sealUser(ctx, record, user);
  signRecord(record, secret);
  const replaced = await ctx.store.revoke({ family }, now);
  if (replaced > 0) ctx.emit(() => ({ type: 'revoked', at: now, by: 'admin', where: { family }, count: replaced }));
  await ctx.store.put(record);
  ctx.emit(() => ({ type: 'issued', at: now, kind: 'job', sessionId: id, subject: user.id, tenant }));
  return { token: `${JOB_PREFIX}${id}.${secret}`, jobId: input.jobId, expiresAt: now + ttl, info: infoOf(record) };
}

/** Ends every token of one job of a user; how many were live. Unknown jobs are not an error (0). */
export async function revokeJob(ctx: Context, subject: string, jobId: string, tenant: string | null = null): Promise<number> {
  if (typeof subject !== 'string' || !isJobId(jobId)) return 0;
  const now = ctx.now();
  const where = { family: jobFamily(tenant, subject, jobId) };
  const count = await ctx.store.revoke(where, now);
  ctx.emit(() => ({ type: 'revoked', at: now, by: 'admin', where, count }));
  return count;
}

/** A job token presented as Bearer: the stored checks of API tokens; refused outright while `jobs` is off. */
export async function authenticateJobToken(ctx: Context, req: HttpRequest, bearer: string, now: number): Promise<Ok> {
  if (ctx.o.jobs === undefined) throw reject('TOKEN_INVALID', 'jobs-off', 'none');
  const m = JOB_TOKEN.exec(bearer);
  if (!m) throw reject('TOKEN_INVALID', 'job-malformed', 'none');
  const record = await checkStoredToken(ctx, req, 'job', m[1]!, m[2]!, now);
  // No rotation and no single-use state: only the store's monotonic touch, so any number of
  // workers can share one token concurrently.
  await maybeTouch(ctx, record, now);
  return ok(toSession(ctx, record, record.expiresAt));
}
