/**
 * Conformance cases for the optional change notices of the store seam (`watch`), which the core's
 * record cache follows. Registered by `defineStoreSuite` for every store; each case runs only when
 * the store has `watch` (without it nothing is cached, or only within `recordCacheMaxStale`).
 *
 * Changes are made through `sibling` (another instance on the same backing: what a second server
 * sees), or through the store itself when the suite has none, and must reach the watcher within
 * NOTICE_MS. A notice of `null` (unknown which: drop everything) covers every id.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { isStoreError, type ChangeListener, type RecordKind, type TokenRecord, type TokenStore } from '@tessera/core/store';

/** How long a change may take to reach a watcher here (the product target is 50 ms at p99; this bounds a test, not the store). */
const NOTICE_MS = 1000;
/** How long a stopped watcher is observed for notices that must not come. */
const QUIET_MS = 150;

type RecordOverrides = Omit<Partial<TokenRecord>, 'user'> & { user?: object };

/** What `defineStoreSuite` hands over: its store of the current test, its clock and helpers, and the `sibling` option. */
export interface WatchSuiteContext<S extends TokenStore> {
  name: string;
  store: () => S;
  now: () => number;
  rec: (kind: RecordKind, over?: RecordOverrides) => TokenRecord;
  rid: (tag: string) => string;
  /** `StoreSuiteOptions.sibling`: another instance on the same backing. */
  sibling?: (store: S) => Promise<S> | S;
}

interface Notice {
  ids: readonly string[] | null;
  at: number;
}

/** A listener that records what it is told, and waits for notices. */
class Recorder implements ChangeListener {
  readonly notices: Notice[] = [];
  readonly states: { up: boolean; at: number }[] = [];
  /** Malformed notices (not null nor an array of strings), reported by `healthy`. */
  readonly bad: unknown[] = [];

  constructor(private readonly label: string) {}

  changed(ids: readonly string[] | null): void {
    if (ids !== null && !(Array.isArray(ids) && ids.every(id => typeof id === 'string'))) this.bad.push(ids);
    this.notices.push({ ids: ids === null ? null : [...ids], at: performance.now() });
  }

  state(up: boolean): void {
    this.states.push({ up, at: performance.now() });
  }

  /** A position in the notices: `seen` looks only at what came after it. */
  mark(): number {
    return this.notices.length;
  }

  /** The ids (of `want`) not yet notified since `from`; empty once a null notice came. */
  missing(want: readonly string[], from: number): string[] {
    const got = new Set<string>();
    for (const n of this.notices.slice(from)) {
      if (n.ids === null) return [];
      for (const id of n.ids) got.add(id);
    }
    return want.filter(id => !got.has(id));
  }

  /** Waits (polling, at most NOTICE_MS) until every id of `want` was notified since `from`; fails with what came instead. */
  async seen(want: readonly string[], from: number, what: string): Promise<void> {
    const start = performance.now();
    while (this.missing(want, from).length > 0) {
      if (performance.now() - start > NOTICE_MS) {
        const got = this.notices.slice(from).map(n => (n.ids === null ? 'null' : `[${n.ids.join(', ')}]`));
        throw new Error(
          `${this.label}: ${what} was not notified within ${NOTICE_MS} ms: missing ids [${this.missing(want, from).join(', ')}] of [${want.join(', ')}]; ` +
            `notices since the change: ${got.length === 0 ? 'none' : got.slice(0, 20).join(' ')}; state calls: ${this.describeStates()}`,
        );
      }
      await new Promise(r => setTimeout(r, 5));
    }
  }

  describeStates(): string {
    return this.states.length === 0 ? 'none' : this.states.map(s => `state(${s.up})`).join(' ');
  }

  /** Throws unless every notice was well formed and notices never stopped (no state(false)) in a healthy run. */
  healthy(): void {
    if (this.bad.length > 0) throw new Error(`${this.label}: changed() was called with something other than null or an array of ids: ${JSON.stringify(this.bad.slice(0, 3))}`);
    if (this.states.some(s => !s.up)) throw new Error(`${this.label}: state(false) was reported with the backing healthy (calls: ${this.describeStates()})`);
  }
}

/** Handles and timers keeping the process alive (`process.getActiveResourcesInfo`), by type; requests in flight left out. */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) {
    if (/Req(Callback|Promise|Wrap)?$|^(WriteWrap|ShutdownWrap|Immediate)$/.test(type)) continue;
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return counts;
}

function more(after: Map<string, number>, before: Map<string, number>): string[] {
  return [...after].filter(([type, n]) => n > (before.get(type) ?? 0)).map(([type, n]) => `${type}: ${before.get(type) ?? 0} -> ${n}`);
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

export function defineWatchCases<S extends TokenStore>(ctx: WatchSuiteContext<S>): void {
  /** Siblings opened by the current test, and watches to stop, closed after it. */
  let siblings: S[] = [];
  let stops: (() => Promise<void>)[] = [];

  afterEach(async () => {
    const [s, st] = [siblings, stops];
    siblings = [];
    stops = [];
    for (const stop of st) await stop().catch(() => {});
    for (const sib of s) await sib.close().catch(() => {});
  });

  /** The store's `watch`, or null (the case then does nothing). */
  function watchable(): (S & Required<Pick<TokenStore, 'watch'>>) | null {
    const store = ctx.store();
    return typeof store.watch === 'function' ? (store as S & Required<Pick<TokenStore, 'watch'>>) : null;
  }

  /** Another instance on the same backing (closed after the test), or the store itself without `sibling`. */
  async function sibling(): Promise<S> {
    if (ctx.sibling === undefined) return ctx.store();
    const other = await ctx.sibling(ctx.store());
    if (other === ctx.store()) return other;
    siblings.push(other);
    return other;
  }

  /** A watcher on the store: its recorder, once `watch` resolved. */
  async function watcher(label = `${ctx.name} watch`): Promise<{ rec: Recorder; stop: () => Promise<void> }> {
    const store = watchable()!;
    const rec = new Recorder(label);
    const stop = await store.watch(rec);
    if (typeof stop !== 'function') throw new Error(`${ctx.name}: watch() must resolve a function that stops watching, got ${typeof stop}`);
    stops.push(stop);
    return { rec, stop };
  }

  /** `change` made through the sibling must notify `ids` (recorded from before it ran). */
  async function expectNotice(rec: Recorder, ids: readonly string[], what: string, change: () => Promise<unknown>): Promise<void> {
    const from = rec.mark();
    await change();
    await rec.seen(ids, from, what);
  }

  describe('change notices: watch', () => {
    it('a write right after watch() resolves is notified: through another instance, and through the store itself', async () => {
      const store = watchable();
      if (!store) return;
      const other = await sibling();
      const [a, b] = [ctx.rec('session'), ctx.rec('api')];
      const { rec } = await watcher();
      const from = rec.mark();
      await other.put(a); // no wait of any kind after watch() resolved
      await rec.seen([a.id], from, 'a put through another instance');
      await expectNotice(rec, [b.id], "a put through the watching store itself (its own writes are notified too)", () => store.put(b));
      rec.healthy();
    });

    it('touch notifies the touched id', async () => {
      if (!watchable()) return;
      const other = await sibling();
      const r = ctx.rec('session');
      await other.put(r);
      const { rec } = await watcher();
      await expectNotice(rec, [r.id], 'touch', async () => expect(await other.touch(r.id, ctx.now(), ctx.now() + 7200)).toBe(true));
      rec.healthy();
    });

    it('rotate notifies both the used record and its successor', async () => {
      if (!watchable()) return;
      const other = await sibling();
      const used = ctx.rec('refresh');
      const next = ctx.rec('refresh', { family: used.family, subject: used.subject });
      await other.put(used);
      const { rec } = await watcher();
      await expectNotice(rec, [used.id, next.id], 'rotate (the used record and the new one)', async () =>
        expect(await other.rotate(used.id, next, ctx.now())).toEqual({ status: 'rotated' }),
      );
      rec.healthy();
    });

    it('countReuse notifies the counted id', async () => {
      if (!watchable()) return;
      const other = await sibling();
      const r = ctx.rec('refresh', { rotatedAt: ctx.now() - 1, replacedBy: ctx.rid('next') });
      await other.put(r);
      const { rec } = await watcher();
      await expectNotice(rec, [r.id], 'countReuse', async () => expect(await other.countReuse(r.id, 3)).toBe(true));
      rec.healthy();
    });

    it('revoke by id, by family, by subject and of everyone each notifies the ids it revoked', async () => {
      if (!watchable()) return;
      const other = await sibling();
      const T = ctx.now();
      const byId = ctx.rec('session');
      const fam = ctx.rid('fam');
      const famUser = ctx.rid('user');
      const inFamily = [ctx.rec('refresh', { family: fam, subject: famUser }), ctx.rec('refresh', { family: fam, subject: famUser })];
      const user = ctx.rid('user');
      const ofUser = [ctx.rec('session', { subject: user }), ctx.rec('api', { subject: user })];
      const rest = [ctx.rec('session'), ctx.rec('job', { jobId: 'nightly' })];
      for (const r of [byId, ...inFamily, ...ofUser, ...rest]) await other.put(r);
      const { rec } = await watcher();
      const ids = (rs: TokenRecord[]) => rs.map(r => r.id);
      await expectNotice(rec, [byId.id], 'revoke({ id })', async () => expect(await other.revoke({ id: byId.id }, T)).toBe(1));
      await expectNotice(rec, ids(inFamily), 'revoke({ family })', async () => expect(await other.revoke({ family: fam }, T)).toBe(2));
      await expectNotice(rec, ids(ofUser), 'revoke({ subject })', async () => expect(await other.revoke({ subject: user }, T)).toBe(2));
      await expectNotice(rec, ids(rest), 'revoke({ all: true })', async () => expect(await other.revoke({ all: true }, T)).toBe(2));
      rec.healthy();
    });

    it('purgeExpired notifies the ids it deleted', async () => {
      if (!watchable()) return;
      const other = await sibling();
      const T = ctx.now();
      const expired = ctx.rec('session', { expiresAt: T - 10 });
      const revoked = ctx.rec('session', { revokedAt: T - 5 });
      const live = ctx.rec('session');
      for (const r of [expired, revoked, live]) await other.put(r);
      const { rec } = await watcher();
      await expectNotice(rec, [expired.id, revoked.id], 'purgeExpired (an expired and a revoked record)', async () => expect(await other.purgeExpired(T)).toBe(2));
      rec.healthy();
    });

    it('importRecords notifies the ids it wrote (when the store has it)', async () => {
      if (!watchable()) return;
      const other = await sibling();
      if (typeof other.importRecords !== 'function') return;
      const rs = [ctx.rec('session'), ctx.rec('api'), ctx.rec('refresh')];
      const { rec } = await watcher();
      await expectNotice(rec, rs.map(r => r.id), 'importRecords', async () => expect(await other.importRecords!(rs)).toBe(3));
      rec.healthy();
    });

    it('a record changed and then changed back is notified twice (notices are not deduplicated by content)', async () => {
      if (!watchable()) return;
      const other = await sibling();
      const r = ctx.rec('session');
      await other.put(r);
      const { rec } = await watcher();
      await expectNotice(rec, [r.id], 'the first change', () => other.put({ ...r, lastSeenAt: r.lastSeenAt + 1, label: 'changed' }));
      await expectNotice(rec, [r.id], 'the change back to the original record', () => other.put(r));
      expect(await other.get(r.id)).toMatchObject({ id: r.id, lastSeenAt: r.lastSeenAt });
      rec.healthy();
    });

    it('the function watch() resolves stops that watch alone (and may be called again)', async () => {
      if (!watchable()) return;
      const other = await sibling();
      const stopped = await watcher(`${ctx.name} watch (stopped)`);
      const running = await watcher(`${ctx.name} watch (still running)`);
      await stopped.stop();
      await stopped.stop(); // twice: no throw, no hang
      const after = stopped.rec.mark();
      const states = stopped.rec.states.length;
      const r = ctx.rec('session');
      await expectNotice(running.rec, [r.id], 'a put, to the watch that was not stopped', () => other.put(r));
      await sleep(QUIET_MS);
      const late = stopped.rec.notices.slice(after);
      if (late.length > 0) throw new Error(`${ctx.name}: a stopped watch was still notified: ${JSON.stringify(late.map(n => n.ids))}`);
      expect(stopped.rec.states.length).toBe(states);
      running.rec.healthy();
    });

    it('close() ends every watch: no throw, no notice afterwards, no handle or timer left behind; a stop after it resolves', async () => {
      const store = watchable();
      if (!store) return;
      const other = await sibling();
      const separate = other !== store;
      const first = ctx.rec('session');
      await store.get(first.id); // the store and its sibling are open before the snapshot
      await other.get(first.id);
      await sleep(20);
      const before = resources();
      const { rec, stop } = await watcher();
      await expectNotice(rec, [first.id], 'a put before close()', () => other.put(first));
      await store.close();
      const after = rec.mark();
      if (separate) await other.put(ctx.rec('session')); // another server keeps writing
      await sleep(QUIET_MS);
      const late = rec.notices.slice(after);
      if (late.length > 0) throw new Error(`${ctx.name}: a watch was still notified after close(): ${JSON.stringify(late.map(n => n.ids))}`);
      await stop(); // after close: resolves, does not throw
      // Handles and timers the watch opened go with close() (polled: sockets close asynchronously).
      const start = performance.now();
      let left = more(resources(), before);
      while (left.length > 0 && performance.now() - start < NOTICE_MS) {
        await sleep(20);
        left = more(resources(), before);
      }
      if (left.length > 0) throw new Error(`${ctx.name}: close() left handles or timers that were not there before watch(): ${left.join(', ')}`);
      expect(rec.bad).toEqual([]);
    });

    it('a closed store rejects watch() with STORE_UNAVAILABLE instead of hanging', async () => {
      const store = watchable();
      if (!store) return;
      await store.close();
      let timer: NodeJS.Timeout | undefined;
      const err = await Promise.race([
        store.watch(new Recorder(`${ctx.name} watch`)).then(
          stop => (stops.push(stop), new Error(`${ctx.name}: watch() resolved on a closed store`)),
          (e: unknown) => e,
        ),
        new Promise(resolve => (timer = setTimeout(() => resolve(new Error(`${ctx.name}: watch() on a closed store did not settle within 3000 ms`)), 3000))),
      ]).finally(() => clearTimeout(timer));
      // The error is shown beside its code when this fails.
      expect({ code: (err as { code?: unknown }).code, error: String(err) }).toEqual({ code: 'STORE_UNAVAILABLE', error: expect.any(String) });
      expect(isStoreError(err)).toBe(true);
    });

    it('attempt counters and meta values may or may not notify, but break nothing: record notices go on', async () => {
      if (!watchable()) return;
      const other = await sibling();
      const { rec } = await watcher();
      const T = ctx.now();
      if (typeof other.hit === 'function') await other.hit(`login-user:${ctx.rid('k')}`, 60, T);
      if (typeof other.setMeta === 'function') {
        const key = `watch-suite-${ctx.rid('m')}`;
        await other.setMeta(key, 'v');
        await other.setMeta(key, null);
      }
      const r = ctx.rec('session');
      await expectNotice(rec, [r.id], 'a put after a counter hit and a meta write', () => other.put(r));
      rec.healthy();
    });
  });
}
