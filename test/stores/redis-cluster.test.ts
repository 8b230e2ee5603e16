/**
 * The Redis Cluster store against a real 3-master cluster (no replicas) that this file starts on
 * free loopback ports from the installed redis-server / redis-cli (test/support/redis-cluster.ts),
 * and tears down at the end.
 * Missing binaries skip loudly (and fail under CI, through defineStoreSuite); a cluster that does
 * not come up fails the file.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, createCluster } from 'redis';
import { Cluster } from 'ioredis';
import { openStore } from '@tessera/config';
import { isStoreError, type TokenRecord } from '@tessera/core/store';
import { RedisClusterStore, RedisStore, type NodeRedisClusterLike } from '@tessera/store-redis';
import { defineStoreSuite } from '../../packages/testkit/src/store-suite.js';
import { clusterIdOf, nodesToWatch } from '../../packages/store-redis/src/lib/cluster-watch.js';
import { HOST, missingBinary, startCluster, until } from '../support/redis-cluster.js';

const skip = missingBinary();
const cluster = skip ? undefined : await startCluster();
const ports = cluster?.ports ?? [0, 0, 0];
const CLUSTER_URL = `redis+cluster://${ports.map(p => `${HOST}:${p}`).join(',')}`;

/** One namespace per run, one sub-prefix per store. */
const RUN = `tessera-test:${randomBytes(6).toString('hex')}:`;
let n = 0;
const prefix = () => `${RUN}${n++}:`;

const rkey = (p: string, id: string) => `${p}r:{${id}}`;
const skey = (p: string, subject: string) => `${p}s:{${subject}}`;
const fkey = (p: string, family: string) => `${p}f:{${family}}`;

function nodeCluster() {
  const c = createCluster({ rootNodes: ports.map(port => ({ url: `redis://${HOST}:${port}` })), defaults: { disableOfflineQueue: true } });
  c.on('error', () => {});
  return c;
}

async function ioCluster(): Promise<Cluster> {
  const c = new Cluster(
    ports.map(port => ({ host: HOST, port })),
    { redisOptions: { maxRetriesPerRequest: 1 }, lazyConnect: true },
  );
  c.on('error', () => {});
  await c.connect();
  return c;
}

const shared = skip ? undefined : await nodeCluster().connect();
const sharedIo = skip ? undefined : await ioCluster();

/** Deletes this run's keys from every master (SCAN is per node: a suite's leftovers would slow the next one's scans). */
async function dropRun(): Promise<void> {
  for (const port of ports) {
    const c = createClient({ url: `redis://${HOST}:${port}` });
    c.on('error', () => {});
    await c.connect();
    for await (const keys of c.scanIterator({ MATCH: `${RUN}*`, COUNT: 1000 })) await Promise.all(keys.map(k => c.unlink(k)));
    await c.close();
  }
}

afterAll(async () => {
  await shared?.close();
  sharedIo?.disconnect();
  await cluster?.stop();
});

// ---------------------------------------------------------------------------------------------
// The conformance suite, once per way of connecting

defineStoreSuite('redis cluster (node-redis cluster client)', () => new RedisClusterStore({ client: shared!, prefix: prefix() }), {
  skip,
  writeRaw: async (store, id, raw) => {
    await shared!.set(rkey(store.prefix, id), raw);
  },
  readRaw: (store, id) => shared!.get(rkey(store.prefix, id)),
  teardown: dropRun,
});

defineStoreSuite('redis cluster (ioredis Cluster)', () => new RedisClusterStore({ client: sharedIo!, prefix: prefix() }), {
  skip,
  writeRaw: async (store, id, raw) => {
    await sharedIo!.set(rkey(store.prefix, id), raw);
  },
  readRaw: (store, id) => sharedIo!.get(rkey(store.prefix, id)),
  teardown: dropRun,
});

defineStoreSuite('redis cluster (redis+cluster:// URL)', () => new RedisClusterStore({ url: `${CLUSTER_URL}/?prefix=${encodeURIComponent(prefix())}` }), {
  skip,
  writeRaw: async (store, id, raw) => {
    await shared!.set(rkey(store.prefix, id), raw);
  },
  readRaw: (store, id) => shared!.get(rkey(store.prefix, id)),
  teardown: dropRun,
});

// ---------------------------------------------------------------------------------------------
// Cluster specifics

function rid(tag: string): string {
  return `${tag}_${randomBytes(12).toString('base64url')}`;
}

function rec(T: number, over: Partial<TokenRecord> = {}): TokenRecord {
  const id = over.id ?? rid('ref');
  return { id, kind: 'refresh', subject: rid('user'), family: rid('fam'), createdAt: T - 10, lastSeenAt: T - 10, expiresAt: T + 3600, revokedAt: null, reuseCount: 0, ...over };
}

function session(T: number, over: Partial<TokenRecord> = {}): TokenRecord {
  const id = over.id ?? rid('ses');
  const subject = over.subject ?? rid('user');
  return { id, kind: 'session', subject, family: id, createdAt: T - 10, lastSeenAt: T - 10, expiresAt: T + 3600, revokedAt: null, user: { id: subject }, ...over };
}

/** The master (port) holding each slot, from CLUSTER SLOTS. */
async function slotOwners(): Promise<(slot: number) => number> {
  const ranges = (await shared!.sendCommand(undefined, false, ['CLUSTER', 'SLOTS'])) as Array<[number, number, [string, number]]>;
  return slot => {
    const r = ranges.find(([lo, hi]) => slot >= Number(lo) && slot <= Number(hi));
    if (!r) throw new Error(`no owner for slot ${slot}`);
    return Number(r[2][1]);
  };
}

async function ownerOf(key: string): Promise<number> {
  const slot = Number(await shared!.sendCommand(undefined, false, ['CLUSTER', 'KEYSLOT', key]));
  return (await slotOwners())(slot);
}

/** Keys under `p` on each master: port -> keys. */
async function keysByNode(p: string): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const port of ports) {
    const c = createClient({ url: `redis://${HOST}:${port}` });
    c.on('error', () => {});
    await c.connect();
    const keys: string[] = [];
    for await (const batch of c.scanIterator({ MATCH: `${p}*`, COUNT: 1000 })) keys.push(...batch);
    out.set(port, keys);
    await c.close();
  }
  return out;
}

/** Runs `hook` (once) right after the reply to the first command `match` accepts, before the store sees that reply. */
function interceptingClient(inner: NonNullable<typeof shared>): { client: NodeRedisClusterLike; after(match: (key: string | undefined, args: string[]) => boolean, hook: () => Promise<void>): void } {
  let pending: { match: (key: string | undefined, args: string[]) => boolean; hook: () => Promise<void> } | null = null;
  const client: NodeRedisClusterLike = {
    get isOpen() {
      return inner.isOpen;
    },
    get isReady() {
      return inner.isReady;
    },
    get masters() {
      return inner.masters;
    },
    nodeClient: node => inner.nodeClient(node as never),
    sendCommand: async (key, readonly, args) => {
      const reply = await inner.sendCommand(key, readonly, args);
      if (pending && pending.match(key, args)) {
        const { hook } = pending;
        pending = null;
        await hook();
      }
      return reply;
    },
  };
  return { client, after: (match, hook) => void (pending = { match, hook }) };
}

(skip ? describe.skip : describe)('redis cluster store: specifics', () => {
  const T = () => Math.floor(Date.now() / 1000);

  beforeAll(() => {
    expect(shared!.masters).toHaveLength(3);
  });

  it('spreads one record and its index sets over different masters, and works across them', async () => {
    const p = prefix();
    const store = new RedisClusterStore({ client: shared!, prefix: p });
    const now = T();
    // Pick a login whose session, refresh record, user set and login set live on three masters.
    let picked: { s: TokenRecord; r: TokenRecord } | undefined;
    for (let i = 0; i < 200 && !picked; i++) {
      const s = session(now);
      const r = rec(now, { subject: s.subject, family: s.id });
      const owners = new Set(await Promise.all([rkey(p, r.id), skey(p, s.subject), fkey(p, s.id)].map(ownerOf)));
      if (owners.size === 3) picked = { s, r };
    }
    expect(picked).toBeDefined();
    const { s, r } = picked!;
    try {
      await store.put(s);
      await store.put(r);
      await expect(store.get(r.id)).resolves.toEqual(r);
      const byNode = await keysByNode(p);
      expect([...byNode.values()].every(keys => keys.length > 0)).toBe(true);
      expect(await ownerOf(rkey(p, r.id))).not.toBe(await ownerOf(skey(p, s.subject)));
      expect((await store.list({ subject: s.subject, limit: 10 })).records.map(x => x.id).sort()).toEqual([s.id, r.id].sort());

      // The index sets outlive their members, on their own masters.
      await expect(store.touch(r.id, now, now + 9000)).resolves.toBe(true);
      const ttl = (k: string) => shared!.ttl(k);
      expect(await ttl(rkey(p, r.id))).toBeGreaterThan(9000);
      expect(await ttl(skey(p, s.subject))).toBeGreaterThanOrEqual(await ttl(rkey(p, r.id)));
      expect(await ttl(fkey(p, s.id))).toBeGreaterThanOrEqual(await ttl(rkey(p, r.id)));

      const next = rec(now, { subject: s.subject, family: s.id });
      await expect(store.rotate(r.id, next, now)).resolves.toEqual({ status: 'rotated' });
      // A lost rotation leaves neither its successor nor its index members.
      const lost = rec(now, { subject: s.subject, family: s.id });
      const res = await store.rotate(r.id, lost, now);
      expect(res).toMatchObject({ status: 'conflict', current: { id: r.id, replacedBy: next.id } });
      await expect(store.get(lost.id)).resolves.toBeNull();
      await expect(shared!.zScore(skey(p, s.subject), lost.id)).resolves.toBeNull();
      await expect(shared!.zScore(fkey(p, s.id), lost.id)).resolves.toBeNull();
      await expect(shared!.zScore(fkey(p, s.id), next.id)).resolves.not.toBeNull();

      await expect(store.revoke({ family: s.id }, now)).resolves.toBe(3);
      for (const id of [s.id, r.id, next.id]) expect((await store.get(id))?.revokedAt).toBe(now);
      await expect(store.purgeExpired(now)).resolves.toBe(3);
      for (const id of [s.id, r.id, next.id]) await expect(store.get(id)).resolves.toBeNull();
    } finally {
      await store.close();
    }
  });

  it('revokes a user whose 1,000 records are spread over all three masters', async () => {
    const p = prefix();
    const store = new RedisClusterStore({ client: shared!, prefix: p });
    const now = T();
    const subject = rid('user');
    const sessions = Array.from({ length: 250 }, () => session(now, { subject }));
    const refreshes = sessions.flatMap(s => Array.from({ length: 3 }, () => rec(now, { subject, family: s.id })));
    const all = [...sessions, ...refreshes];
    const other = session(now);
    try {
      await expect(store.importRecords([...all, other])).resolves.toBe(1001);
      const byNode = await keysByNode(p);
      for (const [port, keys] of byNode) {
        const records = keys.filter(k => k.startsWith(`${p}r:{`)).length;
        // About a third each (1,001 records over three masters).
        expect({ port, many: records > 200 }).toEqual({ port, many: true });
      }
      const started = performance.now();
      await expect(store.revoke({ subject }, now)).resolves.toBe(1000);
      const ms = performance.now() - started;
      const listed = (await store.list({ subject, limit: 2000 })).records;
      expect(listed).toHaveLength(1000);
      expect(listed.filter(x => x.revokedAt !== now)).toEqual([]);
      expect((await store.get(other.id))?.revokedAt).toBeNull();
      await expect(store.revoke({ subject }, now)).resolves.toBe(0);
      console.log(`redis cluster: revoke by subject of 1,000 records over 3 masters in ${ms.toFixed(0)} ms`);
    } finally {
      await store.close();
    }
  });

  it('rotate racing revoke-by-family (100 rounds, two clients): never a live successor of a revoked session', async () => {
    const p = prefix();
    const a = new RedisClusterStore({ client: shared!, prefix: p });
    const b = new RedisClusterStore({ client: sharedIo!, prefix: p });
    const now = T();
    const outcomes: Record<string, number> = {};
    const failures: string[] = [];
    try {
      for (let round = 0; round < 100; round++) {
        const s = session(now);
        const used = rec(now, { subject: s.subject, family: s.id });
        await a.put(s);
        await a.put(used);
        const next = rec(now, { subject: s.subject, family: s.id });
        const delay = (ms: number) => new Promise(r => setTimeout(r, ms));
        // As the core's pair refresh: touch the session, then rotate; the revoke starts 0 to 3 ms later.
        const [rotation] = await Promise.all([
          (async () => ((await a.touch(s.id, now, now + 3600)) ? (await a.rotate(used.id, next, now)).status : 'session-ended'))(),
          delay(round % 4).then(() => b.revoke({ family: s.id }, now)),
        ]);
        outcomes[rotation] = (outcomes[rotation] ?? 0) + 1;
        const [gs, gu, gn] = await Promise.all([s, used, next].map(x => a.get(x.id)));
        if (gs?.revokedAt !== now) failures.push(`round ${round}: session not revoked`);
        if (gu?.revokedAt !== now) failures.push(`round ${round}: used refresh not revoked`);
        if (gn !== null && gn.revokedAt === null) failures.push(`round ${round}: LIVE successor (${rotation})`);
        if (rotation !== 'rotated' && gn !== null) failures.push(`round ${round}: successor stored after ${rotation}`);
      }
    } finally {
      await a.close();
      await b.close();
    }
    expect(failures).toEqual([]);
    console.log(`redis cluster: rotate vs revoke-by-family outcomes ${JSON.stringify(outcomes)}`);
    // Both orders happened: the rotation won before the revoke reached it, and lost to it.
    expect(outcomes.rotated ?? 0).toBeGreaterThan(0);
    expect(100 - (outcomes.rotated ?? 0)).toBeGreaterThan(0);
  });

  it('a rotation that lands between the revoke\'s read of the login set and its revocations is caught by the next read', async () => {
    const p = prefix();
    const spy = interceptingClient(shared!);
    const revoker = new RedisClusterStore({ client: spy.client, prefix: p });
    const rotator = new RedisClusterStore({ client: shared!, prefix: p });
    const now = T();
    const s = session(now);
    const used = rec(now, { subject: s.subject, family: s.id });
    const next = rec(now, { subject: s.subject, family: s.id });
    try {
      await rotator.put(s);
      await rotator.put(used);
      let rotated: unknown;
      // The first read of the login set returns [used]; the rotation completes before the revoke acts on it.
      spy.after(
        (key, args) => key === fkey(p, s.id) && args[0] === 'ZRANGE',
        async () => {
          rotated = await rotator.rotate(used.id, next, now);
        },
      );
      await expect(revoker.revoke({ family: s.id }, now)).resolves.toBe(3);
      expect(rotated).toEqual({ status: 'rotated' });
      expect((await rotator.get(next.id))?.revokedAt).toBe(now);
      expect((await rotator.get(used.id))?.revokedAt).toBe(now);
    } finally {
      await revoker.close();
      await rotator.close();
    }
  });

  it('purgeExpired drops the index members of purged records, but not a member added again while it cleans', async () => {
    const p = prefix();
    const spy = interceptingClient(shared!);
    const store = new RedisClusterStore({ client: spy.client, prefix: p });
    // Tests only: clean members of any age (the default leaves those added within the last minute).
    (store as unknown as Record<symbol, string>)[Symbol.for('tessera.store-redis.cluster.cleanMinAgeUs')] = '0';
    const other = new RedisClusterStore({ client: shared!, prefix: p });
    const now = T();
    const dead = rec(now, { revokedAt: now - 1 });
    const back = rec(now, { revokedAt: now - 1 });
    try {
      await store.put(dead);
      await store.put(back);
      // While the purge checks `back`'s record (just deleted), another server writes it again, live.
      spy.after(
        (key, args) => args[0] === 'EXISTS' && key === rkey(p, back.id),
        async () => {
          await other.put({ ...back, revokedAt: null });
        },
      );
      await expect(store.purgeExpired(now)).resolves.toBe(2);
      await expect(store.get(dead.id)).resolves.toBeNull();
      await expect(shared!.zScore(skey(p, dead.subject), dead.id)).resolves.toBeNull();
      await expect(shared!.zScore(fkey(p, dead.family), dead.id)).resolves.toBeNull();
      expect(await store.get(back.id)).toEqual({ ...back, revokedAt: null });
      await expect(shared!.zScore(skey(p, back.subject), back.id)).resolves.not.toBeNull();
      await expect(store.revoke({ subject: back.subject }, now)).resolves.toBe(1);
    } finally {
      await store.close();
      await other.close();
    }
  });

  it.each([
    ['ioredis', () => sharedIo!],
    ['node-redis', () => shared!],
  ])('exports and counts across all masters, and survives a flushed script cache (NOSCRIPT falls back to EVAL): %s', async (_, client) => {
    const p = prefix();
    const store = new RedisClusterStore({ client: client(), prefix: p });
    const now = T();
    const records = Array.from({ length: 300 }, () => rec(now));
    try {
      await store.importRecords(records);
      await expect(store.countRecords()).resolves.toBe(300);
      const seen = new Set<string>();
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await store.exportRecords(cursor, 40);
        for (const r of page.records) seen.add(r.id);
        cursor = page.cursor;
        pages++;
      } while (cursor !== null && pages < 100);
      expect(seen.size).toBe(300);
      for (const port of ports) {
        const c = createClient({ url: `redis://${HOST}:${port}` });
        c.on('error', () => {});
        await c.connect();
        await c.scriptFlush();
        await c.close();
      }
      const used = records[0]!;
      await expect(store.rotate(used.id, rec(now, { subject: used.subject, family: used.family }), now)).resolves.toEqual({ status: 'rotated' });
      await expect(store.revoke({ family: used.family }, now)).resolves.toBe(2);
    } finally {
      await store.close();
    }
  });

  it('does not close a client it was given; refuses calls once closed itself', async () => {
    const c = await nodeCluster().connect();
    const store = new RedisClusterStore({ client: c, prefix: prefix() });
    await store.put(rec(T()));
    await store.close();
    expect(c.isOpen).toBe(true);
    await expect(c.sendCommand(undefined, false, ['PING'])).resolves.toBe('PONG');
    await expect(store.get('x')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await c.close();
    const closed = new RedisClusterStore({ client: c, prefix: prefix() });
    await expect(closed.get('x')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('a RedisStore given one node\'s redis:// URL fails closed, and its error names RedisClusterStore', async () => {
    const store = new RedisStore({ url: `redis://${HOST}:${ports[0]}`, prefix: prefix() });
    try {
      // Of 20 records or ids, some hash to the other two masters' slots (all 20 on this one: 3^-20).
      const failures = async (op: (i: number) => Promise<unknown>) => (await Promise.allSettled(Array.from({ length: 20 }, (_, i) => op(i)))).filter(r => r.status === 'rejected').map(r => (r as PromiseRejectedResult).reason as unknown);
      for (const errors of [await failures(() => store.put(rec(T()))), await failures(i => store.get(`ses_probe${i}`))]) {
        expect(errors.length).toBeGreaterThan(0);
        for (const err of errors) {
          expect(isStoreError(err)).toBe(true);
          expect((err as Error).message).toMatch(/this Redis is a node of a Redis Cluster: use RedisClusterStore or a redis\+cluster:\/\/ URL/);
        }
      }
    } finally {
      await store.close();
    }
  });

  it('opens from TESSERA_STORE=redis+cluster://… (openStore), prefix and all', async () => {
    const p = prefix();
    const store = await openStore(`redis+cluster://${HOST}:${ports[0]},${HOST}:${ports[1]}/?prefix=${encodeURIComponent(p)}`);
    try {
      expect(store).toBeInstanceOf(RedisClusterStore);
      const r = rec(T());
      await store.put(r);
      await expect(store.get(r.id)).resolves.toEqual(r);
      await expect(shared!.exists(rkey(p, r.id))).resolves.toBe(1);
    } finally {
      await store.close();
    }
  });
});

describe('redis cluster store: options and failures (no cluster needed)', () => {
  it('watches every node CLUSTER NODES lists with an address, masters and replicas, but not those marked fail or in handshake', () => {
    const text = [
      'a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460',
      'b2 127.0.0.1:7002@17002,redis-b.local master - 0 1700000000000 2 connected 5461-10922',
      'c3 127.0.0.1:7003@17003 master,fail? - 0 0 3 connected 10923-16383',
      'd4 127.0.0.1:7004@17004 slave a1 0 0 1 connected',
      'e5 127.0.0.1:7005@17005 master,fail - 1 0 4 disconnected',
      'f6 127.0.0.1:7006@17006 handshake - 0 0 0 connected',
      'g7 :0@0 master,noaddr - 0 0 5 disconnected',
      'h8 ::1:7008@17008 master - 0 0 6 connected',
      '',
    ].join('\n');
    // fail? (only suspected) stays watched: the watch then stays down while it cannot be reached.
    expect(nodesToWatch(text)).toEqual([
      { address: '127.0.0.1:7001', role: 'master' },
      { address: '127.0.0.1:7002', role: 'master' },
      { address: '127.0.0.1:7003', role: 'master' },
      { address: '127.0.0.1:7004', role: 'replica' },
      { address: '::1:7008', role: 'master' },
    ]);
    expect(nodesToWatch('')).toEqual([]);
    // The record id inside a cluster record key's hash tag; anything else names no record.
    expect(clusterIdOf('{ses_abc}')).toBe('ses_abc');
    expect(clusterIdOf('ses_abc')).toBeNull();
    expect(clusterIdOf('{}')).toBeNull();
  });

  it('rejects what cannot work, with a clear message', () => {
    expect(() => new RedisClusterStore({})).toThrow(/`client`, `nodes` or `url`/);
    expect(() => new RedisClusterStore({ url: 'redis+cluster://127.0.0.1:7000', nodes: ['redis://127.0.0.1:7000'] })).toThrow(/not several/);
    expect(() => new RedisClusterStore({ url: 'redis+cluster://127.0.0.1:7000', prefix: 'a{b}:' })).toThrow(/\{ or \}/);
    expect(() => new RedisClusterStore({ url: 'redis://127.0.0.1:7000' })).toThrow(/redis\+cluster:\/\//);
    expect(() => new RedisClusterStore({ url: 'rediss+cluster://127.0.0.1:7000' })).toThrow(/TLS/);
    expect(() => new RedisClusterStore({ url: 'redis+cluster://127.0.0.1' })).toThrow(/host:port/);
    expect(() => new RedisClusterStore({ url: 'redis+cluster://127.0.0.1:7000/2' })).toThrow(/database 0/);
    expect(() => new RedisClusterStore({ url: 'redis+cluster://127.0.0.1:7000/?db=1' })).toThrow(/\?db/);
    expect(() => new RedisClusterStore({ url: 'redis+cluster://127.0.0.1:7000/?prefix=a:', prefix: 'b:' })).toThrow(/once/);
    expect(() => new RedisClusterStore({ nodes: ['127.0.0.1:7000'] })).toThrow(/redis:\/\/host:port/);
    expect(() => new RedisClusterStore({ nodes: ['redis://127.0.0.1'] })).toThrow(/port is required/);
    expect(() => new RedisClusterStore({ client: {} as never })).toThrow(/node-redis cluster .* or an ioredis Cluster/);
    // A single-node client is not a cluster client.
    const single = createClient({ url: `redis://${HOST}:6379` });
    expect(() => new RedisClusterStore({ client: single as never })).toThrow(/RedisStore/);
    // And the other way round: RedisStore refuses a cluster client (node-redis would fail every command,
    // ioredis every script that touches two keys). Neither client connects before connect().
    const nodeRedisCluster = createCluster({ rootNodes: [{ url: `redis://${HOST}:7000` }] });
    expect(() => new RedisStore({ client: nodeRedisCluster as never })).toThrow(/store\.client: is a Redis Cluster client: use RedisClusterStore/);
    const ioredisCluster = new Cluster([{ host: HOST, port: 7000 }], { lazyConnect: true });
    try {
      expect(() => new RedisStore({ client: ioredisCluster as never })).toThrow(/store\.client: is a Redis Cluster client: use RedisClusterStore/);
    } finally {
      ioredisCluster.disconnect();
    }
    expect(() => new RedisStore({ client: single as never })).not.toThrow();
    // A URL missing its @ never shows its password in the error.
    expect(() => new RedisClusterStore({ url: 'redis+cluster://:s3cret-pw' })).toThrow(expect.objectContaining({ message: expect.not.stringContaining('s3cret-pw') }) as never);
  });

  it('rejects with STORE_UNAVAILABLE within 3 s when no seed node answers, without leaking the password', async () => {
    const store = new RedisClusterStore({ url: 'redis+cluster://tessera:s3cret-pw@127.0.0.1:1,127.0.0.1:2', connectTimeoutMs: 1000 });
    try {
      for (const call of [() => store.get('x'), () => store.rotate('x', rec(1), 1), () => store.revoke({ all: true }, 1)]) {
        const started = Date.now();
        const err = await call().then(
          () => new Error('resolved'),
          (e: unknown) => e as Error,
        );
        expect(Date.now() - started).toBeLessThan(3000);
        expect((err as { code?: string }).code).toBe('STORE_UNAVAILABLE');
        expect(isStoreError(err)).toBe(true);
        expect(err.message).not.toContain('s3cret-pw');
      }
    } finally {
      await store.close();
    }
  });
});
