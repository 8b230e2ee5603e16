/**
 * How `migrate()` schedules the copy (memory stores with their calls observed): the next page is
 * read while the previous ones are written, the count runs during the first wait, a failed write
 * stops the copy with nothing left running, and records the target already holds as the page has
 * them cost no read of the source, while older ones are still brought up to it.
 */
import { describe, expect, it } from '@jest/globals';
import { MemoryStore, type TokenRecord } from '@tessera/core';
import { migrate, MIGRATION_KEY } from '@tessera/core/migrate';
import type { BulkStore, ListPage } from '@tessera/core/store';

const nowSec = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise<void>(res => setTimeout(res, ms));

function record(id: string, over: Partial<TokenRecord> = {}): TokenRecord {
  const t = nowSec();
  return { id, kind: 'session', subject: `u${id.length % 3}`, family: id, createdAt: t, lastSeenAt: t, expiresAt: t + 3600, revokedAt: null, user: { id: 'u' }, ...over };
}

/** `store` with some members replaced (the others bound to it). */
function observed(store: MemoryStore, replaced: Partial<Record<keyof BulkStore, unknown>>): BulkStore {
  return new Proxy(store, {
    get(target, key) {
      if (Object.hasOwn(replaced, key)) return replaced[key as keyof BulkStore];
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as unknown as BulkStore;
}

async function filled(n: number): Promise<MemoryStore> {
  const a = new MemoryStore();
  await a.importRecords(Array.from({ length: n }, (_, i) => record(`r${String(i).padStart(4, '0')}`)));
  return a;
}

describe('migrate(): the copy pipeline', () => {
  it('reads the next page while the previous ones are written, and checkpoints only pages written in order', async () => {
    const a = await filled(1000);
    const b = new MemoryStore();
    const events: string[] = [];
    let pages = 0;
    let release!: () => void;
    // Opened by the fifth read, or after 500 ms (without the read-ahead, no fifth read comes before it).
    const gate = new Promise<void>(res => {
      release = res;
      setTimeout(res, 500);
    });
    const source = observed(a, {
      exportRecords: async (cursor: string | null, limit: number): Promise<ListPage> => {
        const n = ++pages;
        events.push(`read ${n}`);
        if (n === 5) release(); // four writes in flight (the most there are) and one more page read meanwhile
        return a.exportRecords(cursor, limit);
      },
      setMeta: async (key: string, value: string | null) => {
        if (key === MIGRATION_KEY && value !== null && JSON.parse(value).phase === 'copy') events.push(`checkpoint ${JSON.parse(value).copied}`);
        return a.setMeta(key, value);
      },
    });
    let writes = 0;
    const target = observed(b, {
      importRecords: async (records: readonly TokenRecord[]) => {
        const n = ++writes;
        if (n === 1) await gate;
        const written = await b.importRecords(records);
        events.push(`written ${n}`);
        return written;
      },
    });
    const res = await migrate({ from: source, to: target, toUrl: 'memory:b', settleMs: 0, batch: 100 });
    expect(res).toMatchObject({ copied: 1000, skipped: 0 });
    expect(events.indexOf('read 5')).toBeLessThan(events.indexOf('written 1'));
    // A checkpoint counts only the pages written before it, each page whole and in order.
    const checkpoints = events.filter(e => e.startsWith('checkpoint')).map(e => Number(e.split(' ')[1]));
    expect(checkpoints.at(-1)).toBe(1000);
    for (const c of checkpoints) expect(c % 100).toBe(0);
    expect(checkpoints).toEqual([...checkpoints].sort((x, y) => x - y));
    expect((await b.exportRecords(null, 5000)).records.length).toBe(1000);
  });

  it('counts the source during the first wait, and does not hold up the copy for it', async () => {
    for (const [countMs, settleMs] of [
      [150, 200],
      [800, 50],
    ]) {
      const a = await filled(300);
      const events: string[] = [];
      const source = observed(a, {
        countRecords: async () => {
          events.push('count');
          await sleep(countMs!);
          events.push('counted');
          return a.countRecords();
        },
        setMeta: async (key: string, value: string | null) => {
          if (key === MIGRATION_KEY && value !== null) events.push(`announce ${JSON.parse(value).phase}`);
          return a.setMeta(key, value);
        },
      });
      const totals: Array<number | null> = [];
      await migrate({
        from: source,
        to: new MemoryStore(),
        toUrl: 'memory:b',
        settleMs,
        batch: 100,
        onProgress: p => {
          if (p.phase === 'copy') events.push('copying');
          totals.push(p.total);
        },
      });
      expect(events.indexOf('count')).toBeGreaterThanOrEqual(0);
      expect(events.indexOf('count')).toBeLessThan(events.indexOf('announce copy'));
      // Known once counted, until the end of the copy; a count slower than the wait came in after the copy started.
      expect(totals.filter(t => t !== null).every(t => t === 300)).toBe(true);
      if (countMs! > settleMs!) expect(events.indexOf('copying')).toBeLessThan(events.indexOf('counted'));
      else expect(totals[0]).toBe(300);
      expect(events.indexOf('counted')).toBeLessThan(events.indexOf('announce flip'));
    }
  });

  it('a write that fails stops the copy: migrate rejects once no read or write of it is left running', async () => {
    const a = await filled(1000);
    const b = new MemoryStore();
    let inFlight = 0;
    let after = 0;
    let settled = false;
    const track = async <T>(p: () => Promise<T>): Promise<T> => {
      if (settled) after++;
      inFlight++;
      try {
        return await p();
      } finally {
        inFlight--;
      }
    };
    let writes = 0;
    const source = observed(a, { exportRecords: (c: string | null, l: number) => track(async () => (await sleep(5), a.exportRecords(c, l))) });
    const target = observed(b, {
      importRecords: (records: readonly TokenRecord[]) =>
        track(async () => {
          if (++writes === 2) throw new Error('target refused the batch');
          await sleep(20);
          return b.importRecords(records);
        }),
    });
    await expect(migrate({ from: source, to: target, toUrl: 'memory:b', settleMs: 0, batch: 100 })).rejects.toThrow('target refused the batch');
    settled = true;
    expect(inFlight).toBe(0);
    await sleep(100);
    expect(after).toBe(0);
    expect(JSON.parse((await a.getMeta(MIGRATION_KEY))!).phase).toBe('copy'); // resumable; the servers keep mirroring
  });

  it('records the target holds as the page has them cost no read of the source; older copies are brought up', async () => {
    const t = nowSec();
    const a = await filled(500);
    const b = new MemoryStore();
    const page = (await a.exportRecords(null, 1000)).records;
    // A server copied 50 records already (as they are), and the target has 5 older copies.
    await b.importRecords(page.slice(0, 50));
    const stale = page.slice(100, 105);
    await b.importRecords(stale.map(r => ({ ...r, lastSeenAt: t - 50 })));
    await a.revoke({ id: stale[0]!.id }, t);
    const reads: string[] = [];
    const source = observed(a, { get: async (id: string) => (reads.push(id), a.get(id)) });
    const res = await migrate({ from: source, to: b, toUrl: 'memory:b', settleMs: 0, batch: 100 });
    expect(res).toMatchObject({ copied: 445, skipped: 55 });
    expect(new Set(reads)).toEqual(new Set(stale.map(r => r.id)));
    for (const r of stale) expect((await b.get(r.id))!.lastSeenAt).toBe(r.lastSeenAt);
    expect((await b.get(stale[0]!.id))!.revokedAt).toBe(t);
  });
});
