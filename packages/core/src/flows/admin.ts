/** Administration: list and revoke sessions and API tokens (no secret is ever listed). */
import type { Context } from '../context.js';
import type { RevokeWhere, TokenRecord } from '../store.js';

/** A summary of a session or API token for administration screens (no secrets). */
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
  };
}

/** Live records of one kind for a subject, a page at a time. */
export async function listLive(ctx: Context, subject: string, kind: 'session' | 'api', page: Page = {}): Promise<{ items: SessionInfo[]; cursor: string | null }> {
  const limit = Math.min(Math.max(page.limit ?? 100, 1), 1000);
  const now = ctx.now();
  const res = await ctx.store.list({ subject, kind, cursor: page.cursor ?? null, limit });
  const items = res.records.filter(r => r.kind === kind && r.revokedAt === null && (r.expiresAt === null || r.expiresAt > now)).map(infoOf);
  return { items, cursor: res.cursor };
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
