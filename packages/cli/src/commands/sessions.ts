/** `tessera sessions list|revoke`: the live sessions of the store, and revoking them. */
import type { TokenStore } from '@tessera/core';
import { isLive, type RevokeWhere, type TokenRecord } from '@tessera/core/store';
import { Command } from 'commander';
import { CliError, iso, nowSeconds, plural, say, sayJson, storeOptions, withStore, type StoreOptions } from '../shared.js';

/** Records per `list` page. */
const PAGE = 500;

/** A session as listed: never a token (the store keeps none), only ids and times. */
export interface ListedSession {
  id: string;
  user: string;
  createdAt: string | null;
  lastSeenAt: string | null;
  expiresAt: string | null;
}

/** Every live session record (of one user when `subject` is given), paging through the store's cursors. */
export async function liveSessions(store: TokenStore, subject: string | undefined, now: number): Promise<TokenRecord[]> {
  const out: TokenRecord[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.list({ kind: 'session', limit: PAGE, cursor, ...(subject !== undefined ? { subject } : {}) });
    for (const r of page.records) if (r.kind === 'session' && isLive(r, now)) out.push(r);
    cursor = page.cursor;
  } while (cursor !== null);
  return out;
}

function listed(r: TokenRecord): ListedSession {
  return { id: r.id, user: r.subject, createdAt: iso(r.createdAt), lastSeenAt: iso(r.lastSeenAt), expiresAt: iso(r.expiresAt) };
}

/** Rows as left-aligned columns two spaces apart. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)));
  return rows.map(r => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

function listCommand(): Command {
  return storeOptions(new Command('list').description('list the live sessions (all users, or one with --user)'))
    .option('--user <id>', 'only the sessions of this user id')
    .action((opts: StoreOptions & { user?: string }) =>
      withStore(opts, async ({ store }) => {
        const sessions = (await liveSessions(store, opts.user, nowSeconds())).map(listed);
        sessions.sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? '') || a.id.localeCompare(b.id));
        if (opts.json) return sayJson({ sessions });
        if (sessions.length === 0) return say(opts.user !== undefined ? `no live sessions for user ${opts.user}` : 'no live sessions');
        const head = ['SESSION ID', 'USER', 'CREATED', 'LAST SEEN', 'EXPIRES'];
        for (const line of table([head, ...sessions.map(s => [s.id, s.user, s.createdAt ?? '-', s.lastSeenAt ?? '-', s.expiresAt ?? 'never'])])) say(line);
      }),
    );
}

interface RevokeOptions extends StoreOptions {
  user?: string;
  id?: string;
  all?: boolean;
}

/** Exactly one of --user, --id, --all, as the store's revoke filter. */
export function revokeWhere(opts: RevokeOptions): RevokeWhere {
  const given = [opts.user !== undefined, opts.id !== undefined, opts.all === true].filter(Boolean).length;
  if (given !== 1) throw new CliError(`sessions revoke: give exactly one of --user <id>, --id <session id> or --all${given > 1 ? ` (got ${given})` : ''}`);
  if (opts.user !== undefined) {
    if (opts.user === '') throw new CliError('sessions revoke: --user must not be empty');
    return { subject: opts.user };
  }
  if (opts.id !== undefined) {
    if (opts.id === '') throw new CliError('sessions revoke: --id must not be empty');
    // A session id names its login: revoking the family ends the session and its refresh tokens.
    return { family: opts.id };
  }
  return { all: true };
}

function revokeCommand(): Command {
  return storeOptions(new Command('revoke').description('revoke sessions: exactly one of --user, --id, --all; prints how many records were revoked'))
    .option('--user <id>', 'every session (and token) of this user id')
    .option('--id <session>', 'one session, with its refresh tokens')
    .option('--all', 'every session and token in the store')
    .action((opts: RevokeOptions) => {
      const where = revokeWhere(opts); // checked before the store is opened
      return withStore(opts, async ({ store }) => {
        const revoked = await store.revoke(where, nowSeconds());
        if (opts.json) sayJson({ revoked });
        else say(`revoked ${plural(revoked, 'record')}`);
      });
    });
}

export function sessionsCommand(): Command {
  return new Command('sessions').description('list or revoke sessions').addCommand(listCommand()).addCommand(revokeCommand());
}
