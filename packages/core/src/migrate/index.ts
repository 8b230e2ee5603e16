/**
 * The live store switch (`@tessera/core/migrate`): moves every record from store A to store B
 * while the servers keep running on A, unrestarted. The servers follow the switch announced in A
 * (see state.ts for the phases, follower.ts for a server's side): every request keeps working on
 * every server during the copy, and when `migrate()` resolves every server reads and writes only
 * B. The generated signing secret moves too. A run that dies can be resumed (run it again with the
 * same target) or undone (`abortMigration`) until it completes.
 */
import { randomBytes } from 'node:crypto';
import { generateSecret } from '../keys.js';
import { KEYRING_META } from '../keyring.js';
import { isBulkStore, type BulkStore, type ListPage, type TokenRecord, type TokenStore } from '../store.js';
import { SETTLE_MS } from './follower.js';
import { FAULT_KEY, MIGRATION_KEY, REVOKE_ALL_KEY, readState, redactUrl, writeState, type MigrationPhase, type MigrationState } from './state.js';

export type { MigrationPhase, MigrationState } from './state.js';
export { MIGRATION_KEY } from './state.js';
export { SETTLE_MS };

export interface MigrationProgress {
  phase: MigrationPhase;
  /** Records written to the target so far. */
  copied: number;
  /** Records already in the target (written there by a server during the switch, or by an earlier run). */
  skipped: number;
  /** Records in the source when the copy started (an estimate), or null while they are counted or when the store can't say. */
  total: number | null;
  /** Seconds since this run started. */
  elapsed: number;
  /** Records per second over this run's copy. */
  rate: number;
}

export interface MigrateOptions {
  from: TokenStore;
  to: TokenStore;
  /** The target's URL as the servers open it (their `openStore` option): announced in the source. */
  toUrl: string;
  /**
   * Milliseconds to wait after each announcement so that every running server has seen it (servers
   * re-read it every 125 ms while they serve, and wait for a fresh read when theirs is half a
   * second old). Default 1000. 0 when the only server is this process (`switchStore`).
   */
  settleMs?: number;
  /** Records per export page and import batch. Default 2000. */
  batch?: number;
  onProgress?: (p: MigrationProgress) => void;
  /** Stops the copy (the switch stays announced: run again to resume, or abort it). */
  signal?: AbortSignal;
}

/** @internal What `switchStore` adds: this process follows each announcement as it is made. */
interface Following {
  follow?: (state: MigrationState | null) => Promise<void>;
}

/** @internal */
export type InProcessOptions = MigrateOptions & Following;

export interface MigrationResult {
  copied: number;
  skipped: number;
  seconds: number;
  /** True when this run continued a switch an earlier (interrupted) run had started. */
  resumed: boolean;
}

export interface MigrationStatus {
  phase: MigrationPhase;
  toUrl: string;
  startedAt: number;
  copied: number;
}

/** Thrown when a switch can't start or go on; the message says what to do. */
export class MigrationError extends Error {
  override name = 'MigrationError';
}

function bulk(store: TokenStore, which: string): BulkStore {
  if (!isBulkStore(store)) throw new MigrationError(`the ${which} store can't take part in a switch: it lacks exportRecords, importRecords, getMeta or setMeta`);
  return store;
}

/** Import batches in flight at once during the copy. */
const WRITERS = 4;

const sleep = (ms: number) => (ms > 0 ? new Promise<void>(res => setTimeout(res, ms)) : Promise.resolve());
const nowSec = () => Math.floor(Date.now() / 1000);

/** The generated signing secret (and its keyring) move with the records, so servers started on the target later accept today's tokens. */
async function moveSecret(from: BulkStore, to: BulkStore): Promise<void> {
  if (typeof from.initSecret !== 'function' || typeof to.initSecret !== 'function') return;
  const secret = await from.initSecret(generateSecret());
  if ((await to.initSecret(secret)) !== secret) {
    throw new MigrationError(
      'the target store keeps a different generated signing secret, so servers started on it later would refuse the tokens issued today; empty the target first',
    );
  }
  // Which keys derived from that secret sign and verify: without it the target would start over from the initial key.
  const keyring = await from.getMeta(KEYRING_META);
  if (keyring !== null) await to.setMeta(KEYRING_META, keyring);
}

/** Runs (or resumes) the switch from `from` to `to`; resolves once every server uses only `to`. */
export async function migrate(o: MigrateOptions & Following): Promise<MigrationResult> {
  const from = bulk(o.from, 'source');
  const to = bulk(o.to, 'target');
  const settle = o.settleMs ?? SETTLE_MS;
  const batch = o.batch ?? 2000;
  const follow = o.follow;
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;

  let state = await readState(from);
  if (state !== null && state.phase === 'done') {
    if (state.toUrl === o.toUrl) return { copied: 0, skipped: 0, seconds: elapsed(), resumed: true };
    throw new MigrationError(`this store was switched to ${redactUrl(state.toUrl)} already: its servers have left it; switch from there`);
  }
  if (state !== null && state.toUrl !== o.toUrl) {
    throw new MigrationError(`a switch to ${redactUrl(state.toUrl)} is under way: run it again with that target to finish it, or abort it`);
  }
  const resumed = state !== null;
  const announce = async (s: MigrationState, wait: number) => {
    await writeState(from, s);
    await follow?.(s);
    await sleep(wait);
  };

  // The count is only for progress reports: it starts with the first wait, and the copy does not wait for it.
  let total: number | null = null;
  let counting: Promise<void> | null = null;
  const count = () => {
    if (counting === null && typeof from.countRecords === 'function') {
      counting = Promise.resolve()
        .then(() => from.countRecords!())
        .then(
          n => void (total = n),
          () => {},
        );
    }
  };
  if (state === null) {
    await to.setMeta(MIGRATION_KEY, null); // a forwarding note left by an earlier switch the other way
    await moveSecret(from, to);
    await from.setMeta(FAULT_KEY, null);
    await from.setMeta(REVOKE_ALL_KEY, null);
    state = { id: randomBytes(9).toString('base64url'), phase: 'mirror', toUrl: o.toUrl, startedAt: nowSec(), cursor: null, copied: 0 };
    count();
    await announce(state, settle);
  } else if (state.phase === 'mirror') {
    count();
    await announce(state, settle); // the run that announced it may have died before every server saw it
  }

  let copied = 0;
  let skipped = 0;
  if (state.phase === 'mirror' || state.phase === 'copy') {
    state = { ...state, phase: 'copy' };
    await announce(state, 0);
    count();
    const report = (phase: MigrationPhase) => {
      const s = elapsed();
      o.onProgress?.({ phase, copied, skipped, total, elapsed: s, rate: s > 0 ? (copied + skipped) / s : 0 });
    };
    report('copy');
    let lastCheckpoint = performance.now();
    const base = state.copied;
    // Pages are read one after the other (each needs the previous cursor), the next one while
    // this one is written, and written up to WRITERS at a time, so the copy runs at the slower
    // store's pace, not at a round trip's.
    const writing: Array<{ done: Promise<void>; cursor: string | null }> = [];
    type Read = { page: ListPage; readAt: number };
    let reading: Promise<Read> | null = null;
    const read = (cursor: string | null): Promise<Read> => {
      o.signal?.throwIfAborted();
      const readAt = Date.now() / 1000;
      const p = from.exportRecords(cursor, batch).then(page => ({ page, readAt }));
      p.catch(() => {}); // awaited below; never unhandled if the loop stops first
      return p;
    };
    const write = async (records: readonly TokenRecord[], readAt: number) => {
      if (records.length === 0) return;
      const n = await to.importRecords(records);
      copied += n;
      skipped += records.length - n;
      if (n < records.length) await reconcile(from, to, records);
      await revokeAgainIfNeeded(from, to, records, readAt);
    };
    const finishOldest = async () => {
      const w = writing.shift()!;
      await w.done;
      report('copy');
      // Every page up to this one is written: a resumed run may start after it.
      if (performance.now() - lastCheckpoint > 1000 || (writing.length === 0 && w.cursor === null)) {
        state = { ...state!, cursor: w.cursor, copied: base + copied };
        await writeState(from, state);
        lastCheckpoint = performance.now();
      }
    };
    try {
      reading = read(state.cursor);
      while (reading !== null) {
        const got: Read = await reading;
        const cursor: string | null = got.page.cursor;
        reading = cursor === null ? null : read(cursor);
        const done = write(got.page.records, got.readAt);
        done.catch(() => {}); // awaited in order below; never unhandled if the loop stops first
        writing.push({ done, cursor });
        while (writing.length >= WRITERS) await finishOldest();
      }
      while (writing.length > 0) await finishOldest();
    } finally {
      await Promise.allSettled([...writing.map(w => w.done), ...(reading ? [reading] : []), ...(counting ? [counting] : [])]);
    }
    o.signal?.throwIfAborted();
    const fault = await from.getMeta(FAULT_KEY);
    if (fault !== null) {
      await abortMigration({ from, settleMs: settle, ...(follow ? { follow } : {}) });
      throw new MigrationError('a server could not write to the target during the copy; the switch was undone and every server is back on the source: check the target and run it again');
    }
    state = { ...state, phase: 'flip', cursor: null };
    await announce(state, settle);
  }
  if (state.phase === 'flip') {
    state = { ...state, phase: 'done' };
    await announce(state, settle);
    o.onProgress?.({ phase: 'done', copied, skipped, total: null, elapsed: elapsed(), rate: elapsed() > 0 ? (copied + skipped) / elapsed() : 0 });
  }
  return { copied, skipped, seconds: elapsed(), resumed };
}

/**
 * The later of two versions of one record: every change a record undergoes is monotonic (revoked
 * once, rotated once, `lastSeenAt`, `expiresAt` and `reuseCount` only grow), so joining them
 * field by field gives the version with every change either has seen.
 */
export function joinVersions(a: TokenRecord, b: TokenRecord): TokenRecord {
  const j: TokenRecord = { ...b, lastSeenAt: Math.max(a.lastSeenAt, b.lastSeenAt) };
  if (a.revokedAt !== null) j.revokedAt = b.revokedAt === null ? a.revokedAt : Math.min(a.revokedAt, b.revokedAt);
  if (b.rotatedAt == null && a.rotatedAt != null) {
    j.rotatedAt = a.rotatedAt;
    if (a.replacedBy != null) j.replacedBy = a.replacedBy;
  }
  if (a.expiresAt !== null && b.expiresAt !== null) j.expiresAt = Math.max(a.expiresAt, b.expiresAt);
  const reuse = Math.max(a.reuseCount ?? 0, b.reuseCount ?? 0);
  if (reuse > 0) j.reuseCount = reuse;
  return j;
}

const sameVersion = (a: TokenRecord, b: TokenRecord) =>
  a.revokedAt === b.revokedAt && (a.rotatedAt ?? null) === (b.rotatedAt ?? null) && a.lastSeenAt === b.lastSeenAt && a.expiresAt === b.expiresAt && (a.reuseCount ?? 0) === (b.reuseCount ?? 0);

/**
 * Records the target already had: a server may have copied one there while another server, not
 * yet following the switch, changed it in the source only (the first settle window), and an
 * interrupted run leaves copies older than the source. Bring each up to the source's version
 * (joined, so a change only the target has is kept too), re-reading until they agree, so a change
 * a server makes meanwhile (in both stores) is never overwritten.
 */
async function reconcile(from: BulkStore, to: BulkStore, records: readonly TokenRecord[]): Promise<void> {
  const one = async (page: TokenRecord) => {
    const id = page.id;
    // Most of the page was written by this import, or was there as the page has it (a server
    // copied it, and makes every later change in both stores): nothing to bring up.
    const there = await to.get(id);
    if (there !== null && sameVersion(there, page)) return;
    for (let round = 0; round < 5; round++) {
      const [a, b] = await Promise.all([from.get(id), to.get(id)]);
      if (a === null) return; // purged from the source meanwhile
      if (b === null) return void (await to.importRecords([a]));
      const joined = joinVersions(a, b);
      if (sameVersion(joined, b)) return;
      await to.put(joined);
    }
  };
  for (let i = 0; i < records.length; i += 100) await Promise.all(records.slice(i, i + 100).map(one));
}

/**
 * A server revoked every record while this page was on its way (`revoke({ all })` during the
 * copy): the page may hold copies made before that, so revoke them in the target again.
 */
async function revokeAgainIfNeeded(from: BulkStore, to: BulkStore, records: readonly TokenRecord[], readAt: number): Promise<void> {
  const raw = await from.getMeta(REVOKE_ALL_KEY);
  if (raw === null) return;
  // `wall`: when it happened (to compare with when the page was read); `at`: the servers' clock.
  let flag: { wall?: unknown; at?: unknown };
  try {
    flag = JSON.parse(raw) as typeof flag;
  } catch {
    flag = {};
  }
  const at = typeof flag.at === 'number' ? flag.at : Number.MAX_SAFE_INTEGER;
  if (typeof flag.wall === 'number' && flag.wall < readAt - 1) return;
  await Promise.all(records.filter(r => r.revokedAt === null && r.createdAt <= at).map(r => to.revoke({ id: r.id }, at)));
}

interface AbortOptions extends Following {
  from: TokenStore;
  settleMs?: number;
}

/** Ends an unfinished switch: every server goes back to the source. False when none was under way (or it had completed). */
export async function abortMigration(o: AbortOptions): Promise<boolean> {
  const from = bulk(o.from, 'source');
  const settle = o.settleMs ?? SETTLE_MS;
  const follow = o.follow;
  const state = await readState(from);
  if (state === null || state.phase === 'done') return false;
  if (state.phase === 'flip') {
    // Servers on the target go back through `mirror`, where the source is authoritative again.
    const back = { ...state, phase: 'mirror' as const };
    await writeState(from, back);
    await follow?.(back);
    await sleep(settle);
  }
  await writeState(from, null);
  await follow?.(null);
  await sleep(settle);
  return true;
}

/** The switch announced in `store`, or null. */
export async function migrationStatus(store: TokenStore): Promise<MigrationStatus | null> {
  const s = await readState(store);
  return s === null ? null : { phase: s.phase, toUrl: redactUrl(s.toUrl), startedAt: s.startedAt, copied: s.copied };
}
