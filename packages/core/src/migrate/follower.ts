/**
 * How a running server follows a switch announced in its store: it re-reads the announcement
 * every 125 ms while it serves requests (and, if that has fallen behind by more than half a
 * second, before the next store call), and swaps the store its requests use: the source, a `MirrorStore`
 * over both, then the target alone. Once `done`, the target is its store: it stops reading the
 * source and reads the next switch's announcement in the target.
 */
import { StoreError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { BulkStore, TokenStore } from '../store.js';
import { isBulkStore } from '../store.js';
import { syncReader } from '../lib/sync-read.js';
import { MirrorStore } from './mirror-store.js';
import { readState, redactUrl, type MigrationState } from './state.js';

/** The target URL a switch run by one process (`switchStore`) announces: nothing to open. */
export const IN_PROCESS_URL = 'in-process:';
/** Re-read the announcement this often while requests come in. */
export const POLL_MS = 125;
/**
 * A store call waits for a fresh read when the last one began longer ago than this, so every call
 * acts on an announcement that was current at most this long before it started. A copier that
 * waits longer than this after each announcement (`SETTLE_MS`) knows no server is two phases behind.
 */
export const LEASE_MS = 500;
/** The copier's default wait after each announcement: the lease, and as much again for timers and event loops running late. */
export const SETTLE_MS = 2 * LEASE_MS;
/** Stop the timer after this long without a store call (the next call re-reads first). */
const IDLE_MS = 10_000;

export type OpenStore = (url: string) => TokenStore | Promise<TokenStore>;

/** Where the follower installs the store requests use. */
export interface StoreSlot {
  use(store: TokenStore): void;
}

/** A store that refuses every call: a switch this server can't follow must not let it write to one store only. */
function refusing(message: string): TokenStore {
  const fail = () => Promise.reject(new StoreError(message));
  return { get: fail, put: fail, touch: fail, rotate: fail, countReuse: fail, revoke: fail, list: fail, purgeExpired: fail, close: async () => {} };
}

export class Follower {
  private state: MigrationState | null = null;
  private target: { id: string; store: BulkStore; opened: boolean } | null = null;
  private lastRead = 0;
  private lastUsed = 0;
  private reading: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Stores this server opened and moved to: closed with it. */
  private readonly owned: TokenStore[] = [];
  /** The switch this server could not follow (its failure is logged once). */
  private unfollowable: string | null = null;
  private stopped = false;

  /** Whether to read announcements: not for in-process stores (nothing outside this process can make one there). */
  private polls: boolean;

  /** @param source the store this server uses now: announcements are read there */
  constructor(
    private source: BulkStore,
    private readonly slot: StoreSlot,
    private readonly open: OpenStore | undefined,
    private readonly logger: Logger,
  ) {
    this.polls = syncReader(source) === null;
  }

  /** The store this server uses outside a switch (after one, its target). */
  get current(): BulkStore {
    return this.source;
  }

  /** Whether a store call must wait for a fresh read of the announcement first. */
  due(nowMs: number): boolean {
    if (!this.polls || this.stopped) return false;
    this.lastUsed = nowMs;
    if (this.timer === null) this.startTimer();
    return nowMs - this.lastRead > LEASE_MS;
  }

  private startTimer(): void {
    this.timer = setInterval(() => {
      if (Date.now() - this.lastUsed > IDLE_MS || this.stopped || !this.polls) return this.stopTimer();
      this.refresh().catch(() => {}); // the next store call retries, and fails closed if the source is down
    }, POLL_MS);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads the announcement and follows it; concurrent callers share one read. */
  refresh(): Promise<void> {
    this.reading ??= (async () => {
      try {
        const started = Date.now();
        await this.apply(await readState(this.source));
        this.lastRead = started;
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }

  /**
   * Switches this process runs itself (`switchStore`): their announcements name no URL to open,
   * and their phases reach this follower through `apply(state, target)`; a poll that reads one
   * first must leave it alone, or it would fail every store call trying to open "in-process:".
   */
  inProcess = 0;

  /** Follows `state`; `given` is the target itself when the switch runs in this process. */
  async apply(state: MigrationState | null, given?: BulkStore): Promise<void> {
    if (this.stopped) return;
    if (given === undefined && this.inProcess > 0 && state !== null && state.toUrl === IN_PROCESS_URL) return;
    const before = this.state;
    if (state === null) {
      if (before !== null || this.unfollowable !== null) {
        this.unfollowable = null;
        this.slot.use(this.source);
        this.logger.warn({}, 'the store switch was undone: back on the source store');
        await this.dropTarget();
      }
      this.state = null;
      return;
    }
    if (before !== null && before.id === state.id && before.phase === state.phase) return;
    const target = await this.targetFor(state, given);
    if (target === null) return;
    this.state = state;
    if (state.phase === 'mirror' || state.phase === 'copy') this.slot.use(new MirrorStore(this.source, target, this.source, true));
    else if (state.phase === 'flip') this.slot.use(new MirrorStore(target, this.source, this.source, false));
    else {
      // Arrived: the target is this server's store from now on, and the one a next switch is announced in.
      this.slot.use(target);
      if (this.target!.opened) this.owned.push(target);
      this.target = null;
      this.source = target;
      this.state = null;
      this.polls = syncReader(target) === null;
      this.lastRead = 0;
    }
    if (before?.phase !== state.phase && !(before?.phase === 'mirror' && state.phase === 'copy')) {
      this.logger.info({ to: redactUrl(state.toUrl), phase: state.phase }, `store switch: ${state.phase === 'done' ? 'now on the target store only' : state.phase === 'flip' ? 'the target store is now authoritative' : 'copying every change to the target store'}`);
    }
  }

  private async targetFor(state: MigrationState, given: BulkStore | undefined): Promise<BulkStore | null> {
    if (this.target?.id === state.id) return this.target.store;
    await this.dropTarget();
    let store: TokenStore | undefined = given;
    let why = '';
    if (store === undefined && this.open === undefined) why = 'this server has no `openStore` option to open it';
    else if (store === undefined) {
      try {
        store = await this.open!(state.toUrl);
      } catch (err) {
        why = `opening it failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
      }
    }
    if (store !== undefined && !isBulkStore(store)) {
      why = 'that store lacks the bulk members a switch needs';
      if (given === undefined) await store.close().catch(() => {});
    }
    if (why !== '' || store === undefined) {
      const message = `a store switch to ${redactUrl(state.toUrl)} is under way and ${why}: store calls fail until it ends`;
      if (this.unfollowable !== state.id) this.logger.error({}, message);
      this.unfollowable = state.id;
      this.slot.use(refusing(message));
      return null; // state stays as it was, so the next read tries again
    }
    this.unfollowable = null;
    this.target = { id: state.id, store: store as BulkStore, opened: given === undefined };
    return this.target.store;
  }

  private async dropTarget(): Promise<void> {
    const t = this.target;
    this.target = null;
    if (t?.opened) await t.store.close().catch(() => {});
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.stopTimer();
    await this.dropTarget();
    for (const s of this.owned.splice(0)) await s.close().catch(() => {});
  }
}
