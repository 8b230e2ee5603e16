/**
 * The live store switch, in process: `migrate()` between two stores with servers (`createTessera`
 * instances) on the source following it, `switchStore()` for one process, the mirror's handling of
 * a revocation racing the copy, resume, abort, and a target that fails. Stores are memory stores;
 * `remote()` hides the memory store's synchronous read, so a server treats it like a network
 * store and follows announcements by reading them (as with Redis or PostgreSQL).
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { MemoryStore, createTessera, type Tessera, type TokenRecord, type TokenStore } from '../src/index.js';
import { SYNC_GET } from '../src/lib/sync-read.js';
import { SETTLE_MS, abortMigration, migrate, migrationStatus, MigrationError } from '../src/migrate/index.js';
import { MirrorStore } from '../src/migrate/mirror-store.js';
import { MIGRATION_KEY, writeState } from '../src/migrate/state.js';
import { contextOf } from '../src/tessera.js';
import type { BulkStore } from '../src/store.js';
import { ALICE, BOB, Jar, SECRET, codeOf, post, req, verifyCredentials } from './helpers.js';
import { sessionIdOf } from '../src/lib/at-rest.js';

/** The same store without its synchronous read (servers treat it as a network store), with some members replaced. */
function remote<T extends TokenStore>(store: T, replaced: Partial<Record<keyof BulkStore, unknown>> = {}): T {
  return new Proxy(store, {
    get(target, key) {
      if (key === SYNC_GET) return undefined;
      if (Object.hasOwn(replaced, key)) return replaced[key as keyof BulkStore];
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const silent = { info() {}, warn() {}, error() {} };
const nowSec = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise<void>(res => setTimeout(res, ms));

function record(id: string, over: Partial<TokenRecord> = {}): TokenRecord {
  const t = nowSec();
  return { id, kind: 'session', subject: 'u1', family: id, createdAt: t, lastSeenAt: t, expiresAt: t + 3600, revokedAt: null, user: { id: 'u1' }, ...over };
}

async function all(store: BulkStore): Promise<Map<string, TokenRecord>> {
  const out = new Map<string, TokenRecord>();
  let cursor: string | null = null;
  do {
    const page = await store.exportRecords(cursor, 500);
    for (const r of page.records) out.set(r.id, r);
    cursor = page.cursor;
  } while (cursor !== null);
  return out;
}

/** Empties a store of records (the operator's last step). */
async function empty(store: TokenStore): Promise<void> {
  await store.revoke({ all: true }, nowSec());
  await store.purgeExpired(nowSec() + 1);
}

const open: Tessera[] = [];
function server(store: TokenStore, targets: Record<string, TokenStore> = {}, extra: Record<string, unknown> = {}): Tessera {
  const t = createTessera({ store, verifyCredentials, logger: silent, openStore: url => targets[url] ?? Promise.reject(new Error(`no store ${url}`)), ...extra });
  open.push(t);
  return t;
}
afterEach(async () => {
  for (const t of open.splice(0)) await t.close().catch(() => {});
});

async function login(t: Tessera, who = ALICE): Promise<Jar> {
  const reply = await t.route('login', post('/auth/login', who));
  expect(reply.status).toBe(200);
  return new Jar(reply);
}
const me = async (t: Tessera, jar: Jar) => codeOf(await t.authenticate(req({ cookie: jar.header })));
const logout = async (t: Tessera, jar: Jar) => (await t.route('logout', post('/auth/logout', undefined, { cookie: jar.header }))).status;

describe('migrate(): the copy', () => {
  it('copies every record in every state and the generated secret, and says so in the source', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore();
    const t = nowSec();
    const recs = [
      record('live'),
      record('revoked', { revokedAt: t - 5 }),
      record('expired', { expiresAt: t - 5 }),
      record('rotated', { kind: 'refresh', family: 'live', rotatedAt: t - 1, replacedBy: 'next', reuseCount: 3 }),
      record('api', { kind: 'api', expiresAt: null, secretHash: 'h', label: 'ci' }),
    ];
    for (let i = 0; i < 2500; i++) recs.push(record(`bulk${i}`, { subject: `u${i % 7}` }));
    for (const r of recs) await a.put(r);
    const secret = await a.initSecret('the-generated-secret-of-the-source-0123456789');

    const phases: string[] = [];
    const res = await migrate({ from: a, to: b, toUrl: 'memory:b', settleMs: 0, batch: 100, onProgress: p => void phases.push(p.phase) });

    expect(res).toMatchObject({ copied: recs.length, skipped: 0, resumed: false });
    expect(await all(b)).toEqual(await all(a));
    expect(await b.initSecret('another-candidate-0123456789-0123456789')).toBe(secret);
    expect(await migrationStatus(a)).toMatchObject({ phase: 'done', toUrl: 'memory:b' });
    expect(phases[0]).toBe('copy');
    expect(phases.at(-1)).toBe('done');
    // Run again with the same target: nothing to do. Another target: refused (its servers left).
    expect(await migrate({ from: a, to: b, toUrl: 'memory:b', settleMs: 0 })).toMatchObject({ copied: 0, resumed: true });
    await expect(migrate({ from: a, to: new MemoryStore(), toUrl: 'memory:c', settleMs: 0 })).rejects.toThrow(/switched to memory:b already/);
  });

  it('refuses a target that keeps another generated secret, and a store without the bulk members', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore();
    await a.initSecret('secret-of-a-0123456789-0123456789-0123456789');
    await b.initSecret('secret-of-b-0123456789-0123456789-0123456789');
    await expect(migrate({ from: a, to: b, toUrl: 'memory:b', settleMs: 0 })).rejects.toThrow(/different generated signing secret/);
    expect(await migrationStatus(a)).toBeNull();
    const bare = remote(new MemoryStore(), { exportRecords: undefined });
    await expect(migrate({ from: bare, to: new MemoryStore(), toUrl: 'x', settleMs: 0 })).rejects.toBeInstanceOf(MigrationError);
  });

  it('keeps a record the target already has (a server wrote it there during the switch)', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore();
    await a.put(record('s1'));
    await b.put(record('s1', { revokedAt: nowSec() }));
    const res = await migrate({ from: a, to: b, toUrl: 'memory:b', settleMs: 0 });
    expect(res).toMatchObject({ copied: 0, skipped: 1 });
    expect((await b.get('s1'))!.revokedAt).not.toBeNull();
  });
});

describe('migrate(): records the target already had', () => {
  it('are brought up to the source: a change made in the source alone (a server not yet following) is not lost', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore();
    const t = nowSec();
    // The target holds older copies (a following server copied them); the source changed them since.
    await b.put(record('revoked-since'));
    await b.put(record('rotated-since', { kind: 'refresh', family: 'f' }));
    await b.put(record('seen-since', { lastSeenAt: t - 100 }));
    await a.put(record('revoked-since', { revokedAt: t }));
    await a.put(record('rotated-since', { kind: 'refresh', family: 'f', rotatedAt: t, replacedBy: 'n', reuseCount: 2 }));
    await a.put(record('seen-since', { lastSeenAt: t }));
    const res = await migrate({ from: a, to: b, toUrl: 'memory:b', settleMs: 0 });
    expect(res).toMatchObject({ copied: 0, skipped: 3 });
    expect((await b.get('revoked-since'))!.revokedAt).toBe(t);
    expect(await b.get('rotated-since')).toMatchObject({ rotatedAt: t, replacedBy: 'n', reuseCount: 2 });
    expect((await b.get('seen-since'))!.lastSeenAt).toBe(t);
  });
});

describe('MirrorStore: changes during the copy reach the target, even racing the copier', () => {
  /** The copier's view: a page read from the source before the change, written to the target after it. */
  async function race(change: (m: MirrorStore) => Promise<unknown>, seed: TokenRecord[]): Promise<BulkStore> {
    const a = new MemoryStore();
    const b = new MemoryStore();
    for (const r of seed) await a.put(r);
    const stale = (await a.exportRecords(null, 1000)).records; // read before the change...
    await change(new MirrorStore(a, b, a, true));
    await b.importRecords(stale); // ...written after it
    return b;
  }
  const seed = [record('s1'), record('s2'), record('r1', { kind: 'refresh', family: 's1' }), record('o1', { subject: 'u2', user: { id: 'u2' } })];

  it('revoke by id, login, user and everything: nothing revoked comes back', async () => {
    const now = nowSec();
    for (const [where, revoked] of [
      [{ id: 's2' }, ['s2']],
      [{ family: 's1' }, ['s1', 'r1']],
      [{ subject: 'u1' }, ['s1', 's2', 'r1']],
    ] as const) {
      const b = await race(m => m.revoke(where, now), seed);
      for (const r of seed) expect([r.id, (await b.get(r.id))?.revokedAt ?? null]).toEqual([r.id, (revoked as readonly string[]).includes(r.id) ? now : null]);
    }
  });

  it('revoke everything: the copier revokes again what it copied meanwhile', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore();
    for (const r of seed) await a.put(r);
    const now = nowSec();
    let released!: () => void;
    const gate = new Promise<void>(res => (released = res));
    // The copier's first page is read, then held until the revocation is done.
    const slowA = remote(a, {
      exportRecords: async (c: string | null, l: number) => {
        const page = await a.exportRecords(c, l);
        await gate;
        return page;
      },
    });
    const copy = migrate({ from: slowA, to: b, toUrl: 'memory:b', settleMs: 0 });
    await sleep(20);
    await new MirrorStore(a, b, a, true).revoke({ all: true }, now);
    released();
    await copy;
    for (const r of seed) expect((await b.get(r.id))!.revokedAt).toBe(now);
  });

  it('touch, rotate and reuse counts reach the target whether or not the record was copied yet', async () => {
    const now = nowSec();
    for (const copiedFirst of [false, true]) {
      const a = new MemoryStore();
      const b = new MemoryStore();
      await a.put(record('r1', { kind: 'refresh', family: 's1' }));
      await a.put(record('s1'));
      if (copiedFirst) await b.importRecords((await a.exportRecords(null, 10)).records);
      const m = new MirrorStore(a, b, a, true);
      expect(await m.touch('s1', now + 30)).toBe(true);
      expect(await m.rotate('r1', record('r2', { kind: 'refresh', family: 's1' }), now)).toEqual({ status: 'rotated' });
      expect(await m.countReuse('r1', 5)).toBe(true);
      expect(await b.get('s1')).toEqual(await a.get('s1'));
      expect(await b.get('r1')).toEqual(await a.get('r1'));
      expect(await b.get('r2')).toEqual(await a.get('r2'));
    }
  });
});

describe('servers follow a switch announced in their store', () => {
  it('two servers on a network-like store: traffic during the switch never fails, then both use only the target', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore();
    const s1 = server(remote(a), { 'memory:b': remote(b) });
    const s2 = server(remote(a), { 'memory:b': remote(b) });
    const jars: Jar[] = [];
    for (let i = 0; i < 200; i++) jars.push(await login(i % 2 ? s1 : s2, i % 3 ? ALICE : BOB));

    // Continuous traffic on both servers: authenticate, new logins, logouts.
    let stop = false;
    const failures: string[] = [];
    const loggedOut: Jar[] = [];
    const made: Jar[] = [];
    const traffic = (async () => {
      let i = 0;
      while (!stop) {
        const srv = i % 2 ? s1 : s2;
        const other = i % 2 ? s2 : s1;
        const jar = jars[i % jars.length]!;
        if (!loggedOut.includes(jar)) {
          const code = await me(srv, jar);
          if (code !== 'ok') failures.push(`auth ${code}`);
        }
        if (i % 7 === 0) made.push(await login(srv));
        if (i % 11 === 0 && !loggedOut.includes(jar)) {
          const st = await logout(other, jar);
          if (st !== 204) failures.push(`logout ${st}`);
          loggedOut.push(jar);
        }
        i++;
        await sleep(1);
      }
    })();

    await sleep(50);
    const res = await migrate({ from: a, to: b, toUrl: 'memory:b', batch: 20 });
    stop = true;
    await traffic;
    expect(failures).toEqual([]);
    expect(res.copied + res.skipped).toBeGreaterThanOrEqual(200);

    // The source is emptied: every session that should live still does, on both servers.
    await a.revoke({ all: true }, nowSec());
    await a.purgeExpired(nowSec() + 10);
    for (const jar of [...jars, ...made]) {
      const want = loggedOut.includes(jar) ? 'SESSION_ENDED' : 'ok';
      expect(await me(s1, jar)).toBe(want);
      expect(await me(s2, jar)).toBe(want);
    }
    expect(loggedOut.length).toBeGreaterThan(3);
    // A fresh server on the source is sent to the target by the note left there.
    const s3 = server(remote(a), { 'memory:b': remote(b) });
    expect(await me(s3, jars[1]!)).toBe(loggedOut.includes(jars[1]!) ? 'SESSION_ENDED' : 'ok');
  }, 30_000);

  it('there and back: a server that followed a switch follows the next one, announced in its new store', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore();
    const targets = { 'memory:a': remote(a), 'memory:b': remote(b) };
    const s1 = server(remote(a), targets);
    const jar = await login(s1);
    await migrate({ from: a, to: b, toUrl: 'memory:b' });
    await empty(a);
    expect(await me(s1, jar)).toBe('ok');
    const during = await login(s1, BOB);
    await migrate({ from: b, to: a, toUrl: 'memory:a' });
    await empty(b);
    expect(await me(s1, jar)).toBe('ok');
    expect(await me(s1, during)).toBe('ok');
    expect(await migrationStatus(a)).toBeNull(); // the first switch's note was cleared when A became the target
  }, 20_000);

  it('the copier\'s default wait outlasts the servers\' lease: a store call made that long after an announcement follows it, with no poll in between', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore();
    const s1 = server(remote(a), { 'memory:b': remote(b) });
    await login(s1); // the server has read the announcement (none) and polls from now on
    await writeState(a, { id: 'lease', phase: 'mirror', toUrl: 'memory:b', startedAt: nowSec(), cursor: null, copied: 0 });
    // Three quarters of the copier's wait with the event loop blocked: the server's poll can't run.
    const until = Date.now() + SETTLE_MS * 0.75;
    while (Date.now() < until);
    const jar = await login(s1, BOB);
    // That login was mirrored into the target: the server re-read the announcement before its store call.
    const { sid } = JSON.parse(Buffer.from(jar.get('tessera')!.split('.')[1]!, 'base64url').toString()) as { sid: string };
    expect(await b.get(sessionIdOf(sid))).not.toBeNull();
  });

  it('a server that cannot open the target refuses store calls (503) instead of writing to one store only', async () => {
    const a = new MemoryStore();
    const s1 = server(remote(a), {});
    const jar = await login(s1);
    const copy = migrate({ from: a, to: new MemoryStore(), toUrl: 'memory:elsewhere' });
    await sleep(1200);
    expect(await me(s1, jar)).toBe('STORE_UNAVAILABLE');
    await copy;
  });

  it('abort before the end: every server is back on the source, with every change made meanwhile', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore();
    const s1 = server(remote(a), { 'memory:b': remote(b) });
    const before = await login(s1);
    const ctl = new AbortController();
    const slowB = remote(b, {
      importRecords: async (r: readonly TokenRecord[]) => {
        ctl.abort();
        return b.importRecords(r);
      },
    });
    await expect(migrate({ from: a, to: slowB, toUrl: 'memory:b', signal: ctl.signal })).rejects.toThrow();
    expect(await migrationStatus(a)).toMatchObject({ phase: 'copy' });
    const during = await login(s1, BOB);
    expect(await logout(s1, before)).toBe(204);
    // Past the servers' lease: the server has seen the abort (and closed the target it opened).
    expect(await abortMigration({ from: a })).toBe(true);
    expect(await migrationStatus(a)).toBeNull();
    expect(await me(s1, during)).toBe('ok');
    expect(await me(s1, before)).toBe('SESSION_ENDED');
    // Only the source now: the server closed the target it had opened, and requests still work.
    await expect(b.get('x')).rejects.toThrow(/closed/);
    expect(await me(s1, await login(s1))).toBe('ok');
  }, 15_000);

  it('resume: a run that died mid-copy is finished by the next one, from where it stopped', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore();
    for (let i = 0; i < 3000; i++) await a.put(record(`s${i}`));
    const ctl = new AbortController();
    let pages = 0;
    const dying = remote(b, {
      importRecords: async (r: readonly TokenRecord[]) => {
        if (++pages === 40) ctl.abort();
        await sleep(150); // 4 pages at a time: past the 1 s checkpoint interval well before page 40
        return b.importRecords(r);
      },
    });
    await expect(migrate({ from: a, to: dying, toUrl: 'memory:b', settleMs: 0, batch: 50, signal: ctl.signal })).rejects.toThrow();
    const status = await migrationStatus(a);
    expect(status?.phase).toBe('copy');
    expect(status!.copied).toBeGreaterThan(0);
    const res = await migrate({ from: a, to: b, toUrl: 'memory:b', settleMs: 0, batch: 100 });
    expect(res.resumed).toBe(true);
    // It went on from the last checkpoint instead of starting over (pages after it are found copied).
    expect(res.copied + res.skipped).toBe(3000 - status!.copied);
    expect((await all(b)).size).toBe(3000);
  }, 15_000);

  it('a target failing during the copy undoes the switch: the source keeps everything', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore();
    let broken = false;
    const flaky = remote(b, {
      put: async (r: TokenRecord) => {
        if (broken) throw new Error('target down');
        return b.put(r);
      },
      importRecords: async (r: readonly TokenRecord[]) => {
        await sleep(300);
        return b.importRecords(r);
      },
    });
    const s1 = server(remote(a), { 'memory:b': flaky });
    await login(s1);
    // A long first wait, so that the target breaks while every server mirrors and before the copy ends.
    const run = migrate({ from: a, to: flaky, toUrl: 'memory:b', settleMs: 2000 });
    await sleep(1400);
    broken = true;
    const reply = await s1.route('login', post('/auth/login', BOB));
    expect(reply.status).toBe(503);
    await expect(run).rejects.toThrow(/undone/);
    expect(await migrationStatus(a)).toBeNull();
    broken = false;
    await sleep(1100);
    expect(await me(s1, await login(s1, BOB))).toBe('ok');
  }, 15_000);
});

describe('switchStore(): one process moves itself', () => {
  it('memory -> memory under traffic, then only the target; and on to a third store', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore();
    const c = new MemoryStore();
    const t = server(a);
    const jars: Jar[] = [];
    for (let i = 0; i < 300; i++) jars.push(await login(t, i % 2 ? ALICE : BOB));
    let stop = false;
    const codes = new Set<string>();
    const traffic = (async () => {
      for (let i = 0; !stop; i++) {
        codes.add(String(await me(t, jars[i % jars.length]!)));
        await new Promise(setImmediate);
      }
    })();
    const res = await t.switchStore(b, { batch: 25 });
    stop = true;
    await traffic;
    expect(codes).toEqual(new Set(['ok']));
    expect(res.copied).toBeGreaterThanOrEqual(300);
    await a.revoke({ all: true }, nowSec());
    expect(await me(t, jars[0]!)).toBe('ok');
    const late = await login(t);
    expect(await b.get(sessionIdOf(JSON.parse(Buffer.from(late.get('tessera')!.split('.')[1]!, 'base64url').toString()).sid))).not.toBeNull();

    await t.switchStore(c);
    await b.revoke({ all: true }, nowSec());
    expect(await me(t, jars[5]!)).toBe('ok');
    expect(await me(t, late)).toBe('ok');
  });

  it('from a network-like store: a poll that reads the announcement before the switch hands its phase over leaves it alone', async () => {
    // The source answers every announcement write only after this server has polled it: the race
    // a loaded machine makes (a poll reading "in-process:" used to try to open it and fail every call).
    let t!: Tessera;
    let jar!: Jar;
    const during: string[] = [];
    const inner = new MemoryStore();
    const a = remote(inner, {
      setMeta: async (key: string, value: string | null) => {
        await inner.setMeta(key, value);
        if (key !== MIGRATION_KEY || value === null) return;
        await contextOf(t).store.follower!.refresh();
        during.push(String(await me(t, jar))); // a request between that poll and the switch's own hand-over
      },
    });
    t = server(a);
    jar = await login(t);
    const res = await t.switchStore(new MemoryStore());
    expect(during.length).toBeGreaterThanOrEqual(2);
    expect(new Set(during)).toEqual(new Set(['ok']));
    expect(res.copied).toBeGreaterThanOrEqual(1);
    expect(await me(t, jar)).toBe('ok');
    expect(await me(t, await login(t))).toBe('ok');
  });

  it('a server with a configured secret moves too', async () => {
    const t = server(new MemoryStore(), {}, { secret: SECRET });
    const jar = await login(t);
    const b = remote(new MemoryStore());
    await t.switchStore(b);
    expect(await me(t, jar)).toBe('ok');
  });
});
