/**
 * The file store's change notices (`watch`) across processes, and what happens when they may be
 * missed. Process B (a child running the built package, so `tsc -b` runs first) watches a
 * directory; this process (A) revokes, rotates and touches records in it; B reports every notice
 * with `process.hrtime` (CLOCK_MONOTONIC, one clock for both processes), so the latency from A's
 * write resolving to B's listener firing is measured exactly. Then B's watcher gets an 'error'
 * (injected through the store's test hook): state(false), a new watch, state(true), notices again.
 * The in-process cases check the safety nets: a burst of events, a stalled event loop, events that
 * stop arriving, the directory replaced.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { FileStore } from '@tessera/store-file';
import { CHANGES, expectNoticeLatency, expectNoticeOfPut, expectOutage, id, latencyRecords, record, recorder, sleep, until, watchers, type WorkerSpec } from '../support/watch-latency.js';

/** Child B: watches the directory; on `inject`, its watcher gets an 'error'. */
const WORKER: WorkerSpec = {
  dist: fileURLToPath(new URL('../../packages/store-file/dist/index.js', import.meta.url)),
  store: 'FileStore',
  argv: ['dir'],
  options: '{ dir, purgeInterval: false }',
  commands: {
    inject: `
const [w] = store[Symbol.for('tessera.store-file.watches')]();
w.fsWatcher.emit('error', Object.assign(new Error('injected watcher failure'), { code: 'EIO' }));
out({ injected: true, t: now() });`,
  },
};

describe('file store watch across processes', () => {
  const harness = watchers('tessera-file-watch-mp-');
  afterAll(() => harness.cleanup());

  it(`B sees A's revocations, rotations and touches within 50 ms at p99 (${CHANGES} changes); a watcher error is state(false), then state(true)`, async () => {
    const dir = join(harness.tmp(), 'store');
    const store = new FileStore({ dir, purgeInterval: false }); // fsync on: what a server does
    const now = Math.floor(Date.now() / 1000);

    // Records to change, made before B watches.
    const records = latencyRecords(now);
    for (const r of records.all) await store.put(r);

    const child = await harness.start<{ injected: boolean }>(WORKER, [dir]);
    await expectNoticeLatency(store, child, records, now, {
      title: 'file store watch',
      detail: 'fsync on',
      negative: "B was notified before A's call resolved, A still syncing the directory or releasing the record lock",
    });

    // A watcher error: B's listener is told at once that notices may be missed, then that they flow again.
    const outage = await expectOutage(child, () => child.send({ op: 'inject' }), { down: 'state(false) after the watcher error', up: 'state(true) once watching again' });
    const injected = await until('B injected the error', () => child.lines.find(l => l.injected));
    expect(outage.down.at - injected.at).toBeLessThan(50);
    await expectNoticeOfPut(store, child, now, 'a notice after the new watch');

    child.end();
    await store.close();
  }, 90_000);
});

type Watches = { fsWatcher: import('node:fs').FSWatcher | null }[];
const watchesOf = (store: FileStore): Watches => (store as unknown as Record<symbol, () => Watches>)[Symbol.for('tessera.store-file.watches')]!();

describe('file store watch: when notices may be missed', () => {
  const root = mkdtempSync(join(tmpdir(), 'tessera-file-watch-'));
  let n = 0;
  const open: FileStore[] = [];
  const pair = () => {
    const dir = join(root, String(n++));
    const a = new FileStore({ dir, purgeInterval: false, fsync: false });
    const b = new FileStore({ dir, purgeInterval: false, fsync: false });
    open.push(a, b);
    return [a, b, dir] as const;
  };
  afterAll(async () => {
    for (const s of open) await s.close();
    rmSync(root, { recursive: true, force: true });
  });
  const now = Math.floor(Date.now() / 1000);

  it('a burst of events in one turn of the event loop (the kernel queue may have overflowed) is changed(null)', async () => {
    const [store, , dir] = pair();
    const { notices, states, listener } = recorder();
    await store.watch(listener);
    // 1,200 files written without yielding: their ~2,400 events are read in one turn (no record ids).
    for (let i = 0; i < 1200; i++) writeFileSync(join(dir, 'records', `burst-${i}.tmp`), 'x');
    await until('changed(null) after the burst', () => notices.some(x => x.ids === null), 2000, 5);
    expect(states).toEqual([]);
  });

  it('an event loop stalled past the check (the kernel queue may have overflowed) is changed(null)', async () => {
    const [store] = pair();
    const { notices, states, listener } = recorder();
    await store.watch(listener);
    const end = performance.now() + 2300; // longer than a check interval plus the lag allowed
    while (performance.now() < end); // a stall
    await until('changed(null) after the stall', () => notices.some(x => x.ids === null), 2000, 5);
    expect(states).toEqual([]);
  });

  it('the directory changing with no event (notices not delivered here) is state(false) for good', async () => {
    const [store, other] = pair();
    const { notices, states, listener } = recorder();
    await store.watch(listener);
    const [w] = watchesOf(store);
    w!.fsWatcher!.removeAllListeners('change'); // events now go nowhere: what a remote writer on NFS looks like
    await other.put(record({ id: id('ses'), kind: 'session' }, now));
    await until('state(false)', () => states.some(s => !s.up), 4000, 5);
    expect(notices.filter(x => x.ids !== null)).toEqual([]);
    await sleep(1500);
    expect(states.map(s => s.up)).toEqual([false]); // not back: the directory cannot be trusted
    expect(w!.fsWatcher).toBeNull();
  }, 15_000);

  it('the records directory replaced is state(false), then state(true) on the new one, whose changes are notified', async () => {
    const [store, other, dir] = pair();
    await other.put(record({ id: id('ses'), kind: 'session' }, now));
    const { notices, states, listener } = recorder();
    await store.watch(listener);
    renameSync(join(dir, 'records'), join(dir, 'records-old'));
    mkdirSync(join(dir, 'records'));
    await until('state(false)', () => states.some(s => !s.up), 3000, 5);
    await until('state(true)', () => states.at(-1)?.up === true, 5000, 5);
    const r = record({ id: id('ses'), kind: 'session' }, now);
    const from = notices.length;
    await other.put(r);
    await until('the new directory notifies', () => notices.slice(from).some(x => x.ids?.includes(r.id)), 2000, 5);
  });

  it('a watcher error is state(false) at once and state(true) once a new watch is set; stop and close leave no watch', async () => {
    const [store, other] = pair();
    const { notices, states, listener } = recorder();
    const stop = await store.watch(listener);
    await store.watch(recorder().listener);
    const [w] = watchesOf(store);
    const t = performance.now();
    w!.fsWatcher!.emit('error', new Error('injected'));
    expect(states.map(s => s.up)).toEqual([false]); // synchronously
    await until('state(true)', () => states.at(-1)?.up === true, 3000, 5);
    expect(states.at(-1)!.at - t).toBeLessThan(1000);
    const r = record({ id: id('ses'), kind: 'session' }, now);
    await other.put(r);
    await until('a notice after the new watch', () => notices.some(x => x.ids?.includes(r.id)), 2000, 5);
    await stop();
    expect(watchesOf(store)).toHaveLength(1);
    expect(w!.fsWatcher).toBeNull();
    await store.close();
    expect(watchesOf(store)).toEqual([]);
  });
});
