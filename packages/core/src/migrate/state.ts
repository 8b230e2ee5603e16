/**
 * The switch's announcement, kept in the source store's meta values (`getMeta`/`setMeta`), and the
 * rules every server follows for each phase.
 *
 *   phase    reads   writes                          who is authoritative
 *   (none)   A       A                               A
 *   mirror   A       A, then the same change in B    A   (the copier runs in this phase: `copy`)
 *   flip     B       B, then the same change in A    B
 *   done     B       B                               B   (A is left as it is; nothing reads it)
 *
 * Neighbouring phases are compatible (every record a server of one phase reads was written where
 * it reads by servers of the other), so servers may move to the next phase at slightly different
 * times; the copier waits `settleMs` after each announcement so that no server is two phases
 * behind. `copy` is `mirror` with the copier running (and its cursor kept, for resuming).
 *
 * Known limit: during the settle window after `flip`, a server still in `copy` and one already in
 * `flip` make their compare-and-set rotation in different stores, so two of them rotating the same
 * refresh token at that instant can both win (two valid successors of one login; nothing revoked
 * comes back, nothing is lost).
 */
import type { BulkStore, TokenStore } from '../store.js';

/** Where the switch stands. */
export type MigrationPhase = 'mirror' | 'copy' | 'flip' | 'done';

export interface MigrationState {
  /** Random id of this switch (one per `migrate` run that started it). */
  id: string;
  phase: MigrationPhase;
  /** The target as servers open it (`openStore` option). */
  toUrl: string;
  /** Epoch seconds. */
  startedAt: number;
  /** Copy progress, for resuming after the copying process died. */
  cursor: string | null;
  copied: number;
}

/** Meta key of the announcement (in the source store). */
export const MIGRATION_KEY = 'tessera.migration';
/** Meta key a server sets (in the source) before it revokes every record during `mirror`: the copier re-applies it. */
export const REVOKE_ALL_KEY = 'tessera.migration.revoke-all';
/** Meta key a server sets (in the source) when a mirrored write to the target failed: the switch is undone. */
export const FAULT_KEY = 'tessera.migration.fault';

const PHASES: ReadonlySet<string> = new Set(['mirror', 'copy', 'flip', 'done']);

/** Parses an announcement; garbage reads as no announcement (a server then stays on its store). */
export function parseState(raw: string | null): MigrationState | null {
  if (raw === null) return null;
  try {
    const v = JSON.parse(raw) as Partial<MigrationState>;
    if (typeof v !== 'object' || v === null) return null;
    if (typeof v.id !== 'string' || typeof v.phase !== 'string' || !PHASES.has(v.phase) || typeof v.toUrl !== 'string') return null;
    return {
      id: v.id,
      phase: v.phase,
      toUrl: v.toUrl,
      startedAt: typeof v.startedAt === 'number' ? v.startedAt : 0,
      cursor: typeof v.cursor === 'string' ? v.cursor : null,
      copied: typeof v.copied === 'number' ? v.copied : 0,
    };
  } catch {
    return null;
  }
}

export async function readState(store: TokenStore): Promise<MigrationState | null> {
  return typeof store.getMeta === 'function' ? parseState(await store.getMeta(MIGRATION_KEY)) : null;
}

export function writeState(store: BulkStore, state: MigrationState | null): Promise<void> {
  return store.setMeta(MIGRATION_KEY, state === null ? null : JSON.stringify(state));
}

/** A store URL with any password hidden, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
