import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { Redis } from 'ioredis';
import type { User } from '@tessera/core';
import { isStoreError, type TokenRecord } from '@tessera/core/store';
import { RedisStore } from '@tessera/store-redis';
import { defineStoreSuite } from '../../packages/testkit/src/store-suite.js';
import { redisAvailable } from '../../packages/testkit/src/services.js';

const HOST = '127.0.0.1';
const PORT = 6379;
const URL_DB = 3;
const skip = await redisAvailable(`redis://${HOST}:${PORT}`);
/** One namespace per run, one sub-prefix per store: runs and tests never see each other's keys. */
const RUN = `tessera-test:${randomBytes(6).toString('hex')}:`;
let n = 0;
const prefix = () => `${RUN}${n++}:`;

async function nodeClient(db = 0) {
  const c = createClient({ url: `redis://${HOST}:${PORT}/${db}` });
  c.on('error', () => {});
  await c.connect();
  return c;
}

type NodeClient = Awaited<ReturnType<typeof nodeClient>>;

async function dropRun(c: NodeClient): Promise<void> {
  for await (const keys of c.scanIterator({ MATCH: `${RUN}*`, COUNT: 1000 })) if (keys.length > 0) await c.del(keys);
}

function rec(over: Partial<TokenRecord> = {}): TokenRecord {
  const now = Math.floor(Date.now() / 1000);
  const id = `r_${randomBytes(9).toString('base64url')}`;
  return { id, kind: 'refresh', subject: 'u1', family: 'f1', createdAt: now, lastSeenAt: now, expiresAt: now + 3600, revokedAt: null, ...over };
}

// node-redis v4+ client given by the caller
const nodeRedis = skip ? undefined : await nodeClient();
defineStoreSuite('redis (node-redis client)', () => new RedisStore({ client: nodeRedis!, prefix: prefix() }), {
  skip,
  // Another server: a second store on the same Redis and prefix (its watch duplicates the client).
  sibling: store => new RedisStore({ client: nodeRedis!, prefix: store.prefix }),
  writeRaw: async (store, id, raw) => {
    await nodeRedis!.set(`${store.prefix}r:${id}`, raw);
  },
  readRaw: (store, id) => nodeRedis!.get(`${store.prefix}r:${id}`),
  teardown: async () => {
    await dropRun(nodeRedis!);
    await nodeRedis!.close();
  },
});

// ioredis client given by the caller
const ioredis = skip ? undefined : new Redis({ host: HOST, port: PORT, maxRetriesPerRequest: 1 });
defineStoreSuite('redis (ioredis client)', () => new RedisStore({ client: ioredis!, prefix: prefix() }), {
  skip,
  sibling: store => new RedisStore({ client: ioredis!, prefix: store.prefix }),
  writeRaw: async (store, id, raw) => {
    await ioredis!.set(`${store.prefix}r:${id}`, raw);
  },
  readRaw: (store, id) => ioredis!.get(`${store.prefix}r:${id}`),
  teardown: async () => {
    const admin = await nodeClient();
    await dropRun(admin);
    await admin.close();
    ioredis!.disconnect();
  },
});

// The store owns its connection, made from a URL naming a database
const urlAdmin = skip ? undefined : await nodeClient(URL_DB);
defineStoreSuite('redis (url)', () => new RedisStore({ url: `redis://${HOST}:${PORT}/${URL_DB}`, prefix: prefix() }), {
  skip,
  sibling: store => new RedisStore({ url: `redis://${HOST}:${PORT}/${URL_DB}`, prefix: store.prefix }),
  writeRaw: async (store, id, raw) => {
    await urlAdmin!.set(`${store.prefix}r:${id}`, raw);
  },
  readRaw: (store, id) => urlAdmin!.get(`${store.prefix}r:${id}`),
  teardown: async () => {
    await dropRun(urlAdmin!);
    await urlAdmin!.close();
  },
});

describe('redis store: unreachable server', () => {
  it('rejects with STORE_UNAVAILABLE within 3 s when nothing listens, without leaking the password', async () => {
    const store = new RedisStore({ url: 'redis://tessera:s3cret-pw@127.0.0.1:1/0', connectTimeoutMs: 1000 });
    try {
      for (const call of [() => store.get('x'), () => store.put(rec()), () => store.rotate('x', rec(), 1)]) {
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

  it('rejects options that cannot work', () => {
    expect(() => new RedisStore({ url: 'http://127.0.0.1:6379' })).toThrow(/redis:\/\//);
    expect(() => new RedisStore({})).toThrow(/redis:\/\//);
    expect(() => new RedisStore({ client: {} as never })).toThrow(/node-redis .* or ioredis/);
  });
});

(skip ? describe.skip : describe)('redis store: specifics', () => {
  let admin: NodeClient;
  let urlDb: NodeClient;
  beforeAll(async () => {
    admin = await nodeClient();
    urlDb = await nodeClient(URL_DB);
  });
  afterAll(async () => {
    await dropRun(admin);
    await dropRun(urlDb);
    await admin.close();
    await urlDb.close();
  });

  it('revoke by subject of 1,300 records while 50 of their chains rotate: every one revoked, other users untouched, nothing live afterwards', async () => {
    const store = new RedisStore({ client: admin, prefix: prefix() });
    const now = Math.floor(Date.now() / 1000);
    // 1,300 refresh records of one user, 50 chains that rotate meanwhile, and another user. (Revoking in
    // chunks, to hold Redis for less, does not converge against this: rotations outrun the passes.)
    const mine = Array.from({ length: 1300 }, (_, i) => rec({ subject: 'big', family: `fam${i % 50}` }));
    const theirs = Array.from({ length: 20 }, () => rec({ subject: 'other' }));
    await store.putMany([...mine, ...theirs]);
    const heads = mine.slice(0, 50).map(r => r.id);
    let rotations = 0;
    let stop = false;
    const rotating = (async () => {
      while (!stop) {
        await Promise.all(
          heads.map(async (used, k) => {
            const next = rec({ subject: 'big', family: `fam${k}` });
            const r = await store.rotate(used, next, now);
            if (r.status === 'rotated') {
              heads[k] = next.id;
              rotations++;
            }
          }),
        );
      }
    })();
    await new Promise(res => setTimeout(res, 20)); // some rotations before the revoke starts
    const revoked = await store.revoke({ subject: 'big' }, now);
    stop = true;
    await rotating;
    expect(rotations).toBeGreaterThan(0);
    const ids = await admin.sMembers(`${store.prefix}s:big`);
    expect(ids.length).toBeGreaterThanOrEqual(1300);
    const live = [];
    for (const id of ids) {
      const r = await store.get(id);
      if (r !== null && r.revokedAt === null) live.push(id);
    }
    expect(live).toEqual([]);
    expect(revoked).toBeGreaterThanOrEqual(1300 - 50); // a rotated-out record may have been rotated rather than revoked
    for (const r of theirs) expect((await store.get(r.id))?.revokedAt).toBeNull();
    await expect(store.revoke({ subject: 'big' }, now)).resolves.toBe(0);
  }, 60_000);

  it('does not close a client it was given, but refuses calls once closed itself', async () => {
    const c = await nodeClient();
    const io = new Redis({ host: HOST, port: PORT, maxRetriesPerRequest: 1 });
    try {
      const a = new RedisStore({ client: c, prefix: prefix() });
      const b = new RedisStore({ client: io, prefix: prefix() });
      await a.put(rec());
      await b.put(rec());
      await a.close();
      await b.close();
      expect(c.isOpen).toBe(true);
      await expect(c.ping()).resolves.toBe('PONG');
      await expect(io.ping()).resolves.toBe('PONG');
      await expect(a.get('x')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    } finally {
      await c.close();
      io.disconnect();
    }
  });

  it('fails fast with STORE_UNAVAILABLE when the given client is closed or disconnected', async () => {
    const c = await nodeClient();
    await c.close();
    const io = new Redis({ host: HOST, port: PORT, maxRetriesPerRequest: 1 });
    await io.ping();
    io.disconnect();
    for (const client of [c, io]) {
      const store = new RedisStore({ client, prefix: prefix() });
      const started = Date.now();
      await expect(store.get('x')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(Date.now() - started).toBeLessThan(1000);
    }
  });

  it('fails fast while Redis is away, and recovers when it is back (owned and given clients)', async () => {
    // A TCP proxy in front of Redis that the test can cut.
    const sockets = new Set<Socket>();
    let server: Server | undefined;
    const up = (port: number) =>
      new Promise<number>(resolve => {
        server = createServer(client => {
          const upstream = connect(PORT, HOST);
          for (const s of [client, upstream]) {
            sockets.add(s);
            s.on('error', () => {});
            s.on('close', () => sockets.delete(s));
          }
          client.pipe(upstream).pipe(client);
          client.on('close', () => upstream.destroy());
          upstream.on('close', () => client.destroy());
        });
        server.listen(port, HOST, () => resolve((server!.address() as { port: number }).port));
      });
    const down = () =>
      new Promise<void>(resolve => {
        for (const s of sockets) s.destroy();
        server!.close(() => resolve());
      });
    const port = await up(0);
    const given = createClient({ url: `redis://${HOST}:${port}`, socket: { reconnectStrategy: 100 } });
    given.on('error', () => {});
    await given.connect();
    const stores = [new RedisStore({ url: `redis://${HOST}:${port}/0`, prefix: prefix() }), new RedisStore({ client: given, prefix: prefix() })];
    try {
      const r = rec();
      for (const store of stores) await store.put(r);
      await down();
      await new Promise(res => setTimeout(res, 50));
      for (const store of stores) {
        const started = Date.now();
        await expect(store.get(r.id)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
        await expect(store.rotate(r.id, rec(), Math.floor(Date.now() / 1000))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
        expect(Date.now() - started).toBeLessThan(1000);
      }
      await up(port);
      for (const store of stores) {
        const deadline = Date.now() + 8000;
        let got: TokenRecord | null | undefined;
        while (got === undefined && Date.now() < deadline) {
          got = await store.get(r.id).catch(() => undefined);
          if (got === undefined) await new Promise(res => setTimeout(res, 100));
        }
        expect(got).toEqual(r);
      }
    } finally {
      for (const store of stores) await store.close();
      await given.close().catch(() => given.destroy());
      await down();
    }
  });

  it('lays out keys as documented: TTL two minutes past expiresAt, index sets outlive their members', async () => {
    const p = prefix();
    const store = new RedisStore({ client: admin, prefix: p });
    const now = Math.floor(Date.now() / 1000);
    /** The key of a record outlives its expiresAt by this (the app's clock judges expiry; Redis only collects). */
    const MARGIN = 120;
    const short = rec({ subject: 'alice', family: 'fam', expiresAt: now + 100 });
    const long = rec({ subject: 'alice', family: 'fam', expiresAt: now + 5000 });
    const never = rec({ kind: 'api', subject: 'bob', family: 'api1', expiresAt: null, secretHash: 'h' });
    const justExpired = rec({ subject: 'dave', family: 'fam3', expiresAt: now - 1 });
    const dead = rec({ subject: 'carol', family: 'fam2', expiresAt: now - MARGIN });
    for (const r of [short, long, never, justExpired, dead]) await store.put(r);

    const ttl = (k: string) => admin.ttl(`${p}${k}`);
    expect(await ttl(`r:${short.id}`)).toBeGreaterThan(90 + MARGIN);
    expect(await ttl(`r:${short.id}`)).toBeLessThanOrEqual(100 + MARGIN);
    expect(await ttl(`r:${long.id}`)).toBeGreaterThan(4990 + MARGIN);
    expect(await ttl(`r:${never.id}`)).toBe(-1);
    // Expired by its expiresAt but still held (readers judge it dead), until the margin has passed.
    expect(await ttl(`r:${justExpired.id}`)).toBeGreaterThan(MARGIN - 11);
    expect(await ttl(`r:${justExpired.id}`)).toBeLessThan(MARGIN);
    expect(await admin.exists(`${p}r:${dead.id}`)).toBe(0);
    expect(await ttl('s:alice')).toBeGreaterThan(4990 + MARGIN);
    expect(await ttl('f:fam')).toBeGreaterThan(4990 + MARGIN);
    expect(await ttl('s:bob')).toBe(-1);
    expect((await admin.sMembers(`${p}s:alice`)).sort()).toEqual([short.id, long.id].sort());
    expect(await admin.exists(`${p}s:carol`)).toBe(0);

    // A shorter-lived member never shortens the set; touching a record moves its TTL.
    await store.put(rec({ subject: 'alice', family: 'x', expiresAt: now + 10 }));
    expect(await ttl('s:alice')).toBeGreaterThan(4990 + MARGIN);
    await store.touch(short.id, now, now + 9000);
    expect(await ttl(`r:${short.id}`)).toBeGreaterThan(8990 + MARGIN);
    expect(await ttl(`r:${short.id}`)).toBeLessThanOrEqual(9000 + MARGIN);
    expect(await ttl('s:alice')).toBeGreaterThan(8990 + MARGIN);
    await store.touch(short.id, now, null);
    expect(await ttl(`r:${short.id}`)).toBe(-1);
    expect(await ttl('s:alice')).toBe(-1);
    // Rotation keeps the used record's TTL.
    await store.rotate(long.id, rec({ subject: 'alice', family: 'fam' }), now);
    expect(await ttl(`r:${long.id}`)).toBeGreaterThan(4990 + MARGIN);
    await store.close();
  });

  it('keeps the secret under <prefix>secret, set once, without expiry', async () => {
    const p = prefix();
    const a = new RedisStore({ client: admin, prefix: p });
    const b = new RedisStore({ url: `redis://${HOST}:${PORT}/0`, prefix: p });
    try {
      const [x, y] = await Promise.all([a.initSecret('first-candidate'), b.initSecret('second-candidate')]);
      expect(x).toBe(y);
      await expect(admin.get(`${p}secret`)).resolves.toBe(x);
      await expect(admin.ttl(`${p}secret`)).resolves.toBe(-1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a URL store uses the database named in the URL', async () => {
    const p = prefix();
    const store = new RedisStore({ url: `redis://${HOST}:${PORT}/${URL_DB}`, prefix: p });
    const r = rec();
    await store.put(r);
    await store.close();
    expect(await urlDb.exists(`${p}r:${r.id}`)).toBe(1);
    expect(await admin.exists(`${p}r:${r.id}`)).toBe(0);
  });

  it('survives a flushed script cache (NOSCRIPT falls back to EVAL)', async () => {
    const store = new RedisStore({ client: admin, prefix: prefix() });
    const used = rec();
    await store.put(used);
    await admin.scriptFlush();
    await expect(store.rotate(used.id, rec(), Math.floor(Date.now() / 1000))).resolves.toEqual({ status: 'rotated' });
    await admin.scriptFlush();
    const many = Array.from({ length: 3 }, () => rec());
    await store.putMany(many);
    for (const r of many) await expect(store.get(r.id)).resolves.toEqual(r);
    await store.close();
  });

  it('putMany writes records that read back and are indexed like put', async () => {
    for (const client of [admin, new Redis({ host: HOST, port: PORT, maxRetriesPerRequest: 1 })]) {
      const store = new RedisStore({ client, prefix: prefix() });
      const subject = `u_${randomBytes(4).toString('hex')}`;
      const records = Array.from({ length: 5000 }, (_, i) => rec({ subject, kind: i % 2 ? 'refresh' : 'session', user: i % 2 ? undefined : ({ id: subject, roles: [] }) as User }));
      await store.putMany(records);
      await expect(store.get(records[4321]!.id)).resolves.toEqual(records[4321]);
      await expect(store.get(records[10]!.id)).resolves.toEqual(records[10]);
      const page = await store.list({ subject, kind: 'session', limit: 5000 });
      expect(page.records).toHaveLength(2500);
      await store.close();
      if (client instanceof Redis) client.disconnect();
    }
  });
});
