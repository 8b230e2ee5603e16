/** Administration: list and revoke sessions, job tokens and API tokens (no secret is ever listed). */
import type { Context } from '../context.js';
import type { RevokeWhere, TokenRecord } from '../store.js';

/** A summary of a session, job token or API token for administration screens (no secrets). */
export interface SessionInfo {
  id: string;
  kind: TokenRecord['kind'];
  subject: string;
  tenant: string | null;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  ip: string | null;
  label: string | null;
  /** Job tokens: the job. */
  jobId?: string;
  /** Scoped API tokens: what the token may do (absent: unscoped). */
  scopes?: string[];
}

export interface Page {
  cursor?: string | null;
  /** 1 to 1000; default 100. */
  limit?: number;
}

export function infoOf(r: TokenRecord): SessionInfo {
  return {
    id: r.id,
    kind: r.kind,
    subject: r.subject,
    tenant: r.tenant ?? null,
    createdAt: r.createdAt,
    lastSeenAt: r.lastSeenAt,
    expiresAt: r.expiresAt,
    revokedAt: r.revokedAt,
    ip: r.ip ?? null,
    label: r.label ?? null,
    ...(r.kind === 'job' ? { jobId: r.jobId ?? '' } : r.scopes != null ? { scopes: [...r.scopes] } : {}),
  };
}

/** Live records of one kind for a subject, a page at a time. */
export async function listLive(ctx: Context, subject: string, kind: 'session' | 'api' | 'job', page: Page = {}): Promise<{ items: SessionInfo[]; cursor: string | null }> {
  const limit = pageLimit(page);
  const now = ctx.now();
  const res = await ctx.store.list({ subject, kind, cursor: page.cursor ?? null, limit });
  const items = res.records.filter(r => r.kind === kind && r.revokedAt === null && (r.expiresAt === null || r.expiresAt > now)).map(infoOf);
  return { items, cursor: res.cursor };
}

function pageLimit(page: Page): number {
  return Math.min(Math.max(page.limit ?? 100, 1), 1000);
}

/** Cursors into the job tokens, the second part of `listLogins`; any other cursor is the store's own, into the sessions. */
const JOBS_CURSOR = 'jobs:';

/**
 * A user's live sessions, then their live job tokens (what the session lists show), a page at a
 * time: one cursor runs through both, and a page never holds more than its limit.
 */
export async function listLogins(ctx: Context, subject: string, page: Page = {}): Promise<{ items: SessionInfo[]; cursor: string | null }> {
  const limit = pageLimit(page);
  const cursor = page.cursor ?? null;
  if (cursor !== null && cursor.startsWith(JOBS_CURSOR)) return jobsPage(ctx, subject, cursor.slice(JOBS_CURSOR.length) || null, limit);
  const sessions = await listLive(ctx, subject, 'session', { cursor, limit });
  if (sessions.cursor !== null) return sessions;
  const room = limit - sessions.items.length;
  if (room < 1) return { items: sessions.items, cursor: JOBS_CURSOR };
  const jobs = await jobsPage(ctx, subject, null, room);
  return { items: [...sessions.items, ...jobs.items], cursor: jobs.cursor };
}

async function jobsPage(ctx: Context, subject: string, cursor: string | null, limit: number): Promise<{ items: SessionInfo[]; cursor: string | null }> {
  const res = await listLive(ctx, subject, 'job', { cursor, limit });
  return { items: res.items, cursor: res.cursor === null ? null : JOBS_CURSOR + res.cursor };
}

/**
 * Revokes a login by the id a session list shows: a session (its whole family) or one job token
 * (a job's tokens share a family of their own).
 */
export async function revokeListed(ctx: Context, id: string): Promise<number> {
  const rec = await ctx.store.get(id);
  return adminRevoke(ctx, rec?.kind === 'job' ? { id } : { family: id });
}

export async function adminRevoke(ctx: Context, where: RevokeWhere): Promise<number> {
  const now = ctx.now();
  const count = await ctx.store.revoke(where, now);
  ctx.emit(() => ({ type: 'revoked', at: now, by: 'admin', where, count }));
  return count;
}

export async function recordInfo(ctx: Context, id: string): Promise<SessionInfo | null> {
  const rec = await ctx.store.get(id);
  return rec && rec.kind !== 'refresh' ? infoOf(rec) : null;
}
